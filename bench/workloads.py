"""The six workloads, at two sizes, and the data each one needs before a run.

Invariants:

- W1 and W2 read the same generated file (only the rule differs), generated once per
  harness invocation; tools only read it.
- W3 and W5 write while the tool runs, so every run gets a fresh, empty log folder;
  W3's content is generated up front (staged) and copied in by ``bench.writers``, so
  its expectations are known before the tool starts.
- W6 reads a live log and its seven rotated copies, six gzip-compressed, generated once
  per data folder; a tool that cannot read gzip (syslog-ng) gets the same files with
  the compressed ones decompressed (``Prepared.plain_dir``), made once beside them,
  outside any timed run.
- Every workload names its expectations file, which the sink checks events against.
"""

from __future__ import annotations

import os
import shutil
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import orjson

from bench.generate import (
    ROTATED_LOG_NAME,
    Expectations,
    generate_logs,
    generate_rotated,
    live_expectations,
    log_file_name,
    save_expectations,
)

__all__ = ["SIZES", "Prepared", "Workload", "live_files", "prepare", "workloads"]

Mode = Literal["batch", "append", "idle", "live", "backfill"]
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
        return self.mode not in ("batch", "backfill")

    @property
    def file_pattern(self) -> str:
        """The names of the files a tool reads in the log folder (a glob)."""
        # W6: the live file and every copy of it, whatever its suffix.
        return f"{ROTATED_LOG_NAME}*" if self.mode == "backfill" else "*.log"

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
        "W6": Workload(
            name="W6",
            title="backfill: app.log and 7 rotated copies, 6 of them gzip'd",
            rule="order",
            mode="backfill",
            lines=8 * (1_000_000 if full else 2_000),
            files=8,
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
    # W6: the same files as ``log_dir``, none compressed, for a tool without gzip.
    plain_dir: Path | None = None


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
    if workload.mode == "backfill":
        return _prepare_rotated(workload, data_dir, seed=seed)
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


def _prepare_rotated(workload: Workload, data_dir: Path, *, seed: int) -> Prepared:
    """W6's files, their plain copies and expectations: made once, then reused."""
    folder = data_dir / f"rotated-{workload.lines}"
    expect = folder / "expect-W6.json"
    logs, plain = folder / "logs", folder / "plain"
    # The expectations are written last: without them the folder is an unfinished
    # earlier attempt, made again from scratch.
    if not expect.exists():
        shutil.rmtree(folder, ignore_errors=True)
        generated = generate_rotated(
            logs,
            lines_per_file=workload.lines // workload.files,
            files=workload.files,
            seed=seed,
        )
        for path in generated.files:
            _save_plain(path, plain)
        (folder / "bytes").write_text(str(generated.bytes))
        _save(expect, generated.orders)
    return Prepared(
        expect_path=expect,
        expected=_count(expect),
        log_dir=logs,
        staged_dir=None,
        lines=workload.lines,
        bytes=int((folder / "bytes").read_text()),
        plain_dir=plain,
    )


# gzip's magic number: the file is gzip-compressed whatever its name says.
_GZIP_MAGIC = b"\x1f\x8b"
# Decompress in pieces of this size, so a 290 MB copy never sits in memory whole.
_PIECE_BYTES = 1 << 20


def _save_plain(path: Path, folder: Path) -> None:
    """Put ``path`` into ``folder`` uncompressed: a hard link when it is plain already."""
    folder.mkdir(parents=True, exist_ok=True)
    with path.open("rb") as source:
        compressed = source.read(2) == _GZIP_MAGIC
        if not compressed:
            try:
                os.link(path, folder / path.name)
            except OSError:
                shutil.copyfile(path, folder / path.name)
            return
        source.seek(0)
        # wbits 31: a gzip member, header and trailer checked.
        inflate = zlib.decompressobj(wbits=31)
        with (folder / path.name.removesuffix(".gz")).open("wb") as out:
            while piece := source.read(_PIECE_BYTES):
                out.write(inflate.decompress(piece))
            out.write(inflate.flush())


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
