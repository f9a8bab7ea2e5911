"""Metrics in their own registry, readiness decisions, and the /metrics, /healthz and
/readyz endpoints served on a real local port."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from bridge import __version__
from bridge.daemon.metrics import (
    Counts,
    HealthServer,
    Metrics,
    Readiness,
    evaluate_readiness,
)
from bridge.pipeline import PipelineStats
from bridge.sink.posthog import SinkCounters


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, keyed by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(metrics: Metrics, name: str, **labels: str) -> float | None:
    samples = _samples(metrics.render().decode())
    return samples.get((name, tuple(sorted(labels.items()))))


# -- Metrics ---------------------------------------------------------------------------


def _counts() -> Counts:
    stats = PipelineStats()
    stats.lines["tl-engine"] += 3
    stats.bytes["tl-engine"] += 300
    stats.parse_errors["tl-engine", "invalid_json"] += 1
    stats.too_long["tl-engine"] += 2
    stats.events["order-processed"] += 5
    stats.issues["order-processed", "properties.amount: not_float"] += 2
    sink = SinkCounters(batches_sent=1, events_sent=5, deadletters=1)
    sink.retries["503"] += 1
    sink.retries["network"] += 4
    return Counts(pipeline=stats, sink=sink)


def test_counters_are_the_published_counts_with_their_labels() -> None:
    metrics = Metrics(process_metrics=False)

    metrics.counts = _counts()
    metrics.rotations.inc()
    metrics.truncations.inc()
    metrics.reloads.labels("failure").inc()

    text = metrics.render().decode()
    samples = _samples(text)
    assert samples[("logbridge_lines_read_total", (("source", "tl-engine"),))] == 3
    assert samples[("logbridge_bytes_read_total", (("source", "tl-engine"),))] == 300
    assert (
        samples[
            (
                "logbridge_parse_errors_total",
                (("reason", "invalid_json"), ("source", "tl-engine")),
            )
        ]
        == 1
    )
    assert (
        samples[
            (
                "logbridge_lines_skipped_total",
                (("reason", "too_long"), ("source", "tl-engine")),
            )
        ]
        == 2
    )
    assert samples[("logbridge_events_total", (("rule", "order-processed"),))] == 5
    assert (
        samples[
            (
                "logbridge_value_errors_total",
                (
                    ("reason", "properties.amount: not_float"),
                    ("rule", "order-processed"),
                ),
            )
        ]
        == 2
    )
    assert samples[("logbridge_retries_total", (("status", "503"),))] == 1
    assert samples[("logbridge_retries_total", (("status", "network"),))] == 4
    assert samples[("logbridge_batches_sent_total", ())] == 1
    assert samples[("logbridge_events_sent_total", ())] == 5
    assert samples[("logbridge_deadletters_total", ())] == 1
    assert samples[("logbridge_rotations_total", ())] == 1
    assert samples[("logbridge_truncations_total", ())] == 1
    assert samples[("logbridge_reloads_total", (("result", "failure"),))] == 1


def test_gauges_show_the_last_value_set() -> None:
    metrics = Metrics(process_metrics=False)

    metrics.spool_events.set(42)
    metrics.spool_bytes.set(4096)
    metrics.spool_oldest_age_seconds.set(12.5)
    metrics.file_lag_bytes.labels("/var/log/app/app.log").set(1000)
    metrics.file_lag_bytes.labels("/var/log/app/app.log").set(10)
    metrics.files_open.set(2)
    metrics.sink_halted.set(1)

    samples = _samples(metrics.render().decode())
    assert samples[("logbridge_spool_events", ())] == 42
    assert samples[("logbridge_spool_bytes", ())] == 4096
    assert samples[("logbridge_spool_oldest_age_seconds", ())] == 12.5
    assert (
        samples[("logbridge_file_lag_bytes", (("path", "/var/log/app/app.log"),))] == 10
    )
    assert samples[("logbridge_files_open", ())] == 2
    assert samples[("logbridge_sink_halted", ())] == 1


def test_send_duration_is_a_histogram_with_buckets_past_the_client_timeout() -> None:
    metrics = Metrics(process_metrics=False)

    metrics.send_duration_seconds.observe(0.2)
    metrics.send_duration_seconds.observe(20.0)

    assert _value(metrics, "logbridge_send_duration_seconds_count") == 2
    assert _value(metrics, "logbridge_send_duration_seconds_sum") == 20.2
    assert _value(metrics, "logbridge_send_duration_seconds_bucket", le="0.25") == 1
    assert _value(metrics, "logbridge_send_duration_seconds_bucket", le="15.0") == 1
    assert _value(metrics, "logbridge_send_duration_seconds_bucket", le="30.0") == 2


def test_reload_results_and_unlabelled_series_start_at_zero() -> None:
    metrics = Metrics(process_metrics=False)

    samples = _samples(metrics.render().decode())

    assert samples[("logbridge_reloads_total", (("result", "success"),))] == 0
    assert samples[("logbridge_reloads_total", (("result", "failure"),))] == 0
    assert samples[("logbridge_batches_sent_total", ())] == 0
    assert samples[("logbridge_sink_halted", ())] == 0
    assert samples[("logbridge_ready", ())] == 0


def test_a_declared_source_has_its_series_at_zero_before_any_line() -> None:
    metrics = Metrics(process_metrics=False)

    metrics.declare_source("nginx")

    samples = _samples(metrics.render().decode())
    assert samples[("logbridge_lines_read_total", (("source", "nginx"),))] == 0
    assert samples[("logbridge_bytes_read_total", (("source", "nginx"),))] == 0
    skipped = {
        dict(labels)["reason"]: value
        for (name, labels), value in samples.items()
        if name == "logbridge_lines_skipped_total"
    }
    assert skipped == {
        "too_long": 0,
        "invalid_utf8": 0,
        "unmatched": 0,
        "prefiltered": 0,
        "blank": 0,
    }


def test_the_rules_hash_is_an_info_metric_that_a_reload_replaces() -> None:
    metrics = Metrics(process_metrics=False)

    metrics.set_rules_hash("0123abcd")
    metrics.set_rules_hash("4567ef01")

    rules = {
        labels: value
        for (name, labels), value in _samples(metrics.render().decode()).items()
        if name == "logbridge_rules_info"
    }
    assert rules == {(("hash", "4567ef01"),): 1.0}


def test_the_build_info_carries_the_version() -> None:
    metrics = Metrics(process_metrics=False)

    assert _value(metrics, "logbridge_build_info", version=__version__) == 1


def test_a_forgotten_file_loses_its_lag_series() -> None:
    metrics = Metrics(process_metrics=False)
    metrics.file_lag_bytes.labels("/var/log/a.log").set(5)
    metrics.file_lag_bytes.labels("/var/log/b.log").set(7)

    metrics.forget_file("/var/log/a.log")
    metrics.forget_file("/var/log/never-seen.log")

    assert _value(metrics, "logbridge_file_lag_bytes", path="/var/log/a.log") is None
    assert _value(metrics, "logbridge_file_lag_bytes", path="/var/log/b.log") == 7


def test_two_instances_never_share_a_series() -> None:
    first = Metrics(process_metrics=False)
    second = Metrics(process_metrics=False)

    first.counts = _counts()

    assert _value(first, "logbridge_events_total", rule="order-processed") == 5
    assert _value(second, "logbridge_events_total", rule="order-processed") is None


def test_process_metrics_are_exported_by_default() -> None:
    metrics = Metrics()

    names = {name for name, _ in _samples(metrics.render().decode())}

    assert {"process_cpu_seconds_total", "process_resident_memory_bytes"} <= names


def test_the_metric_families_are_exactly_the_documented_ones() -> None:
    metrics = Metrics(process_metrics=False)

    text = metrics.render().decode()
    names = {family.name for family in text_string_to_metric_families(text)}

    # The text parser names counter families without their _total suffix.
    assert names == {
        "logbridge_lines_read",
        "logbridge_bytes_read",
        "logbridge_parse_errors",
        "logbridge_lines_skipped",
        "logbridge_file_lag_bytes",
        "logbridge_files_open",
        "logbridge_rotations",
        "logbridge_truncations",
        "logbridge_events",
        "logbridge_value_errors",
        "logbridge_reloads",
        "logbridge_rules_info",
        "logbridge_spool_events",
        "logbridge_spool_bytes",
        "logbridge_spool_oldest_age_seconds",
        "logbridge_batches_sent",
        "logbridge_events_sent",
        "logbridge_send_duration_seconds",
        "logbridge_retries",
        "logbridge_deadletters",
        "logbridge_sink_halted",
        "logbridge_ready",
        "logbridge_build_info",
    }


# -- readiness -------------------------------------------------------------------------

HEALTHY: dict[str, Any] = {
    "started": True,
    "sink_halted": False,
    "rules_ok": True,
    "sink_failing_since": None,
    "now": 1000.0,
    "failing_threshold_seconds": 300.0,
}


def _evaluate(**changes: Any) -> Readiness:
    return evaluate_readiness(**{**HEALTHY, **changes})


@pytest.mark.parametrize(
    ("changes", "reasons"),
    [
        ({}, ()),
        (
            {"started": False},
            ("starting: loading the state and scanning the log files",),
        ),
        ({"sink_halted": True}, ("sink_halted: PostHog refused the API key",)),
        (
            {"rules_ok": False},
            ("rules_rejected: the last reload failed, the old rules still run",),
        ),
        ({"sink_failing_since": 800.0}, ()),
        ({"sink_failing_since": 700.0}, ("sink_failing for 300 s",)),
        ({"sink_failing_since": 687.6}, ("sink_failing for 312 s",)),
        (
            {"sink_halted": True, "rules_ok": False},
            (
                "sink_halted: PostHog refused the API key",
                "rules_rejected: the last reload failed, the old rules still run",
            ),
        ),
    ],
    ids=[
        "healthy",
        "starting",
        "halted",
        "rules-rejected",
        "failing-briefly",
        "failing-at-threshold",
        "failing-long",
        "several",
    ],
)
def test_readiness_lists_every_reason_it_is_not_ready(
    changes: dict[str, Any], reasons: tuple[str, ...]
) -> None:
    readiness = _evaluate(**changes)

    assert (readiness.ready, readiness.reasons) == (not reasons, reasons)


def test_readiness_details_state_the_inputs() -> None:
    readiness = _evaluate(sink_failing_since=990.0)

    assert dict(readiness.details) == {
        "started": True,
        "sink_halted": False,
        "rules_ok": True,
        "sink_failing_seconds": 10.0,
    }


# -- the HTTP server -------------------------------------------------------------------


class State:
    """What the test server's readiness callable reports."""

    def __init__(self) -> None:
        self.readiness = Readiness(ready=True, details={"rules_hash": "abc"})

    def __call__(self) -> Readiness:
        return self.readiness


@pytest.fixture
async def served() -> AsyncIterator[tuple[Metrics, State, httpx.AsyncClient]]:
    metrics = Metrics(process_metrics=False)
    state = State()
    server = HealthServer(metrics, state, port=0)
    port = await server.start()
    # trust_env=False: a proxy from the environment must not intercept loopback calls.
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", trust_env=False
    ) as client:
        yield metrics, state, client
    await server.stop()


@pytest.mark.anyio
async def test_metrics_route_serves_the_exposition(served) -> None:
    metrics, _, client = served
    stats = PipelineStats()
    stats.lines["app"] += 7
    metrics.counts = Counts(pipeline=stats)

    response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"] == CONTENT_TYPE_LATEST
    samples = _samples(response.text)
    assert samples[("logbridge_lines_read_total", (("source", "app"),))] == 7
    assert samples[("logbridge_ready", ())] == 1


@pytest.mark.anyio
async def test_healthz_says_ok_while_alive_even_when_not_ready(served) -> None:
    _, state, client = served
    state.readiness = Readiness(ready=False, reasons=("sink_halted: x",))

    response = await client.get("/healthz")

    assert (response.status_code, response.json()) == (200, {"status": "ok"})
    assert response.headers["content-type"] == "application/json"


@pytest.mark.anyio
async def test_readyz_answers_200_with_details_when_ready(served) -> None:
    _, _, client = served

    response = await client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {
        "ready": True,
        "reasons": [],
        "details": {"rules_hash": "abc"},
    }


@pytest.mark.anyio
async def test_readyz_answers_503_saying_why(served) -> None:
    metrics, state, client = served
    state.readiness = _evaluate(sink_halted=True)

    response = await client.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {
        "ready": False,
        "reasons": ["sink_halted: PostHog refused the API key"],
        "details": {
            "started": True,
            "sink_halted": True,
            "rules_ok": True,
            "sink_failing_seconds": None,
        },
    }
    assert _value(metrics, "logbridge_ready") == 0


@pytest.mark.anyio
async def test_head_gets_the_headers_without_a_body(served) -> None:
    _, _, client = served

    get = await client.get("/healthz")
    head = await client.head("/healthz")

    assert head.status_code == 200
    assert head.headers["content-length"] == str(len(get.content))
    assert head.content == b""


@pytest.mark.anyio
async def test_a_query_string_does_not_change_the_route(served) -> None:
    _, _, client = served

    response = await client.get("/healthz?verbose=1")

    assert response.json() == {"status": "ok"}


@pytest.mark.anyio
async def test_an_unknown_path_is_404(served) -> None:
    _, _, client = served

    response = await client.get("/status")

    assert (response.status_code, response.text) == (404, "not found\n")


@pytest.mark.anyio
async def test_other_methods_are_405_with_allow(served) -> None:
    _, _, client = served

    response = await client.post("/metrics", content=b"x")

    assert (response.status_code, response.text) == (405, "method not allowed\n")
    assert response.headers["allow"] == "GET, HEAD"


async def _raw_exchange(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    return answer


@pytest.mark.anyio
@pytest.mark.parametrize(
    "request_bytes",
    [
        b"hello\r\n\r\n",
        b"GET /healthz SPDY/3\r\n\r\n",
        b"GET /" + b"a" * 70_000 + b"\r\n",
    ],
    ids=["not-http", "other-protocol", "line-too-long"],
)
async def test_a_request_that_is_not_http_is_400(request_bytes: bytes) -> None:
    server = HealthServer(Metrics(process_metrics=False), State(), port=0)
    port = await server.start()
    try:
        answer = await _raw_exchange(port, request_bytes)
    finally:
        await server.stop()

    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert answer.endswith(b"\r\n\r\nbad request\n")


@pytest.mark.anyio
async def test_a_request_with_too_many_header_lines_is_400() -> None:
    server = HealthServer(Metrics(process_metrics=False), State(), port=0)
    port = await server.start()
    try:
        answer = await _raw_exchange(
            port, b"GET /healthz HTTP/1.1\r\n" + b"X-A: b\r\n" * 101 + b"\r\n"
        )
    finally:
        await server.stop()

    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")


@pytest.mark.anyio
async def test_a_client_that_stalls_is_dropped_without_an_answer() -> None:
    server = HealthServer(
        Metrics(process_metrics=False), State(), port=0, request_timeout_seconds=0.05
    )
    port = await server.start()
    try:
        async with asyncio.timeout(1.0):
            answer = await _raw_exchange(port, b"GET /metrics HTTP/1.1\r\n")
    finally:
        await server.stop()

    assert answer == b""


@pytest.mark.anyio
async def test_the_response_closes_the_connection() -> None:
    server = HealthServer(Metrics(process_metrics=False), State(), port=0)
    port = await server.start()
    try:
        answer = await _raw_exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    finally:
        await server.stop()

    assert answer == (
        b"HTTP/1.1 200 OK\r\n"
        b"Content-Type: application/json\r\n"
        b"Content-Length: 15\r\n"
        b"Cache-Control: no-store\r\n"
        b"Connection: close\r\n"
        b"\r\n"
        b'{"status":"ok"}'
    )


@pytest.mark.anyio
async def test_a_failing_readiness_check_is_a_500_and_the_server_keeps_serving() -> (
    None
):
    def broken() -> Readiness:
        msg = "store is closed"
        raise RuntimeError(msg)

    server = HealthServer(Metrics(process_metrics=False), broken, port=0)
    port = await server.start()
    try:
        with capture_logs() as logs:
            failed = await _raw_exchange(port, b"GET /readyz HTTP/1.1\r\n\r\n")
        alive = await _raw_exchange(port, b"GET /healthz HTTP/1.1\r\n\r\n")
    finally:
        await server.stop()

    assert failed.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert failed.endswith(b'{"error":"internal error"}')
    assert logs == [
        {
            "event": "health_request_failed",
            "log_level": "error",
            "path": "/readyz",
            "error": "RuntimeError('store is closed')",
        }
    ]
    assert alive.startswith(b"HTTP/1.1 200 OK\r\n")


@pytest.mark.anyio
async def test_stop_drops_a_stalled_client_and_closes_the_port() -> None:
    server = HealthServer(Metrics(process_metrics=False), State(), port=0)
    port = await server.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /metrics HTTP/1.1\r\n")  # and never the blank line
    await writer.drain()
    await asyncio.sleep(0.05)

    async with asyncio.timeout(1.0):
        await server.stop()

    assert await reader.read() == b""
    writer.close()
    with pytest.raises(OSError, match="Connect call failed"):
        await asyncio.open_connection("127.0.0.1", port)


@pytest.mark.anyio
async def test_start_returns_the_bound_port_and_refuses_a_second_start() -> None:
    server = HealthServer(Metrics(process_metrics=False), State(), port=0)
    port = await server.start()
    try:
        with pytest.raises(RuntimeError) as caught:
            await server.start()
    finally:
        await server.stop()

    assert port > 0
    assert str(caught.value) == "health server already started"


@pytest.mark.anyio
async def test_a_port_in_use_is_an_os_error() -> None:
    first = HealthServer(Metrics(process_metrics=False), State(), port=0)
    port = await first.start()
    second = HealthServer(Metrics(process_metrics=False), State(), port=port)
    try:
        with pytest.raises(OSError, match="address already in use"):
            await second.start()
    finally:
        await first.stop()


def test_stop_before_start_does_nothing() -> None:
    server = HealthServer(Metrics(process_metrics=False), State(), port=0)

    asyncio.run(server.stop())


def test_scrapes_never_see_counters_the_reader_is_growing() -> None:
    # The reader thread adds sources and rules to its counters while scrapes run on
    # the event loop: scrapes read only published copies.
    live = PipelineStats()
    metrics = Metrics(process_metrics=False)
    stop = threading.Event()
    errors: list[BaseException] = []

    def reader() -> None:
        n = 0
        while not stop.is_set() and n < 400:
            n += 1
            live.lines[f"source-{n}"] += 1
            live.events[f"rule-{n}"] += 1
            live.issues[f"rule-{n}", "properties.x: not_int"] += 1
            if n % 20 == 0:
                metrics.counts = Counts(pipeline=live.copy())

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for _ in range(20):
            try:
                metrics.render()
            except RuntimeError as exc:  # dictionary changed size during iteration
                errors.append(exc)
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(interval)
    metrics.counts = Counts(pipeline=live.copy())

    assert errors == []
    assert _value(metrics, "logbridge_lines_read_total", source="source-1") == 1
