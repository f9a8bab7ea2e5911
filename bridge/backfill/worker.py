"""A backfill worker process: parts of files in, spool rows out.

Each worker compiles the rules itself and runs its own ``Pipeline`` over the parts
(``Job``) it takes from the job queue, one after the other, so the events are the
daemon's own, uuids included. It never touches the state database: it puts what it
made on the result queue (``Batch``, about one chunk of the file each), and the main
process commits and delivers. At the end of a part, what is still being assembled
(a multi-line record, an aggregation window) is closed: the file ends there.

A worker ends when it takes ``None`` from the job queue, after sending its counts
(``Counts``). It also ends on its own when the main process is gone (SIGKILL leaves
no one to send to): the next run resumes from what was committed. SIGINT is ignored:
the main process decides when to stop, and stops its workers itself.
"""

from __future__ import annotations

import functools
import os
import queue
import signal
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.queues import Queue
from typing import Any

from bridge.backfill.plan import Job
from bridge.daemon.rulefiles import load_ruleset
from bridge.errors import BridgeError
from bridge.pipeline import Pipeline, PipelineStats, PreparedChunk
from bridge.settings import Settings
from bridge.source.archive import ArchiveError, ArchiveReader

__all__ = ["Batch", "Counts", "Failed", "Setup", "work"]

Row = tuple[str, bytes, str]
# How often a worker waiting to send looks whether the main process is still there.
PARENT_CHECK_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class Setup:
    """What every worker needs, sent once."""

    settings: Settings
    since: datetime | None
    parent: int


@dataclass(frozen=True, slots=True)
class Batch:
    """
    Rows made from a part of a file, and how far that part is read: up to
    ``offset``; ``done``: to its end. ``disk_bytes``: bytes of the file on disk
    consumed since the last batch (compressed ones for a gzip file).
    """

    key: str
    rows: tuple[Row, ...]
    deadletters: tuple[tuple[str, bytes, str, str], ...]
    offset: int
    done: bool
    disk_bytes: int
    lines: int


@dataclass(frozen=True, slots=True)
class Failed:
    """A part that could not be read to its end (what came before it is kept)."""

    key: str
    error: str


@dataclass(frozen=True, slots=True)
class Counts:
    """A worker's counts, sent when it ends; ``error``: why it ended early."""

    stats: PipelineStats
    error: str | None = None
    # The earliest and latest event timestamps it made (None: no event).
    first_event: datetime | None = None
    last_event: datetime | None = None


def work(setup: Setup, jobs: Queue[Job | None], results: Queue[Any]) -> None:
    """The worker's main: take parts until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stats = PipelineStats()
    try:
        ruleset = load_ruleset(setup.settings)
    except BridgeError as exc:
        _send(results, setup.parent, Counts(stats, str(exc)))
        return
    read = setup.settings.read
    pipeline = Pipeline(
        ruleset,
        stats,
        geoip_disable=setup.settings.posthog.geoip_disable,
        prefilter=read.prefilter,
        since=setup.since,
    )
    reader = ArchiveReader(
        chunk_bytes=read.chunk_bytes, max_line_bytes=read.max_line_bytes
    )
    send = functools.partial(_send, results, setup.parent)
    try:
        while (job := jobs.get()) is not None:
            _run_job(job, pipeline, reader, send)
    except Exception:  # noqa: BLE001 - told to the main process, which reports it
        error: str | None = traceback.format_exc(limit=8)
    else:
        error = None
    send(Counts(stats, error, pipeline.first_event, pipeline.last_event))


def _send(results: Queue[Any], parent: int, item: object) -> None:
    """
    Put ``item`` on the result queue, waiting while it is full; end the process when
    the main process is gone (killed: no one will ever take it).
    """
    while True:
        try:
            results.put(item, timeout=PARENT_CHECK_SECONDS)
        except queue.Full:
            if os.getppid() != parent:
                # What is buffered for the pipe will never be read: do not wait at exit
                # for it to be written.
                results.cancel_join_thread()
                raise SystemExit(0) from None
        else:
            return


def _run_job(
    job: Job,
    pipeline: Pipeline,
    reader: ArchiveReader,
    send: Callable[[object], None],
) -> None:
    disk = [0]
    lines_before = pipeline.stats.lines.total()
    offset = job.span.start

    def batch(prepared: list[PreparedChunk], *, done: bool) -> Batch:
        nonlocal lines_before
        lines = pipeline.stats.lines.total()
        made = Batch(
            key=job.key,
            rows=tuple(row for chunk in prepared for row in chunk.rows),
            deadletters=tuple(d for chunk in prepared for d in chunk.deadletters),
            offset=offset,
            done=done,
            disk_bytes=disk[0],
            lines=lines - lines_before,
        )
        disk[0] = 0
        lines_before = lines
        return made

    def on_read(n: int) -> None:
        disk[0] += n

    chunks = reader.chunks(job.file, job.source, job.file_id, job.span, on_read)
    try:
        for chunk in chunks:
            prepared = pipeline.prepare([chunk], datetime.now(UTC), 0.0)
            # Held back to a record still being assembled: committed progress never
            # passes a line whose events are not made yet.
            offset = next(
                (p.checkpoint.offset for p in prepared if p.checkpoint is not None),
                offset,
            )
            send(batch(prepared, done=False))
    except (OSError, ArchiveError) as exc:
        flushed = pipeline.flush(datetime.now(UTC), 0.0, force=True)
        send(batch(flushed, done=False))
        send(Failed(job.key, str(exc)))
        return
    flushed = pipeline.flush(datetime.now(UTC), 0.0, force=True)
    send(batch(flushed, done=True))
