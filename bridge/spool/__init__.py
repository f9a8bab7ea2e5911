"""The spool: events waiting for PostHog, and file checkpoints, in one SQLite database."""

from bridge.spool.rows import decode_event, encode_event
from bridge.spool.store import (
    AsyncStore,
    DeadLetter,
    SpooledEvent,
    SpoolStats,
    Store,
)

__all__ = [
    "AsyncStore",
    "DeadLetter",
    "SpoolStats",
    "SpooledEvent",
    "Store",
    "decode_event",
    "encode_event",
]
