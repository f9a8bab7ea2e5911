"""Batches: which spooled events go together, and the request body they make.

Pure. The spool hands out a batch (``Store.fetch_oldest``: its oldest events, at least
one); here it is planned into requests and rendered. Invariants:

- Event bodies are joined as stored, never re-encoded: a resend is byte-identical.
- No ``sent_at``: capture would shift every stored timestamp by the client's clock skew,
  and a resend would then no longer match the first copy
  (reference/posthog-capture.md §6, §7).
- A request never mixes lanes: events older than ``HISTORICAL_AGE_SECONDS`` go in
  requests flagged ``historical_migration``, younger ones in plain requests, each lane
  in spool order (``plan_requests``).
- An event whose captured size exceeds the solo threshold travels alone. Capture writes
  a request's events to Kafka one by one and stops at the first one Kafka refuses as
  too large, answering 413 with the events before it already stored (reference §9);
  alone, such an event is the only one a 413 can be about.

Sizes are those of capture's Kafka message (``captured_size``), not of the event's
JSON: capture embeds the event in that message as an escaped JSON string, so every
quote and backslash counts twice (reference §4, §9).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, TypeVar

import orjson

__all__ = [
    "CAPTURE_ENVELOPE_BYTES",
    "HISTORICAL_AGE_SECONDS",
    "HistoricalMode",
    "Request",
    "captured_size",
    "escaped_size",
    "historical_cutoff",
    "is_older_than",
    "plan_requests",
    "render_batch",
    "split_batch",
]

HistoricalMode = Literal["auto", "always", "never"]

# PostHog's ingestion sends events younger than 48 hours from the historical lane back
# to the live one (reference §9, "historical_migration"): older ones are what the
# historical lane is for.
HISTORICAL_AGE_SECONDS = 48 * 3600
# Capture's Kafka message holds, besides the event as an escaped string (``data``), its
# uuid (36), distinct_id (at most 200 characters, up to 6 bytes each once escaped),
# ip (at most 45), receive time and sent_at (about 35 each), token (at most 64) and
# the field names and punctuation (about 100): under 1,600 bytes all told
# (rust/capture CapturedEvent, reference §4). Newer versions add a few flags.
CAPTURE_ENVELOPE_BYTES = 2048
# JSON's two-character escapes; every other control character takes six (\u00XX).
_SHORT_ESCAPES = b"\b\t\n\f\r"
_CONTROLS = bytes(range(32))
_TIMESTAMP_KEY = b'"timestamp":"'
# rows.py writes timestamps as 2026-01-01T00:00:00.000000+00:00: in UTC, of fixed
# width, so their bytes sort as their instants do.
_TIMESTAMP_WIDTH = 32
_UTC_SUFFIX = b"+00:00"


T = TypeVar("T")


def render_batch(
    api_key: str, bodies: Sequence[bytes], *, historical_migration: bool
) -> bytes:
    """
    Return the ``/batch/`` request body: ``{"api_key": …, "batch": [ … ]}``.

    ``historical_migration`` is written only when true (reference §2, §7).
    """
    parts = [b'{"api_key":', orjson.dumps(api_key), b',"batch":[']
    parts.append(b",".join(bodies))
    parts.append(b"]")
    if historical_migration:
        parts.append(b',"historical_migration":true')
    parts.append(b"}")
    return b"".join(parts)


def escaped_size(body: bytes) -> int:
    """
    The bytes of ``body`` written as a JSON string, its quotes included.

    What ``json.dumps(body.decode(), ensure_ascii=False)`` would take in UTF-8, as
    serde_json writes it too: quotes and backslashes take two bytes, control
    characters two (``\\n``) or six (``\\u001f``), anything else its own.
    """
    size = len(body) + 2 + body.count(b'"') + body.count(b"\\")
    stripped = body.translate(None, _CONTROLS)
    controls = len(body) - len(stripped)
    if controls:
        short = sum(body.count(bytes([c])) for c in _SHORT_ESCAPES)
        size += short + 5 * (controls - short)
    return size


def captured_size(body: bytes) -> int:
    """
    The size of capture's Kafka message for the event ``body``, at most.

    The event as an escaped string plus ``CAPTURE_ENVELOPE_BYTES`` for the message's
    other fields: what Kafka's ``message.max.bytes`` (1,000,000 by default) applies to.
    """
    return escaped_size(body) + CAPTURE_ENVELOPE_BYTES


def historical_cutoff(now: datetime) -> bytes:
    """The timestamp, as rows.py writes it, before which an event is historical."""
    moment = (now - timedelta(seconds=HISTORICAL_AGE_SECONDS)).astimezone(UTC)
    return moment.isoformat(timespec="microseconds").encode()


def is_older_than(body: bytes, cutoff: bytes) -> bool:
    """
    Whether the event ``body`` happened before ``cutoff`` (from ``historical_cutoff``).

    No JSON decoding: with rows.py's key order the first ``"timestamp":"`` of a body is
    the top-level key, since a quote inside a JSON string is escaped, and its value
    compares as bytes. A body without a readable timestamp is not old.
    """
    start = body.find(_TIMESTAMP_KEY)
    if start < 0:
        return False
    start += len(_TIMESTAMP_KEY)
    text = body[start : start + _TIMESTAMP_WIDTH]
    if text.endswith(_UTC_SUFFIX) and len(text) == _TIMESTAMP_WIDTH:
        return text < cutoff
    # Not rows.py's form: read the string the slow way.
    end = body.find(b'"', start)
    try:
        moment = datetime.fromisoformat(body[start:end].decode())
    except (UnicodeDecodeError, ValueError):
        return False
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment < datetime.fromisoformat(cutoff.decode())


@dataclass(frozen=True, slots=True)
class Request:
    """Events that go in one request: their indexes, in order, and their lane."""

    indexes: tuple[int, ...]
    historical: bool


def plan_requests(
    bodies: Sequence[bytes],
    sizes: Sequence[int],
    *,
    mode: HistoricalMode,
    cutoff: bytes,
    solo_bytes: int,
) -> list[Request]:
    """
    Cut events into requests: one lane per request, a large event alone.

    ``sizes`` are the events' ``captured_size``; an event over ``solo_bytes`` gets a
    request of its own, between the events before and after it in its lane. ``mode``
    "auto" sends events older than ``cutoff`` in historical requests; "always" and
    "never" put every event in one lane. Requests are ordered by their first event,
    so each lane keeps spool order.
    """
    planned: list[tuple[list[int], bool]] = []
    open_runs: dict[bool, list[int]] = {}  # per lane, the request events may join
    for index, body in enumerate(bodies):
        historical = is_older_than(body, cutoff) if mode == "auto" else mode == "always"
        if sizes[index] > solo_bytes:
            planned.append(([index], historical))
            open_runs.pop(historical, None)
            continue
        run = open_runs.get(historical)
        if run is None:
            run = open_runs[historical] = []
            planned.append((run, historical))
        run.append(index)
    return [Request(tuple(run), historical) for run, historical in planned]


def split_batch(events: Sequence[T]) -> tuple[Sequence[T], Sequence[T]]:
    """
    Cut a batch into two halves, first half first, to find the event PostHog refuses.

    Raises:
        ValueError: fewer than two events; a single event cannot be split.
    """
    if len(events) < 2:
        msg = f"cannot split a batch of {len(events)} event(s)"
        raise ValueError(msg)
    middle = len(events) // 2
    return events[:middle], events[middle:]
