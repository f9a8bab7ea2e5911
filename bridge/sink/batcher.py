"""Batches: which spooled events go together, and the request body they make.

Pure. Invariants:

- A batch is a prefix of what it was cut from, in the same order, so events reach
  PostHog in spool order and nothing is skipped or repeated.
- A batch holds at least one event, even one larger than the byte limit, so an oversized
  event cannot block the spool (the sink quarantines it instead).
- Event bodies are joined as stored, never re-encoded: a resend is byte-identical.
- No ``sent_at``: capture would shift every stored timestamp by the client's clock skew,
  and a resend would then no longer match the first copy
  (reference/posthog-capture.md §6, §7).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

import orjson

__all__ = ["HasBody", "render_batch", "split_batch", "take_batch"]


class HasBody(Protocol):
    """Anything carrying an event's wire body (a spooled event)."""

    @property
    def body(self) -> bytes:
        """The event's JSON object, as encoded by ``bridge.spool.rows``."""
        ...


B = TypeVar("B", bound=HasBody)
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


def take_batch(events: Sequence[B], max_events: int, max_bytes: int) -> list[B]:
    """
    The longest prefix of ``events`` within ``max_events`` and ``max_bytes`` of bodies.

    At least one event when ``events`` is not empty.
    """
    taken: list[B] = []
    total = 0
    for event in events[: max(max_events, 1)]:
        total += len(event.body)
        if taken and total > max_bytes:
            break
        taken.append(event)
    return taken


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
