"""``logbridge backfill``: the history of the sources' files, through the same rules.

Theory of operation:

- The plan (``bridge.backfill.plan``) names the parts of files to read, with the
  daemon's file ids where it knew the files; it reads the daemon's checkpoints from
  its state database, read-only, while the daemon runs.
- Worker processes (``bridge.backfill.worker``) each take parts, largest first, parse
  them and make their events; the main process commits what they send, rows with the
  part's progress, in one transaction per round, into the backfill's own state
  database (``<state_dir>/backfill/state.db``, locked like the daemon's), and its sink
  delivers from there, the old events in historical batches (``posthog.
  historical_migration``). The spool's cap holds: the main process stops taking from
  the workers while the spool is full, and they wait.
- A killed backfill (SIGKILL, a reboot) resumes at its next run from what was
  committed: the parts read to their end are skipped, the others go on from their
  last offset, and what was spooled and not yet sent goes first. SIGINT or SIGTERM
  stop the workers, commit what came, and give the sink ``shutdown_timeout_seconds``.
- Done, it prints a summary (standard output is the dry run's when there is no API
  key, so the summary and the progress go to standard error) and exits 0 when every
  part was read and every event delivered, 1 otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import queue
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from bridge.backfill.plan import (
    Job,
    Plan,
    find_files,
    inspect_files,
    plan_files,
)
from bridge.backfill.progress import BarProgress, JsonProgress, ProgressView, Tally
from bridge.backfill.worker import Batch, Counts, Failed, Setup, work
from bridge.clock import Clock, SystemClock
from bridge.daemon.rulefiles import load_ruleset, source_specs
from bridge.errors import StartupError, StoreFull
from bridge.logs import get_logger
from bridge.model import Checkpoint
from bridge.pipeline import PipelineStats
from bridge.settings import Settings
from bridge.sink.posthog import Sink, make_client
from bridge.spool.asyncstore import AsyncStore
from bridge.spool.store import (
    DB_NAME,
    Store,
    lock_state_dir,
)

__all__ = [
    "BACKFILL_DIR",
    "BackfillOptions",
    "BackfillReport",
    "default_workers",
    "run",
]

# The backfill's state lives here, under the daemon's state directory.
BACKFILL_DIR = "backfill"
# At most this many bytes of rows go into one commit.
COMMIT_BYTES = 8 << 20
# Batches a worker may have sent and the main process not yet taken, per worker.
QUEUED_PER_WORKER = 4
# How long the main process waits for a worker's batch before looking around.
POLL_SECONDS = 0.25
# How often the spool is looked at while it is full.
SPOOL_FULL_POLL_SECONDS = 0.2


def default_workers() -> int:
    """The cores this process may use, but one left for the application: at least 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, cores - 1)


@dataclass(frozen=True, slots=True)
class BackfillOptions:
    """What the command line chose."""

    workers: int
    since: datetime | None = None
    # False: there is no daemon (or its state is not to be used): read every file whole.
    with_daemon: bool = True
    # "auto": a bar on a terminal, JSON lines otherwise; "json"; "none".
    progress: str = "auto"


@dataclass(slots=True)
class BackfillReport:
    """What a backfill did, for its summary."""

    plan: Plan
    stats: PipelineStats = field(default_factory=PipelineStats)
    parts_read: int = 0
    failed: list[Failed] = field(default_factory=list)
    worker_errors: list[str] = field(default_factory=list)
    spooled: int = 0
    sent: int = 0
    deadletters: int = 0
    left_in_spool: int = 0
    interrupted: bool = False
    halted: bool = False
    first_event: datetime | None = None
    last_event: datetime | None = None

    @property
    def complete(self) -> bool:
        """Every part read and every event delivered."""
        return (
            not self.interrupted
            and not self.failed
            and not self.worker_errors
            and not self.halted
            and self.left_in_spool == 0
            and self.parts_read == len(self.plan.jobs)
        )


def run(
    settings: Settings,
    options: BackfillOptions,
    *,
    clock: Clock | None = None,
    err: TextIO | None = None,
) -> BackfillReport:
    """
    Backfill the sources' files.

    Raises:
        RuleFileError: the rules do not compile.
        StartupError: the daemon's state is needed and missing.
        StoreError: a state database cannot be opened, or another backfill runs.
    """
    ruleset = load_ruleset(settings)
    specs = source_specs(ruleset, settings)
    daemon = _daemon_checkpoints(settings.state_dir) if options.with_daemon else None
    state_dir = settings.state_dir / BACKFILL_DIR
    with lock_state_dir(state_dir):
        backfill = _Backfill(settings, options, clock or SystemClock(), err)
        return asyncio.run(backfill.run(specs, daemon, state_dir))


def _daemon_checkpoints(state_dir: Path) -> list[Checkpoint]:
    if not (state_dir / DB_NAME).is_file():
        msg = (
            f"no daemon state in {state_dir}: a backfill reads what the daemon does"
            " not, so start the daemon once first (logbridge run), or pass"
            " --no-daemon to read every file whole"
        )
        raise StartupError(msg)
    store = Store.open_readonly(state_dir)
    try:
        return store.load_checkpoints()
    finally:
        store.close()


def _daemon_follows(checkpoint: Checkpoint) -> bool:
    """Whether the daemon still follows the file of one of its checkpoints."""
    if checkpoint.gone:
        return False
    try:
        st = os.stat(checkpoint.path)  # noqa: PTH116 - st_dev and st_ino are needed
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == (checkpoint.dev, checkpoint.ino)


class _Backfill:
    """One run of ``logbridge backfill``."""

    def __init__(
        self,
        settings: Settings,
        options: BackfillOptions,
        clock: Clock,
        err: TextIO | None,
    ) -> None:
        self.settings = settings
        self.options = options
        self.clock = clock
        self.err = err or sys.stderr
        self.stop = asyncio.Event()
        self._log = get_logger()

    async def run(
        self, specs: Sequence[Any], daemon: list[Checkpoint] | None, state_dir: Path
    ) -> BackfillReport:
        store = AsyncStore(lambda: Store.open(state_dir))
        await store.open()
        client = None
        try:
            progress = await store.call(lambda s: s.load_checkpoints())
            found = await asyncio.to_thread(find_files, specs)
            inspected, unreadable = await asyncio.to_thread(inspect_files, found)
            since = self.options.since
            plan = plan_files(
                inspected,
                daemon=daemon,
                progress=progress,
                daemon_follows=_daemon_follows,
                since_ns=None if since is None else int(since.timestamp() * 1e9),
            )
            plan.skipped[:0] = unreadable
            report = BackfillReport(plan)
            for skipped in plan.skipped:
                self._log.info(
                    "backfill_skipped", path=skipped.path, reason=skipped.reason
                )
            client = make_client(self.settings)
            sink = Sink(store, settings=self.settings, client=client, clock=self.clock)
            await self._deliver(store, sink, report)
            return report
        finally:
            if client is not None:
                await client.aclose()
            await store.close()

    async def _deliver(
        self, store: AsyncStore, sink: Sink, report: BackfillReport
    ) -> None:
        plan = report.plan
        tally = Tally(
            files=len(plan.jobs) + plan.done,
            files_done=plan.done,
            bytes_total=sum(job.size for job in plan.jobs),
        )
        view = self._view()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stop.set)
        sink_stop = asyncio.Event()
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(sink.run(sink_stop))
                await self._read(store, sink, report, tally, view)
                sink_stop.set()
            timeout = (
                self.settings.shutdown_timeout_seconds if self.stop.is_set() else None
            )
            drain = asyncio.ensure_future(sink.drain(timeout))
            while not drain.done():
                tally.sent = sink.counters.events_sent
                if view is not None:
                    view.show(tally, self.clock.monotonic())
                await asyncio.wait({drain}, timeout=0.5)
            try:
                drain.result()
            except StoreFull as exc:
                self._log.warning("disk_full", task="sink", error=str(exc))
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            tally.sent = sink.counters.events_sent
            if view is not None:
                view.close(tally, self.clock.monotonic())
        stats = await store.call(lambda s: s.stats())
        report.sent = sink.counters.events_sent
        report.deadletters = sink.counters.deadletters
        report.left_in_spool = stats.events
        report.halted = sink.halted
        report.interrupted = self.stop.is_set()

    def _view(self) -> ProgressView | None:
        chosen = self.options.progress
        if chosen == "none":
            return None
        started = self.clock.monotonic()
        if chosen == "auto" and self.err.isatty():
            return BarProgress(started)
        return JsonProgress(started, self.err)

    async def _read(
        self,
        store: AsyncStore,
        sink: Sink,
        report: BackfillReport,
        tally: Tally,
        view: ProgressView | None,
    ) -> None:
        """Run the workers over the plan's parts; commit what they send, in order."""
        jobs = report.plan.jobs
        if not jobs:
            return
        count = max(1, min(self.options.workers, len(jobs)))
        workers = _Workers(Setup(self.settings, self.options.since, os.getpid()), count)
        by_key = {job.key: job for job in jobs}
        ended = 0
        workers.start(jobs)
        try:
            while ended < count and not self.stop.is_set():
                await self._wait_for_room(store)
                taken = await asyncio.to_thread(workers.take, POLL_SECONDS)
                if not taken:
                    if not workers.alive():
                        report.worker_errors.append("a worker ended without a word")
                        break
                    continue
                ended += await self._commit(store, taken, by_key, report, tally)
                sink.notify()
                tally.sent = sink.counters.events_sent
                if view is not None:
                    view.show(tally, self.clock.monotonic())
        finally:
            await asyncio.to_thread(workers.stop, ended < count)

    async def _commit(
        self,
        store: AsyncStore,
        taken: list[Any],
        by_key: dict[str, Job],
        report: BackfillReport,
        tally: Tally,
    ) -> int:
        """Commit a round of what the workers sent; return how many workers ended."""
        chunks: list[tuple[Sequence[tuple[str, bytes, str]], Checkpoint | None]] = []
        letters: list[tuple[str, bytes, str, str]] = []
        ended = 0
        for item in taken:
            if isinstance(item, Batch):
                job = by_key[item.key]
                chunks.append((item.rows, _progress(job, item.offset, done=item.done)))
                letters.extend(item.deadletters)
                tally.bytes += item.disk_bytes
                tally.lines += item.lines
                tally.events += len(item.rows)
                report.spooled += len(item.rows)
                if item.done:
                    report.parts_read += 1
                    tally.files_done += 1
            elif isinstance(item, Failed):
                report.failed.append(item)
                tally.files_done += 1
                self._log.error("backfill_failed", part=item.key, error=item.error)
            elif isinstance(item, Counts):
                ended += 1
                report.stats.add(item.stats)
                report.first_event = _earliest(report.first_event, item.first_event)
                report.last_event = _latest(report.last_event, item.last_event)
                if item.error is not None:
                    report.worker_errors.append(item.error)
                    self._log.error("backfill_worker_failed", error=item.error)
        if chunks or letters:
            now = self.clock.now().timestamp()
            await store.call(
                lambda s: s.commit_chunks(chunks, now, deadletters=letters)
            )
        return ended

    async def _wait_for_room(self, store: AsyncStore) -> None:
        """Wait while the spool is at its cap: the workers wait behind it."""
        cap = self.settings.spool_max_bytes
        warned = False
        while not self.stop.is_set():
            stats = await store.call(lambda s: s.stats())
            if stats.bytes < cap:
                if warned:
                    self._log.info("spool_resumed", bytes=stats.bytes)
                return
            if not warned:
                self._log.warning("spool_full", bytes=stats.bytes, events=stats.events)
                warned = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), SPOOL_FULL_POLL_SECONDS)


class _Workers:
    """The worker processes, their job queue and the queue of what they send."""

    def __init__(self, setup: Setup, count: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._jobs: multiprocessing.Queue[Job | None] = context.Queue()
        self._results: multiprocessing.Queue[Any] = context.Queue(
            QUEUED_PER_WORKER * count
        )
        self._processes = [
            context.Process(
                target=work,
                args=(setup, self._jobs, self._results),
                name=f"backfill-{n}",
            )
            for n in range(count)
        ]

    def start(self, jobs: Sequence[Job]) -> None:
        """Queue the parts, largest first (the last to finish is then a small one)."""
        for job in sorted(jobs, key=lambda job: -job.size):
            self._jobs.put(job)
        for _ in self._processes:
            self._jobs.put(None)
        for process in self._processes:
            process.start()

    def alive(self) -> bool:
        return any(process.is_alive() for process in self._processes)

    def take(self, wait: float) -> list[Any]:
        """What the workers sent: the first within ``wait`` seconds, then what is there."""
        try:
            first = self._results.get(timeout=wait)
        except queue.Empty:
            return []
        taken = [first]
        size = _bytes_of(first)
        while size < COMMIT_BYTES:
            try:
                item = self._results.get_nowait()
            except queue.Empty:
                break
            taken.append(item)
            size += _bytes_of(item)
        return taken

    def stop(self, early: bool) -> None:
        """Wait for the workers to end; ``early``: end them first."""
        for process in self._processes:
            if early and process.is_alive():
                process.terminate()
        for process in self._processes:
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join()
        self._jobs.close()
        self._results.close()


def _bytes_of(item: Any) -> int:
    if isinstance(item, Batch):
        return sum(len(body) for _, body, _ in item.rows)
    return 0


def _progress(job: Job, offset: int, *, done: bool) -> Checkpoint:
    """A part's progress, as the backfill's state database keeps it."""
    file = job.file
    return Checkpoint(
        file_id=job.key,
        source=job.source,
        path=file.path,
        dev=file.dev,
        ino=file.ino,
        offset=offset,
        size=file.size,
        gone=done,
    )


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else min(a, b)


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)
