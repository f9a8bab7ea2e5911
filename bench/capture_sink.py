"""A local capture endpoint that is never the bottleneck: it counts and checks events.

It accepts ``POST /batch/`` the way PostHog's capture does for a healthy request
(gzip or plain JSON ``{"api_key": …, "batch": […]}``, answer 200 ``{"status":1}``) and
serves its counters as JSON on ``GET /stats``. It runs as a subprocess of the harness
(``python -m bench.capture_sink --expect FILE``) and prints ``{"port": N}`` once
listening.

Invariants:

- A hand-written HTTP/1.1 server on asyncio streams: keep-alive, Content-Length or
  chunked bodies, ``Expect: 100-continue`` (libcurl sends it for large bodies). No
  framework in the way, so one core parses well over 100k events/s (``--measure``).
- An event is *received* once per request it arrives in; a second copy of an event
  (same uuid, or same unique key property) counts as a duplicate and is not checked
  again. Timestamps are compared as instants, not as strings.
- An event with another name and without the key property is not the workload's (a
  tool reporting on itself): it is counted by name in ``other_events``, never as an
  error; one with the workload's name but an unknown key is ``unexpected``.
- ``complete_at`` is the ``time.monotonic()`` instant (one clock for every process on
  the machine) at which every expected key had arrived.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

__all__ = ["Checker", "main", "serve"]

# The answer capture gives an accepted v0 request (reference/posthog-capture.md §5).
_OK_BODY = b'{"status":1}'
# Keep this many mismatches verbatim in /stats, enough to see what a mapping got wrong.
MAX_ERROR_SAMPLES = 5
# Reading headers: asyncio's default StreamReader limit (64 KiB) is ample for them.
_HEADER_END = b"\r\n\r\n"


def _parse_instant(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def _same_value(expected: Any, got: Any) -> bool:
    # A number must arrive as a JSON number: "129.90" is a mapping error.
    if isinstance(expected, int | float) and not isinstance(expected, bool):
        return (
            isinstance(got, int | float)
            and not isinstance(got, bool)
            and got == expected
        )
    return bool(got == expected)


@dataclass(slots=True)
class Checker:
    """Counts events and compares each with what its line must have produced."""

    event: str | None = None
    key: str | None = None
    expected: dict[str, list[Any]] = field(default_factory=dict)
    requests: int = 0
    bad_requests: int = 0
    events: int = 0
    missing_api_key: int = 0
    duplicate_uuids: int = 0
    duplicate_keys: int = 0
    unexpected: int = 0
    other_events: dict[str, int] = field(default_factory=dict)
    mapping_errors: int = 0
    error_fields: dict[str, int] = field(default_factory=dict)
    error_samples: list[dict[str, Any]] = field(default_factory=list)
    first_at: float | None = None
    last_at: float | None = None
    complete_at: float | None = None
    busy_seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    _uuids: set[str] = field(default_factory=set)
    _keys: set[str] = field(default_factory=set)

    @classmethod
    def from_file(cls, path: Path | None) -> Checker:
        """A checker for the expectations ``bench.generate`` wrote, or a plain counter."""
        if path is None:
            return cls()
        raw = orjson.loads(path.read_bytes())
        return cls(event=raw["event"], key=raw["key"], expected=raw["expected"])

    def accept_body(self, body: bytes, *, gzipped: bool) -> bool:
        """Take one request body; False when it is not a capture request."""
        started = time.monotonic()
        arrival = time.time()
        self.requests += 1
        try:
            if gzipped or body[:2] == b"\x1f\x8b":
                body = zlib.decompress(body, wbits=47)
            payload = orjson.loads(body)
        except (zlib.error, orjson.JSONDecodeError):
            self.bad_requests += 1
            return False
        batch, api_key = _unwrap(payload)
        if batch is None:
            self.bad_requests += 1
            return False
        for event in batch:
            if not isinstance(event, dict):
                self.bad_requests += 1
                continue
            if not (api_key or event.get("api_key") or event.get("token")):
                self.missing_api_key += 1
            self._accept_event(event, arrival)
        now = time.monotonic()
        if self.first_at is None:
            self.first_at = started
        self.last_at = now
        if self.complete_at is None and self.expected and self._is_complete():
            self.complete_at = now
        self.busy_seconds += now - started
        return True

    def _is_complete(self) -> bool:
        # Only expected keys are ever added to _keys.
        return len(self._keys) >= len(self.expected)

    def _accept_event(self, event: dict[str, Any], arrival: float) -> None:
        self.events += 1
        uuid = event.get("uuid")
        if isinstance(uuid, str):
            if uuid in self._uuids:
                self.duplicate_uuids += 1
            else:
                self._uuids.add(uuid)
        properties = event.get("properties")
        if not isinstance(properties, dict):
            properties = {}
        key = properties.get(self.key) if self.key is not None else None
        name = event.get("event")
        if self.event is not None and name != self.event and key is None:
            # Not the workload's event at all: a tool's report about itself (logbridge
            # sends engine_started, engine_stopped, health_check). Counted by name.
            label = str(name)
            self.other_events[label] = self.other_events.get(label, 0) + 1
            return
        instant = _parse_instant(event.get("timestamp"))
        if instant is not None:
            self.latencies.append(arrival - instant)
        if self.key is None:
            return
        if not isinstance(key, str) or key not in self.expected:
            self.unexpected += 1
            return
        if key in self._keys:
            self.duplicate_keys += 1
            return
        self._keys.add(key)
        self._check(event, properties, instant, self.expected[key])

    def _check(
        self,
        event: dict[str, Any],
        properties: dict[str, Any],
        instant: float | None,
        expected: list[Any],
    ) -> None:
        distinct_id, timestamp, wanted = expected
        # Fast path first: one dict comparison in C. ``==`` already tells "129.9" from
        # 129.9; only bools (True == 1) would slip through, and no mapping yields one.
        got = {name: properties.get(name) for name in wanted}
        if (
            got == wanted
            and event.get("event") == self.event
            and str(event.get("distinct_id")) == distinct_id
            and (
                timestamp is None
                or event.get("timestamp") == timestamp
                or instant == _parse_instant(timestamp)
            )
        ):
            return
        wrong = []
        if event.get("event") != self.event:
            wrong.append("event")
        if str(event.get("distinct_id")) != distinct_id:
            wrong.append("distinct_id")
        if timestamp is not None and instant != _parse_instant(timestamp):
            wrong.append("timestamp")
        wrong.extend(
            name
            for name, value in wanted.items()
            if not _same_value(value, properties.get(name))
        )
        if not wrong:
            return
        self.mapping_errors += 1
        for name in wrong:
            self.error_fields[name] = self.error_fields.get(name, 0) + 1
        if len(self.error_samples) < MAX_ERROR_SAMPLES:
            self.error_samples.append({"wrong": wrong, "got": event, "want": expected})

    def stats(self, *, latency: bool = True) -> dict[str, Any]:
        """
        Everything counted so far, as ``GET /stats`` serves it; the latency percentiles
        (a sort of every event's latency) only when asked for.
        """
        return {
            "requests": self.requests,
            "bad_requests": self.bad_requests,
            "events": self.events,
            "expected": len(self.expected),
            "matched": len(self._keys),
            "duplicate_uuids": self.duplicate_uuids,
            "duplicate_keys": self.duplicate_keys,
            "unexpected": self.unexpected,
            "other_events": self.other_events,
            "missing_api_key": self.missing_api_key,
            "mapping_errors": self.mapping_errors,
            "error_fields": self.error_fields,
            "error_samples": self.error_samples,
            "first_at": self.first_at,
            "last_at": self.last_at,
            "complete_at": self.complete_at,
            "busy_seconds": round(self.busy_seconds, 4),
            "latency_ms": _percentiles(self.latencies) if latency else None,
        }


def _unwrap(payload: Any) -> tuple[list[Any] | None, str | None]:
    # PostHog's v0 routes take {"api_key", "batch": [...]}, a bare list, or one event.
    if isinstance(payload, list):
        return payload, None
    if not isinstance(payload, dict):
        return None, None
    api_key = payload.get("api_key") or payload.get("token")
    batch = payload.get("batch")
    if isinstance(batch, list):
        return batch, api_key
    if "event" in payload:
        return [payload], api_key
    return None, None


def _percentiles(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    ordered = sorted(values)

    def at(share: float) -> float:
        return round(
            ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000, 1
        )

    return {
        "count": len(ordered),
        "p50": at(0.50),
        "p90": at(0.90),
        "p99": at(0.99),
        "max": round(ordered[-1] * 1000, 1),
    }


# -- HTTP/1.1 over asyncio streams ---------------------------------------------------


async def _read_body(
    reader: asyncio.StreamReader, headers: dict[bytes, bytes]
) -> bytes:
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        parts: list[bytes] = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
    length = int(headers.get(b"content-length", b"0"))
    return await reader.readexactly(length) if length else b""


def _response(status: str, body: bytes, *, keep_alive: bool) -> bytes:
    connection = b"keep-alive" if keep_alive else b"close"
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n".encode()
        + b"Connection: "
        + connection
        + b"\r\n\r\n"
        + body
    )


def _route(
    checker: Checker,
    method: bytes,
    target: bytes,
    headers: dict[bytes, bytes],
    body: bytes,
) -> tuple[str, bytes]:
    path = urlsplit(target.decode("latin-1"))
    if method == b"GET" and path.path == "/stats":
        return "200 OK", orjson.dumps(checker.stats(latency="latency=1" in path.query))
    if method == b"GET" and path.path == "/healthz":
        return "200 OK", b'{"ok":true}'
    if method == b"POST" and path.path.rstrip("/") in (
        "/batch",
        "/e",
        "/capture",
        "/i/v0/e",
    ):
        gzipped = (
            headers.get(b"content-encoding", b"").lower() == b"gzip"
            or "compression=gzip" in path.query
        )
        if checker.accept_body(body, gzipped=gzipped):
            return "200 OK", _OK_BODY
        return "400 Bad Request", b'{"type":"validation_error"}'
    return "404 Not Found", b'{"error":"not found"}'


async def _serve_connection(
    checker: Checker, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        while True:
            try:
                head = await reader.readuntil(_HEADER_END)
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            request_line, *header_lines = head[: -len(_HEADER_END)].split(b"\r\n")
            method, target, version = request_line.split(b" ", 2)
            headers = {}
            for line in header_lines:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            if headers.get(b"expect", b"").lower() == b"100-continue":
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            body = await _read_body(reader, headers)
            status, answer = _route(checker, method, target, headers, body)
            connection = headers.get(b"connection", b"").lower()
            keep_alive = connection != b"close" and (
                version == b"HTTP/1.1" or connection == b"keep-alive"
            )
            writer.write(_response(status, answer, keep_alive=keep_alive))
            await writer.drain()
            if not keep_alive:
                return
    except (ConnectionError, asyncio.IncompleteReadError):
        return
    finally:
        writer.close()


async def serve(checker: Checker, host: str = "127.0.0.1", port: int = 0) -> None:
    """Serve until SIGTERM or SIGINT; print ``{"port": N}`` once listening."""
    server = await asyncio.start_server(
        lambda r, w: _serve_connection(checker, r, w), host, port, backlog=256
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    bound = server.sockets[0].getsockname()[1]
    sys.stdout.write(orjson.dumps({"port": bound}).decode() + "\n")
    sys.stdout.flush()
    async with server:
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench.capture_sink [--expect FILE] [--port N] [--measure]``."""
    parser = argparse.ArgumentParser(prog="python -m bench.capture_sink")
    parser.add_argument("--expect", type=Path, default=None)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--measure", action="store_true", help="measure the sink's own maximum rate"
    )
    args = parser.parse_args(argv)
    if args.measure:
        # Imported here: the server itself needs neither the client nor a temp dir.
        import tempfile  # noqa: PLC0415

        from bench.sink_client import measure_max_rate  # noqa: PLC0415

        with tempfile.TemporaryDirectory(prefix="logbridge-sink-") as tmp:
            result = measure_max_rate(Path(tmp))
        sys.stdout.write(orjson.dumps(result).decode() + "\n")
        return 0
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(Checker.from_file(args.expect), port=args.port))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
