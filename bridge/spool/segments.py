"""Segments: the spool's unit of storage, a run of events committed together.

Pure: no I/O, no clock. A segment (see ``bridge.spool.store``) holds its events as three
newline-joined columns, so spooling a chunk costs one row, not one per event.

Invariants:

- A field never contains a newline (``encode_columns`` refuses one): the ``i``-th piece
  of each column after a split is the ``i``-th event, for every event of the segment.
  Bodies are compact orjson output, which escapes newlines inside strings.
- An event's id is ``(segment_id << 32) | index``: ids grow with segment ids, and with
  the index inside a segment, so "oldest first" is id order.
- ``done`` counts the leading events that are settled (delivered or quarantined);
  ``settled`` holds the indexes past ``done`` settled out of order. ``settle`` never
  settles an event twice, so callers may subtract what it returns from totals.
- A damaged segment (its columns no longer split into its events) is never guessed
  at: ``salvage_events`` keeps only bodies that are still whole JSON objects carrying
  their own uuid, for an operator to look at before they are sent.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import TypeVar

import orjson

__all__ = [
    "INDEX_BITS",
    "DecodedSegment",
    "EncodedSegment",
    "Settlement",
    "decode_segment",
    "encode_columns",
    "encode_rows",
    "fit_bytes",
    "format_settled",
    "group_ids",
    "parse_settled",
    "pick",
    "salvage_events",
    "settle",
]

T = TypeVar("T")

INDEX_BITS = 32
_SEGMENT_SPAN = 1 << INDEX_BITS


@dataclass(frozen=True, slots=True)
class EncodedSegment:
    """A new segment's columns, and its count of events and of body bytes."""

    bodies: bytes
    uuids: str
    rules: str
    events: int
    bytes: int


@dataclass(frozen=True, slots=True)
class DecodedSegment:
    """A segment's events, split: the ``i``-th item of each list is event ``i``."""

    bodies: list[bytes]
    uuids: list[str]
    rules: list[str]


@dataclass(frozen=True, slots=True)
class Settlement:
    """
    What settling indexes of a segment did.

    ``newly``: the indexes this call settled, ascending, none of them settled before;
    ``done`` and ``settled``: the segment's progress now.
    """

    newly: Sequence[int]
    done: int
    settled: frozenset[int]


def encode_rows(rows: Sequence[tuple[str, bytes, str]]) -> EncodedSegment:
    """
    Join ``(uuid, body, rule)`` rows into a segment's columns.

    Raises:
        TypeError: a uuid or rule is not a string, or a body is not bytes.
        ValueError: a field contains a newline, a row is not a triple, or no rows.
    """
    if not rows:
        msg = "a segment holds at least one event"
        raise ValueError(msg)
    uuids, bodies, rules = zip(*rows, strict=True)
    return encode_columns(bodies, uuids, rules)


def encode_columns(
    bodies: Sequence[bytes], uuids: Sequence[str], rules: Sequence[str]
) -> EncodedSegment:
    """
    ``encode_rows`` for events given as three columns of the same length.

    Raises:
        TypeError: a uuid or rule is not a string, or a body is not bytes.
        ValueError: a field contains a newline, the columns differ in length, or they
            are empty.
    """
    count = len(bodies)
    if not count or len(uuids) != count or len(rules) != count:
        msg = f"columns of {count}, {len(uuids)} and {len(rules)} events"
        raise ValueError(msg)
    blob = b"\n".join(bodies)
    uuid_text = "\n".join(uuids)
    rule_text = "\n".join(rules)
    # One pass over each column, at C speed, instead of one check per field.
    for name, separators in (
        ("body", blob.count(b"\n")),
        ("uuid", uuid_text.count("\n")),
        ("rule", rule_text.count("\n")),
    ):
        if separators != count - 1:
            msg = f"an event {name} contains a newline"
            raise ValueError(msg)
    return EncodedSegment(blob, uuid_text, rule_text, count, len(blob) - count + 1)


def decode_segment(blob: bytes, uuids: str, rules: str, events: int) -> DecodedSegment:
    """
    A segment's columns, split into its events.

    Raises:
        ValueError: a column does not hold ``events`` items (a corrupt row).
    """
    decoded = DecodedSegment(blob.split(b"\n"), uuids.split("\n"), rules.split("\n"))
    if not len(decoded.bodies) == len(decoded.uuids) == len(decoded.rules) == events:
        msg = f"segment columns do not hold {events} events each"
        raise ValueError(msg)
    return decoded


def parse_settled(text: str | None) -> frozenset[int]:
    """The ``settled`` column as a set of indexes (NULL or "" is none)."""
    if not text:
        return frozenset()
    return frozenset(map(int, text.split(",")))


def format_settled(indexes: Iterable[int]) -> str | None:
    """The ``settled`` column for a set of indexes: ascending, comma-separated."""
    text = ",".join(map(str, sorted(indexes)))
    return text or None


def group_ids(ids: Iterable[int]) -> list[tuple[int, Sequence[int]]]:
    """
    Event ids as ``(segment_id, indexes)``, both ascending, duplicates dropped.

    A contiguous run of indexes (the usual batch) comes as a ``range``.
    """
    ordered = sorted(set(ids))
    groups: list[tuple[int, Sequence[int]]] = []
    start = 0
    while start < len(ordered):
        segment_id = ordered[start] >> INDEX_BITS
        base = segment_id << INDEX_BITS
        end = bisect_left(ordered, base + _SEGMENT_SPAN, start)
        first, last = ordered[start] - base, ordered[end - 1] - base
        if last - first == end - start - 1:
            groups.append((segment_id, range(first, last + 1)))
        else:
            groups.append((segment_id, [i - base for i in ordered[start:end]]))
        start = end
    return groups


def settle(
    events: int, done: int, settled: frozenset[int], indexes: Sequence[int]
) -> Settlement:
    """
    Settle ``indexes`` of a segment of ``events`` events, at progress ``done``/``settled``.

    Indexes already settled or out of range are ignored, so settling twice is harmless.
    ``done`` then moves over every settled index it reaches.
    """
    if isinstance(indexes, range) and indexes.step == 1 and not settled:
        start, stop = max(indexes.start, done), min(indexes.stop, events)
        if start >= stop:
            return Settlement(range(0), done, settled)
        if start == done:
            # The usual case: a batch settles the next run of events, in order.
            return Settlement(range(start, stop), stop, settled)
    newly = sorted({i for i in indexes if done <= i < events and i not in settled})
    if not newly:
        return Settlement(newly, done, settled)
    pending = set(settled).union(newly)
    while done in pending:
        pending.remove(done)
        done += 1
    return Settlement(newly, done, frozenset(pending))


def pick(items: list[T], indexes: Sequence[int]) -> list[T]:
    """``[items[i] for i in indexes]``, as a slice when ``indexes`` is a range."""
    if isinstance(indexes, range) and indexes.step == 1:
        return items[indexes.start : indexes.stop]
    return [items[i] for i in indexes]


def fit_bytes(bodies: Sequence[bytes], budget: int, *, first: bool) -> tuple[int, int]:
    """
    How many leading ``bodies`` fit in ``budget`` bytes, and the budget left.

    When ``first`` (nothing taken yet), at least one fits, however large; the budget
    left is then negative.
    """
    sizes = list(accumulate(map(len, bodies)))
    fit = bisect_right(sizes, budget)
    if fit == 0 and first and sizes:
        fit = 1
    return fit, budget - (sizes[fit - 1] if fit else 0)


def salvage_events(
    bodies: bytes, uuids: bytes, rules: bytes, events: int, settled: Collection[int]
) -> list[tuple[str, bytes, str]]:
    """
    The ``(uuid, body, rule)`` rows still recognisable in a damaged segment's columns.

    The columns are what could be read of them, maybe only a beginning. A row is kept
    for each body that parses as a JSON object with a string ``uuid`` (the first of
    each uuid), except the ``settled`` events when the uuids column still names all
    ``events``. Its rule comes from the rules column when both columns still line up,
    else it is "".
    """
    uuid_list = uuids.decode("utf-8", "replace").split("\n")
    rule_list = rules.decode("utf-8", "replace").split("\n")
    whole = len(uuid_list) == events
    done = {uuid_list[i] for i in settled if i < events} if whole else set()
    rule_of = (
        dict(zip(uuid_list, rule_list, strict=True))
        if whole and len(rule_list) == events
        else {}
    )
    rows: list[tuple[str, bytes, str]] = []
    seen: set[str] = set()
    for body in bodies.split(b"\n"):
        try:
            event = orjson.loads(body)
        except orjson.JSONDecodeError:
            continue
        uuid = event.get("uuid") if isinstance(event, dict) else None
        if not isinstance(uuid, str) or "\n" in uuid or uuid in done or uuid in seen:
            continue
        seen.add(uuid)
        rows.append((uuid, body, rule_of.get(uuid, "")))
    return rows
