"""What rules remember between records: rate-limit buckets and aggregation windows.

The ``RuleSet`` stays immutable and ``apply`` pure; a ``RuleState`` is the mutable
memory a caller owns (one per daemon or replay run) and passes to ``apply`` and
``flush``. It reads no clock: rate limits refill by the records' event time,
windows close by event time (a record of the rule at or past a window's end plus
grace) or when ``flush`` is given a ``now``; so a replay of the same lines always
decides the same way.

Counters (per rule name) say what was held back, so nothing goes silently
missing: ``sampled_out`` (``sample``), ``over_limit`` (``rate_limit``), ``late``
(a line for an aggregation window already emitted) and ``window_overflow`` (a line
that would open a window past ``max_open_windows``). ``issues`` collects the values
that failed while events were built (``bridge.rules.values.failures.Issue``); the
caller drains and counts them.

Crash safety: ``holdback()`` is, per file, the smallest line offset counted in an
open window. The daemon keeps that file's checkpoint from passing it, so after a
crash those lines are read again and the windows rebuilt; their summaries keep
their uuids, so a summary sent twice collapses in PostHog.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from bridge.model import Event, Record
from bridge.rules.ruleset import CompiledRule, RuleSet
from bridge.rules.values.failures import Issue
from bridge.rules.volume.limits import TokenBuckets, bucket_key
from bridge.rules.volume.windows import MAX_OPEN_WINDOWS, OpenWindows, Window, to_us

__all__ = ["RuleState"]


class RuleState:
    """The mutable memory of one run of a RuleSet: buckets, windows, counters."""

    def __init__(
        self, ruleset: RuleSet, *, max_open_windows: int = MAX_OPEN_WINDOWS
    ) -> None:
        self.ruleset = ruleset
        self.max_open_windows = max_open_windows
        self.sampled_out: Counter[str] = Counter()
        self.over_limit: Counter[str] = Counter()
        self.late: Counter[str] = Counter()
        self.window_overflow: Counter[str] = Counter()
        self.issues: list[Issue] = []
        self._buckets: dict[str, TokenBuckets] = {}
        # rule name → (the rule whose windows these are, its open windows)
        self._windows: dict[str, tuple[CompiledRule, OpenWindows]] = {}

    def admit(self, rule: CompiledRule, record: Record, timestamp: datetime) -> bool:
        """Take a token for a matched record of a rate-limited rule; count a refusal."""
        limit = rule.rate_limit
        if limit is None:
            return True
        buckets = self._buckets.get(rule.name)
        if buckets is None:
            buckets = self._buckets[rule.name] = TokenBuckets(limit)
        key = bucket_key(limit, record)
        if buckets.admit(key, timestamp.timestamp()):
            return True
        self.over_limit[rule.name] += 1
        return False

    def aggregate(
        self, rule: CompiledRule, record: Record, timestamp: datetime
    ) -> list[Event]:
        """
        Count a matched record of an aggregate rule in its window.

        Returns:
            The summaries of the windows the record's timestamp closes.
        """
        spec = rule.aggregate
        if spec is None:
            return []
        entry = self._windows.get(rule.name)
        windows = (
            OpenWindows(spec, self.max_open_windows) if entry is None else entry[1]
        )
        # The rule of the latest record summarises: after a reload, its properties.
        self._windows[rule.name] = (rule, windows)
        closed: list[Event] = []
        if windows.is_watermark_past(timestamp):
            until = to_us(timestamp)
            closed = self._summaries(rule, windows.close(until))
        outcome = windows.add(record, timestamp)
        if outcome == "late":
            self.late[rule.name] += 1
        elif outcome == "full":
            self.window_overflow[rule.name] += 1
        return closed

    def flush(self, now: datetime | None) -> list[Event]:
        """Close the windows due at ``now`` (all with None); see ``RuleSet.flush``."""
        until = None if now is None else to_us(now)
        events: list[Event] = []
        for rule in self.ruleset.rules:
            entry = self._windows.get(rule.name)
            if entry is None:
                continue
            owner, windows = entry
            due = windows.close(until, read_until_us=until)
            events.extend(self._summaries(owner, due))
        return events

    def _summaries(self, rule: CompiledRule, windows: list[Window]) -> list[Event]:
        summaries = (rule.summarize(window, self.issues) for window in windows)
        return [event for event in summaries if event is not None]

    def holdback(self) -> dict[str, int]:
        """Per file id, the smallest offset of a line counted in an open window."""
        offsets: dict[str, int] = {}
        for _rule, windows in self._windows.values():
            for window in windows.windows.values():
                for file_id, offset in window.offsets.items():
                    known = offsets.get(file_id)
                    if known is None or offset < known:
                        offsets[file_id] = offset
        return offsets

    def adopt(self, ruleset: RuleSet) -> list[Event]:
        """
        Carry this state over to a reloaded RuleSet.

        Windows of a rule whose ``aggregate`` is unchanged keep filling (a change
        elsewhere in the rule, e.g. its properties, shows in the summaries); the
        windows of a removed rule, or of one whose ``aggregate`` changed, are
        emitted now, and later lines for them count as late. Buckets survive when
        the rule's ``rate_limit`` is unchanged.

        Returns:
            The summaries emitted.
        """
        events: list[Event] = []
        for name, (old, windows) in list(self._windows.items()):
            new = ruleset.rule(name)
            if new is not None and new.aggregate == old.aggregate:
                self._windows[name] = (new, windows)
                continue
            events.extend(self._summaries(old, windows.close(None)))
            del self._windows[name]
            if new is not None and new.aggregate is not None:
                fresh = OpenWindows(new.aggregate, self.max_open_windows)
                fresh.closed_until_us = windows.closed_until_us
                self._windows[name] = (new, fresh)
        for name in list(self._buckets):
            new = ruleset.rule(name)
            old_rule = self.ruleset.rule(name)
            old_limit = None if old_rule is None else old_rule.rate_limit
            if new is None or new.rate_limit != old_limit:
                del self._buckets[name]
        self.ruleset = ruleset
        return events
