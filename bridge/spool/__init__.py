"""The spool: events waiting for PostHog, and file checkpoints, in one SQLite database.

``AsyncStore``, the daemon's handle, is imported from ``bridge.spool.asyncstore``, not
from here: importing the package must not import asyncio (``logbridge status``).
"""

from bridge.spool.rows import decode_event, encode_event
from bridge.spool.store import (
    DeadLetter,
    SpooledEvent,
    SpoolStats,
    Store,
)

__all__ = [
    "DeadLetter",
    "SpoolStats",
    "SpooledEvent",
    "Store",
    "decode_event",
    "encode_event",
]
