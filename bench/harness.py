"""One measured run: a fresh sink, one tool, one workload (and its writer, if any).

Theory of operation: start the sink with the workload's expectations; write the
tool's configuration into a fresh run folder; start the tool; for writing workloads
wait until the tool says it watches its files, then start the writer. Every 50 ms
sample the tool's process tree (RSS), and every 200 ms ask the sink for its counters.
The run ends when the tool exits (``--once`` tools, the backfill), when the sink has
every expected event and the writer is done (daemons, then stopped with SIGTERM),
after ``stall`` seconds without a new event, or at the hard timeout.

Invariants:

- Every run starts in an empty run folder: a tool's state never carries over from an
  earlier run, even when ``--workdir`` is given again.
- Wall time runs from the tool's start (W1, W2, W6) or the writer's start (W3, W5)
  to the ``time.monotonic()`` instant the sink saw the last expected event, a clock
  every process on the machine shares. An incomplete run is timed to its end and
  marked so.
- CPU seconds and peak RSS come from ``bench.processes`` (wait4 + /proc sampling).
- W4 measures the CPU the tool uses in an idle window after its initial catch-up.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.processes import Watched
from bench.sink_client import SinkProcess
from bench.tools import Job, Tool
from bench.workloads import Prepared, Workload, live_files

__all__ = ["RunOptions", "RunResult", "run_one"]

SAMPLE_SECONDS = 0.05
STATS_SECONDS = 0.2
# After the last expected event, keep a daemon running this long to catch late copies.
GRACE_SECONDS = 0.5
# After the initial catch-up of W4, let the tool settle before the idle window opens.
IDLE_SETTLE_SECONDS = 1.0
_MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class RunOptions:
    """When a run gives up, and the seed of the live writer."""

    stall_seconds: float
    timeout_seconds: float
    seed: int = 1
    ready_seconds: float = 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    """What one run measured (JSON-ready through ``dataclasses.asdict``)."""

    workload: str
    tool: str
    repeat: int
    status: str
    note: str = ""
    wall_s: float | None = None
    lines: int = 0
    lines_per_s: float | None = None
    events_per_s: float | None = None
    cpu_s: float | None = None
    # Sum of each process's peak (the table's RSS, an upper bound), and the highest
    # sum of resident sets seen at one sample (a lower bound): bench.processes.
    peak_rss_mib: float | None = None
    peak_live_rss_mib: float | None = None
    events: int = 0
    matched: int = 0
    expected: int = 0
    duplicates: int = 0
    mapping_errors: int = 0
    unexpected: int = 0
    # Events that are not the workload's, by name (logbridge's own system events).
    other_events: dict[str, int] | None = None
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None
    latency_max_ms: float | None = None
    idle_cpu_s: float | None = None
    sink_cpu_s: float | None = None
    sink_busy_s: float | None = None
    returncode: int | None = None
    error_fields: dict[str, int] | None = None


@dataclass(slots=True)
class _Progress:
    stats: dict[str, Any]
    changed_at: float
    polled_at: float


def _wait_ready(
    watched: Watched, marker: bytes | None, log: Path, limit: float
) -> bool:
    deadline = time.monotonic() + limit
    if marker is None:
        time.sleep(1.0)
        return not watched.poll()
    while time.monotonic() < deadline:
        if watched.poll():
            return False
        if marker in log.read_bytes():
            return True
        time.sleep(SAMPLE_SECONDS)
    return False


def _start_writer(
    workload: Workload, prepared: Prepared, live: Path, run_dir: Path, seed: int
) -> subprocess.Popen[bytes]:
    if workload.mode == "append":
        assert prepared.staged_dir is not None  # noqa: S101 - prepare() sets it for W3
        args = ["replay", str(prepared.staged_dir), str(live)]
    else:
        args = [
            "live",
            str(live),
            f"--rate={workload.rate}",
            f"--seconds={workload.seconds}",
            f"--seed={seed}",
        ]
    with (run_dir / "writer.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "bench.writers", *args],
            cwd=Path(__file__).resolve().parent.parent,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _refresh(
    sink: SinkProcess, progress: _Progress, now: float, *, force: bool
) -> None:
    if not force and now - progress.polled_at < STATS_SECONDS:
        return
    stats = sink.stats()
    if stats["events"] != progress.stats.get("events"):
        progress.changed_at = now
    progress.stats = stats
    progress.polled_at = now


def _idle_window(watched: Watched, seconds: float) -> float:
    time.sleep(IDLE_SETTLE_SECONDS)
    before = watched.cpu_now()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        watched.poll()
        time.sleep(SAMPLE_SECONDS)
    return watched.cpu_now() - before


def run_one(
    tool: Tool,
    workload: Workload,
    prepared: Prepared,
    run_dir: Path,
    *,
    repeat: int,
    options: RunOptions,
) -> RunResult:
    """Run ``tool`` once on ``workload`` and measure it."""
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    if prepared.log_dir is not None:
        log_dir = prepared.log_dir
        files = tuple(sorted(log_dir.glob(workload.file_pattern)))
    else:
        log_dir = run_dir / "logs"
        files = live_files(log_dir, workload)
    sink = SinkProcess(prepared.expect_path, run_dir / "sink.log")
    failed = RunResult(
        workload=workload.name, tool=tool.name, repeat=repeat, status="failed"
    )
    watched = None
    writer = None
    try:
        job = Job(
            workload, log_dir, files, run_dir, sink.url, plain_dir=prepared.plain_dir
        )
        launch = tool.launch(job)
        tool_log = run_dir / "tool.log"
        watched = Watched(launch.argv, env=launch.env, cwd=run_dir, log_path=tool_log)
        origin = watched.started_at
        if workload.mode in ("append", "live"):
            if not _wait_ready(
                watched, launch.ready_marker, tool_log, options.ready_seconds
            ):
                return dataclasses.replace(failed, note=f"not ready; see {tool_log}")
            origin = time.monotonic()
            writer = _start_writer(workload, prepared, log_dir, run_dir, options.seed)
        outcome = _follow(
            watched, launch.exits_when_done, writer, sink, workload, options
        )
        final = sink.stats(latency=True)
    except (OSError, RuntimeError, ValueError) as exc:
        # A tool that cannot start, or a run that breaks, is a row, not a crash.
        return dataclasses.replace(failed, note=f"{type(exc).__name__}: {exc}")
    finally:
        if watched is not None and not watched.poll():
            watched.stop()
        if writer is not None and writer.poll() is None:
            writer.kill()
            writer.wait()
        sink_cpu = sink.stop()
    measured = _Measured(origin, watched, final, outcome, sink_cpu)
    return _result(tool.name, workload, prepared, repeat, measured)


@dataclass(frozen=True, slots=True)
class _Outcome:
    ended_at: float
    reason: str
    idle_cpu_s: float | None


def _verdict(
    exit_status: int | None,
    exits_when_done: bool,
    writer_done: bool,
    progress: _Progress,
    elapsed: float,
    options: RunOptions,
) -> str | None:
    """
    None to keep going, "" when the run is done, or why it was cut short (or, for a
    tool that exited with a failure status, why it failed).
    """
    stats = progress.stats
    complete = stats["complete_at"] is not None or stats["expected"] == 0
    if exit_status is not None:
        if not complete:
            return "exited before delivering everything"
        # `logbridge backfill` exits 1 when it knows it did not deliver everything.
        return "" if exit_status == 0 else f"exited with status {exit_status}"
    if complete and writer_done and not exits_when_done:
        return ""
    if writer_done and progress.polled_at - progress.changed_at > options.stall_seconds:
        return f"no new event for {options.stall_seconds:.0f} s"
    if elapsed > options.timeout_seconds:
        return f"timed out after {options.timeout_seconds:.0f} s"
    return None


def _follow(
    watched: Watched,
    exits_when_done: bool,
    writer: subprocess.Popen[bytes] | None,
    sink: SinkProcess,
    workload: Workload,
    options: RunOptions,
) -> _Outcome:
    started = time.monotonic()
    progress = _Progress(stats={}, changed_at=started, polled_at=0.0)
    idle_cpu = None
    while True:
        exited = watched.poll()
        now = time.monotonic()
        _refresh(sink, progress, now, force=exited or not progress.stats)
        writer_done = writer is None or writer.poll() is not None
        status = watched.process.returncode if exited else None
        reason = _verdict(
            status, exits_when_done, writer_done, progress, now - started, options
        )
        if reason is not None:
            break
        time.sleep(SAMPLE_SECONDS)
    if reason == "" and workload.mode == "idle" and not exited:
        idle_cpu = _idle_window(watched, workload.seconds)
    ended_at = time.monotonic()
    if not watched.poll():
        end = time.monotonic() + GRACE_SECONDS
        while time.monotonic() < end and not watched.poll():
            time.sleep(SAMPLE_SECONDS)
        watched.stop()
    if writer is not None:
        if writer.poll() is None:
            writer.terminate()
        writer.wait(timeout=30)
    return _Outcome(ended_at, reason, idle_cpu)


@dataclass(frozen=True, slots=True)
class _Measured:
    origin: float
    watched: Watched
    stats: dict[str, Any]
    outcome: _Outcome
    sink_cpu: float | None


def _result(
    tool: str, workload: Workload, prepared: Prepared, repeat: int, measured: _Measured
) -> RunResult:
    origin, watched, stats = measured.origin, measured.watched, measured.stats
    outcome, sink_cpu = measured.outcome, measured.sink_cpu
    usage = watched.usage()
    complete = stats["complete_at"] is not None or stats["expected"] == 0
    status = "ok" if complete and not outcome.reason else "incomplete"
    if workload.mode == "idle":
        wall = workload.seconds
    elif stats["complete_at"] is not None:
        wall = stats["complete_at"] - origin
    else:
        wall = (watched.exited_at or outcome.ended_at) - origin
    latency = stats.get("latency_ms") or {}
    throughput = workload.mode in ("batch", "append", "live", "backfill")
    return RunResult(
        workload=workload.name,
        tool=tool,
        repeat=repeat,
        status=status,
        note=outcome.reason,
        wall_s=round(wall, 3),
        lines=prepared.lines,
        lines_per_s=round(prepared.lines / wall) if throughput and wall > 0 else None,
        events_per_s=round(stats["matched"] / wall)
        if throughput and wall > 0
        else None,
        cpu_s=round(usage.cpu_seconds, 3),
        peak_rss_mib=round(usage.peak_rss_bytes / _MIB, 1),
        peak_live_rss_mib=round(usage.peak_live_rss_bytes / _MIB, 1),
        events=stats["events"],
        matched=stats["matched"],
        expected=stats["expected"],
        duplicates=max(stats["duplicate_keys"], stats["duplicate_uuids"]),
        mapping_errors=stats["mapping_errors"],
        unexpected=stats["unexpected"],
        other_events=stats["other_events"] or None,
        latency_p50_ms=latency.get("p50") if workload.mode == "live" else None,
        latency_p99_ms=latency.get("p99") if workload.mode == "live" else None,
        latency_max_ms=latency.get("max") if workload.mode == "live" else None,
        idle_cpu_s=round(outcome.idle_cpu_s, 3)
        if outcome.idle_cpu_s is not None
        else None,
        sink_cpu_s=round(sink_cpu, 3) if sink_cpu is not None else None,
        sink_busy_s=stats["busy_seconds"],
        returncode=usage.returncode,
        error_fields=stats["error_fields"] or None,
    )
