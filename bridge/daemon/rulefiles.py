"""Reading the rule files of the rules directory and compiling them into a ``RuleSet``.

Startup, ``logbridge check``, SIGHUP and file-change reloads all go through
``load_ruleset``, so a rule file is judged the same way everywhere.
"""

from __future__ import annotations

from pathlib import Path

from bridge.errors import Problem, RuleFileError
from bridge.rules import RuleSet, compile_rules
from bridge.settings import Settings
from bridge.source import SourceSpec

__all__ = [
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
        properties=settings.properties,
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
