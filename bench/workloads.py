"""The five workloads, at two sizes, and the data each one needs before a run.

Invariants:

- W1 and W2 read the same generated file (only the rule differs), generated once per
  harness invocation; tools only read it.
- W3 and W5 write while the tool runs, so every run gets a fresh, empty log folder;
  W3's content is generated up front (staged) and copied in by ``bench.writers``, so
  its expectations are known before the tool starts.
- Every workload names its expectations file, which the sink checks events against.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import orjson

from bench.generate import (
    Expectations,
    generate_logs,
    live_expectations,
    log_file_name,
    save_expectations,
)

__all__ = ["SIZES", "Prepared", "Workload", "live_files", "prepare", "workloads"]

Mode = Literal["batch", "append", "idle", "live"]
Rule = Literal["order", "slow"]
SIZES = ("tiny", "full")


@dataclass(frozen=True, slots=True, kw_only=True)
class Workload:
    """One benchmark scenario."""

    name: str
    title: str
    rule: Rule
    mode: Mode
    lines: int
    files: int = 1
    # Idle window (W4) or writing time (W5).
    seconds: float = 0.0
    # Lines per second written by the live writer (W5).
    rate: int = 0

    @property
    def follows(self) -> bool:
        """Whether tools must keep watching the files (a daemon) rather than read once."""
        return self.mode != "batch"

    @property
    def has_literal(self) -> bool:
        """Whether the rule has a literal a substring prefilter can exploit."""
        return self.rule == "order"


def workloads(size: str) -> dict[str, Workload]:
    """The workloads at ``size`` (``tiny`` for CI, ``full`` for the real figures)."""
    full = size == "full"
    lines = 1_000_000 if full else 5_000
    return {
        "W1": Workload(
            name="W1",
            title="one file, 10% orders, 2% decoys",
            rule="order",
            mode="batch",
            lines=lines,
        ),
        "W2": Workload(
            name="W2",
            title="numeric rule on every line (duration_ms > 1000)",
            rule="slow",
            mode="batch",
            lines=lines,
        ),
        "W3": Workload(
            name="W3",
            title="files appended to concurrently",
            rule="order",
            mode="append",
            lines=lines,
            files=1000 if full else 50,
        ),
        "W4": Workload(
            name="W4",
            title="idle: watched files, no writes",
            rule="order",
            mode="idle",
            lines=100_000 if full else 1_000,
            files=100 if full else 10,
            seconds=60.0 if full else 2.0,
        ),
        "W5": Workload(
            name="W5",
            title="latency: line written -> event received",
            rule="order",
            mode="live",
            lines=60_000 if full else 600,
            seconds=60.0 if full else 3.0,
            rate=1000 if full else 200,
        ),
    }


@dataclass(frozen=True, slots=True)
class Prepared:
    """The data of one workload, ready for runs."""

    expect_path: Path
    expected: int
    # Where the tools read (batch, idle); None when each run writes its own folder.
    log_dir: Path | None
    # W3: the content the writer copies in, one file per live file.
    staged_dir: Path | None
    lines: int
    bytes: int


def _save(path: Path, expectations: Expectations) -> int:
    save_expectations(path, expectations)
    return len(expectations.expected)


def prepare(workload: Workload, data_dir: Path, *, seed: int) -> Prepared:
    """Generate (or reuse) the data ``workload`` needs under ``data_dir``."""
    if workload.mode == "batch":
        # W1 and W2 share the file: generate it once, keep both expectation files.
        folder = data_dir / f"batch-{workload.lines}"
        w1 = folder / "expect-W1.json"
        w2 = folder / "expect-W2.json"
        if not w1.exists():
            logs = generate_logs(folder / "logs", lines=workload.lines, seed=seed)
            _save(w1, logs.orders)
            _save(w2, logs.slow)
            (folder / "bytes").write_text(str(logs.bytes))
        expect = w1 if workload.rule == "order" else w2
        return Prepared(
            expect_path=expect,
            expected=_count(expect),
            log_dir=folder / "logs",
            staged_dir=None,
            lines=workload.lines,
            bytes=int((folder / "bytes").read_text()),
        )
    folder = data_dir / workload.name
    if workload.mode == "live":
        expect = folder / "expect.json"
        folder.mkdir(parents=True, exist_ok=True)
        count = _save(expect, live_expectations(seed, workload.lines))
        return Prepared(expect, count, None, None, workload.lines, 0)
    target = folder / ("staged" if workload.mode == "append" else "logs")
    logs = generate_logs(target, lines=workload.lines, files=workload.files, seed=seed)
    expect = folder / "expect.json"
    count = _save(expect, logs.orders)
    if workload.mode == "append":
        return Prepared(expect, count, None, target, workload.lines, logs.bytes)
    return Prepared(expect, count, target, None, workload.lines, logs.bytes)


def _count(expect: Path) -> int:
    return len(orjson.loads(expect.read_bytes())["expected"])


def live_files(folder: Path, workload: Workload) -> tuple[Path, ...]:
    """Create the empty log files a writing workload (W3, W5) will append to."""
    folder.mkdir(parents=True, exist_ok=True)
    count = workload.files if workload.mode == "append" else 1
    paths = tuple(folder / log_file_name(i) for i in range(count))
    for path in paths:
        path.touch()
    return paths
