"""The plain statement of how a batch is cut from the spool, to check the store by.

``Store.fetch_oldest`` reads segments and skips settled events; what it returns must
be what ``take_batch`` takes from the whole spool in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

__all__ = ["HasBody", "take_batch"]


class HasBody(Protocol):
    """Anything carrying an event's wire body (a spooled event)."""

    @property
    def body(self) -> bytes:
        """The event's JSON object, as encoded by ``bridge.spool.rows``."""
        ...


B = TypeVar("B", bound=HasBody)


def take_batch(events: Sequence[B], max_events: int, max_bytes: int) -> list[B]:
    """
    The longest prefix of ``events`` within ``max_events`` and ``max_bytes`` of bodies.

    At least one event when ``events`` is not empty, even one over ``max_bytes``, so an
    oversized event cannot block the spool.
    """
    taken: list[B] = []
    total = 0
    for event in events[: max(max_events, 1)]:
        total += len(event.body)
        if taken and total > max_bytes:
            break
        taken.append(event)
    return taken
