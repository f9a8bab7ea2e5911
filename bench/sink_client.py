"""The harness's side of the capture sink: start it, read its counters, stop it, and
measure its ceiling.

Invariants:

- Each ``SinkProcess`` is a fresh ``python -m bench.capture_sink`` with its own
  expectations; it is stopped with SIGTERM and reaped with ``wait4`` so its CPU time is
  known (to show it was not the bottleneck).
- ``measure_max_rate`` drives a sink alone with pre-built gzip batches of 1000 events
  over keep-alive connections: the sink's own maximum, with the same checks it makes
  during a benchmark run.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import urllib.request
import zlib
from pathlib import Path
from typing import Any

import orjson

from bench.processes import reap

__all__ = ["SinkProcess", "measure_max_rate"]


class SinkProcess:
    """A sink running as a subprocess of the harness, with its counters on /stats."""

    def __init__(self, expect: Path | None, log_path: Path) -> None:
        argv = [sys.executable, "-m", "bench.capture_sink"]
        if expect is not None:
            argv += ["--expect", str(expect)]
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=self._log,
            cwd=Path(__file__).resolve().parent.parent,
        )
        assert self.process.stdout is not None  # noqa: S101 - PIPE was asked for
        first = self.process.stdout.readline()
        if not first:
            self.process.wait()
            msg = f"capture sink exited with {self.process.returncode}; see {log_path}"
            raise RuntimeError(msg)
        self.port = int(orjson.loads(first)["port"])
        self.url = f"http://127.0.0.1:{self.port}"

    def stats(self, *, latency: bool = False) -> dict[str, Any]:
        """The sink's counters right now (with latency percentiles if asked)."""
        query = "?latency=1" if latency else ""
        with urllib.request.urlopen(f"{self.url}/stats{query}", timeout=30) as answer:  # noqa: S310 - loopback
            result: dict[str, Any] = orjson.loads(answer.read())
            return result

    def stop(self) -> float:
        """Stop the sink; return the CPU seconds it used."""
        self.process.send_signal(signal.SIGTERM)
        try:
            usage = reap(self.process)
        finally:
            self._log.close()
        return usage.ru_utime + usage.ru_stime


# -- measuring the sink's own ceiling -----------------------------------------------------


def _sample_bodies(count: int, events: int) -> tuple[list[bytes], dict[str, Any]]:
    expected: dict[str, list[Any]] = {}
    bodies = []
    for b in range(count):
        batch = []
        for e in range(events):
            key = f"ord-{b:05d}-{e:05d}"
            properties = {
                "amount": 12.5,
                "currency": "EUR",
                "order_id": key,
                "host": "w",
            }
            batch.append(
                {
                    "event": "pedido_procesado",
                    "distinct_id": "42",
                    "uuid": f"00000000-0000-4000-8000-{b:06d}{e:06d}",
                    "timestamp": "2026-11-20T09:00:00.123Z",
                    "properties": properties,
                }
            )
            expected[key] = ["42", "2026-11-20T09:00:00.123Z", properties]
        body = orjson.dumps({"api_key": "phc_bench", "batch": batch})
        bodies.append(zlib.compress(body, 6, wbits=31))
    return bodies, {
        "event": "pedido_procesado",
        "key": "order_id",
        "expected": expected,
    }


def _post_all(port: int, bodies: list[bytes]) -> None:
    with socket.create_connection(("127.0.0.1", port)) as conn:
        reader = conn.makefile("rb")
        for body in bodies:
            head = (
                "POST /batch/ HTTP/1.1\r\nHost: sink\r\nContent-Encoding: gzip\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            )
            conn.sendall(head.encode() + body)
            length = 0
            while (line := reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            reader.read(length)


def measure_max_rate(
    workdir: Path, *, batches: int = 200, connections: int = 4
) -> dict[str, Any]:
    """
    Drive a sink subprocess with pre-built gzip batches of 1000 events, as fast as
    ``connections`` keep-alive connections can, and return its events/s.
    """
    bodies, expectations = _sample_bodies(batches, 1000)
    expect = workdir / "expect-measure.json"
    expect.write_bytes(orjson.dumps(expectations))
    sink = SinkProcess(expect, workdir / "sink-measure.log")
    try:
        threads = [
            threading.Thread(target=_post_all, args=(sink.port, bodies[i::connections]))
            for i in range(connections)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        stats = sink.stats()
    finally:
        cpu = sink.stop()
    span = (stats["last_at"] or 0.0) - (stats["first_at"] or 0.0)
    return {
        "events": stats["events"],
        "matched": stats["matched"],
        "mapping_errors": stats["mapping_errors"],
        "seconds": round(span, 3),
        "events_per_s": round(stats["events"] / span) if span > 0 else None,
        "busy_events_per_s": round(stats["events"] / stats["busy_seconds"])
        if stats["busy_seconds"]
        else None,
        "sink_cpu_s": round(cpu, 3),
    }
