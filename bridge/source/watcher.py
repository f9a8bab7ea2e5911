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
- The iterator ends when ``stop`` is set; closing or cancelling it stops its watch
  thread within ``STEP_MS``.
- A batch of changes costs the event loop one wake-up, and says whether it holds more
  than appended data (an entry created, removed or renamed): the reader lets appended
  lines gather, but must look at once when files come and go.
- With an ``armed`` flag, appended data wakes the loop once per arming: the consumer
  arms it before it reads the files, so a change made after that is signalled, and
  one made before is read anyway. A file written every few milliseconds then costs
  the loop a wake-up per read, not one per batch (about 10 a second). Every other
  change, and the periodic wake-up, is signalled whatever the flag.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import AsyncGenerator, Iterable

import watchfiles

from bridge.logs import get_logger

__all__ = ["DEBOUNCE_MS", "STEP_MS", "watch_changes"]

_MODIFIED = watchfiles.Change.modified

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
    dirs: set[str],
    stop: asyncio.Event,
    rescan_seconds: float,
    *,
    step_ms: int = STEP_MS,
    armed: threading.Event | None = None,
) -> AsyncGenerator[bool, None]:
    """
    Yield once per batch of changes under ``dirs``, and after ``rescan_seconds``
    without any: True when the batch may hold more than appended data (an entry
    created, removed or renamed; or a periodic wake-up), False when only files'
    contents changed.

    ``step_ms`` is the watch thread's polling step (the latency of a change);
    ``armed``, when given, gates batches of appended data as the module says.
    """
    timeout_ms = max(1, round(rescan_seconds * 1000))
    warned = False
    while not stop.is_set():
        roots = _watch_roots(dirs)
        if roots:
            try:
                async with contextlib.aclosing(
                    _watch(roots, stop, timeout_ms, step_ms, armed)
                ) as changes:
                    async for structural in changes:
                        warned = False
                        yield structural
                        if structural and _watch_roots(dirs) != roots:
                            break
                continue
            except FileNotFoundError:
                # A root vanished between finding it and watching it (or while it
                # was watched): look again soon, without spinning if it keeps
                # happening, and have the files scanned, since changes went unseen.
                if await _wait(stop, step_ms / 1000):
                    return
                yield True
                continue
            except OSError as exc:
                if not warned:
                    get_logger().warning("watch_failed", error=str(exc))
                    warned = True
        # Nothing to watch with inotify: the periodic wake-up alone.
        if await _wait(stop, rescan_seconds):
            return
        yield True


async def _watch(
    roots: set[str],
    stop: asyncio.Event,
    timeout_ms: int,
    step_ms: int,
    armed: threading.Event | None,
) -> AsyncGenerator[bool, None]:
    """
    Yield per batch of changes under ``roots``, watched by watchfiles on a thread.

    watchfiles' own async iterator starts a task group and a worker-thread call for
    every batch, a millisecond of the event loop's time each; here one thread blocks
    in the watch for as long as it lasts, and a batch costs the loop one wake-up.
    Batches that arrive while the consumer is busy merge into one. The thread's
    errors (a root gone, inotify refused) are raised here. Leaving the iterator stops
    the thread within ``step_ms``.
    """
    watch = _WatchThread(roots, timeout_ms, step_ms, armed, asyncio.get_running_loop())
    try:
        while not stop.is_set():
            if not watch.changed.is_set():
                await _wait_either(watch.changed, stop)
            if stop.is_set():
                return
            structural = watch.take()
            if watch.ended:
                if watch.error is not None:
                    raise watch.error
                return
            yield structural
    finally:
        watch.halt.set()


class _WatchThread:
    """watchfiles' blocking watch on its own thread, handing batches to the loop."""

    def __init__(
        self,
        roots: set[str],
        timeout_ms: int,
        step_ms: int,
        armed: threading.Event | None,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.halt = threading.Event()
        self.changed = asyncio.Event()
        self.ended = False
        self.error: Exception | None = None
        self._structural = False
        self._roots = roots
        self._timeout_ms = timeout_ms
        self._step_ms = step_ms
        self._armed = armed
        self._loop = loop
        threading.Thread(target=self._run, name="watch", daemon=True).start()

    def take(self) -> bool:
        """On the loop: whether the batches since the last take were structural."""
        self.changed.clear()
        structural, self._structural = self._structural, False
        return structural

    def _note(self, structural: bool) -> None:  # on the loop
        self._structural |= structural
        self.changed.set()

    def _signal(self, structural: bool) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody listens
            self._loop.call_soon_threadsafe(self._note, structural)

    def _run(self) -> None:
        try:
            for batch in watchfiles.watch(
                *self._roots,
                # Every change may matter to a log pattern, even ``*~`` or ``.swp``.
                watch_filter=None,
                stop_event=self.halt,
                debounce=max(DEBOUNCE_MS, self._step_ms),
                step=self._step_ms,
                rust_timeout=self._timeout_ms,
                yield_on_timeout=True,
                recursive=True,
                # A subdirectory we may not read must not stop the watch of the rest.
                ignore_permission_denied=True,
                raise_interrupt=False,
            ):
                # An empty batch is the periodic wake-up: a rescan, as structural.
                structural = not batch or any(k is not _MODIFIED for k, _ in batch)
                armed = self._armed
                if armed is None or structural:
                    self._signal(structural)
                elif armed.is_set():
                    # Cleared first: a change after this wakes the loop once more.
                    armed.clear()
                    self._signal(structural)
        except Exception as exc:  # noqa: BLE001 (handed over to the iterator)
            self.error = exc
        self.ended = True
        self._signal(True)


async def _wait_either(first: asyncio.Event, second: asyncio.Event) -> None:
    """Return once either event is set."""
    waiters = [
        asyncio.ensure_future(first.wait()),
        asyncio.ensure_future(second.wait()),
    ]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


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
