"""Prometheus metrics, and the localhost HTTP server for /metrics, /healthz and /readyz.

Invariants:

- Every metric lives in the ``Metrics`` instance's own ``CollectorRegistry``, never in
  prometheus-client's global one, so two daemons in one process (tests) never share a
  counter, and every name starts with ``logbridge_``.
- The counters of the pipeline and the sink have one owner each (``PipelineStats``,
  written by the reader thread; ``SinkCounters``, by the sink task). They are not
  copied into prometheus counters: a collector reads, at each scrape, the latest
  ``Counts`` the daemon published (copies, never the live objects, which the
  reader may be growing at that moment).
- Labels carry names an operator chose (source, rule, path, reason, status), never a
  line's text or an event's properties: a label value is a time series, and personal
  data must not leak into Prometheus.
- ``/healthz`` answers 200 while the event loop runs: liveness is "the process is not
  wedged", nothing more, so a supervisor never restarts a daemon that is only waiting
  for PostHog. ``/readyz`` says whether events are flowing, and why not, as JSON.
- The server speaks just enough HTTP/1.1 for Prometheus and curl (GET and HEAD, one
  request per connection, ``Connection: close``), with no framework; a client that
  stalls is dropped after ``REQUEST_TIMEOUT_SECONDS``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import orjson
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from bridge import __version__
from bridge.logs import get_logger
from bridge.pipeline import PipelineStats
from bridge.sink.posthog import SinkCounters

__all__ = [
    "DEFAULT_HOST",
    "Counts",
    "HealthServer",
    "Metrics",
    "Readiness",
    "evaluate_readiness",
]

DEFAULT_HOST = "127.0.0.1"
# Sends take from a few ms to the client timeout (15 s by default) and beyond with
# retries folded in by the caller; the defaults of prometheus-client stop at 10 s.
SEND_DURATION_BUCKETS_SECONDS = (
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    15.0,
    30.0,
    60.0,
)
# A scraper sends its request at once; anything slower is a stuck or hostile client,
# which must not hold a connection (and a task) forever.
REQUEST_TIMEOUT_SECONDS = 5.0
# More header lines than any scraper or curl sends; past it the request is refused.
MAX_HEADER_LINES = 100

_PREFIX = "logbridge"
_TEXT_TYPE = "text/plain; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Counts:
    """The pipeline's and the sink's totals, as last published (copies)."""

    pipeline: PipelineStats = field(default_factory=PipelineStats)
    sink: SinkCounters = field(default_factory=SinkCounters)


class Metrics:
    """
    The daemon's metrics: gauges the daemon sets, and the counters of ``counts``,
    which the daemon replaces whole with each newer ``Counts``.
    """

    def __init__(self, *, process_metrics: bool = True) -> None:
        """
        Create every metric in a new registry.

        Args:
            process_metrics: also export ``process_*`` (CPU seconds, resident memory,
                open file descriptors) read from ``/proc/self``.
        """
        self.counts = Counts()
        # Sources whose series exist from the start, at 0.
        self.sources: set[str] = set()
        # The text format would expose a ``*_created`` gauge beside every counter and
        # histogram: twice the series for a timestamp nobody alerts on. The switch is
        # process-wide, which is fine: the daemon has no other registry.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        if process_metrics:
            ProcessCollector(registry=reg)

        def counter(name: str, doc: str, *labels: str) -> Counter:
            return Counter(name, doc, labels, namespace=_PREFIX, registry=reg)

        def gauge(name: str, doc: str, *labels: str) -> Gauge:
            return Gauge(name, doc, labels, namespace=_PREFIX, registry=reg)

        reg.register(_CountsCollector(self))

        # -- reading -------------------------------------------------------------------
        self.file_lag_bytes = gauge(
            "file_lag_bytes", "Bytes between a file's checkpoint and its end.", "path"
        )
        self.files_open = gauge("files_open", "Log files held open.")
        self.rotations = counter("rotations", "Files rotated by rename.")
        self.truncations = counter(
            "truncations", "Files truncated in place (copytruncate), read again from 0."
        )

        # -- rules ---------------------------------------------------------------------
        self.reloads = counter("reloads", "Rule reloads, by result.", "result")
        self.rules = Info(
            "rules", "The active rule set.", namespace=_PREFIX, registry=reg
        )

        # -- spool ---------------------------------------------------------------------
        self.spool_events = gauge("spool_events", "Events waiting in the spool.")
        self.spool_bytes = gauge("spool_bytes", "Bytes of events waiting in the spool.")
        self.spool_oldest_age_seconds = gauge(
            "spool_oldest_age_seconds", "Age of the oldest event waiting in the spool."
        )

        # -- sink ----------------------------------------------------------------------
        self.send_duration_seconds = Histogram(
            "send_duration_seconds",
            "Time of one POST to /batch/, whatever its outcome.",
            namespace=_PREFIX,
            registry=reg,
            buckets=SEND_DURATION_BUCKETS_SECONDS,
        )
        self.sink_halted = gauge(
            "sink_halted", "1 while PostHog refuses the API key and sending is stopped."
        )

        # -- the process ---------------------------------------------------------------
        self.ready = gauge("ready", "1 when /readyz answers 200.")
        self.build = Info("build", "This logbridge.", namespace=_PREFIX, registry=reg)
        self.build.info({"version": __version__})

        # Series that exist from the start, so that rate() and alerts see a 0 before the
        # first increment instead of no data.
        for result in ("success", "failure"):
            self.reloads.labels(result)

    def declare_source(self, source: str) -> None:
        """Create a source's per-source series at 0, before its first line."""
        self.sources.add(source)

    def set_rules_hash(self, digest: str) -> None:
        """Record the active rule set: ``logbridge_rules_info{hash="…"} 1``."""
        self.rules.info({"hash": digest})

    def forget_file(self, path: str) -> None:
        """Drop a file's lag series once the file is gone, so it does not linger."""
        with contextlib.suppress(KeyError):
            self.file_lag_bytes.remove(path)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)


class _CountsCollector(Collector):
    """The counters of the latest published ``Counts``, read at each scrape."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def describe(self) -> Iterator[Metric]:
        # Names only: registering must not read counts that are not published yet.
        yield from self._families(Counts(), set())

    def collect(self) -> Iterator[Metric]:
        yield from self._families(self._metrics.counts, self._metrics.sources)

    @staticmethod
    def _families(counts: Counts, sources: set[str]) -> Iterator[Metric]:
        stats, sink = counts.pipeline, counts.sink
        every = sorted(sources | stats.lines.keys())
        yield _family(
            "lines_read",
            "Complete lines read.",
            ("source",),
            (((source,), stats.lines[source]) for source in every),
        )
        yield _family(
            "bytes_read",
            "Bytes of complete lines read.",
            ("source",),
            (((source,), stats.bytes[source]) for source in every),
        )
        yield _family(
            "parse_errors",
            "Lines the parser could not parse.",
            ("source", "reason"),
            sorted(stats.parse_errors.items()),
        )
        skipped = {
            "too_long": stats.too_long,
            "invalid_utf8": stats.invalid_utf8,
            "unmatched": stats.unmatched,
            "prefiltered": stats.prefiltered,
            "blank": stats.blank,
        }
        yield _family(
            "lines_skipped",
            "Lines that gave no event: " + ", ".join(skipped) + ".",
            ("source", "reason"),
            (
                ((source, reason), counter[source])
                for source in sorted(set(every).union(*skipped.values()))
                for reason, counter in skipped.items()
            ),
        )
        yield _family(
            "events",
            "Events produced, per rule.",
            ("rule",),
            (((rule,), n) for rule, n in sorted(stats.events.items())),
        )
        yield _family(
            "value_errors",
            "Values that failed while events were built, per rule and reason.",
            ("rule", "reason"),
            sorted(stats.issues.items()),
        )
        yield _family(
            "batches_sent", "Batches PostHog accepted.", (), [((), sink.batches_sent)]
        )
        yield _family(
            "events_sent", "Events PostHog accepted.", (), [((), sink.events_sent)]
        )
        yield _family(
            "retries",
            "Sends to retry, by HTTP status or 'network'.",
            ("status",),
            (((status,), n) for status, n in sorted(sink.retries.items())),
        )
        yield _family(
            "deadletters",
            "Events PostHog refused for good, kept as dead letters.",
            (),
            [((), sink.deadletters)],
        )


def _family(
    name: str,
    doc: str,
    labels: tuple[str, ...],
    samples: Iterator[tuple[tuple[str, ...], float]]
    | list[tuple[tuple[str, ...], float]],
) -> CounterMetricFamily:
    family = CounterMetricFamily(f"{_PREFIX}_{name}", doc, labels=list(labels))
    for values, count in samples:
        family.add_metric(list(values), count)
    return family


@dataclass(frozen=True, slots=True)
class Readiness:
    """Whether the bridge delivers events, and if not, why."""

    ready: bool
    reasons: tuple[str, ...] = ()
    details: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))


def evaluate_readiness(
    *,
    started: bool,
    sink_halted: bool,
    rules_ok: bool,
    sink_failing_since: float | None,
    now: float,
    failing_threshold_seconds: float,
) -> Readiness:
    """
    Decide readiness from the daemon's state (pure).

    Args:
        started: the state is loaded and the first scan is done.
        sink_halted: PostHog refused the API key (401/403).
        rules_ok: the last rule reload succeeded (a failed one keeps the old rules).
        sink_failing_since: monotonic time of the first failed send since the last
            success, or None while sends succeed.
        now: monotonic time, on the same clock as ``sink_failing_since``.
        failing_threshold_seconds: how long sends may fail before the bridge is not
            ready; short outages are normal and the spool absorbs them.

    More facts for the /readyz body (rule set hash, spool depth) can be added with
    ``dataclasses.replace(readiness, details={**readiness.details, ...})``.
    """
    reasons: list[str] = []
    if not started:
        reasons.append("starting: loading the state and scanning the log files")
    if sink_halted:
        reasons.append("sink_halted: PostHog refused the API key")
    if not rules_ok:
        reasons.append(
            "rules_rejected: the last reload failed, the old rules still run"
        )
    failing_seconds = None if sink_failing_since is None else now - sink_failing_since
    if failing_seconds is not None and failing_seconds >= failing_threshold_seconds:
        reasons.append(f"sink_failing for {int(failing_seconds)} s")
    details: dict[str, object] = {
        "started": started,
        "sink_halted": sink_halted,
        "rules_ok": rules_ok,
        "sink_failing_seconds": failing_seconds,
    }
    return Readiness(
        ready=not reasons, reasons=tuple(reasons), details=MappingProxyType(details)
    )


@dataclass(frozen=True, slots=True)
class _Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


_REASON_PHRASES = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class HealthServer:
    """Serves /metrics, /healthz and /readyz on a local port."""

    def __init__(
        self,
        metrics: Metrics,
        readiness: Callable[[], Readiness],
        host: str = DEFAULT_HOST,
        port: int = 0,  # 0: any free port (the daemon passes metrics.port)
        *,
        request_timeout_seconds: float = REQUEST_TIMEOUT_SECONDS,
    ) -> None:
        """
        Prepare the server; nothing listens until ``start()``.

        Args:
            readiness: called on every /readyz and /metrics request, on the event loop,
                so it must be quick and must not block.
            port: 0 picks a free port, which ``start()`` returns.
            request_timeout_seconds: how long a client may take to send its request.
        """
        self._metrics = metrics
        self._readiness = readiness
        self._host = host
        self._port = port
        self._request_timeout_seconds = request_timeout_seconds
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._log = get_logger()
        self._routes: dict[str, Callable[[], _Response]] = {
            "/metrics": self._metrics_page,
            "/healthz": self._health_page,
            "/readyz": self._ready_page,
        }

    async def start(self) -> int:
        """
        Listen, and return the bound port.

        Raises:
            OSError: the address cannot be bound (port in use, unknown host).
        """
        if self._server is not None:
            msg = "health server already started"
            raise RuntimeError(msg)
        self._server = await asyncio.start_server(self._serve, self._host, self._port)
        port: int = self._server.sockets[0].getsockname()[1]
        self._log.info("health_server_started", host=self._host, port=port)
        return port

    async def stop(self) -> None:
        """Stop listening and drop the connections being served."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await server.wait_closed()

    # -- one connection ----------------------------------------------------------------

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            await self._answer(reader, writer)
        except (TimeoutError, ConnectionError):
            pass  # the client went away or stalled: nobody to answer
        finally:
            if task is not None:
                self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        async with asyncio.timeout(self._request_timeout_seconds):
            request = await _read_request(reader)
        if request is None:
            response, method = _text(400, "bad request\n"), "GET"
        else:
            method, path = request
            response = self._route(method, path)
        writer.write(_encode(response, include_body=method != "HEAD"))
        await writer.drain()

    def _route(self, method: str, path: str) -> _Response:
        page = self._routes.get(path)
        if page is None:
            return _text(404, "not found\n")
        if method not in ("GET", "HEAD"):
            allow = (("Allow", "GET, HEAD"),)
            return _Response(405, b"method not allowed\n", _TEXT_TYPE, allow)
        try:
            return page()
        except Exception as exc:  # noqa: BLE001 - a broken probe must not kill the server
            self._log.error("health_request_failed", path=path, error=repr(exc))
            return _json(500, {"error": "internal error"})

    # -- pages -------------------------------------------------------------------------

    def _metrics_page(self) -> _Response:
        # Refresh the ready gauge at scrape time, so it always agrees with /readyz.
        self._metrics.ready.set(1 if self._readiness().ready else 0)
        return _Response(200, self._metrics.render(), CONTENT_TYPE_LATEST)

    def _health_page(self) -> _Response:
        return _json(200, {"status": "ok"})

    def _ready_page(self) -> _Response:
        readiness = self._readiness()
        self._metrics.ready.set(1 if readiness.ready else 0)
        body = {
            "ready": readiness.ready,
            "reasons": list(readiness.reasons),
            "details": dict(readiness.details),
        }
        return _json(200 if readiness.ready else 503, body)


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str] | None:
    """The method and path of the request, or None when it is not HTTP/1.x."""
    try:
        request_line = await reader.readline()
        for _ in range(MAX_HEADER_LINES):
            header = await reader.readline()
            if header in (b"\r\n", b"\n", b""):
                break
        else:
            return None
    except ValueError:
        # A line longer than the reader's limit (64 KiB): not a scraper.
        return None
    parts = request_line.decode("latin-1").split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        return None
    method, target, _ = parts
    path = target.split("?", 1)[0]
    return method, path


def _encode(response: _Response, *, include_body: bool) -> bytes:
    reason = _REASON_PHRASES.get(response.status, "")
    headers = [
        f"HTTP/1.1 {response.status} {reason}",
        f"Content-Type: {response.content_type}",
        f"Content-Length: {len(response.body)}",
        "Cache-Control: no-store",
        "Connection: close",
        *(f"{name}: {value}" for name, value in response.headers),
    ]
    head = ("\r\n".join(headers) + "\r\n\r\n").encode("latin-1")
    return head + response.body if include_body else head


def _json(status: int, body: Mapping[str, object]) -> _Response:
    return _Response(status, orjson.dumps(body, default=str))


def _text(status: int, body: str) -> _Response:
    return _Response(status, body.encode(), _TEXT_TYPE)
