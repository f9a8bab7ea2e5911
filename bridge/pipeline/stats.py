"""The pipeline's counts of what happened to lines, per source and per rule."""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PipelineStats"]


@dataclass(slots=True)
class PipelineStats:
    """
    Running totals since the daemon started, per source (events: per rule).

    The single count of what happened to lines: logs, metrics, ``health_check`` events
    and the systemd status line are all derived from it. One thread writes it (the
    reader's); others read the ``copy`` it publishes, never the live counters, which
    may grow a key while being iterated.
    """

    lines: Counter[str] = field(default_factory=Counter)
    bytes: Counter[str] = field(default_factory=Counter)
    too_long: Counter[str] = field(default_factory=Counter)
    invalid_utf8: Counter[str] = field(default_factory=Counter)
    # Lines no rule matched. A matched line that gives no event is not one: a skip
    # counts in ``issues`` ("event: skipped"), sample and rate_limit in the rules' state.
    unmatched: Counter[str] = field(default_factory=Counter)
    # Lines the prefilter showed no rule can match: never parsed, so never a parse error.
    prefiltered: Counter[str] = field(default_factory=Counter)
    # Empty or white-space lines: skipped in every format, never parse errors.
    blank: Counter[str] = field(default_factory=Counter)
    parse_errors: Counter[tuple[str, str]] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)
    # Values that failed while events were built, per (rule, "where: reason").
    issues: Counter[tuple[str, str]] = field(default_factory=Counter)
    # Events older than a backfill's ``--since``, not sent (per rule).
    before_since: Counter[str] = field(default_factory=Counter)

    def copy(self) -> PipelineStats:
        """An independent copy, for other threads to read."""
        return PipelineStats(
            *(
                Counter(getattr(self, name))
                for name in (f.name for f in dataclasses.fields(self))
            )
        )

    def add(self, other: PipelineStats) -> None:
        """Add another's counts to these (a backfill adds up its workers')."""
        for name in (f.name for f in dataclasses.fields(self)):
            getattr(self, name).update(getattr(other, name))

    def snapshot(self) -> dict[str, Any]:
        """Totals over all sources, as plain values for logs and events."""
        errors: Counter[str] = Counter()
        for (_, reason), count in self.parse_errors.items():
            errors[reason] += count
        return {
            "lines": self.lines.total(),
            "bytes": self.bytes.total(),
            "too_long": self.too_long.total(),
            "invalid_utf8": self.invalid_utf8.total(),
            "unmatched": self.unmatched.total(),
            "prefiltered": self.prefiltered.total(),
            "blank": self.blank.total(),
            "parse_errors": dict(errors),
            "events": dict(self.events),
            "issues": self.issues.total(),
            "before_since": self.before_since.total(),
        }
