"""What capture would refuse, found before sending (bridge.sink.validation)."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.model import Event
from bridge.sink.validation import find_refusal, find_refusal_in
from bridge.spool.rows import encode_event
from tests.fakeposthog import FakePostHog

UUID = "0b8a4c1e-6a53-5f0e-9d1a-3c2f7e8b9a10"
DROP = object()


def make_event(**fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event": "order_paid",
        "distinct_id": "user-1",
        "uuid": UUID,
        "timestamp": "2026-01-01T00:00:00.000000+00:00",
        "properties": {"n": 1},
    }
    event.update(fields)
    return {k: v for k, v in event.items() if v is not DROP}


REFUSED = {
    "not-an-object": ([1], "expected an event object, got a list"),
    "event-missing": (make_event(event=DROP), "event: expected a string, got null"),
    "event-number": (make_event(event=7), "event: expected a string, got a number"),
    "event-object": (make_event(event={}), "event: expected a string, got an object"),
    "event-bool": (make_event(event=True), "event: expected a string, got a boolean"),
    "event-empty": (make_event(event=""), "event: is empty"),
    "uuid-number": (make_event(uuid=7), "uuid: expected a string, got a number"),
    "uuid-garbage": (make_event(uuid="order-17"), "uuid: not a UUID"),
    "timestamp-number": (
        make_event(timestamp=1767225600),
        "timestamp: expected a string, got a number",
    ),
    "set-string": (
        make_event(**{"$set": "x"}),
        "$set: expected an object, got a string",
    ),
    "set-once-list": (
        make_event(**{"$set_once": []}),
        "$set_once: expected an object, got a list",
    ),
    "properties-list": (
        make_event(properties=[1]),
        "properties: expected an object, got a list",
    ),
    "properties-null": (
        make_event(properties=None),
        "properties: expected an object, got null",
    ),
    "offset-float": (
        make_event(offset=1.5),
        "offset: expected an integer, got a number",
    ),
    "distinct-id-missing": (
        make_event(distinct_id=DROP),
        "distinct_id: missing or null",
    ),
    "distinct-id-null": (make_event(distinct_id=None), "distinct_id: missing or null"),
    "distinct-id-empty": (make_event(distinct_id=""), "distinct_id: is empty"),
    "distinct-id-empty-in-properties": (
        make_event(distinct_id=DROP, properties={"distinct_id": ""}),
        "distinct_id: is empty",
    ),
    "cookieless-string": (
        make_event(properties={"$cookieless_mode": "true"}),
        "properties.$cookieless_mode: expected a boolean, got a string",
    ),
}
ACCEPTED = {
    "plain": make_event(),
    "uuid-null": make_event(uuid=None),
    "uuid-empty": make_event(uuid=""),
    "uuid-upper-braced": make_event(uuid="{" + UUID.upper() + "}"),
    "uuid-simple": make_event(uuid=UUID.replace("-", "")),
    "no-timestamp": make_event(timestamp=DROP),
    "no-properties": make_event(properties=DROP),
    "distinct-id-number": make_event(distinct_id=0),
    "distinct-id-placeholder": make_event(distinct_id="null"),
    "distinct-id-dollar": make_event(distinct_id=DROP, **{"$distinct_id": "u"}),
    "distinct-id-in-properties": make_event(
        distinct_id=DROP, properties={"distinct_id": "u"}
    ),
    "cookieless-bool": make_event(properties={"$cookieless_mode": False}),
    "set-in-properties-not-checked": make_event(properties={"$set": "x"}),
    "offset-int": make_event(offset=10),
}


@pytest.mark.parametrize(("event", "reason"), list(REFUSED.values()), ids=list(REFUSED))
def test_what_capture_refuses_is_named(event: Any, reason: str) -> None:
    assert find_refusal(orjson.dumps(event)) == reason


@pytest.mark.parametrize("event", list(ACCEPTED.values()), ids=list(ACCEPTED))
def test_what_capture_accepts_passes(event: dict[str, Any]) -> None:
    assert find_refusal(orjson.dumps(event)) is None


def test_a_body_that_is_not_json_is_refused() -> None:
    assert find_refusal(b"{not json") == "not JSON"
    huge = b'{"event":"e","distinct_id":"u","properties":{"n":' + b"9" * 400 + b"}}"
    assert find_refusal(huge) == (
        "a number beyond a double's range, which capture cannot read"
    )


# The emulator serves plain http: no CA certificates needed.
PLAIN_HTTP = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


@pytest.fixture
def capture(posthog: FakePostHog) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=posthog.url, verify=PLAIN_HTTP) as client:
        yield client


def _status(client: httpx.Client, event: Any) -> int:
    payload = {"api_key": "phc_k", "batch": [make_event(), event]}
    return client.post("/batch/", content=json.dumps(payload)).status_code


@pytest.mark.parametrize(
    ("event", "refused"),
    [(e, True) for e, _ in REFUSED.values()] + [(e, False) for e in ACCEPTED.values()],
    ids=[f"refused-{n}" for n in REFUSED] + [f"accepted-{n}" for n in ACCEPTED],
)
def test_the_capture_emulator_agrees(
    capture: httpx.Client, event: Any, refused: bool
) -> None:
    assert (_status(capture, event) == 400) is refused


@given(
    name=st.text(min_size=1),
    distinct_id=st.text(min_size=1),
    properties=st.dictionaries(
        st.text(), st.text() | st.integers(-(2**63), 2**63 - 1) | st.booleans()
    ),
)
def test_every_event_the_rules_can_build_with_a_name_and_an_id_passes(
    name: str, distinct_id: str, properties: dict[str, Any]
) -> None:
    properties.pop("$cookieless_mode", None)
    body = encode_event(
        Event(
            uuid=UUID,
            name=name,
            distinct_id=distinct_id,
            timestamp=datetime(2026, 1, 1, tzinfo=UTC),
            properties=properties,
            rule="r",
            source="s",
        ),
        lib_version="0.1.0",
    )

    assert find_refusal(body) is None


field_values = (
    st.none()
    | st.booleans()
    | st.integers(-10, 10)
    | st.sampled_from(["", "x", UUID, UUID.upper(), "2026-01-01T00:00:00Z"])
    | st.dictionaries(
        st.sampled_from(["$cookieless_mode", "distinct_id", "a"]),
        st.none() | st.booleans() | st.text(max_size=2),
        max_size=2,
    )
)


@given(
    st.fixed_dictionaries(
        {},
        optional=dict.fromkeys(
            ("event", "distinct_id", "uuid", "timestamp", "properties"), field_values
        ),
    )
)
def test_the_quick_look_never_lets_through_what_the_full_check_refuses(
    event: dict[str, Any],
) -> None:
    assert find_refusal(orjson.dumps(event)) == find_refusal_in(event)
