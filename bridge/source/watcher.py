"""Wake the tailer when something changes under the watched directories.

A wake-up carries no information: the tailer's scan finds out what changed. inotify
(through watchfiles) gives the latency; a wake-up every ``rescan_seconds`` without any
event is the backstop for events inotify drops (queue overflow, network filesystems:
shippers.md §4 item 8).

Invariants:

- Idle, it costs about nothing: the watch thread sleeps in ``STEP_MS`` steps and
  nothing else runs until an event or the periodic timeout.
- A directory that does not exist yet is watched through its nearest existing parent
  (never the filesystem root: a recursive watch of ``/`` would exhaust inotify); once
  it exists, or a watched one disappears, the watch is rebuilt on the new set.
- When inotify cannot be used (watch limit reached, …), wake-ups continue every
  ``rescan_seconds`` and inotify is tried again after each one: never an error.
- The iterator ends when ``stop`` is set. Cancelling it also sets ``stop``
  (watchfiles stops its thread that way).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterable
from contextlib import aclosing

import watchfiles

from bridge.logs import get_logger

__all__ = ["DEBOUNCE_MS", "STEP_MS", "watch_changes"]

# Longest a burst of changes is gathered before waking the tailer. Kept short so that
# a file written continuously still gets a scan every ~50 ms: with the pattern
# matching only the live name, a file must be seen before it is renamed away (a
# rotation every 100 ms was missed whole with 300 ms).
DEBOUNCE_MS = 50
# How often the watch thread checks for changes and for ``stop``: the latency of a
# lone change (one to two steps) and the only idle work. Measured idle cost: about
# 0.2 % of a core (0.1 % at 100 ms).
STEP_MS = 50


async def watch_changes(
    dirs: set[str], stop: asyncio.Event, rescan_seconds: float
) -> AsyncIterator[None]:
    """
    Yield once per batch of changes under ``dirs``, and after ``rescan_seconds``
    without any.
    """
    timeout_ms = max(1, round(rescan_seconds * 1000))
    warned = False
    while not stop.is_set():
        roots = _watch_roots(dirs)
        if roots:
            changes = watchfiles.awatch(
                *roots,
                # Every change may matter to a log pattern, even ``*~`` or ``.swp``.
                watch_filter=None,
                stop_event=stop,
                debounce=DEBOUNCE_MS,
                step=STEP_MS,
                rust_timeout=timeout_ms,
                yield_on_timeout=True,
                recursive=True,
                # A subdirectory we may not read must not stop the watch of the rest.
                ignore_permission_denied=True,
            )
            try:
                async with aclosing(changes):
                    async for _ in changes:
                        warned = False
                        yield None
                        if _watch_roots(dirs) != roots:
                            break
                continue
            except FileNotFoundError:
                # A root vanished between finding it and watching it: look again
                # soon, without spinning if it keeps happening.
                if await _wait(stop, STEP_MS / 1000):
                    return
                continue
            except OSError as exc:
                if not warned:
                    get_logger().warning("watch_failed", error=str(exc))
                    warned = True
        # Nothing to watch with inotify: the periodic wake-up alone.
        if await _wait(stop, rescan_seconds):
            return
        yield None


def _watch_roots(dirs: Iterable[str]) -> set[str]:
    """The existing directories to watch: each dir, or its nearest existing parent."""
    roots: set[str] = set()
    for directory in dirs:
        path = os.path.abspath(directory)  # noqa: PTH100 (str in, str out)
        while not os.path.isdir(path):  # noqa: PTH112
            path = os.path.dirname(path)  # noqa: PTH120
        if path != os.path.dirname(path):  # noqa: PTH120 (not the root)
            roots.add(path)
    # Watches are recursive: a root inside another adds nothing.
    return {
        root
        for root in roots
        if not any(root.startswith(other + os.sep) for other in roots)
    }


async def _wait(stop: asyncio.Event, seconds: float) -> bool:
    """Wait for ``stop`` at most ``seconds``; return whether it is set."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return False
    return True
