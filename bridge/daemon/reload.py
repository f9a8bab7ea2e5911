"""Loading rule files from the rules directory and compiling them into a ``RuleSet``,
and deciding whether a reloaded set may replace the running one.

Startup, ``logbridge check``, SIGHUP and file-change reloads all go through
``load_ruleset``, so a rule file is judged the same way everywhere. ``diff_rulesets``
is pure: it compares two compiled sets and says what changes, or why the new one must
not be adopted.

A save is not atomic for every editor: a file may be empty (truncate, then write) or
missing (remove, then create) for a moment. Adopting the set seen in that moment would
drop the file's rules while lines keep being read, and those lines would be lost. So a
reload is refused when rules would disappear because their file vanished or came back
without rules, or when no rule at all would remain; the running rules stay and the
next change reloads again. An operator who removes a rule file on purpose confirms it
with SIGHUP (an explicit reload), which accepts a vanished or emptied file, never an
empty rule set.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bridge.errors import Problem, RuleFileError
from bridge.rules import RuleSet, compile_rules
from bridge.settings import Settings
from bridge.source import SourceSpec

__all__ = [
    "RulesDiff",
    "diff_rulesets",
    "display_name",
    "load_ruleset",
    "rule_file_paths",
    "rule_files_signature",
    "source_specs",
]

RULE_SUFFIXES = (".yaml", ".yml")


def display_name(path: Path) -> str:
    """The path as errors show it: relative to the working directory when below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def rule_file_paths(rules_dir: Path) -> list[Path]:
    """
    The rule files of a directory, in name order (which is also rule order); a single
    file stands for itself.
    """
    if rules_dir.is_file():
        return [rules_dir]
    return sorted(p for p in rules_dir.iterdir() if p.suffix in RULE_SUFFIXES)


def rule_files_signature(rules_dir: Path) -> tuple[tuple[str, int, int], ...]:
    """Names, sizes and modification times of the rule files: what a reload would read."""
    signature = []
    try:
        for path in rule_file_paths(rules_dir):
            try:
                st = path.stat()
            except OSError:
                continue
            signature.append((path.name, st.st_size, st.st_mtime_ns))
    except OSError:
        return ()
    return tuple(signature)


def load_ruleset(settings: Settings, *, strict: bool = False) -> RuleSet:
    """Read every rule file and compile them together; raise ``RuleFileError``."""
    rules_dir = settings.rules_dir
    if not rules_dir.exists():
        problem = Problem(
            file=display_name(settings.config_path),
            line=1,
            col=1,
            path="rules_dir",
            message=f"no rule file or folder at {str(rules_dir)!r}",
        )
        raise RuleFileError([problem])
    files = []
    problems = []
    for path in rule_file_paths(rules_dir):
        try:
            files.append((display_name(path), path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(
                Problem(
                    file=display_name(path),
                    line=1,
                    col=1,
                    path="",
                    message=f"cannot read the file: {exc}",
                )
            )
    if problems:
        raise RuleFileError(problems)
    return compile_rules(
        files,
        hostname=settings.hostname,
        strict=strict,
        salt=settings.hash_salt,
        max_depth=settings.read.max_depth,
    )


def source_specs(ruleset: RuleSet, settings: Settings) -> list[SourceSpec]:
    """The tail's view of the sources: globs made absolute against the config's folder."""
    base = settings.config_path.parent
    return [
        SourceSpec(
            name=source.name,
            globs=tuple(str((base / pattern).absolute()) for pattern in source.paths),
            start_at=source.start_at,
        )
        for source in ruleset.sources
    ]


@dataclass(frozen=True, slots=True)
class RulesDiff:
    """
    What replacing the running rules with new ones changes, by rule name.

    ``refused`` holds the reasons the new rules must not be adopted (warnings, each
    located at its rule file); empty when they may.
    """

    added: tuple[str, ...]
    changed: tuple[str, ...]
    removed: tuple[str, ...]
    refused: tuple[Problem, ...] = ()


_SIGHUP_HINT = (
    "hint: to remove its rules on purpose, send SIGHUP (systemctl reload logbridge)"
)


def diff_rulesets(old: RuleSet, new: RuleSet, *, explicit: bool) -> RulesDiff:
    """
    Compare the running rules with reloaded ones.

    ``explicit``: the operator asked for this reload (SIGHUP), so rule files that
    vanished or were emptied are taken as removed on purpose.
    """
    before = {rule.name: rule for rule in old.rules}
    after = {rule.name: rule for rule in new.rules}
    removed = tuple(sorted(before.keys() - after.keys()))
    refused: list[Problem] = []
    if before and not after:
        refused.append(
            _refusal(
                new.files[0] if new.files else old.rules[0].file,
                f"no rule would remain; {_kept(sorted(before), 'the running')}",
                "hint: a daemon without rules would read and drop every line",
            )
        )
    elif not explicit:
        lost: dict[str, list[str]] = {}
        for name in removed:
            lost.setdefault(before[name].file, []).append(name)
        for file, names in sorted(lost.items()):
            if file not in new.files:
                what = "vanished"
            elif not any(rule.file == file for rule in new.rules):
                what = "has no rules now"
            else:
                continue
            message = f"the rule file {what}; {_kept(names, 'its')}"
            refused.append(_refusal(file, message, _SIGHUP_HINT))
    return RulesDiff(
        added=tuple(sorted(after.keys() - before.keys())),
        changed=tuple(
            sorted(
                name
                for name in after.keys() & before.keys()
                if after[name].digest != before[name].digest
            )
        ),
        removed=removed,
        refused=tuple(refused),
    )


def _kept(names: list[str], whose: str) -> str:
    """E.g. "its rule (order) is kept", "the running rules (a, b) are kept"."""
    many = len(names) != 1
    return (
        f"{whose} rule{'s' if many else ''} ({', '.join(names)}) "
        f"{'are' if many else 'is'} kept"
    )


def _refusal(file: str, message: str, hint: str) -> Problem:
    return Problem(file, 1, 1, "", message, hint, "warning")
