"""The peer a Python developer writes by hand: read the log, parse, capture with the SDK.

Runs in its own virtualenv (``bench/.venv-peers``, made by ``bench.install``) so that
the posthog SDK and its dependencies never enter logbridge's. It imports nothing from
``bench`` or ``bridge``: this file is the whole program, as its author would write it,
with the SDK's documented module-level API and its default settings (a 10,000-event
in-memory queue, 100-event batches, one sender thread).

Invariants:

- Without ``--follow`` it reads every file to its end, captures the matches, flushes
  and exits. With ``--follow`` it keeps polling the files (the loop people write:
  ``readline``, sleep 0.1 s when nothing is new) until SIGTERM, then flushes.
- A partial last line is kept until its newline arrives, so a line being written is
  never parsed in halves.
- It prints ``ready`` once its files are open, for the harness to start writing.
"""

from __future__ import annotations

import argparse
import importlib
import json
import signal
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import IO, Any

__all__ = ["main"]

# How long the hand-written tail loop sleeps when no file grew.
POLL_SECONDS = 0.1


def capture_order(posthog: Any, record: dict[str, Any]) -> None:
    """W1: an ``order_processed`` line becomes ``pedido_procesado``."""
    if record.get("event") != "order_processed":
        return
    posthog.capture(
        "pedido_procesado",
        distinct_id=str(record["user_id"]),
        timestamp=datetime.fromisoformat(record["timestamp"]),
        properties={
            "amount": float(record["amount"]),
            "currency": record["currency"],
            "order_id": record["order_id"],
            "host": record["host"],
        },
    )


def capture_slow(posthog: Any, record: dict[str, Any]) -> None:
    """W2: a request slower than a second becomes ``slow_request``."""
    duration = record.get("duration_ms")
    if not isinstance(duration, int | float) or duration <= 1000:
        return
    posthog.capture(
        "slow_request",
        distinct_id=str(record["user_id"]),
        timestamp=datetime.fromisoformat(record["timestamp"]),
        properties={
            "duration_ms": int(duration),
            "path": record["path"],
            "status": int(record["status"]),
            "request_id": record["request_id"],
        },
    )


RULES: dict[str, Callable[[Any, dict[str, Any]], None]] = {
    "order": capture_order,
    "slow": capture_slow,
}


def _handle(
    posthog: Any, rule: Callable[[Any, dict[str, Any]], None], line: str
) -> None:
    try:
        record = json.loads(line)
    except ValueError:
        return
    if isinstance(record, dict):
        rule(posthog, record)


def read_once(
    posthog: Any, rule: Callable[[Any, dict[str, Any]], None], paths: Sequence[str]
) -> None:
    """Read each file to its end."""
    for path in paths:
        with open(path, encoding="utf-8") as f:  # noqa: PTH123 - what the user writes
            for line in f:
                _handle(posthog, rule, line)


def follow(
    posthog: Any, rule: Callable[[Any, dict[str, Any]], None], paths: Sequence[str]
) -> None:
    """Tail every file until SIGTERM."""
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    files: list[IO[str]] = [open(p, encoding="utf-8") for p in paths]  # noqa: PTH123, SIM115
    partial = [""] * len(files)
    print("ready", flush=True)
    while not stopping:
        grew = False
        for index, f in enumerate(files):
            while chunk := f.readline():
                grew = True
                if not chunk.endswith("\n"):
                    partial[index] += chunk
                    break
                _handle(posthog, rule, partial[index] + chunk)
                partial[index] = ""
        if not grew:
            time.sleep(POLL_SECONDS)
    for f in files:
        f.close()


def main(argv: Sequence[str] | None = None) -> int:
    """``posthog_sdk.py --host URL --api-key K --rule order|slow [--follow] FILE…``."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--rule", choices=sorted(RULES), default="order")
    parser.add_argument("--follow", action="store_true")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args(argv)

    posthog: Any = importlib.import_module("posthog")
    posthog.api_key = args.api_key
    posthog.host = args.host
    rule = RULES[args.rule]
    if args.follow:
        follow(posthog, rule, args.files)
    else:
        read_once(posthog, rule, args.files)
    posthog.flush()
    posthog.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
