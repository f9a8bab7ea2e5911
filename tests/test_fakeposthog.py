"""The local PostHog capture emulator answers as reference/posthog-capture.md says."""

from __future__ import annotations

import gzip
import http.client
import json
import re
import socket
import ssl
import time
import uuid
import zlib
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.fakeposthog import (
    BATCH_BODY_BYTES,
    LEGACY_EVENT_BODY_BYTES,
    FakePostHog,
    Fault,
    StoredEvent,
)

KEY = "phc_test"
NOW = datetime(2026, 8, 20, 12, 0, tzinfo=UTC)
UUID_A = "0190f3c2-7a4e-7c1a-9d7e-2f1c3b5a6d70"
UUID_B = "0190f3c2-7a4e-7c1a-9d7e-2f1c3b5a6d71"
SUCCESS = b'{"status": 1}'
DROP = object()  # in make_event: leave this key out
# The server is plain http: a TLS context without CA certificates spares every
# httpx.Client the ~70 ms of loading certifi's bundle.
PLAIN_HTTP = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def at(hour: int, minute: int, second: int, micros: int = 0, day: int = 20) -> datetime:
    return datetime(2026, 8, day, hour, minute, second, micros, tzinfo=UTC)


SENT = at(10, 15, 2, 123000)  # the timestamp make_event() carries


def make_event(**fields: Any) -> dict[str, Any]:
    """An event as the daemon sends it, with ``fields`` replacing or adding keys."""
    event: dict[str, Any] = {
        "event": "order_shipped",
        "distinct_id": "customer-42",
        "uuid": UUID_A,
        "timestamp": "2026-08-20T10:15:02.123000+00:00",
        "properties": {"order_id": "A-17"},
    }
    event.update(fields)
    return {k: v for k, v in event.items() if v is not DROP}


def make_batch(*events: dict[str, Any], **envelope: Any) -> dict[str, Any]:
    return {"api_key": KEY, "batch": list(events) or [make_event()], **envelope}


@pytest.fixture
def posthog_options() -> dict[str, Any]:
    return {"clock": lambda: NOW}


@pytest.fixture
def client(posthog: FakePostHog) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=posthog.url, verify=PLAIN_HTTP) as http:
        yield http


def post(client: httpx.Client, payload: Any, path: str = "/batch/") -> httpx.Response:
    return client.post(path, content=json.dumps(payload).encode())


# ------------------------------------------------------------------ routes

CAPTURE_PATHS = [
    f"{route}{slash}"
    for route in ("/batch", "/i/v0/e", "/e", "/capture", "/track", "/engage")
    for slash in ("", "/")
]


@pytest.mark.parametrize("path", CAPTURE_PATHS, ids=CAPTURE_PATHS)
def test_every_capture_route_accepts_every_shape(posthog, client, path):
    single = make_event(api_key=KEY)

    responses = [
        post(client, make_batch(), path),
        post(client, [single], path),
        post(client, single, path),
    ]

    assert [(r.status_code, r.content) for r in responses] == [(200, SUCCESS)] * 3
    assert responses[0].headers["content-type"] == "application/json"
    assert len(posthog.deliveries) == 3


def test_options_on_a_capture_route_answers_200(client):
    response = client.options("/batch/")

    assert (response.status_code, response.content) == (200, b"")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/decide/"),
        ("GET", "/batch/"),
        ("OPTIONS", "/s/"),
        ("PUT", "/e"),
        ("DELETE", "/batch/"),
    ],
    ids=["unknown-path", "get", "options-elsewhere", "put", "delete"],
)
def test_other_routes_and_methods_answer_404(posthog, client, method, path):
    response = client.request(method, path, content=b"{}")

    assert (response.status_code, response.text) == (404, "not found")
    assert posthog.requests[-1].status == 404


def test_head_answers_404_without_a_body(client):
    response = client.head("/batch/")

    assert (response.status_code, response.content) == (404, b"")
    assert response.headers["content-length"] == "9"


def test_beacon_success_answers_204_without_a_body(client):
    response = client.post("/e/?beacon=1", json=make_event(token=KEY))

    assert (response.status_code, response.content) == (204, b"")


def test_beacon_does_not_hide_a_refusal(client):
    response = client.post("/e/?beacon=1", json=make_event())

    assert (response.status_code, response.text) == (
        401,
        "event submitted without an api_key",
    )


def test_one_connection_serves_requests_after_refusals_too(posthog):
    connection = http.client.HTTPConnection("127.0.0.1", urlsplit(posthog.url).port)
    bodies = [b"", b"{", json.dumps(make_batch()).encode(), b"x" * 10]
    socket_before = None
    statuses = []

    for body in bodies:
        connection.request("POST", "/batch/", body=body)
        response = connection.getresponse()
        response.read()
        statuses.append(response.status)
        socket_before = socket_before or connection.sock
        assert connection.sock is socket_before
    connection.close()

    assert statuses == [400, 400, 200, 400]


def raw_exchange(posthog: FakePostHog, request: bytes) -> bytes:
    """Send ``request`` on a fresh socket, half-close it, return all that comes back."""
    with socket.create_connection(("127.0.0.1", urlsplit(posthog.url).port)) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


HEAD = b"POST /batch/ HTTP/1.1\r\nHost: x\r\n"


@pytest.mark.parametrize(
    "request_bytes",
    [
        HEAD + b"Content-Length: 100\r\n\r\n{}",
        HEAD + b"Content-Length: -1\r\n\r\n{}",
        HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
        HEAD + b"Transfer-Encoding: chunked\r\n\r\n9\r\n{}",
    ],
    ids=["short-body", "bad-length", "bad-chunk-size", "short-chunk"],
)
def test_broken_or_unfinished_body_drops_the_connection(posthog, request_bytes):
    received = raw_exchange(posthog, request_bytes)

    assert received == b""
    assert [(r.status, r.raw_size) for r in posthog.requests] == [(None, 0)]
    assert posthog.deliveries == []


def test_unfinished_body_on_another_route_is_not_recorded(posthog):
    request = b"POST /s/ HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{}"

    received = raw_exchange(posthog, request)

    assert (received, posthog.requests) == (b"", [])


def test_chunked_body_over_the_cap_answers_413():
    with (
        FakePostHog(max_body_bytes=10) as server,
        httpx.Client(base_url=server.url, verify=PLAIN_HTTP) as http,
    ):
        response = http.post("/batch/", content=iter([b"{" * 8, b"[" * 8]))

    assert (response.status_code, response.text) == (
        413,
        "request body is larger than 10 bytes",
    )
    assert server.requests[0].raw_size == 16


def test_chunked_body_is_read(posthog, client):
    payload = json.dumps(make_batch()).encode()

    response = client.post("/batch/", content=iter([payload[:10], payload[10:]]))

    assert response.status_code == 200
    assert posthog.requests[0].headers["transfer-encoding"] == "chunked"
    assert posthog.requests[0].raw_size == len(payload)


def test_requests_record_what_arrived_and_what_was_answered(posthog, client):
    payload = json.dumps(make_batch()).encode()

    client.post(
        "/batch/?ver=1.0",
        content=gzip.compress(payload),
        headers={"Content-Encoding": "gzip", "User-Agent": "logbridge/0.1"},
    )

    [seen] = posthog.requests
    assert (seen.method, seen.path, seen.query) == ("POST", "/batch/", {"ver": "1.0"})
    assert seen.headers["user-agent"] == "logbridge/0.1"
    assert seen.headers["content-encoding"] == "gzip"
    assert (seen.raw_size, seen.body, seen.gzip) == (
        len(gzip.compress(payload)),
        payload,
        True,
    )
    assert (seen.status, seen.response_body, seen.retry_after_sent) == (
        200,
        SUCCESS,
        None,
    )
    assert (seen.arrived_wall, seen.is_capture) == (NOW, True)


def test_a_bug_in_a_handler_surfaces_when_the_server_stops():
    def broken_clock() -> datetime:
        message = "clock broke"
        raise ValueError(message)

    server = FakePostHog(clock=broken_clock)
    server.start()
    with (
        httpx.Client(base_url=server.url, verify=PLAIN_HTTP) as http,
        pytest.raises(httpx.TransportError),
    ):
        post(http, make_batch())

    with pytest.raises(RuntimeError) as caught:
        server.stop()

    text = str(caught.value)
    assert text.startswith("fake PostHog handler failed:\nTraceback")
    assert text.endswith("ValueError: clock broke\n")


def test_url_before_start_is_an_error():
    server = FakePostHog()

    with pytest.raises(RuntimeError) as caught:
        _ = server.url

    assert str(caught.value) == "FakePostHog is not running; call start() first"


def test_stop_cuts_idle_keep_alive_connections_and_start_reuses_the_port():
    server = FakePostHog()
    server.start()
    first_url = server.url
    with httpx.Client(base_url=first_url, verify=PLAIN_HTTP) as http:
        before = post(http, make_batch())
        began = time.monotonic()

        server.stop()
        stopped_in = time.monotonic() - began
        server.start()
        server.start()
        again = post(http, make_batch())
        second_url = server.url
        server.stop()

    server.stop()

    assert stopped_in < 0.5
    assert second_url == first_url
    assert (before.status_code, again.status_code) == (200, 200)
    assert len(server.deliveries) == 2


# ------------------------------------------------------------- compression


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/batch/", {"Content-Encoding": "gzip"}),
        ("/batch/", {"Content-Encoding": "gzip-js"}),
        ("/batch/?compression=gzip", {}),
        ("/batch/?compression=gzip-js", {}),
        ("/batch/", {}),
    ],
    ids=["header-gzip", "header-gzip-js", "query-gzip", "query-gzip-js", "magic"],
)
def test_gzip_is_decoded_by_header_query_or_magic_bytes(posthog, client, path, headers):
    payload = json.dumps(make_batch()).encode()

    response = client.post(path, content=gzip.compress(payload), headers=headers)

    assert response.status_code == 200
    assert (posthog.requests[0].gzip, posthog.requests[0].body) == (True, payload)
    assert [e.uuid for e in posthog.deliveries] == [UUID_A]


@pytest.mark.parametrize(
    "body",
    [b"\x1f\x8b\x08garbage", gzip.compress(b'{"a": 1}')[:-6]],
    ids=["corrupt", "truncated"],
)
def test_bad_gzip_answers_400(client, body):
    response = client.post(
        "/batch/", content=body, headers={"Content-Encoding": "gzip"}
    )

    assert (response.status_code, response.text) == (
        400,
        "failed to decode request: invalid GZIP data",
    )


def test_deflate_is_not_decoded(client):
    body = zlib.compress(json.dumps(make_batch()).encode())

    response = client.post(
        "/batch/", content=body, headers={"Content-Encoding": "deflate"}
    )

    assert (response.status_code, response.text) == (
        400,
        "failed to decode request: invalid utf-8",
    )


def test_decompressed_body_over_budget_answers_413():
    with (
        FakePostHog(max_decompressed_bytes=1000) as server,
        httpx.Client(base_url=server.url, verify=PLAIN_HTTP) as http,
    ):
        response = http.post("/batch/", content=gzip.compress(b" " * 1001))

    assert (response.status_code, response.text) == (
        413,
        "decompressed payload is larger than 1000 bytes",
    )


# ------------------------------------------------------------------- sizes


def test_wire_body_over_20_mib_answers_413_and_the_connection_lives_on(posthog, client):
    response = client.post("/batch/", content=bytes(BATCH_BODY_BYTES + 1))
    after = post(client, make_batch())

    assert (response.status_code, response.text) == (
        413,
        "request body is larger than 20971520 bytes",
    )
    assert after.status_code == 200
    assert posthog.max_body_size_seen == BATCH_BODY_BYTES + 1


def test_legacy_cap_applies_2_mib_to_single_event_routes_only():
    body = b" " * (LEGACY_EVENT_BODY_BYTES + 1)

    with (
        FakePostHog(legacy_single_event_cap=True) as server,
        httpx.Client(base_url=server.url, verify=PLAIN_HTTP) as http,
    ):
        single = http.post("/e/", content=body)
        batch = http.post("/batch/", content=body)

    assert (single.status_code, single.text) == (
        413,
        "request body is larger than 2097152 bytes",
    )
    assert (batch.status_code, batch.text) == (
        400,
        "failed to decode request: invalid json: "
        "Expecting value: line 1 column 2097154 (char 2097153)",
    )


UUID_C = "0190f3c2-7a4e-7c1a-9d7e-2f1c3b5a6d72"


def test_an_oversized_event_answers_413_after_storing_the_events_before_it():
    small = make_event()
    large = make_event(uuid=UUID_B, properties={"blob": "x" * 800})
    after = make_event(uuid=UUID_C)

    with (
        FakePostHog(max_event_bytes=800) as server,
        httpx.Client(base_url=server.url, verify=PLAIN_HTTP) as http,
    ):
        response = post(http, make_batch(small, large, after))

    assert (response.status_code, response.text) == (
        413,
        "batch[1]: is larger than 800 bytes",
    )
    assert [e.uuid for e in server.deliveries] == [UUID_A]


def kafka_message_bytes(event: dict[str, Any], stored: StoredEvent) -> int:
    """capture's CapturedEvent for ``event``, as the reference describes it."""
    message = {
        "uuid": stored.uuid,
        "distinct_id": stored.distinct_id,
        "ip": "127.0.0.1",
        "data": json.dumps(event, ensure_ascii=False, separators=(",", ":")),
        "now": stored.received_at.isoformat(),
        "token": KEY,
    }
    return len(json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode())


@pytest.mark.parametrize(
    "blob",
    ["x" * 600, '"' * 300 + "x" * 300, "\\" * 300 + "x" * 300, "\n" * 600],
    ids=["plain", "quotes", "backslashes", "newlines"],
)
def test_the_event_limit_applies_to_the_kafka_message_holding_its_escaped_json(
    blob: str,
):
    event = make_event(properties={"blob": blob})
    with (
        FakePostHog(clock=lambda: NOW) as probe,
        httpx.Client(base_url=probe.url, verify=PLAIN_HTTP) as http,
    ):
        post(http, make_batch(event))
        (stored,) = probe.deliveries
    size = kafka_message_bytes(event, stored)

    outcomes = []
    for limit in (size - 1, size):
        with (
            FakePostHog(clock=lambda: NOW, max_event_bytes=limit) as server,
            httpx.Client(base_url=server.url, verify=PLAIN_HTTP) as http,
        ):
            outcomes.append(post(http, make_batch(event)).status_code)

    # The limit falls exactly at the message's size, whatever the escapes cost.
    assert outcomes == [413, 200]


def test_oversized_performance_events_are_dropped_not_measured():
    dropped = make_event(event="$performance_event", properties={"blob": "x" * 900})

    with (
        FakePostHog(max_event_bytes=800) as server,
        httpx.Client(base_url=server.url, verify=PLAIN_HTTP) as http,
    ):
        response = post(http, make_batch(dropped, make_event()))

    assert response.status_code == 200
    assert [e.event for e in server.deliveries] == ["order_shipped"]


# ---------------------------------------------------------- body decoding


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "request body is empty"),
        (b"\xff\xfe{}", "failed to decode request: invalid utf-8"),
        (
            b'{"api_key": ',
            "failed to decode request: invalid json: "
            "Expecting value: line 1 column 13 (char 12)",
        ),
        (b"NaN", "failed to decode request: invalid json: NaN is not JSON"),
        (
            b'"text"',
            "failed to decode request: "
            'expected an event, a list or a batch, got "text"',
        ),
        (b'{"api_key": "phc_test", "batch": []}', "request holds no event"),
        (b"[]", "request holds no event"),
        (
            b'{"api_key": "phc_test", "batch": {}}',
            "batch: expected a list of events, got {}",
        ),
        (
            json.dumps({"batch": [make_event(api_key=KEY)]}).encode(),
            "batch submitted without an api_key",
        ),
        (
            json.dumps(make_batch(historical_migration="yes")).encode(),
            'historical_migration: expected a boolean, got "yes"',
        ),
    ],
    ids=[
        "empty",
        "not-utf8",
        "bad-json",
        "nan",
        "not-a-shape",
        "empty-batch",
        "empty-array",
        "batch-not-a-list",
        "batch-without-key",
        "historical-not-bool",
    ],
)
def test_undecodable_bodies_answer_400(posthog, client, body, message):
    response = client.post("/batch/", content=body)

    assert (response.status_code, response.text) == (400, message)
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert posthog.deliveries == []


# -------------------------------------------------------------- validation

LONG = "x" * 70


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"event": DROP}, "batch[1].event: expected a string, got null"),
        ({"event": 5}, "batch[1].event: expected a string, got 5"),
        ({"event": ""}, "batch[1].event: is empty"),
        (
            {"distinct_id": DROP},
            "batch[1].distinct_id: missing, here and in properties",
        ),
        ({"distinct_id": ""}, "batch[1].distinct_id: is empty"),
        ({"uuid": "not-a-uuid"}, 'batch[1].uuid: expected a UUID, got "not-a-uuid"'),
        ({"uuid": UUID_B + "0"}, f'batch[1].uuid: expected a UUID, got "{UUID_B}0"'),
        ({"uuid": 5}, "batch[1].uuid: expected a UUID string, got 5"),
        ({"properties": ["a"]}, 'batch[1].properties: expected an object, got ["a"]'),
        ({"properties": None}, "batch[1].properties: expected an object, got null"),
        (
            {"timestamp": 1724150000},
            "batch[1].timestamp: expected a string, got 1724150000",
        ),
        ({"offset": "10"}, 'batch[1].offset: expected an integer, got "10"'),
        ({"offset": 1.5}, "batch[1].offset: expected an integer, got 1.5"),
        ({"offset": True}, "batch[1].offset: expected an integer, got true"),
        ({"$set": ["a"]}, 'batch[1].$set: expected an object, got ["a"]'),
        ({"$set_once": "a"}, 'batch[1].$set_once: expected an object, got "a"'),
        (
            {"properties": {"$cookieless_mode": "yes"}},
            'batch[1].properties.$cookieless_mode: expected a boolean, got "yes"',
        ),
        (
            {"properties": {"$cookieless_mode": None}},
            "batch[1].properties.$cookieless_mode: expected a boolean, got null",
        ),
        (
            {"event": "$performance_event", "timestamp": 5},
            "batch[1].timestamp: expected a string, got 5",
        ),
        (
            {"uuid": LONG},
            f'batch[1].uuid: expected a UUID, got "{"x" * 56}...',
        ),
    ],
    ids=[
        "event-null",
        "event-number",
        "event-empty",
        "distinct-id-missing",
        "distinct-id-empty",
        "uuid-garbage",
        "uuid-too-long",
        "uuid-number",
        "properties-list",
        "properties-null",
        "timestamp-number",
        "offset-string",
        "offset-float",
        "offset-bool",
        "set-list",
        "set-once-string",
        "cookieless-string",
        "cookieless-null",
        "performance-event-still-parsed",
        "long-value-cut",
    ],
)
def test_one_invalid_event_refuses_the_whole_request_with_400(
    posthog, client, fields, message
):
    response = post(client, make_batch(make_event(), make_event(**fields)))

    assert (response.status_code, response.text) == (400, message)
    assert posthog.deliveries == []


def test_single_event_errors_name_the_field_alone(client):
    response = post(client, make_event(token=KEY, event=""), "/e/")

    assert (response.status_code, response.text) == (400, "event: is empty")


def test_array_errors_name_the_index(client):
    response = post(client, [make_event(token=KEY), 5], "/e/")

    assert (response.status_code, response.text) == (
        400,
        "[1]: expected an event object, got 5",
    )


# ------------------------------------------------------------------- keys


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (make_event(), "event submitted without an api_key"),
        ([make_event(), make_event()], "event submitted without an api_key"),
        (make_batch(api_key="  \t"), "api_key is empty"),
        (make_batch(api_key="phc_" + "a" * 61), "api_key is longer than 64 characters"),
        (make_batch(api_key="phc_clé"), "api_key is not ASCII"),
        (make_batch(api_key="phc_a\u0000b"), "api_key contains a NUL character"),
        (
            make_batch(api_key="phx_personal"),
            "api_key is a personal API key (phx_), not a project key",
        ),
        (
            [make_event(token=KEY), make_event(api_key="phc_other")],
            "events carry different api_keys",
        ),
        (
            make_batch(make_event(event=""), api_key="phx_personal"),
            "api_key is a personal API key (phx_), not a project key",
        ),
    ],
    ids=[
        "single-without-key",
        "array-without-key",
        "blank",
        "too-long",
        "non-ascii",
        "nul",
        "personal-key",
        "keys-disagree",
        "key-checked-before-events",
    ],
)
def test_key_problems_answer_401(posthog, client, payload, message):
    response = post(client, payload, "/i/v0/e/")

    assert (response.status_code, response.text) == (401, message)
    assert posthog.deliveries == []


@pytest.mark.parametrize(
    "event",
    [
        make_event(token=KEY),
        make_event(**{"$token": KEY}),
        make_event(api_key=KEY),
        make_event(properties={"token": KEY}),
    ],
    ids=["token", "$token", "api_key", "properties.token"],
)
def test_per_event_keys_are_found_in_every_place(posthog, client, event):
    response = post(client, [event, make_event()], "/e/")

    assert response.status_code == 200
    assert {e.token for e in posthog.deliveries} == {KEY}


def test_batch_key_wins_over_event_keys(posthog, client):
    response = post(client, make_batch(make_event(token="phc_other"), token=KEY))

    assert response.status_code == 200
    assert posthog.deliveries[0].token == KEY


def test_enforce_mode_refuses_unknown_keys_and_accepts_known_ones():
    with (
        FakePostHog(known_keys={KEY}) as server,
        httpx.Client(base_url=server.url, verify=PLAIN_HTTP) as http,
    ):
        unknown = post(http, make_batch(api_key="phc_unknown"))
        known = post(http, make_batch())

    assert (unknown.status_code, unknown.text) == (
        401,
        "api_key is not the key of a known project",
    )
    assert known.status_code == 200
    assert [e.token for e in server.deliveries] == [KEY]


def test_unknown_keys_are_accepted_without_enforce_mode(posthog, client):
    response = post(client, make_batch(api_key="phc_anything"))

    assert response.status_code == 200


def test_quota_limited_key_gets_200_and_nothing_is_stored():
    oversized = make_event(uuid=UUID_B, properties={"blob": "x" * 400})

    with (
        FakePostHog(quota_limited_keys={KEY}, max_event_bytes=300) as server,
        httpx.Client(base_url=server.url, verify=PLAIN_HTTP) as http,
    ):
        response = post(http, make_batch(make_event(), oversized))

    assert (response.status_code, response.content) == (200, SUCCESS)
    assert server.deliveries == []
    assert [r.status for r in server.requests] == [200]


def test_success_body_is_configurable():
    with (
        FakePostHog(success_body=b'{"status":"Ok"}') as server,
        httpx.Client(base_url=server.url, verify=PLAIN_HTTP) as http,
    ):
        response = post(http, make_batch())

    assert response.content == b'{"status":"Ok"}'


# ----------------------------------------------------------- normalisation


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"distinct_id": 42}, "42"),
        ({"distinct_id": {"a": 1, "b": "é"}}, '{"a":1,"b":"é"}'),
        ({"distinct_id": True}, "true"),
        ({"distinct_id": "a\u0000b"}, "a\ufffdb"),
        ({"distinct_id": "d" * 250}, "d" * 200),
        ({"distinct_id": DROP, "$distinct_id": "alias"}, "alias"),
        ({"distinct_id": None, "properties": {"distinct_id": 7}}, "7"),
    ],
    ids=["int", "object", "bool", "nul", "cut", "$distinct_id", "properties"],
)
def test_distinct_id_is_normalised_like_capture(posthog, client, fields, expected):
    response = post(client, make_batch(make_event(**fields)))

    assert response.status_code == 200
    assert posthog.deliveries[0].distinct_id == expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (UUID_A.upper(), UUID_A),
        ("{" + UUID_A + "}", UUID_A),
        ("urn:uuid:" + UUID_A, UUID_A),
        (UUID_A.replace("-", ""), UUID_A),
        (
            "6f1c2a54-3b8e-4d47-9a0e-1c0b6d7e2f40",
            "6f1c2a54-3b8e-4d47-9a0e-1c0b6d7e2f40",
        ),
    ],
    ids=["upper", "braced", "urn", "simple", "v4"],
)
def test_any_uuid_form_is_stored_lowercase_hyphenated(posthog, client, given, expected):
    post(client, make_batch(make_event(uuid=given)))

    assert posthog.deliveries[0].uuid == expected


@pytest.mark.parametrize("given", [None, ""], ids=["null", "empty"])
def test_missing_uuid_gets_a_fresh_uuid7(posthog, client, given):
    post(client, make_batch(make_event(uuid=given), make_event(uuid=given)))

    minted = [uuid.UUID(e.uuid) for e in posthog.deliveries]
    assert [(u.version, u.variant) for u in minted] == [(7, uuid.RFC_4122)] * 2
    assert minted[0] != minted[1]
    assert int(minted[0].hex[:12], 16) == int(NOW.timestamp() * 1000)


def test_performance_events_are_dropped_silently(posthog, client):
    mixed = post(
        client, make_batch(make_event(event="$performance_event"), make_event())
    )
    only = post(client, make_batch(make_event(event="$performance_event")))

    assert [mixed.status_code, only.status_code] == [200, 200]
    assert [e.event for e in posthog.deliveries] == ["order_shipped"]


def test_stored_event_keeps_what_was_sent(posthog, client):
    event = make_event(**{"$set": {"plan": "pro"}, "$set_once": {"first": "a"}})

    post(client, make_batch(event, historical_migration=True))

    assert posthog.deliveries == [
        StoredEvent(
            token=KEY,
            event="order_shipped",
            distinct_id="customer-42",
            uuid=UUID_A,
            timestamp=datetime(2026, 8, 20, 10, 15, 2, 123000, tzinfo=UTC),
            raw_timestamp="2026-08-20T10:15:02.123000+00:00",
            properties={"order_id": "A-17"},
            set={"plan": "pro"},
            set_once={"first": "a"},
            received_at=NOW,
            historical_migration=True,
        )
    ]


# ------------------------------------------------------------- timestamps

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SENT_AT = "2026-08-20T10:20:02.123Z"
SENT_AT_MS = str(int(at(10, 20, 2, 123000).timestamp() * 1000))
TIMESTAMP_CASES = {
    "utc": ({}, {}, "", SENT),
    "other-zone": ({"timestamp": "2026-08-20T12:15:02+02:00"}, {}, "", at(10, 15, 2)),
    "zone-less": ({"timestamp": "2026-08-20T10:15:02"}, {}, "", at(10, 15, 2)),
    "rfc2822": (
        {"timestamp": "Thu, 20 Aug 2026 10:15:02 +0000"},
        {},
        "",
        at(10, 15, 2),
    ),
    "missing": ({"timestamp": None}, {}, "", NOW),
    "sent-at-skew": ({}, {"sent_at": SENT_AT}, "", NOW - timedelta(minutes=5)),
    "query-ms-skew": ({}, {}, f"?_={SENT_AT_MS}", NOW - timedelta(minutes=5)),
    "query-seconds-ignored": ({}, {}, "?_=1787220002", SENT),
    "bad-sent-at-ignored": ({}, {"sent_at": "garbage"}, "", SENT),
    "ignore-sent-at": (
        {"properties": {"$ignore_sent_at": True}},
        {"sent_at": SENT_AT},
        "",
        SENT,
    ),
    "offset-overrides": ({"offset": 1500}, {}, "", NOW - timedelta(seconds=1.5)),
    "22h-ahead-kept": (
        {"timestamp": "2026-08-21T10:00:00Z"},
        {},
        "",
        at(10, 0, 0, day=21),
    ),
    "24h-ahead-now": ({"timestamp": "2026-08-21T12:00:00Z"}, {}, "", NOW),
    "unparseable-now": ({"timestamp": "yesterday-ish"}, {}, "", NOW),
    "far-past-epoch": ({"offset": 10**20}, {}, "", EPOCH),
    "far-future-now": ({"offset": -(10**20)}, {}, "", NOW),
    "before-year-1-epoch": ({"timestamp": "0001-01-01T00:00:00+05:00"}, {}, "", EPOCH),
    "after-year-9999-now": ({"timestamp": "9999-12-31T23:00:00-05:00"}, {}, "", NOW),
}


@pytest.mark.parametrize(
    ("fields", "envelope", "query", "expected"),
    list(TIMESTAMP_CASES.values()),
    ids=list(TIMESTAMP_CASES),
)
def test_effective_timestamp_follows_capture(
    posthog, client, fields, envelope, query, expected
):
    post(client, make_batch(make_event(**fields), **envelope), f"/batch/{query}")

    assert posthog.deliveries[0].timestamp == expected


# --------------------------------------------------------------- warnings


SHIPPED = f'event "order_shipped" uuid {UUID_A}'
WARNING_CASES = {
    "illegal-id-any-case": (
        {"distinct_id": "Anonymous"},
        f'cannot_merge_with_illegal_distinct_id: {SHIPPED}: "Anonymous"',
    ),
    "illegal-id-quoted": (
        {"distinct_id": "'null'"},
        f"cannot_merge_with_illegal_distinct_id: {SHIPPED}: \"'null'\"",
    ),
    "illegal-id-zero": (
        {"distinct_id": 0},
        f'cannot_merge_with_illegal_distinct_id: {SHIPPED}: "0"',
    ),
    "illegal-id-null-text": (
        {"distinct_id": "null"},
        f'cannot_merge_with_illegal_distinct_id: {SHIPPED}: "null"',
    ),
    "illegal-id-undefined": (
        {"distinct_id": "undefined"},
        f'cannot_merge_with_illegal_distinct_id: {SHIPPED}: "undefined"',
    ),
    "long-name": (
        {"event": "e" * 201},
        f'event_name_truncated: event "{"e" * 56}... uuid {UUID_A}: '
        "longer than 200 characters",
    ),
    "person-flag-not-bool": (
        {"properties": {"$process_person_profile": "false"}},
        f'invalid_process_person_profile: {SHIPPED}: "false"',
    ),
    "identify-personless": (
        {"event": "$identify", "properties": {"$process_person_profile": False}},
        "invalid_event_when_process_person_profile_is_false: "
        f'event "$identify" uuid {UUID_A}',
    ),
    "group-key-long": (
        {"event": "$groupidentify", "properties": {"$group_key": "k" * 401}},
        f'group_key_too_long: event "$groupidentify" uuid {UUID_A}: '
        "longer than 400 characters",
    ),
    "bad-timestamp": (
        {"timestamp": "soon"},
        f'ignored_invalid_timestamp: {SHIPPED}: "soon"',
    ),
    "future-timestamp": (
        {"timestamp": "2026-08-22T00:00:00Z"},
        f'event_timestamp_in_future: {SHIPPED}: "2026-08-22T00:00:00Z"',
    ),
}


@pytest.mark.parametrize(
    ("fields", "warning"), list(WARNING_CASES.values()), ids=list(WARNING_CASES)
)
def test_what_ingestion_would_alter_is_flagged_not_refused(
    posthog, client, fields, warning
):
    response = post(client, make_batch(make_event(**fields)))

    assert response.status_code == 200
    assert posthog.warnings == [warning]


def test_ordinary_events_raise_no_warning(posthog, client):
    personless = {"$process_person_profile": False}

    post(client, make_batch(make_event(distinct_id="nan", properties=personless)))

    assert posthog.warnings == []


# ------------------------------------------------------------------ faults


def test_queued_faults_are_consumed_one_per_request_before_validation(posthog, client):
    posthog.push_faults(Fault(status=503), Fault(status=429), Fault(status=500))

    responses = [client.post("/batch/", content=b"not json") for _ in range(3)]
    last = post(client, make_batch())

    assert [(r.status_code, r.text) for r in responses] == [
        (503, "transient error, please retry"),
        (429, "too many requests, please retry"),
        (500, "internal server error"),
    ]
    assert last.status_code == 200
    assert len(posthog.deliveries) == 1


def test_outage_is_sticky_until_cleared_and_the_queue_goes_first(posthog, client):
    posthog.push_faults(Fault(status=500))
    posthog.set_outage(Fault(status=502))

    during = [post(client, make_batch()).status_code for _ in range(3)]
    posthog.set_outage(None)
    after = post(client, make_batch())

    assert during == [500, 502, 502]
    assert (after.status_code, len(posthog.deliveries)) == (200, 1)


@pytest.mark.parametrize(
    "retry_after", ["3", "Thu, 20 Aug 2026 12:00:03 GMT"], ids=["seconds", "http-date"]
)
def test_retry_after_is_sent_and_recorded(posthog, client, retry_after):
    posthog.push_faults(Fault(status=429, retry_after=retry_after))

    response = post(client, make_batch())

    assert response.headers["retry-after"] == retry_after
    assert posthog.requests[0].retry_after_sent == retry_after


def test_latency_delays_every_answer(posthog, client):
    posthog.set_latency(0.05)

    began = time.monotonic()
    post(client, make_batch())
    client.options("/batch/")
    elapsed = time.monotonic() - began

    assert elapsed >= 0.1


def test_delay_fault_delays_one_answer_after_storing(posthog, client):
    posthog.push_faults(Fault(delay_seconds=0.05))

    began = time.monotonic()
    response = post(client, make_batch())
    elapsed = time.monotonic() - began

    assert (response.status_code, len(posthog.deliveries)) == (200, 1)
    assert elapsed >= 0.05


def test_reset_before_reading_the_body_breaks_the_request(posthog, client):
    posthog.push_faults(Fault(reset="before"))

    with pytest.raises(httpx.TransportError):
        post(client, make_batch())
    after = post(client, make_batch())

    assert [(r.status, r.raw_size, r.body) for r in posthog.requests[:1]] == [
        (None, 0, b"")
    ]
    assert after.status_code == 200
    assert len(posthog.deliveries) == 1


def test_reset_after_reading_the_body_stores_nothing(posthog, client):
    posthog.push_faults(Fault(reset="after"))
    payload = json.dumps(make_batch()).encode()

    with pytest.raises(httpx.TransportError):
        client.post("/batch/", content=payload)

    [seen] = posthog.requests
    assert (seen.status, seen.body) == (None, payload)
    assert posthog.deliveries == []


@pytest.mark.parametrize(
    ("fault", "answer"),
    [
        (Fault(persist_first=2), (503, "transient error, please retry")),
        (Fault(persist_first=1, status=413), (413, "request entity too large")),
    ],
    ids=["default-503", "413"],
)
def test_partial_success_stores_the_first_k_events(posthog, client, fault, answer):
    posthog.push_faults(fault)
    events = [make_event(uuid=str(uuid.UUID(int=i))) for i in range(3)]

    response = post(client, make_batch(*events))

    assert (response.status_code, response.text) == answer
    assert [e.uuid for e in posthog.deliveries] == [
        str(uuid.UUID(int=i)) for i in range(fault.persist_first or 0)
    ]


def test_partial_success_still_validates_first(posthog, client):
    posthog.push_faults(Fault(persist_first=1))

    response = post(client, make_batch(make_event(), make_event(event="")))

    assert (response.status_code, response.text) == (400, "batch[1].event: is empty")
    assert posthog.deliveries == []


def test_stall_answers_408_after_the_stall(posthog, client):
    posthog.push_faults(Fault(stall_seconds=0.05))

    began = time.monotonic()
    response = post(client, make_batch())
    elapsed = time.monotonic() - began

    assert (response.status_code, response.text) == (408, "request timeout")
    assert elapsed >= 0.05
    assert posthog.deliveries == []


def test_negative_persist_first_is_refused():
    message = "persist_first: expected k >= 0, got -1"

    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        Fault(persist_first=-1)


# ------------------------------------------------------- dedup and helpers


def test_resend_with_same_uuid_and_timestamp_collapses(posthog, client):
    post(client, make_batch(make_event(), make_event(uuid=UUID_B)))
    post(client, make_batch(make_event()))

    view = posthog.dedup_view()

    assert len(posthog.deliveries) == 3
    assert list(view) == [
        (KEY, date(2026, 8, 20), "order_shipped", "customer-42", UUID_A),
        (KEY, date(2026, 8, 20), "order_shipped", "customer-42", UUID_B),
    ]
    assert (
        view[(KEY, date(2026, 8, 20), "order_shipped", "customer-42", UUID_A)]
        is (posthog.deliveries[2])
    )
    assert posthog.duplicate_deliveries() == 1
    assert posthog.unique_uuids() == {UUID_A, UUID_B}


def test_same_uuid_on_another_day_is_a_different_row(posthog, client):
    post(client, make_batch(make_event()))
    post(client, make_batch(make_event(timestamp="2026-08-19T23:59:59Z")))

    assert (len(posthog.dedup_view()), posthog.duplicate_deliveries()) == (2, 0)


def test_resend_without_uuid_never_collapses(posthog, client):
    post(client, make_batch(make_event(uuid=None)))
    post(client, make_batch(make_event(uuid=None)))

    assert posthog.duplicate_deliveries() == 0
    assert len(posthog.content_dedup_view()) == 1


def test_events_filter_the_deduplicated_view(posthog, client):
    post(
        client,
        make_batch(
            make_event(),
            make_event(uuid=UUID_B, event="order_paid", distinct_id="customer-7"),
        ),
    )
    post(client, make_batch(make_event()))

    assert [e.uuid for e in posthog.events()] == [UUID_A, UUID_B]
    assert [e.uuid for e in posthog.events(name="order_paid")] == [UUID_B]
    assert [e.uuid for e in posthog.events(distinct_id="customer-42")] == [UUID_A]
    assert [e.uuid for e in posthog.events(uuid=UUID_A, name="order_paid")] == []


def test_retry_gaps_pair_each_request_with_the_previous_retry_after(posthog, client):
    posthog.push_faults(Fault(status=429, retry_after="0"), Fault(status=503))

    for _ in range(3):
        post(client, make_batch())
    client.options("/batch/")

    gaps = posthog.retry_gaps()
    assert [after for _, after in gaps] == ["0", None]
    assert all(0 <= seconds < 1 for seconds, _ in gaps)


def test_body_size_and_gzip_summaries(posthog, client):
    payload = json.dumps(make_batch()).encode()
    before = (posthog.max_body_size_seen, posthog.all_gzipped)

    client.post(
        "/batch/", content=gzip.compress(payload), headers={"Content-Encoding": "gzip"}
    )
    zipped = posthog.all_gzipped
    client.post("/batch/", content=payload)

    assert before == (0, False)
    assert zipped is True
    assert (posthog.max_body_size_seen, posthog.all_gzipped) == (len(payload), False)


def test_wait_for_reports_whether_the_predicate_came_true(posthog, client):
    post(client, make_batch())

    assert posthog.wait_for(lambda s: len(s.deliveries) == 1, timeout=0.5) is True
    assert posthog.wait_for(lambda s: len(s.deliveries) == 2, timeout=0.02) is False
