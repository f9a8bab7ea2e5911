"""Running a tool as a subprocess and measuring it: CPU seconds and peak RSS of its tree.

Invariants:

- The final CPU time of the tool comes from ``os.wait4`` (the kernel's accounting,
  exact, with every descendant the tool reaped: logbridge's backfill workers, which
  it joins); ``Popen.wait`` would drop it.
- A descendant the tool does not reap (multiprocessing's resource tracker outlives
  its parent by a moment) would be lost to init with its CPU time. So the harness is
  the tree's subreaper (``PR_SET_CHILD_SUBREAPER``, prctl(2)): such an orphan becomes
  its child, and once the tool is reaped, every descendant it was seen with is waited
  for a moment and its CPU added. One that was never sampled (born and orphaned
  between two samples) or is still running then is not counted.
- While the tool runs, its process tree (found through ``/proc/PID/task/*/children``,
  cheap enough to read every 50 ms) is sampled: the sum of the processes' peak
  resident sets (VmHWM, kept by the kernel between samples) gives the peak RSS, and
  the CPU ticks give the CPU used inside a window (the idle workload W4). The sum of
  the peaks is an upper bound of the tree's memory at any one moment (the processes
  may peak at different times, and pages they share count once per process); the
  highest sum of resident sets seen at one sample is kept too, a lower bound.
- Everything is Linux-only, like the daemon's deployment target.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import resource
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "TreeSample",
    "Usage",
    "Watched",
    "adopt_orphans",
    "reap",
    "reap_adopted",
    "sample_tree",
]

_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
# prctl(2): orphaned descendants are re-parented to this process instead of init.
_PR_SET_CHILD_SUBREAPER = 36
# How long an adopted orphan may take to exit once the tool is gone: the resource
# tracker exits as soon as the last end of its pipe closes.
_ORPHAN_WAIT_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class Usage:
    """What a finished tool used."""

    cpu_seconds: float
    # Sum of the peaks of every process (upper bound; see the module's docstring).
    peak_rss_bytes: int
    returncode: int
    # The highest sum of resident sets at one sample (lower bound).
    peak_live_rss_bytes: int = 0


@dataclass(frozen=True, slots=True)
class TreeSample:
    """One look at a live process tree."""

    rss_bytes: int
    # Sum of each live process's peak RSS (VmHWM): exact for a single process, and
    # unlike wait4's ru_maxrss it starts afresh at exec, so it does not include the
    # harness's own memory that the forked child carried until then.
    hwm_bytes: int
    cpu_seconds: float
    pids: tuple[int, ...]

    @property
    def processes(self) -> int:
        """How many processes the tree has."""
        return len(self.pids)


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):  # noqa: PTH208 - hot path
            with (
                contextlib.suppress(OSError),
                open(  # noqa: PTH123 - hot path, no Path objects
                    f"/proc/{pid}/task/{task}/children"
                ) as f,
            ):
                found.extend(int(child) for child in f.read().split())
    return found


def _status_kib(text: str, name: str) -> int:
    start = text.find(name)
    if start < 0:
        return 0
    return int(text[start + len(name) :].split(None, 1)[0])


def _process_sample(pid: int) -> tuple[int, int, float] | None:
    try:
        with open(f"/proc/{pid}/status") as f:  # noqa: PTH123 - hot path
            status = f.read()
        with open(f"/proc/{pid}/stat") as f:  # noqa: PTH123 - hot path
            # Fields after the command name, which may itself hold spaces and parens.
            fields = f.read().rpartition(")")[2].split()
    except (OSError, IndexError, ValueError):
        return None
    # utime, stime, cutime, cstime are fields 14-17 of stat(5): indexes 11-14 here.
    ticks = sum(int(value) for value in fields[11:15])
    rss = _status_kib(status, "VmRSS:") * 1024
    hwm = _status_kib(status, "VmHWM:") * 1024
    return rss, hwm, ticks / _TICKS_PER_SECOND


def sample_tree(root: int) -> TreeSample:
    """Resident bytes, their high-water marks and CPU seconds of a tree, now."""
    rss = 0
    hwm = 0
    cpu = 0.0
    pids = []
    pending = [root]
    while pending:
        pid = pending.pop()
        sample = _process_sample(pid)
        if sample is None:
            continue
        rss += sample[0]
        hwm += sample[1]
        cpu += sample[2]
        pids.append(pid)
        pending.extend(_children(pid))
    return TreeSample(rss, hwm, cpu, tuple(pids))


@functools.cache
def adopt_orphans() -> bool:
    """
    Make this process the subreaper of its descendants: their orphans become its
    children (prctl(2) ``PR_SET_CHILD_SUBREAPER``). False where that is refused.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)


def reap_adopted(pids: Iterable[int], timeout: float = _ORPHAN_WAIT_SECONDS) -> float:
    """
    Wait for those of ``pids`` that are this process's children now (orphans it
    adopted) and return the CPU seconds they used; one still running after
    ``timeout`` is left alone, not counted.
    """
    cpu = 0.0
    deadline = time.monotonic() + timeout
    for pid in pids:
        while True:
            try:
                done, _, usage = os.wait4(pid, os.WNOHANG)
            except ChildProcessError:
                # Not a child of ours: reaped by its own parent (its CPU is in the
                # tool's), or gone before it could be adopted.
                break
            if done:
                cpu += usage.ru_utime + usage.ru_stime
                break
            if time.monotonic() > deadline:
                break
            time.sleep(0.01)
    return cpu


def reap(
    process: subprocess.Popen[bytes], timeout: float = 30.0
) -> resource.struct_rusage:
    """
    Wait for ``process`` and return its resource usage; SIGKILL it after ``timeout``.
    """
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            return usage
        if time.monotonic() > deadline:
            process.kill()
            deadline = time.monotonic() + timeout
        time.sleep(0.01)


class Watched:
    """A tool started as a subprocess, sampled until it exits or is stopped."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        log_path: Path,
    ) -> None:
        adopt_orphans()
        self._log = log_path.open("wb")
        self.started_at = time.monotonic()
        self.process = subprocess.Popen(
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self.exited_at: float | None = None
        self.peak_tree_rss = 0
        self.peak_live_rss = 0
        # Every descendant seen, for the orphans among them (reap_adopted).
        self._descendants: set[int] = set()
        self._usage: Usage | None = None

    @property
    def pid(self) -> int:
        """The tool's process id."""
        return self.process.pid

    def poll(self) -> bool:
        """Sample the tree; return True once the tool has exited (it is then reaped)."""
        if self._usage is not None:
            return True
        sample = sample_tree(self.process.pid)
        self.peak_tree_rss = max(self.peak_tree_rss, sample.rss_bytes, sample.hwm_bytes)
        self.peak_live_rss = max(self.peak_live_rss, sample.rss_bytes)
        self._descendants.update(sample.pids[1:])
        pid, status, usage = os.wait4(self.process.pid, os.WNOHANG)
        if not pid:
            return False
        self._finish(status, usage)
        return True

    def cpu_now(self) -> float:
        """CPU seconds used so far by the live tree (tick resolution)."""
        return sample_tree(self.process.pid).cpu_seconds

    def stop(self, timeout: float = 30.0) -> Usage:
        """SIGTERM the tool (SIGKILL after ``timeout``) and return what it used."""
        if self._usage is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            usage = reap(self.process, timeout)
            status = self.process.returncode or 0
            self._record(usage, status)
        assert self._usage is not None  # noqa: S101 - set by _record
        return self._usage

    def usage(self) -> Usage:
        """What the tool used; only after ``poll`` returned True or ``stop``."""
        if self._usage is None:
            msg = "the tool is still running"
            raise RuntimeError(msg)
        return self._usage

    def _finish(self, status: int, usage: resource.struct_rusage) -> None:
        self.process.returncode = os.waitstatus_to_exitcode(status)
        self._record(usage, self.process.returncode)

    def _record(self, usage: resource.struct_rusage, returncode: int) -> None:
        self.exited_at = time.monotonic()
        self._log.close()
        orphans_cpu = reap_adopted(sorted(self._descendants))
        # Not ru_maxrss: it keeps the pre-exec high-water mark of the forked harness.
        self._usage = Usage(
            usage.ru_utime + usage.ru_stime + orphans_cpu,
            self.peak_tree_rss,
            returncode,
            self.peak_live_rss,
        )
