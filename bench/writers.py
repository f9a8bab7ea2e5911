"""The writers of the workloads that write while the tools run (W3, W5).

Run as subprocesses (``python -m bench.writers replay|live …``), so their CPU does not
mix with the harness's sampling loop, and each stops by itself.

Invariants:

- Lines are appended whole: every write ends on a newline, as an application's
  logger does (one ``write`` per line or per group of complete lines).
- ``replay`` (W3) copies staged files into the live ones round-robin, a few lines per
  file per round, so all the files grow at once.
- ``live`` (W5) writes at a fixed rate and stamps each line with the wall clock at
  the moment it is written: the sink's latency is arrival time minus that stamp.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from bench.generate import live_generator, log_file_name

__all__ = ["main", "replay", "write_live"]

# W5 writes in small groups this often: 1000 lines/s become 100 writes of 10 lines.
LIVE_TICK_SECONDS = 0.01


def replay(staged: Path, live: Path, *, lines_per_round: int = 10) -> int:
    """Append the staged files' lines to the same-named live files; return the lines."""
    sources = sorted(staged.glob("*.log"))
    pending = [path.read_bytes().splitlines(keepends=True) for path in sources]
    cursors = [0] * len(sources)
    written = 0
    while True:
        progressed = False
        for index, path in enumerate(sources):
            lines = pending[index]
            start = cursors[index]
            if start >= len(lines):
                continue
            chunk = lines[start : start + lines_per_round]
            with (live / path.name).open("ab") as out:
                out.write(b"".join(chunk))
            cursors[index] = start + len(chunk)
            written += len(chunk)
            progressed = True
        if not progressed:
            return written


def _wall_timestamp() -> str:
    return (
        datetime.now(tz=UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    )


def write_live(path: Path, *, rate: int, seconds: float, seed: int) -> int:
    """Write ``rate`` lines a second for ``seconds`` to ``path``; return the lines."""
    generator = live_generator(seed)
    total = int(rate * seconds)
    per_tick = max(1, round(rate * LIVE_TICK_SECONDS))
    written = 0
    started = time.monotonic()
    with path.open("ab", buffering=0) as out:
        while written < total:
            # Catch up with the schedule rather than drift: the rate is what W5 offers.
            due = min(total, int((time.monotonic() - started) * rate) + per_tick)
            if due > written:
                out.write(
                    b"".join(
                        generator.next_line(_wall_timestamp())[0]
                        for _ in range(due - written)
                    )
                )
                written = due
            time.sleep(LIVE_TICK_SECONDS)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench.writers replay STAGED LIVE`` or ``live FILE --rate R …``."""
    parser = argparse.ArgumentParser(prog="python -m bench.writers")
    commands = parser.add_subparsers(dest="command", required=True)
    replaying = commands.add_parser("replay")
    replaying.add_argument("staged", type=Path)
    replaying.add_argument("live", type=Path)
    replaying.add_argument("--lines-per-round", type=int, default=10)
    living = commands.add_parser("live")
    living.add_argument("directory", type=Path)
    living.add_argument("--rate", type=int, required=True)
    living.add_argument("--seconds", type=float, required=True)
    living.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.command == "replay":
        replay(args.staged, args.live, lines_per_round=args.lines_per_round)
    else:
        write_live(
            args.directory / log_file_name(0),
            rate=args.rate,
            seconds=args.seconds,
            seed=args.seed,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
