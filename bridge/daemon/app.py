"""The daemon: tail → parse → rules → spool → sink, wired under one asyncio.TaskGroup.

Theory of operation:

- The reader task scans the sources' globs, reads chunks of complete lines in a worker
  thread, turns them into spool rows there, and commits each chunk's rows together with
  the file's new checkpoint in one SQLite transaction on the store's thread. A crash at any
  point therefore loses nothing and spools nothing twice.
- The sink task sends the oldest spooled events and deletes them only after a 2xx.
- A damaged segment of the spool is quarantined by the store (``segment_quarantined``)
  and the rest goes on. A state database damaged beyond that (a header, a page outside
  the spool) is set aside, renamed and kept (``database_set_aside``): at start, and
  the daemon goes on with a new one; while running, and it exits 1 for the next start
  to do so. A new database next to a set-aside one is not a first start: the files are
  read from their beginning, and the events already sent go again under the same
  uuids, which PostHog keeps once.
- When the spool reaches its cap, or the state filesystem runs out of room, the reader
  waits: the log files are the buffer. A commit the full disk refused is retried as it
  was; the sink keeps sending meanwhile, and the pages it frees make room again.
- The supervisor task publishes metrics, systemd's STATUS= and the watchdog (fed only
  while the pipeline makes progress), and spools the periodic ``health_check`` event.
- Signal handlers only queue a ``Control``. STOP: the reader finishes its current chunk,
  the sink flushes within ``shutdown_timeout_seconds``, the state is closed, exit 0. A
  second SIGINT exits at once (the state is consistent at every commit). RELOAD compiles
  the rule files again and swaps the rule set between chunks, or keeps the old one.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import os
import signal
import ssl
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson

from bridge import __version__
from bridge.clock import Clock, SystemClock
from bridge.daemon.control import Control, early_stop_requested
from bridge.daemon.health import Health
from bridge.daemon.metrics import HealthServer, Metrics
from bridge.daemon.own_events import OwnEvents
from bridge.daemon.reload import (
    diff_rulesets,
    load_ruleset,
    rule_files_signature,
    source_specs,
)
from bridge.daemon.systemd import Notifier
from bridge.errors import (
    BridgeError,
    Problem,
    RuleFileError,
    StartupError,
    StoreCorrupt,
    StoreError,
    StoreFull,
)
from bridge.logs import get_logger
from bridge.model import Checkpoint, Event
from bridge.pipeline import Pipeline, PipelineStats, PreparedChunk
from bridge.rules import RuleSet
from bridge.settings import Settings
from bridge.sink.posthog import Sink
from bridge.source import FileState, SourceSpec, Tailer, watch_changes
from bridge.source.discover import watched_dirs
from bridge.spool.rows import encode_event
from bridge.spool.store import (
    RULES_STATUS,
    AsyncStore,
    DamagedSegment,
    SpoolStats,
    Store,
    disk_headroom,
    set_aside,
    set_aside_databases,
)

__all__ = ["Daemon"]

# How often the reader re-checks a full spool for room.
SPOOL_FULL_POLL_SECONDS = 0.2
# How often a write the full disk refused is tried again (a commit, the sink's
# settling, opening the database).
DISK_FULL_POLL_SECONDS = 1.0
# How often the reader looks at records still being assembled, while no line comes.
PENDING_FLUSH_POLL_SECONDS = 0.5
# How often metrics, STATUS= and the watchdog are refreshed (at most).
SUPERVISE_SECONDS = 2.0
# The backstop for rule-file changes inotify missed.
RULES_RESCAN_SECONDS = 5.0
# A change of the rule files is reloaded once they have held still this long: an
# editor that truncates and then writes, or removes and then creates, is done by then.
RULES_SETTLE_SECONDS = 1.0


@dataclass(slots=True)
class _Runtime:
    """What the tasks share while the daemon runs."""

    ruleset: RuleSet
    store: AsyncStore
    tailer: Tailer
    sink: Sink
    pipeline: Pipeline
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    # ``stop`` for the scan's thread: a glob walk in progress ends when it is set.
    scan_stop: threading.Event = field(default_factory=threading.Event)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    controls: asyncio.Queue[Control] = field(default_factory=asyncio.Queue)
    # Sources of a reloaded rule set, handed to the tailer by the reader between chunks:
    # the tailer is not thread-safe and the reader may be inside it right now.
    pending_specs: list[SourceSpec] | None = None
    # The sources the watcher follows: replaced whole (never mutated) on reload.
    specs: Sequence[SourceSpec] = ()
    # A reload is queued and not started yet: further requests coalesce into it.
    reload_queued: bool = False
    # The queued reload was asked for by the operator (SIGHUP), not by a file change.
    reload_explicit: bool = False
    stop_reason: str = "signal"
    # The spool's bytes as of the last commit (read on the store thread right after
    # it): the reader checks the cap against it without a store round trip, which
    # would wait behind the commit in flight and undo the overlap.
    spooled_bytes: int = 0
    # Bytes the state database can still grow by, as of the last commit.
    room: int = 0
    # When (clock.monotonic()) reading paused for want of disk space; None: it did not.
    disk_full_since: float | None = None
    # A commit was given up (a stop came while the disk was full): no later chunk may
    # be committed, or its checkpoint would pass the lines of the one given up.
    commits_abandoned: bool = False


class Daemon:
    """One run of the bridge, until a signal (or, with ``once``, until all is delivered)."""

    def __init__(
        self,
        settings: Settings,
        *,
        once: bool = False,
        clock: Clock | None = None,
        write_out: Callable[[bytes], None] | None = None,
        open_store: Callable[[Path], Store] = Store.open,
    ) -> None:
        """
        Args:
            open_store: opens the state database of a state directory (a seam: tests
                give the database a size limit).
        """
        self.settings = settings
        self.once = once
        self.clock: Clock = clock or SystemClock()
        # Written by the reader thread only; other code reads ``published``, the copy
        # the reader makes after each round (a live Counter may grow while read).
        self.stats = PipelineStats()
        self.published = PipelineStats()
        self.notifier = Notifier()
        metrics = Metrics() if settings.metrics.enabled and not once else None
        self.health = Health(settings, metrics)
        self.own = OwnEvents(
            hostname=settings.hostname,
            environment=settings.environment,
            started_at=self.clock.now(),
        )
        # None: the sink's default, standard output.
        self._write_out = write_out
        self._store_opener = open_store
        self.disk_headroom = disk_headroom(settings.read.read_bytes)
        # Writes of the daemon's own (own events, the rules status) a full disk refused.
        self.writes_skipped = 0
        self._log = get_logger()
        self._interrupts = 0

    async def run(self) -> int:
        """
        Run until stopped; return the process exit code.

        Raises:
            BridgeError: what made a task fail (not wrapped in an exception group).
        """
        ruleset = load_ruleset(self.settings)
        state_dir = self.settings.state_dir
        with _exclusive(state_dir):
            try:
                return await self._run_locked(ruleset, state_dir)
            except BaseExceptionGroup as group:
                error = _sole_error(group)
                if error is None:
                    raise
            if isinstance(error, StoreCorrupt):
                path = set_aside(state_dir, self.clock.now())
                self._log.error("database_set_aside", path=str(path), error=str(error))
                msg = (
                    f"{error} (set aside as {path.name}; the next start begins a new"
                    " state database and reads the log files again)"
                )
                raise StoreCorrupt(msg) from None
            raise error

    async def _run_locked(self, ruleset: RuleSet, state_dir: Path) -> int:
        store = AsyncStore(functools.partial(self._open_on_store_thread, state_dir))
        opened = await self._open_store(store, state_dir)
        if opened is None:
            self._log.info("shutdown_requested")
            return 0
        first_start, checkpoints = opened
        client = self._make_client()
        server = None
        try:
            specs = source_specs(ruleset, self.settings)
            tailer = Tailer(
                specs,
                checkpoints,
                first_start=first_start,
                chunk_bytes=self.settings.read.chunk_bytes,
                max_line_bytes=self.settings.read.max_line_bytes,
            )
            histogram = (
                self.health.metrics and self.health.metrics.send_duration_seconds
            )
            sink = Sink(
                store,
                settings=self.settings,
                client=client,
                clock=self.clock,
                dry_run_out=self._write_out,
                observe_duration=histogram.observe if histogram else None,
            )
            pipeline = Pipeline(
                ruleset,
                self.stats,
                geoip_disable=self.settings.posthog.geoip_disable,
                prefilter=self.settings.read.prefilter,
            )
            rt = _Runtime(
                ruleset=ruleset,
                store=store,
                tailer=tailer,
                sink=sink,
                pipeline=pipeline,
                specs=specs,
            )
            await self._rules_active(rt, ruleset)
            server = await self._start_server(rt)
            self._log.info(
                "engine_started",
                version=__version__,
                rules=len(ruleset.rules),
                sources=len(ruleset.sources),
                rules_hash=ruleset.digest[:12],
                dry_run=client is None,
                state_dir=str(state_dir),
            )
            await self._spool_own(
                rt,
                self.own.engine_started(
                    rules_hash=ruleset.digest[:12],
                    rules=len(ruleset.rules),
                    sources=len(ruleset.sources),
                ),
            )
            try:
                return await self._run(rt)
            finally:
                tailer.close()
        finally:
            if server is not None:
                await server.stop()
            if client is not None:
                await client.aclose()
            await store.close()

    def _open_on_store_thread(self, state_dir: Path) -> Store:
        store = self._store_opener(state_dir)
        store.on_damaged = self._segment_quarantined
        return store

    def _segment_quarantined(self, damaged: DamagedSegment) -> None:
        self._log.error(
            "segment_quarantined",
            segment=damaged.id,
            events=damaged.events,
            salvaged=damaged.salvaged,
            error=damaged.error,
        )

    async def _open_store(
        self, store: AsyncStore, state_dir: Path
    ) -> tuple[bool, list[Checkpoint]] | None:
        """
        Open the state database; return whether this is a first start, and the
        checkpoints.

        While its filesystem is full, wait: systemd hears why the start takes long and
        is asked to wait (a restart would find the same full disk). A damaged database
        is set aside and a new one begun. None if a stop was asked for first.

        Raises:
            StoreCorrupt: the new database is damaged too.
        """
        warned = set_aside_now = False
        while True:
            try:
                await store.open()
                is_new, checkpoints = await store.call(_startup_state)
            except StoreFull as exc:
                await store.close()
                if not warned:
                    self._log.warning("disk_full", error=str(exc))
                    warned = True
                self.notifier.status(f"state filesystem full, waiting for room: {exc}")
                self.notifier.extend_timeout(3 * DISK_FULL_POLL_SECONDS)
                self.notifier.watchdog()
            except StoreCorrupt as exc:
                await store.close()
                if set_aside_now:
                    raise
                path = await asyncio.to_thread(set_aside, state_dir, self.clock.now())
                self._log.error("database_set_aside", path=str(path), error=str(exc))
                set_aside_now = True
                continue
            else:
                if warned:
                    self._log.info("disk_space_returned")
                aside = await asyncio.to_thread(set_aside_databases, state_dir)
                return is_new and not aside, checkpoints
            if early_stop_requested():
                return None
            await self.clock.sleep(DISK_FULL_POLL_SECONDS)

    def _make_client(self) -> httpx.AsyncClient | None:
        posthog = self.settings.posthog
        if not posthog.api_key:
            return None
        # A private CA replaces the public ones: the host is the only server it
        # talks to. `logbridge check` has read the file already.
        verify: ssl.SSLContext | bool = True
        if posthog.ca_bundle is not None:
            verify = ssl.create_default_context(cafile=str(posthog.ca_bundle))
        return httpx.AsyncClient(
            timeout=posthog.timeout_seconds,
            headers={"User-Agent": f"logbridge/{__version__}"},
            verify=verify,
        )

    async def _start_server(self, rt: _Runtime) -> HealthServer | None:
        metrics = self.health.metrics
        if metrics is None:
            return None
        for source in rt.ruleset.sources:
            metrics.declare_source(source.name)
        server = HealthServer(
            metrics,
            lambda: self.health.readiness(rt.sink, self.clock.monotonic()),
            host=self.settings.metrics.host,
            port=self.settings.metrics.port,
        )
        try:
            port = await server.start()
        except OSError as exc:
            # asyncio's strerror repeats the address; the errno's text does not.
            why = os.strerror(exc.errno) if exc.errno else str(exc)
            msg = (
                f"cannot listen on {self.settings.metrics.host}:"
                f"{self.settings.metrics.port} for /metrics: {why}"
                " (another program has the port: change metrics.port, or set"
                " metrics.enabled: false)"
            )
            raise StartupError(msg) from None
        self._log.info("metrics_listening", host=self.settings.metrics.host, port=port)
        return server

    async def _run(self, rt: _Runtime) -> int:
        self._install_signals(rt)
        sink_stop = asyncio.Event()
        try:
            async with asyncio.TaskGroup() as tg:
                sink_task = tg.create_task(self._run_sink(rt, sink_stop))
                helpers = [
                    tg.create_task(self._control_loop(rt)),
                    tg.create_task(self._watch(rt)),
                    tg.create_task(self._supervise(rt)),
                    tg.create_task(self._watch_rules(rt)),
                ]
                await self._read_loop(rt)
                unfinished = self._unfinished(rt)
                self.notifier.stopping()
                sink_stop.set()
                await sink_task
                for task in helpers:
                    task.cancel()
        finally:
            self._remove_signals()
        reason = "once" if self.once else rt.stop_reason
        await self._spool_own(
            rt,
            self.own.engine_stopped(
                self.clock.now(), reason=reason, counters=self._counters(rt)
            ),
        )
        timeout = None if self.once else self.settings.shutdown_timeout_seconds
        try:
            drained = await rt.sink.drain(timeout)
        except StoreFull as exc:
            # Sent, maybe, but not settled: those events go again, same uuids.
            self._log.warning("disk_full", task="sink", error=str(exc))
            drained = False
        spool = await rt.store.call(lambda s: s.stats())
        self._log.info(
            "engine_stopped",
            reason=reason,
            drained=drained,
            spooled=spool.events,
            halted=rt.sink.halted,
            writes_skipped=self.writes_skipped,
            lines_unfinished=len(unfinished),
            **self.published.snapshot(),
        )
        if self.once and (not drained or unfinished):
            return 1
        return 0

    def _unfinished(self, rt: _Runtime) -> list[FileState]:
        """
        With ``once``, the last lines left unread for want of their newline, logged.

        They make ``--once`` fail: its exit 0 says that the files were read and
        delivered to their end, and a line that never gets its newline (a file
        written without a last one) would otherwise be lost without a word.
        """
        if not self.once or rt.stop.is_set():
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

    async def _run_sink(self, rt: _Runtime, stop: asyncio.Event) -> None:
        """
        Run the sink; after a write the full disk refused, wait for room and run it
        again.

        The batch whose settling failed is fetched and sent again, with the same uuids:
        PostHog keeps one copy.
        """
        while True:
            try:
                await rt.sink.run(stop)
            except StoreFull as exc:
                self._log.warning("disk_full", task="sink", error=str(exc))
            else:
                return
            while not await _wait_event(stop, DISK_FULL_POLL_SECONDS):
                if await rt.store.call(lambda s: s.can_write()):
                    self._log.info("disk_space_returned", task="sink")
                    break
            else:
                return

    # -- reading -----------------------------------------------------------------------

    async def _read_loop(self, rt: _Runtime) -> None:
        while not rt.stop.is_set():
            self.health.reader_tick = self.clock.monotonic()
            await asyncio.to_thread(self._scan, rt)
            self._notices(rt)
            if rt.stop.is_set():
                break
            if not self.health.started:
                # State loaded and the first scan done: positions of files present now
                # are fixed, so lines appended from here on will be read.
                self.health.started = True
                files = len(rt.tailer.file_states())
                self._log.info("engine_ready", files=files)
                self.notifier.ready(f"{files} files, starting")
            await self._read_backlog(rt)
            if self.once:
                # What is still being assembled is complete: the files end here.
                await self._commit(rt, await asyncio.to_thread(self._flush_all, rt))
                return
            await self._wait_for_wake(rt)

    async def _read_backlog(self, rt: _Runtime) -> None:
        """
        Read until the files have nothing new, committing as it goes.

        The next chunks are read and prepared while the previous ones commit (SQLite
        works, and waits for the disk, without the GIL), but commits stay one at a
        time and in order, and the loop ends only once the last one is done.
        """
        committing: asyncio.Task[None] | None = None
        await self._wait_for_room(rt)  # which also learns the spool's size and room
        try:
            while not rt.stop.is_set():
                self.health.reader_tick = self.clock.monotonic()
                if (
                    rt.spooled_bytes >= self.settings.spool_max_bytes
                    or rt.room < self.disk_headroom
                ):
                    await self._wait_for_room(rt)
                if rt.stop.is_set():
                    break
                prepared = await asyncio.to_thread(self._read_and_prepare, rt)
                self._notices(rt)
                if committing is not None:
                    await committing
                committing = asyncio.ensure_future(self._commit(rt, prepared))
                if not rt.tailer.has_backlog():
                    break
        finally:
            if committing is not None:
                await committing

    async def _commit(self, rt: _Runtime, prepared: list[PreparedChunk]) -> None:
        """
        Commit chunks, in order; while the disk is full, try again until it works.

        If a stop comes first, they stay uncommitted, and so does every later chunk:
        their lines are read again from the stored checkpoints at the next start.
        """
        if not prepared or rt.commits_abandoned:
            return
        while True:
            now = self.clock.now().timestamp()
            try:
                rt.spooled_bytes, rt.room = await rt.store.call(
                    functools.partial(_commit, prepared, now)
                )
            except StoreFull as exc:
                # Nothing was written: the same chunks go again once there is room.
                rt.room = 0
                self._disk_full(rt, str(exc))
                if await _wait_event(rt.stop, DISK_FULL_POLL_SECONDS):
                    rt.commits_abandoned = True
                    self._log.info("commit_abandoned", events=_events_in(prepared))
                    return
                self.health.reader_tick = self.clock.monotonic()
                continue
            break
        if rt.disk_full_since is not None and rt.room >= self.disk_headroom:
            self._disk_space_returned(rt)
        if any(chunk.rows for chunk in prepared):
            rt.sink.notify()

    def _flush_all(self, rt: _Runtime) -> list[PreparedChunk]:
        flushed = rt.pipeline.flush(
            self.clock.now(), self.clock.monotonic(), force=True
        )
        self.published = self.stats.copy()
        return flushed

    def _flush_due(self, rt: _Runtime) -> list[PreparedChunk]:
        return rt.pipeline.flush(self.clock.now(), self.clock.monotonic())

    def _scan(self, rt: _Runtime) -> None:
        specs, rt.pending_specs = rt.pending_specs, None
        if specs is not None:
            rt.tailer.set_sources(specs)
        rt.tailer.scan(rt.scan_stop)
        self.health.files_seen(rt.tailer.file_states())

    def _read_and_prepare(self, rt: _Runtime) -> list[PreparedChunk]:
        chunks = rt.tailer.read(max_bytes=self.settings.read.read_bytes)
        self.health.files_seen(rt.tailer.file_states())
        pipeline = rt.pipeline
        prepared = []
        if pipeline.ruleset is not rt.ruleset:
            # A reload, taken between two chunks.
            prepared.extend(pipeline.set_ruleset(rt.ruleset))
        read_at, now = self.clock.now(), self.clock.monotonic()
        if chunks:
            prepared.extend(pipeline.prepare(chunks, read_at, now))
        # Records and windows that waited long enough, also when no new line came.
        prepared.extend(pipeline.flush(read_at, now))
        self.published = self.stats.copy()
        return prepared

    async def _wait_for_room(self, rt: _Runtime) -> None:
        """Wait until the spool is under its cap and the state filesystem has room."""
        cap = self.settings.spool_max_bytes
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
                self._disk_full(
                    rt, f"{rt.room} bytes free, {self.disk_headroom} kept free"
                )
            else:
                if warned:
                    self._log.info("spool_resumed", bytes=spool.bytes)
                if rt.disk_full_since is not None:
                    self._disk_space_returned(rt)
                return
            self.health.reader_tick = self.clock.monotonic()
            await self.clock.sleep(SPOOL_FULL_POLL_SECONDS)

    def _disk_full(self, rt: _Runtime, error: str) -> None:
        """Reading pauses for want of disk space: say so once, until it resumes."""
        if rt.disk_full_since is not None:
            return
        rt.disk_full_since = self.clock.monotonic()
        self._log.warning(
            "disk_full",
            error=error,
            bytes=rt.spooled_bytes,
            room=rt.room,
            headroom=self.disk_headroom,
        )
        self.notifier.status(f"state filesystem full, reading paused: {error}")

    def _disk_space_returned(self, rt: _Runtime) -> None:
        assert rt.disk_full_since is not None  # noqa: S101 (callers check)
        paused = self.clock.monotonic() - rt.disk_full_since
        rt.disk_full_since = None
        self._log.info("disk_space_returned", room=rt.room, paused_s=round(paused, 3))

    async def _wait_for_wake(self, rt: _Runtime) -> None:
        """
        Wait for a wake-up or a stop. Meanwhile, while multi-line records or windows
        are pending, close those that have waited their ``flush_seconds``: no line
        may come for a long while, and the next rescan may be far.
        """
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
            self.health.reader_tick = self.clock.monotonic()
            await self._commit(rt, await asyncio.to_thread(self._flush_due, rt))
        rt.wake.clear()

    async def _watch(self, rt: _Runtime) -> None:
        if self.once:
            return
        while not rt.stop.is_set():
            dirs = watched_dirs(rt.specs)
            async for _ in watch_changes(
                dirs, rt.stop, self.settings.read.rescan_seconds
            ):
                rt.wake.set()
                if watched_dirs(rt.specs) != dirs:
                    break

    async def _watch_rules(self, rt: _Runtime) -> None:
        """
        Reload when a rule file changes on disk.

        A wake-up (an inotify event, or the periodic backstop) only leads to a reload
        when the files' names, sizes or modification times differ from the last look,
        so a burst of edits, or an editor's temp files, coalesce into one reload.
        """
        if self.once:
            return
        rules_dir = self.settings.rules_dir
        last = await asyncio.to_thread(rule_files_signature, rules_dir)
        async for _ in watch_changes({str(rules_dir)}, rt.stop, RULES_RESCAN_SECONDS):
            current = await asyncio.to_thread(rule_files_signature, rules_dir)
            if current == last:
                continue
            # Wait for the files to hold still: a save in two steps is not over yet.
            while not rt.stop.is_set():
                await self.clock.sleep(RULES_SETTLE_SECONDS)
                settled = await asyncio.to_thread(rule_files_signature, rules_dir)
                if settled == current:
                    break
                current = settled
            if current != last:
                last = current
                _request_reload(rt, explicit=False)

    def _notices(self, rt: _Runtime) -> None:
        notices = rt.tailer.drain_notices()
        self.health.notices(notices)
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

    # -- own events and supervision ----------------------------------------------------

    async def _spool_own(self, rt: _Runtime, event: Event) -> None:
        if not self.settings.own_events.enabled:
            return
        body = encode_event(
            event,
            lib_version=__version__,
            geoip_disable=self.settings.posthog.geoip_disable,
        )
        now = self.clock.now().timestamp()
        rows = ((event.uuid, body, event.rule),)
        try:
            await rt.store.call(lambda s: s.commit_chunk(rows, None, now))
        except StoreFull as exc:
            # The daemon's report on itself, not a line's event: skipped, and counted.
            self.writes_skipped += 1
            self._log.warning("own_event_skipped", rule=event.name, error=str(exc))
            return
        rt.sink.notify()

    def _counters(self, rt: _Runtime) -> dict[str, int]:
        snapshot = self.published.snapshot()
        counters = rt.sink.counters
        return {
            "lines": snapshot["lines"],
            "events": sum(snapshot["events"].values()),
            "parse_errors": sum(snapshot["parse_errors"].values()),
            "lines_too_long": snapshot["too_long"],
            "lines_invalid_utf8": snapshot["invalid_utf8"],
            "events_sent": counters.events_sent,
            "batches_sent": counters.batches_sent,
            "retries": sum(counters.retries.values()),
            "deadletters": counters.deadletters,
        }

    async def _supervise(self, rt: _Runtime) -> None:
        """Refresh metrics, STATUS= and the watchdog; spool health_check events."""
        interval = self.notifier.watchdog_interval_seconds()
        period = min(SUPERVISE_SECONDS, interval) if interval else SUPERVISE_SECONDS
        health_every = self.settings.own_events.health_check_seconds
        next_health = self.clock.monotonic() + health_every
        last_counters = self._counters(rt)
        while True:
            await self.clock.sleep(period)
            now = self.clock.monotonic()
            spool = await rt.store.call(lambda s: s.stats())
            self.health.spool_seen(spool)
            if spool.events:
                # Events another process spooled (``deadletter retry``) wake no one.
                rt.sink.notify()
            self.health.publish(self.published, rt.sink, self.clock.now().timestamp())
            for rule, reason, count in self.health.issues_due(self.published, now):
                self._log.warning("value_failed", rule=rule, error=reason, events=count)
            if self.health.started:
                line = self.health.status_line(rt.sink)
                if rt.disk_full_since is not None:
                    line = f"state filesystem full, reading paused; {line}"
                self.notifier.status(line)
            if interval and self.health.is_progressing(rt.sink, now, 2 * interval):
                self.notifier.watchdog()
            if now >= next_health and not self.once:
                next_health = now + health_every
                counters = self._counters(rt)
                since = {key: n - last_counters[key] for key, n in counters.items()}
                last_counters = counters
                spool = await rt.store.call(lambda s: s.stats())
                since |= {
                    "spool_events": spool.events,
                    "files": len(rt.tailer.file_states()),
                }
                await self._spool_own(
                    rt, self.own.health_check(self.clock.now(), since)
                )

    # -- control -----------------------------------------------------------------------

    def _install_signals(self, rt: _Runtime) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, rt.controls.put_nowait, Control.STOP)
        loop.add_signal_handler(signal.SIGINT, self._on_interrupt, rt)
        loop.add_signal_handler(signal.SIGHUP, _request_reload, rt, True)
        if early_stop_requested():
            rt.controls.put_nowait(Control.STOP)

    def _remove_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)

    def _on_interrupt(self, rt: _Runtime) -> None:
        self._interrupts += 1
        if self._interrupts > 1:
            # Every commit leaves the state consistent, so quitting now loses nothing.
            os._exit(130)
        rt.controls.put_nowait(Control.STOP)

    async def _control_loop(self, rt: _Runtime) -> None:
        while True:
            control = await rt.controls.get()
            if control is Control.STOP:
                self._log.info("shutdown_requested")
                rt.stop.set()
                rt.scan_stop.set()
                rt.wake.set()
            elif control is Control.RELOAD:
                # Cleared before reading the files: an edit from now on queues another.
                explicit, rt.reload_explicit = rt.reload_explicit, False
                rt.reload_queued = False
                await self._reload(rt, explicit=explicit)

    async def _reload(self, rt: _Runtime, *, explicit: bool) -> None:
        self.notifier.reloading()
        try:
            ruleset = await asyncio.to_thread(load_ruleset, self.settings)
        except RuleFileError as exc:
            await self._reject(rt, exc.problems, str(exc))
            return
        diff = diff_rulesets(rt.ruleset, ruleset, explicit=explicit)
        if diff.refused:
            text = "\n".join(str(problem) for problem in diff.refused)
            await self._reject(rt, diff.refused, text)
            return
        rt.ruleset = ruleset
        rt.specs = rt.pending_specs = source_specs(ruleset, self.settings)
        rt.wake.set()
        self.health.reload_counted(ok=True)
        await self._rules_active(rt, ruleset)
        self.notifier.ready()
        self._log.info(
            "rules_reloaded",
            added=list(diff.added),
            changed=list(diff.changed),
            removed=list(diff.removed),
            rules_hash=ruleset.digest[:12],
            explicit=explicit,
        )

    async def _reject(
        self, rt: _Runtime, problems: Sequence[Problem], error: str
    ) -> None:
        """Keep the running rules; report why the reloaded ones were not taken."""
        for problem in problems:
            log = (
                self._log.warning if problem.severity == "warning" else self._log.error
            )
            log("rules_rejected", error=str(problem))
        self.health.reload_counted(ok=False)
        first = str(problems[0]) if problems else "invalid rules"
        self.health.rules_rejected(first)
        await self._save_rules_status(rt, ok=False, error=error)
        self.notifier.ready()
        self.notifier.status(f"rules rejected, old rules kept: {first}")

    async def _rules_active(self, rt: _Runtime, ruleset: RuleSet) -> None:
        self.health.rules_loaded(ruleset.digest)
        await self._save_rules_status(rt, ok=True, error=None)

    async def _save_rules_status(
        self, rt: _Runtime, *, ok: bool, error: str | None
    ) -> None:
        status = orjson.dumps(
            {
                "ok": ok,
                "hash": rt.ruleset.digest[:12],
                "rules": [rule.name for rule in rt.ruleset.rules],
                "at": self.clock.now().isoformat(),
                "error": error,
            }
        ).decode()
        try:
            await rt.store.call(lambda s: s.set_meta(RULES_STATUS, status))
        except StoreFull as exc:
            self.writes_skipped += 1
            self._log.warning("rules_status_skipped", error=str(exc))


def _request_reload(rt: _Runtime, explicit: bool) -> None:
    rt.reload_explicit |= explicit
    if not rt.reload_queued:
        rt.reload_queued = True
        rt.controls.put_nowait(Control.RELOAD)


def _startup_state(store: Store) -> tuple[bool, list[Checkpoint]]:
    """What a start reads first; a damaged database shows here, not later."""
    store.stats()
    return store.is_new, store.load_checkpoints()


def _sole_error(group: BaseExceptionGroup[BaseException]) -> BridgeError | None:
    """The one BridgeError that made the task group fail, if that is all there is."""
    leaves: list[BaseException] = []

    def collect(error: BaseException) -> None:
        if isinstance(error, BaseExceptionGroup):
            for inner in error.exceptions:
                collect(inner)
        else:
            leaves.append(error)

    collect(group)
    if len(leaves) == 1 and isinstance(leaves[0], BridgeError):
        return leaves[0]
    return None


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


async def _wait_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait for ``event`` at most ``seconds``; return whether it is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)
    return event.is_set()


@contextlib.contextmanager
def _exclusive(state_dir: Path) -> Iterator[None]:
    """
    Hold a lock on the state directory for the daemon's lifetime.

    Two daemons on one spool would both send every event; PostHog would deduplicate
    them, but the operator would pay twice and the counts in the logs would lie. The
    lock is taken on the directory itself: a lock file could be deleted while the
    daemon runs, and the next daemon would lock a new one (the directory cannot go
    while the database is in it, and a renamed one takes its database along).
    """
    try:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(state_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        msg = f"{state_dir}: cannot use the state directory: {exc.strerror}"
        raise StoreError(msg) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            msg = f"{state_dir}: another logbridge is already running with this state directory"
            raise StoreError(msg) from None
        yield
    finally:
        os.close(fd)
