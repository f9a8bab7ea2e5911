"""Requests that reach the main loop from signal handlers.

A signal handler only queues a ``Control``; the loop acts on it between chunks, so no
handler ever runs pipeline code in the middle of a transaction.

Until the event loop installs its own handlers, ``catch_early_signals`` records a
SIGTERM or SIGINT, so that a stop requested while the daemon is still starting (systemd
may send one at any moment) takes the same orderly path: exit 0, nothing lost.
"""

from __future__ import annotations

import enum
import signal
from types import FrameType

__all__ = ["Control", "catch_early_signals", "early_stop_requested"]


class Control(enum.Enum):
    """What the operator asked for."""

    STOP = "stop"
    RELOAD = "reload"


_early: list[int] = []


def _record(signum: int, _frame: FrameType | None) -> None:
    _early.append(signum)


def catch_early_signals() -> None:
    """Record SIGTERM, SIGINT and SIGHUP until the event loop takes them over."""
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _record)


def early_stop_requested() -> bool:
    """Whether a stop arrived before the event loop's handlers were installed."""
    return any(sig in (signal.SIGTERM, signal.SIGINT) for sig in _early)
