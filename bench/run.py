"""``python -m bench.run``: every tool on every workload, repeated, as one table.

Usage::

    python -m bench.run [--size tiny|full] [--repeat 3] [--workloads W1,W2,…]
                        [--peers all|none|syslog-ng,syslog-ng+prefilter,posthog-sdk,
                         logbridge-noprefilter,logbridge-1worker]

Invariants:

- Data is generated once per workload (deterministic by ``--seed``) into a temporary
  folder that is removed at the end (``--keep`` keeps it, with every tool's log); with
  ``--workdir`` it stays, and the next invocation there reuses W1/W2's and W6's files.
- Repeats interleave the tools (W1: a b c, a b c, …), so a drift in the machine's
  load spreads over all of them instead of landing on one.
- A peer that cannot be installed or run is a row marked "unavailable"; the command
  fails (exit 1) only when a logbridge run did not deliver every expected event once.
- Results, per run and as medians, go to a JSON file (``bench/results/`` by default).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench.harness import RunOptions, RunResult, run_one
from bench.install import compile_logbridge, ensure_sdk_venv, ensure_syslog_ng
from bench.peers.sdk_tool import SdkTool
from bench.peers.syslog_ng import SyslogNgTool
from bench.report import (
    SUBJECT,
    format_ratios,
    format_table,
    format_targets,
    summarize,
)
from bench.sink_client import measure_max_rate
from bench.tools import LogbridgeTool, Tool
from bench.workloads import SIZES, prepare, workloads

__all__ = ["main"]

PEERS = (
    "syslog-ng",
    "syslog-ng+prefilter",
    "posthog-sdk",
    "logbridge-noprefilter",
    "logbridge-1worker",
)
RESULTS_DIR = Path(__file__).resolve().parent / "results"
# Give up on a run after this long without a new event at the sink (writers done).
_STALL_SECONDS = {"tiny": 20.0, "full": 60.0}
_TIMEOUT_SECONDS = {"tiny": 120.0, "full": 1800.0}


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Benchmark logbridge against syslog-ng and the posthog SDK.",
    )
    parser.add_argument(
        "--size", choices=SIZES, default="full", help="tiny for CI (default: full)"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per tool and workload; medians"
    )
    parser.add_argument(
        "--workloads", default="W1,W2,W3,W4,W5,W6", help="comma list (default: all)"
    )
    parser.add_argument(
        "--peers",
        default="all",
        help="all, none, or a comma list of " + ", ".join(PEERS),
    )
    parser.add_argument("--seed", type=int, default=1, help="data generator seed")
    parser.add_argument(
        "--workdir", type=Path, default=None, help="default: a temp dir"
    )
    parser.add_argument("--keep", action="store_true", help="keep data and tool logs")
    parser.add_argument("--out", type=Path, default=None, help="results JSON file")
    parser.add_argument(
        "--no-install", action="store_true", help="never apt-get or pip install peers"
    )
    parser.add_argument(
        "--measure-sink",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="measure the sink's own maximum rate first (default: with --size full)",
    )
    args = parser.parse_args(argv)
    args.workload_names = [
        w.strip().upper() for w in args.workloads.split(",") if w.strip()
    ]
    unknown = sorted(set(args.workload_names) - set(workloads("tiny")))
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(unknown)}; expected W1…W6")
    if args.peers == "all":
        args.peer_names = list(PEERS)
    elif args.peers == "none":
        args.peer_names = []
    else:
        args.peer_names = [p.strip() for p in args.peers.split(",") if p.strip()]
        bad = sorted(set(args.peer_names) - set(PEERS))
        if bad:
            parser.error(
                f"unknown peer(s) {', '.join(bad)}; expected {', '.join(PEERS)}"
            )
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def _tools(peer_names: Sequence[str], *, install: bool) -> list[Tool]:
    tools: list[Tool] = [LogbridgeTool()]
    if "logbridge-noprefilter" in peer_names:
        tools.append(LogbridgeTool(prefilter=False))
    if "logbridge-1worker" in peer_names:
        tools.append(LogbridgeTool(workers=1))
    if "syslog-ng" in peer_names or "syslog-ng+prefilter" in peer_names:
        version, reason = ensure_syslog_ng(install=install)
        for prefilter in (False, True):
            tool = SyslogNgTool(prefilter=prefilter, version=version, reason=reason)
            if tool.name in peer_names:
                tools.append(tool)
    if "posthog-sdk" in peer_names:
        version, reason = ensure_sdk_venv(install=install)
        tools.append(SdkTool(version=version, reason=reason))
    return tools


def _say(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _describe(result: RunResult) -> str:
    text = (
        f"{result.workload} {result.tool} #{result.repeat}: {result.status}"
        f" wall {result.wall_s} s, {result.matched}/{result.expected} events,"
        f" {result.duplicates} dups, {result.mapping_errors} mapping errors,"
        f" cpu {result.cpu_s} s"
    )
    return f"{text} ({result.note})" if result.note else text


def _environment(tools: Sequence[Tool]) -> dict[str, Any]:
    versions = {}
    for tool in tools:
        reason = tool.unavailable()
        versions[tool.name] = f"unavailable: {reason}" if reason else tool.version()
    return {
        "cpus": os.cpu_count(),
        "loadavg": os.getloadavg(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
    }


def _run_all(
    args: argparse.Namespace, tools: Sequence[Tool], workdir: Path
) -> list[RunResult]:
    chosen = workloads(args.size)
    options = RunOptions(
        stall_seconds=_STALL_SECONDS[args.size],
        timeout_seconds=_TIMEOUT_SECONDS[args.size],
        seed=args.seed,
    )
    results: list[RunResult] = []
    for name in args.workload_names:
        workload = chosen[name]
        started = time.monotonic()
        prepared = prepare(workload, workdir / "data", seed=args.seed)
        _say(
            f"{name}: {workload.title}: {prepared.lines:,} lines, "
            f"{prepared.expected:,} expected events "
            f"(data ready in {time.monotonic() - started:.1f} s)"
        )
        for repeat in range(1, args.repeat + 1):
            for tool in tools:
                reason = tool.unavailable()
                status = "unavailable"
                if reason is None:
                    reason = tool.skip_reason(workload)
                    status = "n/a"
                if reason is not None:
                    if repeat == 1:
                        results.append(
                            RunResult(
                                workload=name,
                                tool=tool.name,
                                repeat=1,
                                status=status,
                                note=reason,
                            )
                        )
                    continue
                run_dir = workdir / "runs" / f"{name}-{tool.name}-{repeat}"
                result = run_one(
                    tool,
                    workload,
                    prepared,
                    run_dir,
                    repeat=repeat,
                    options=options,
                )
                _say(_describe(result))
                results.append(result)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print the table; write the JSON results."""
    args = _parse_args(argv)
    compile_logbridge()
    tools = _tools(args.peer_names, install=not args.no_install)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="logbridge-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    environment = _environment(tools)
    try:
        measure = (
            args.measure_sink if args.measure_sink is not None else args.size == "full"
        )
        if measure:
            environment["sink_max_rate"] = measure_max_rate(workdir)
            _say(f"capture sink alone: {environment['sink_max_rate']}")
        results = _run_all(args, tools, workdir)
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    environment["loadavg_end"] = os.getloadavg()
    rows = summarize([dataclasses.asdict(r) for r in results])
    sys.stdout.write(
        f"\nlogbridge benchmark, size {args.size}, {args.repeat} repeat(s), medians; "
        f"{environment['cpus']} CPUs, load {environment['loadavg'][0]:.2f}\n\n"
    )
    sys.stdout.write(format_table(rows) + "\n\n")
    if len(tools) > 1:
        sys.stdout.write(format_ratios(rows) + "\n")
    targets = format_targets(rows)
    if targets:
        sys.stdout.write("\n" + targets + "\n")
    out = args.out or RESULTS_DIR / (
        f"bench-{datetime.now(tz=UTC):%Y%m%dT%H%M%SZ}-{args.size}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "size": args.size,
        "repeat": args.repeat,
        "seed": args.seed,
        "environment": environment,
        "summary": rows,
        "runs": [dataclasses.asdict(r) for r in results],
    }
    out.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    sys.stdout.write(f"\nresults: {out}\n")
    if args.keep or args.workdir is not None:
        sys.stdout.write(f"data and tool logs: {workdir}\n")
    ours = [r for r in results if r.tool == SUBJECT]
    return 0 if ours and all(r.status == "ok" for r in ours) else 1


if __name__ == "__main__":
    raise SystemExit(main())
