"""Exceptions of logbridge.

    BridgeError
     ├── ConfigError            .problems: every problem found, reported together
     │    ├── SettingsError     the daemon's configuration file or environment
     │    └── RuleFileError     one or more rule files
     ├── StoreError             the state database cannot be opened or written
     │    ├── StoreFull         no room left for it; writing works again once there is
     │    └── StoreCorrupt      it is damaged (a page, its header): set aside, not fixed
     ├── StartupError           the daemon cannot start: something it needs is taken
     └── SinkHalted             PostHog refused the API key (401/403); sending stops

Transient HTTP failures are not exceptions: the sink's policy turns every
response into an ``Outcome`` value. Exit codes are chosen in ``bridge.cli`` only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "BridgeError",
    "ConfigError",
    "Problem",
    "RuleFileError",
    "SettingsError",
    "SinkHalted",
    "StartupError",
    "StoreCorrupt",
    "StoreError",
    "StoreFull",
    "format_problems",
]

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True, order=True)
class Problem:
    """
    One mistake in a file, located 1-based.

    Rendered as ``file:line:col: severity: path: message (hint)``.
    """

    file: str
    line: int
    col: int
    path: str
    message: str
    hint: str = ""
    severity: Severity = "error"

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        hint = f" ({self.hint})" if self.hint else ""
        place = f"{self.file}:{self.line}:{self.col}"
        return f"{place}: {self.severity}: {where}{self.message}{hint}"


def format_problems(problems: Iterable[Problem]) -> str:
    """Render problems sorted by position, followed by a count line."""
    ordered = sorted(problems)
    errors = sum(1 for p in ordered if p.severity == "error")
    warnings = len(ordered) - errors
    files = len({p.file for p in ordered})
    counts = []
    if errors:
        counts.append(f"{errors} error{'s' if errors != 1 else ''}")
    if warnings:
        counts.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
    plural = "s" if files != 1 else ""
    summary = f"{' and '.join(counts) or 'no problems'} in {files} file{plural}"
    return "\n".join([*map(str, ordered), summary])


class BridgeError(Exception):
    """Base of every error logbridge raises on purpose."""


class ConfigError(BridgeError):
    """Configuration or rules that cannot be used; carries every problem found."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(sorted(problems))
        super().__init__(format_problems(self.problems))


class SettingsError(ConfigError):
    """The daemon's configuration file or environment is invalid."""


class RuleFileError(ConfigError):
    """One or more rule files are invalid."""


class StoreError(BridgeError):
    """The state database cannot be opened, migrated or written."""


class StoreFull(StoreError):
    """
    The state database has no room to grow: its filesystem is full (or a quota).

    Nothing was written; the same write succeeds once space returns.
    """


class StoreCorrupt(StoreError):
    """
    The state database is damaged: SQLite found a malformed page or header.

    A damaged segment is quarantined by the store itself; this reaches the daemon
    only for damage elsewhere, and the daemon then sets the database aside.
    """


class StartupError(BridgeError):
    """
    The daemon cannot start: a resource it needs is taken or refused (the metrics
    port). Nothing was read or sent; starting again once it is free is safe.
    """


class SinkHalted(BridgeError):
    """PostHog refused the API key; sending stays halted until the key is fixed."""
