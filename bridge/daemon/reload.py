"""Whether reloaded rules may replace the running ones: a pure decision.

``plan_reload`` takes the running rule set and what reading the rule files gave (a
new set, or the errors that kept it from compiling) and returns the outcome: adopt
the new set, with what changes (``RulesDiff``), or refuse it, with the problems to
report. The reloader (``bridge.daemon.reloader``) acts on it; nothing here reads a
file or touches the running daemon.

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

from bridge.errors import Problem, RuleFileError
from bridge.rules import RuleSet

__all__ = [
    "Adopt",
    "Refuse",
    "ReloadOutcome",
    "RulesDiff",
    "diff_rulesets",
    "plan_reload",
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


@dataclass(frozen=True, slots=True)
class Adopt:
    """Replace the running rules with ``ruleset``; ``diff`` says what changes."""

    ruleset: RuleSet
    diff: RulesDiff


@dataclass(frozen=True, slots=True)
class Refuse:
    """Keep the running rules; ``problems`` say why (``error``: all of them, as text)."""

    problems: tuple[Problem, ...]
    error: str


ReloadOutcome = Adopt | Refuse


def plan_reload(
    running: RuleSet, loaded: RuleSet | RuleFileError, *, explicit: bool
) -> ReloadOutcome:
    """
    Decide what a reload does with the rules just read.

    ``loaded``: the compiled rule files, or the error compiling them gave.
    ``explicit``: the operator asked for this reload (SIGHUP).
    """
    if isinstance(loaded, RuleFileError):
        return Refuse(tuple(loaded.problems), str(loaded))
    diff = diff_rulesets(running, loaded, explicit=explicit)
    if diff.refused:
        return Refuse(diff.refused, "\n".join(str(problem) for problem in diff.refused))
    return Adopt(loaded, diff)


def _kept(names: list[str], whose: str) -> str:
    """E.g. "its rule (order) is kept", "the running rules (a, b) are kept"."""
    many = len(names) != 1
    return (
        f"{whose} rule{'s' if many else ''} ({', '.join(names)}) "
        f"{'are' if many else 'is'} kept"
    )


def _refusal(file: str, message: str, hint: str) -> Problem:
    return Problem(file, 1, 1, "", message, hint, "warning")
