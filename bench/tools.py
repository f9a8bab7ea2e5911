"""The tools under test and how each is launched for a job; logbridge is defined here.

A tool turns a ``Job`` (a workload, its log files, a private run folder, the sink's
URL) into a ``Launch``: the command line, its environment, and whether it exits by
itself once everything is delivered (``logbridge run --once``, ``logbridge backfill``,
the SDK script without ``--follow``) or must be stopped once the sink has every event
(daemons).

Invariants:

- Every tool implements the same rule per workload: W1 ``order`` (``event ==
  "order_processed"`` → ``pedido_procesado`` with distinct_id, timestamp, amount as a
  number, currency, order_id, host) and W2 ``slow`` (``duration_ms > 1000`` →
  ``slow_request``). W6 (a backfill of rotated files) uses W1's rule.
- A tool's state (logbridge's SQLite, syslog-ng's persist file) lives in the job's run
  folder, fresh for every run: no run resumes another.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bench.workloads import Workload

__all__ = ["API_KEY", "Job", "Launch", "LogbridgeTool", "Tool", "clean_env"]

# A syntactically valid project key; the sink only checks that one is present.
API_KEY = "phc_bench_0123456789abcdefghijklmnopqrstuvwxyzAB"
REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class Job:
    """One run of one tool on one workload."""

    workload: Workload
    log_dir: Path
    files: tuple[Path, ...]
    run_dir: Path
    sink_url: str
    api_key: str = API_KEY
    # W6: the files of ``log_dir`` with the compressed ones decompressed, same names
    # without ``.gz``, for a tool that cannot read gzip.
    plain_dir: Path | None = None


@dataclass(frozen=True, slots=True)
class Launch:
    """How to start a tool for a job."""

    argv: tuple[str, ...]
    env: Mapping[str, str]
    exits_when_done: bool
    # Text the tool prints once it watches its files (before a writer may start).
    ready_marker: bytes | None = None


class Tool(Protocol):
    """A program that can turn log lines into events at the sink."""

    @property
    def name(self) -> str:
        """Column label, e.g. ``syslog-ng+prefilter``."""
        ...

    def unavailable(self) -> str | None:
        """Why the tool cannot run here, or None."""
        ...

    def skip_reason(self, workload: Workload) -> str | None:
        """Why this tool does not take part in ``workload`` (n/a), or None."""
        ...

    def version(self) -> str:
        """The tool's version, for the results file."""
        ...

    def launch(self, job: Job) -> Launch:
        """Write the tool's configuration into ``job.run_dir``; say how to start it."""
        ...


def clean_env() -> dict[str, str]:
    """The harness's environment without PostHog or logbridge settings."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("POSTHOG_", "LOGBRIDGE_", "CREDENTIALS_DIRECTORY"))
    }


_CONFIG = """\
rules_dir: rules
state_dir: state
hostname: bench
log:
  level: info
  format: json
batch:
  max_events: 1000
"""

_SOURCE = """\
sources:
  - name: app
    paths: ["{glob}"]
    format: json
    start_at: beginning
    timestamp: {{field: timestamp, format: iso8601}}

rules:
"""

_RULES = {
    "order": """\
  - name: order-processed
    source: app
    when:
      event: order_processed
    event: pedido_procesado
    distinct_id: "{user_id}"
    properties:
      amount: {field: amount, type: float}
      currency: {field: currency}
      order_id: {field: order_id}
      host: {field: host}
""",
    "slow": """\
  - name: slow-request
    source: app
    when:
      duration_ms: {gt: 1000}
    event: slow_request
    distinct_id: "{user_id}"
    properties:
      duration_ms: {field: duration_ms, type: int}
      path: {field: path}
      status: {field: status, type: int}
      request_id: {field: request_id}
""",
}


# Backfill worker processes of the `logbridge` column on W6: the performance issue's
# figure for a 2-core machine (`--workers 2`; the default would leave one core free).
BACKFILL_WORKERS = 2


class LogbridgeTool:
    """
    logbridge itself: ``run --once`` for batch workloads, ``backfill`` for W6, the
    daemon otherwise.

    With ``prefilter=False`` (column ``logbridge-noprefilter``, W1 and W2 only) every
    line is parsed: what the prefilter saves, and the speed of the full parse path.
    With ``workers=1`` (column ``logbridge-1worker``, W6 only) the backfill has one
    worker process: what the second one brings.
    """

    def __init__(
        self, *, prefilter: bool = True, workers: int = BACKFILL_WORKERS
    ) -> None:
        """A column for logbridge as configured by default, or one variant of it."""
        self.prefilter = prefilter
        self.workers = workers
        self.name = "logbridge"
        if not prefilter:
            self.name += "-noprefilter"
        if workers != BACKFILL_WORKERS:
            self.name += f"-{workers}worker"

    def unavailable(self) -> str | None:
        """logbridge is this repository: always available."""
        return None

    def skip_reason(self, workload: Workload) -> str | None:
        """
        logbridge takes part in every workload; without prefilter in W1 and W2, with
        another worker count in W6.
        """
        if not self.prefilter and workload.name not in ("W1", "W2"):
            return "measured on W1 and W2 only"
        if self.workers != BACKFILL_WORKERS and workload.mode != "backfill":
            return "backfill workers: measured on W6 only"
        return None

    def version(self) -> str:
        """The package version."""
        from bridge import __version__  # noqa: PLC0415 - only when reporting

        return __version__

    def launch(self, job: Job) -> Launch:
        """Write ``bridge.yaml`` and one rule file; run the installed package."""
        rules = job.run_dir / "rules"
        rules.mkdir(parents=True, exist_ok=True)
        # The run folder is fresh (bench.harness), and so is the state: no run resumes
        # another, the backfill's own (state/backfill/) included.
        (job.run_dir / "state").mkdir(exist_ok=True)
        config = job.run_dir / "bridge.yaml"
        config.write_text(
            _CONFIG if self.prefilter else _CONFIG + "read:\n  prefilter: false\n"
        )
        glob = str(job.log_dir / "*.log")
        (rules / "bench.yaml").write_text(
            _SOURCE.format(glob=glob) + _RULES[job.workload.rule]
        )
        if job.workload.mode == "backfill":
            # No daemon ever ran on these files: every one of them is read whole.
            command = [
                "backfill",
                "--no-daemon",
                f"--workers={self.workers}",
                "--progress=none",
            ]
        elif job.workload.follows:
            command = ["run"]
        else:
            command = ["run", "--once"]
        argv = [sys.executable, "-m", "bridge", *command, "-c", str(config)]
        env = clean_env()
        env.update(POSTHOG_API_KEY=job.api_key, POSTHOG_HOST=job.sink_url)
        return Launch(
            argv=tuple(argv),
            env=env,
            exits_when_done=not job.workload.follows,
            ready_marker=b'"engine_ready"',
        )
