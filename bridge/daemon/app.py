"""The daemon: tail → pipeline → spool → sink, wired under one asyncio.TaskGroup.

``Daemon`` owns one run's lifecycle; the work is done by three parts that meet in a
``Runtime`` (``bridge.daemon.runtime``):

- the reader (``reader``): scans and reads the files, runs the pipeline, commits
  events with checkpoints, paces itself by the spool's cap and the disk's room;
- the supervisor (``supervisor``): the sink task, metrics, systemd's STATUS= and
  watchdog, the daemon's own events, signals and the control loop;
- the reloader (``reloader``): rule-file changes and SIGHUP, decided by the pure
  ``reload.plan_reload``.

Here: the lock on the state directory, opening the state database (waiting while its
filesystem is full; setting aside one damaged beyond repair, at start, and going on
with a new one, which is safe because re-reading the files yields the same uuids; a
database damaged while running ends the run with exit 1 for the next start to do
so), the HTTP client, the metrics server, and the orderly stop: the reader finishes
its chunk, the sink flushes within ``shutdown_timeout_seconds``, ``engine_stopped`` is
spooled and the state closed.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable
from pathlib import Path

from bridge import __version__
from bridge.clock import Clock, SystemClock
from bridge.daemon.control import early_stop_requested
from bridge.daemon.health import Health
from bridge.daemon.metrics import HealthServer, Metrics
from bridge.daemon.own_events import OwnEvents
from bridge.daemon.reader import Reader
from bridge.daemon.reloader import Reloader, Signature
from bridge.daemon.rulefiles import (
    load_ruleset,
    rule_files_signature,
    source_specs,
)
from bridge.daemon.runtime import DISK_FULL_POLL_SECONDS, Runtime
from bridge.daemon.supervisor import Supervisor
from bridge.daemon.systemd import Notifier
from bridge.errors import (
    BridgeError,
    StartupError,
    StoreCorrupt,
    StoreFull,
)
from bridge.logs import get_logger
from bridge.model import Checkpoint
from bridge.pipeline import Pipeline, PipelineStats
from bridge.rules import RuleSet
from bridge.settings import Settings
from bridge.sink.posthog import Sink, make_client
from bridge.source import Tailer
from bridge.spool.asyncstore import AsyncStore
from bridge.spool.store import (
    DamagedSegment,
    Store,
    lock_state_dir,
    set_aside,
    set_aside_databases,
)

__all__ = ["Daemon"]


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
        self.notifier = Notifier()
        metrics = Metrics() if settings.metrics.enabled and not once else None
        self.health = Health(settings, metrics)
        self.own = OwnEvents(
            hostname=settings.hostname,
            environment=settings.environment,
            started_at=self.clock.now(),
            properties=settings.properties,
        )
        # None: the sink's default, standard output.
        self._write_out = write_out
        self._store_opener = open_store
        self._log = get_logger()

    async def run(self) -> int:
        """
        Run until stopped; return the process exit code.

        Raises:
            BridgeError: what made a task fail (not wrapped in an exception group).
        """
        # Taken before the rules are read: an edit from then on is reloaded.
        signature = rule_files_signature(self.settings.rules_dir)
        ruleset = load_ruleset(self.settings)
        state_dir = self.settings.state_dir
        with lock_state_dir(state_dir):
            try:
                return await self._run_locked(ruleset, state_dir, signature)
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

    async def _run_locked(
        self, ruleset: RuleSet, state_dir: Path, signature: Signature
    ) -> int:
        store = AsyncStore(functools.partial(self._open_on_store_thread, state_dir))
        opened = await self._open_store(store, state_dir)
        if opened is None:
            self._log.info("shutdown_requested")
            return 0
        first_start, checkpoints = opened
        client = make_client(self.settings)
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
                PipelineStats(),
                geoip_disable=self.settings.posthog.geoip_disable,
                prefilter=self.settings.read.prefilter,
            )
            rt = Runtime(
                settings=self.settings,
                clock=self.clock,
                health=self.health,
                notifier=self.notifier,
                ruleset=ruleset,
                store=store,
                tailer=tailer,
                sink=sink,
                pipeline=pipeline,
                once=self.once,
                specs=specs,
            )
            reloader = Reloader(rt, signature)
            supervisor = Supervisor(rt, self.own, on_reload=reloader.reload)
            await reloader.rules_active()
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
            await supervisor.spool_own(
                self.own.engine_started(
                    rules_hash=ruleset.digest[:12],
                    rules=len(ruleset.rules),
                    sources=len(ruleset.sources),
                ),
            )
            try:
                return await self._run(rt, Reader(rt), supervisor, reloader)
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

    async def _start_server(self, rt: Runtime) -> HealthServer | None:
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

    async def _run(
        self, rt: Runtime, reader: Reader, supervisor: Supervisor, reloader: Reloader
    ) -> int:
        supervisor.install_signals()
        sink_stop = asyncio.Event()
        try:
            async with asyncio.TaskGroup() as tg:
                sink_task = tg.create_task(supervisor.run_sink(sink_stop))
                helpers = [
                    tg.create_task(supervisor.control_loop()),
                    tg.create_task(reader.watch()),
                    tg.create_task(supervisor.supervise()),
                    tg.create_task(reloader.watch()),
                ]
                await reader.run()
                unfinished = reader.unfinished()
                self.notifier.stopping()
                sink_stop.set()
                await sink_task
                for task in helpers:
                    task.cancel()
        finally:
            supervisor.remove_signals()
        # What failed since the last rate-limited line, before the summary.
        supervisor.log_issues(self.clock.monotonic(), final=True)
        reason = "once" if self.once else "signal"
        await supervisor.spool_own(
            self.own.engine_stopped(
                self.clock.now(), reason=reason, counters=supervisor.counters()
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
            writes_skipped=rt.writes_skipped,
            lines_unfinished=len(unfinished),
            **rt.published.snapshot(),
        )
        if self.once and (not drained or unfinished):
            return 1
        return 0


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
