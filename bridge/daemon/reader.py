"""The reader: files → pipeline → spool, one commit per read, paced by the spool.

Theory of operation:

- Each round scans the sources' globs (in a worker thread; a walk in progress ends on
  stop), then reads the files' backlog: chunks of complete lines, turned into spool
  rows by the pipeline in the same thread, committed with the files' new checkpoints
  in one SQLite transaction on the store's thread. A crash at any point therefore
  loses nothing and spools nothing twice.
- The next chunks are read and prepared while the previous ones commit (SQLite works,
  and waits for the disk, without the GIL), but commits stay one at a time and in
  order.
- When the spool reaches its cap, or the state filesystem runs out of room, reading
  waits: the log files are the buffer. A commit the full disk refused is retried as it
  was, until it works or a stop comes; then no later chunk is committed (their lines
  are read again from the stored checkpoints at the next start).
- Between rounds the reader sleeps until the watcher (inotify, with a rescan as
  backstop) wakes it; while multi-line records or aggregation windows are pending, it
  wakes on its own to close those that have waited their ``flush_seconds``.
- A round begins at least ``read.coalesce_seconds`` after the previous one began: a
  file written line by line costs a few rounds a second (a scan, a read, a commit that
  waits for the disk, a wake-up of the sink), not one per change inotify reports. The
  latency this adds is bounded by the setting; a backlog is read without pause, and a
  file created, renamed or removed starts the next round at once (a rotation must be
  seen before the next one renames the file away).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading

from bridge.daemon.runtime import DISK_FULL_POLL_SECONDS, Runtime, wait_event
from bridge.errors import StoreFull
from bridge.logs import get_logger
from bridge.pipeline import PreparedChunk
from bridge.source import FileState, watch_changes
from bridge.source.discover import watched_dirs
from bridge.spool.store import SpoolStats, Store, disk_headroom

__all__ = ["Reader"]

# How often the reader re-checks a full spool for room.
SPOOL_FULL_POLL_SECONDS = 0.2
# How often the reader looks at records still being assembled, while no line comes.
PENDING_FLUSH_POLL_SECONDS = 0.5


class Reader:
    """The daemon's reading task and the file watcher that wakes it."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.disk_headroom = disk_headroom(rt.settings.read.read_bytes)
        self._log = get_logger()
        # Armed at the start of each round: appended data wakes the reader once per
        # round, however many times the file was written meanwhile.
        self._armed = threading.Event()
        self._armed.set()

    async def run(self) -> None:
        """Read until stopped (with ``once``: until the files have nothing new)."""
        rt = self.rt
        while not rt.stop.is_set():
            rt.health.reader_tick = rt.clock.monotonic()
            began = asyncio.get_running_loop().time()
            # The scan sees what changed before it: no need to hurry the next round.
            rt.wake_now.clear()
            # And the reads what was appended before them: only a later change needs
            # to wake the next round.
            self._armed.set()
            await asyncio.to_thread(self._scan)
            self._notices()
            if rt.stop.is_set():
                break
            if not rt.health.started:
                # State loaded and the first scan done: positions of files present now
                # are fixed, so lines appended from here on will be read.
                rt.health.started = True
                files = len(rt.tailer.file_states())
                self._log.info("engine_ready", files=files)
                rt.notifier.ready(f"{files} files, starting")
            await self._read_backlog()
            if rt.once:
                # What is still being assembled is complete: the files end here.
                await self._commit(await asyncio.to_thread(self._flush_all))
                return
            await self._wait_for_wake()
            await self._coalesce(began)

    async def watch(self) -> None:
        """Wake the reader when a watched directory changes (never with ``once``)."""
        rt = self.rt
        if rt.once:
            return
        while not rt.stop.is_set():
            specs = rt.specs
            dirs = watched_dirs(specs)
            changes = watch_changes(
                dirs, rt.stop, rt.settings.read.rescan_seconds, armed=self._armed
            )
            async with contextlib.aclosing(changes):
                async for structural in changes:
                    rt.wake.set()
                    if structural:
                        rt.wake_now.set()
                    # A reload replaces the sources whole: watch their folders.
                    if rt.specs is not specs:
                        specs = rt.specs
                        if watched_dirs(specs) != dirs:
                            break

    def unfinished(self) -> list[FileState]:
        """
        With ``once``, the last lines left unread for want of their newline, logged.

        They make ``--once`` fail: its exit 0 says that the files were read and
        delivered to their end, and a line that never gets its newline (a file
        written without a last one) would otherwise be lost without a word.
        """
        rt = self.rt
        if not rt.once or rt.stop.is_set():
            return []
        unfinished = rt.tailer.unfinished_lines()
        for state in unfinished:
            self._log.warning(
                "line_unfinished",
                path=state.path,
                offset=state.offset,
                bytes=state.size - state.offset,
            )
        return unfinished

    async def _read_backlog(self) -> None:
        """Read until the files have nothing new, committing as it goes."""
        rt = self.rt
        committing: asyncio.Task[None] | None = None
        await self._wait_for_room()  # which also learns the spool's size and room
        try:
            while not rt.stop.is_set():
                rt.health.reader_tick = rt.clock.monotonic()
                if (
                    rt.spooled_bytes >= rt.settings.spool_max_bytes
                    or rt.room < self.disk_headroom
                ):
                    await self._wait_for_room()
                if rt.stop.is_set():
                    break
                prepared = await asyncio.to_thread(self._read_and_prepare)
                self._notices()
                if committing is not None:
                    await committing
                committing = asyncio.ensure_future(self._commit(prepared))
                if not rt.tailer.has_backlog():
                    break
        finally:
            if committing is not None:
                await committing

    async def _commit(self, prepared: list[PreparedChunk]) -> None:
        """
        Commit chunks, in order; while the disk is full, try again until it works.

        If a stop comes first, they stay uncommitted, and so does every later chunk:
        their lines are read again from the stored checkpoints at the next start.
        """
        rt = self.rt
        if not prepared or rt.commits_abandoned:
            return
        while True:
            now = rt.clock.now().timestamp()
            try:
                rt.spooled_bytes, rt.room = await rt.store.call(
                    functools.partial(_commit, prepared, now)
                )
            except StoreFull as exc:
                # Nothing was written: the same chunks go again once there is room.
                rt.room = 0
                self._disk_full(str(exc))
                if await wait_event(rt.stop, DISK_FULL_POLL_SECONDS):
                    rt.commits_abandoned = True
                    self._log.info("commit_abandoned", events=_events_in(prepared))
                    return
                rt.health.reader_tick = rt.clock.monotonic()
                continue
            break
        if rt.disk_full_since is not None and rt.room >= self.disk_headroom:
            self._disk_space_returned()
        if any(chunk.rows for chunk in prepared):
            rt.sink.notify()

    # -- on the worker thread --------------------------------------------------------

    def _scan(self) -> None:
        rt = self.rt
        specs, rt.pending_specs = rt.pending_specs, None
        if specs is not None:
            rt.tailer.set_sources(specs)
        rt.tailer.scan(rt.scan_stop)
        rt.health.files_seen(rt.tailer.file_states())

    def _read_and_prepare(self) -> list[PreparedChunk]:
        rt = self.rt
        chunks = rt.tailer.read(max_bytes=rt.settings.read.read_bytes)
        rt.health.files_seen(rt.tailer.file_states())
        pipeline = rt.pipeline
        prepared = []
        if pipeline.ruleset is not rt.ruleset:
            # A reload, taken between two chunks.
            prepared.extend(pipeline.set_ruleset(rt.ruleset))
        read_at, now = rt.clock.now(), rt.clock.monotonic()
        if chunks:
            prepared.extend(pipeline.prepare(chunks, read_at, now))
        # Records and windows that waited long enough, also when no new line came.
        prepared.extend(pipeline.flush(read_at, now))
        rt.published = pipeline.stats.copy()
        return prepared

    def _flush_all(self) -> list[PreparedChunk]:
        rt = self.rt
        flushed = rt.pipeline.flush(rt.clock.now(), rt.clock.monotonic(), force=True)
        rt.published = rt.pipeline.stats.copy()
        return flushed

    def _flush_due(self) -> list[PreparedChunk]:
        rt = self.rt
        return rt.pipeline.flush(rt.clock.now(), rt.clock.monotonic())

    # -- flow control ----------------------------------------------------------------

    async def _wait_for_room(self) -> None:
        """Wait until the spool is under its cap and the state filesystem has room."""
        rt = self.rt
        cap = rt.settings.spool_max_bytes
        warned = False
        while not rt.stop.is_set():
            spool, rt.room = await rt.store.call(_spool_and_room)
            rt.spooled_bytes = spool.bytes
            if spool.bytes >= cap:
                if not warned:
                    self._log.warning(
                        "spool_full", bytes=spool.bytes, events=spool.events
                    )
                    warned = True
            elif rt.room < self.disk_headroom:
                self._disk_full(f"{rt.room} bytes free, {self.disk_headroom} kept free")
            else:
                if warned:
                    self._log.info("spool_resumed", bytes=spool.bytes)
                if rt.disk_full_since is not None:
                    self._disk_space_returned()
                return
            rt.health.reader_tick = rt.clock.monotonic()
            await rt.clock.sleep(SPOOL_FULL_POLL_SECONDS)

    def _disk_full(self, error: str) -> None:
        """Reading pauses for want of disk space: say so once, until it resumes."""
        rt = self.rt
        if rt.disk_full_since is not None:
            return
        rt.disk_full_since = rt.clock.monotonic()
        self._log.warning(
            "disk_full",
            error=error,
            bytes=rt.spooled_bytes,
            room=rt.room,
            headroom=self.disk_headroom,
        )
        rt.notifier.status(f"state filesystem full, reading paused: {error}")

    def _disk_space_returned(self) -> None:
        rt = self.rt
        assert rt.disk_full_since is not None  # noqa: S101 (callers check)
        paused = rt.clock.monotonic() - rt.disk_full_since
        rt.disk_full_since = None
        self._log.info("disk_space_returned", room=rt.room, paused_s=round(paused, 3))

    async def _wait_for_wake(self) -> None:
        """
        Wait for a wake-up or a stop. Meanwhile, while multi-line records or windows
        are pending, close those that have waited their ``flush_seconds``: no line
        may come for a long while, and the next rescan may be far.
        """
        rt = self.rt
        while True:
            timeout = PENDING_FLUSH_POLL_SECONDS if rt.pipeline.has_pending() else None
            stop_wait = asyncio.ensure_future(rt.stop.wait())
            wake_wait = asyncio.ensure_future(rt.wake.wait())
            try:
                done, _ = await asyncio.wait(
                    {stop_wait, wake_wait},
                    timeout=timeout,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                stop_wait.cancel()
                wake_wait.cancel()
            if done:
                break
            rt.health.reader_tick = rt.clock.monotonic()
            await self._commit(await asyncio.to_thread(self._flush_due))
        rt.wake.clear()

    async def _coalesce(self, began: float) -> None:
        """
        Let appended lines gather until ``coalesce_seconds`` after the last round
        began; a file created, renamed or removed (or a stop) ends the wait at once.
        """
        rt = self.rt
        loop_now = asyncio.get_running_loop().time()  # the clock wait_event runs on
        remaining = began + rt.settings.read.coalesce_seconds - loop_now
        if remaining > 0:
            await wait_event(rt.wake_now, remaining)

    def _notices(self) -> None:
        rt = self.rt
        notices = rt.tailer.drain_notices()
        rt.health.notices(notices)
        for notice in notices:
            self._log.info(notice.kind, path=notice.path, offset=notice.offset)
        for limit in rt.tailer.drain_glob_limits():
            self._log.warning(
                "glob_limited",
                path=limit.pattern,
                entries=limit.entries,
                revisited=limit.revisited,
                too_deep=limit.too_deep,
                exhausted=limit.exhausted,
            )


def _commit(prepared: list[PreparedChunk], now: float, store: Store) -> tuple[int, int]:
    """Commit the chunks; return the spool's bytes and the room left afterwards."""
    store.commit_chunks(
        [(chunk.rows, chunk.checkpoint) for chunk in prepared],
        now,
        deadletters=[letter for chunk in prepared for letter in chunk.deadletters],
    )
    return store.stats().bytes, store.room()


def _spool_and_room(store: Store) -> tuple[SpoolStats, int]:
    return store.stats(), store.room()


def _events_in(prepared: list[PreparedChunk]) -> int:
    return sum(len(chunk.rows) for chunk in prepared)
