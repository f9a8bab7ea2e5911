"""The running totals of aggregate rules: open windows, and the summaries' uuids.

A ``Window`` holds one window and group of one rule: its record count, one tally
per metric, the first record (which the summary's values come from) and, per
file, the smallest offset counted in it (the checkpoint hold-back). An
``OpenWindows`` holds every open window of one rule and closes them by time.

Invariants: mutable, and owned by ``bridge.rules.state.RuleState``, never by the
immutable RuleSet; time is in integer microseconds since the Unix epoch, so
window arithmetic is exact; every number a summary carries is one JSON can hold.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import orjson

from bridge.model import EVENT_NAMESPACE, Record, exact_int
from bridge.rules.fieldpaths import MISSING
from bridge.rules.values.types import render_text, to_number
from bridge.rules.volume.aggregate import Aggregate

__all__ = [
    "MAX_OPEN_WINDOWS",
    "OpenWindows",
    "Window",
    "aggregate_uuid",
    "from_us",
    "to_us",
]

# Open windows per rule: a group_by on an unbounded field must not exhaust memory.
# Records that would open more are dropped and counted (RuleState.window_overflow).
MAX_OPEN_WINDOWS = 100_000

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def aggregate_uuid(source: str, rule: str, start_us: int, keys: tuple[str, ...]) -> str:
    """The uuid of a summary: the same window and group always get the same one."""
    key_text = orjson.dumps(list(keys)).decode()
    name = f"aggregate\n{source}\n{rule}\n{start_us}\n{key_text}"
    return str(uuid.uuid5(EVENT_NAMESPACE, name))


def to_us(moment: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime."""
    return (moment - _EPOCH) // _MICROSECOND


def from_us(us: int) -> datetime:
    """The aware UTC datetime ``us`` microseconds after the Unix epoch."""
    return _EPOCH + us * _MICROSECOND


def _number(value: Any) -> int | float | None:
    number = to_number(value)
    if isinstance(number, float) and not math.isfinite(number):
        return None
    return number


class Window:
    """The running totals of one window and group."""

    __slots__ = (
        "count",
        "first",
        "keys",
        "last_read_us",
        "offsets",
        "spec",
        "start_us",
        "tallies",
        "values",
    )

    def __init__(
        self,
        spec: Aggregate,
        start_us: int,
        keys: tuple[str, ...],
        values: tuple[Any, ...],
        first: Record,
    ) -> None:
        self.spec = spec
        self.start_us = start_us
        self.keys = keys
        self.values = values
        self.first = first
        self.count = 0
        self.last_read_us = 0
        # Per metric: (numbers seen, running sum / min / max).
        self.tallies: list[tuple[int, int | float]] = [(0, 0)] * len(spec.metrics)
        # Per file: the smallest offset of a line counted here (checkpoint hold-back).
        self.offsets: dict[str, int] = {}

    def add(self, record: Record) -> None:
        """Count one record in."""
        spec = self.spec
        self.count += 1
        self.last_read_us = max(self.last_read_us, to_us(record.read_at))
        line = record.line
        known = self.offsets.get(line.file_id)
        if known is None or line.offset < known:
            self.offsets[line.file_id] = line.offset
        for i, (metric, _name, get) in enumerate(spec.metrics):
            number = _number(get(record.fields))
            if number is None:
                continue
            seen, total = self.tallies[i]
            if seen == 0:
                total = number
            elif metric == "min":
                total = min(total, number)
            elif metric == "max":
                total = max(total, number)
            else:
                total += number
            self.tallies[i] = (seen + 1, total)

    def properties(self) -> dict[str, Any]:
        """The summary's group keys, count and metrics."""
        spec = self.spec
        props: dict[str, Any] = {}
        for (name, _get), value in zip(spec.group_by, self.values, strict=True):
            if value is not MISSING:
                props[name] = value
        if spec.count is not None:
            props[spec.count] = self.count
        for (metric, name, _get), (seen, total) in zip(
            spec.metrics, self.tallies, strict=True
        ):
            if not seen and metric != "sum":
                continue
            value = _json_number(total / seen if metric == "avg" else total)
            if value is not None:
                props[name] = value
        return props


def _json_number(number: int | float) -> int | float | None:
    """A number JSON can carry: integers exact at any size; None for infinities."""
    if isinstance(number, int):
        return exact_int(number)
    return number if math.isfinite(number) else None


class OpenWindows:
    """The open windows of one aggregate rule; mutable, owned by a RuleState."""

    __slots__ = ("closed_until_us", "earliest_us", "max_windows", "spec", "windows")

    def __init__(self, spec: Aggregate, max_windows: int = MAX_OPEN_WINDOWS) -> None:
        self.spec = spec
        self.max_windows = max_windows
        self.windows: dict[tuple[int, tuple[str, ...]], Window] = {}
        # The start of the oldest open window: the watermark check is then O(1).
        self.earliest_us: int | None = None
        # Every window ending at or before this has been emitted: later lines for
        # it are late.
        self.closed_until_us: int | None = None

    def add(self, record: Record, timestamp: datetime) -> Literal["ok", "late", "full"]:
        """Count a record in its window, opening the window if needed."""
        spec = self.spec
        at = to_us(timestamp)
        start = at - at % spec.window_us
        if (
            self.closed_until_us is not None
            and start + spec.window_us <= self.closed_until_us
        ):
            return "late"
        values = tuple(get(record.fields) for _name, get in spec.group_by)
        keys = tuple(_key_text(value) for value in values)
        window = self.windows.get((start, keys))
        if window is None:
            if len(self.windows) >= self.max_windows:
                return "full"
            window = Window(spec, start, keys, values, record)
            self.windows[start, keys] = window
            if self.earliest_us is None or start < self.earliest_us:
                self.earliest_us = start
        window.add(record)
        return "ok"

    def close(
        self, until_us: int | None, *, read_until_us: int | None = None
    ) -> list[Window]:
        """
        Remove and return the windows due, oldest first.

        Due: every window when ``until_us`` is None; otherwise a window whose end
        plus grace is at most ``until_us`` and, with ``read_until_us``, whose last
        line was read at least the grace before it.
        """
        spec = self.spec
        due = [
            window
            for window in self.windows.values()
            if until_us is None
            or (
                window.start_us + spec.window_us + spec.grace_us <= until_us
                and (
                    read_until_us is None
                    or window.last_read_us + spec.grace_us <= read_until_us
                )
            )
        ]
        due.sort(key=lambda window: (window.start_us, window.keys))
        for window in due:
            del self.windows[window.start_us, window.keys]
            end = window.start_us + spec.window_us
            if self.closed_until_us is None or end > self.closed_until_us:
                self.closed_until_us = end
        if due:
            self.earliest_us = min((start for start, _ in self.windows), default=None)
        return due

    def is_watermark_past(self, timestamp: datetime) -> bool:
        """Whether a record at ``timestamp`` closes the oldest open window."""
        if self.earliest_us is None:
            return False
        end = self.earliest_us + self.spec.window_us + self.spec.grace_us
        return end <= to_us(timestamp)


def _key_text(value: Any) -> str:
    # NUL never starts JSON text: an absent key cannot collide with any value.
    if value is MISSING:
        return "\x00"
    text = render_text(value)
    return text if isinstance(text, str) else "\x00"
