"""Events to wire JSON and back (bridge.spool.rows)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.model import JSON_OPTIONS, BigInt, Event, json_default
from bridge.spool.rows import decode_event, encode_event


def exactly(message: str) -> str:
    """A ``match=`` pattern for the whole message."""
    return f"^{re.escape(message)}$"


WHEN = datetime(2026, 8, 20, 10, 15, 2, 123000, tzinfo=UTC)


def make_event(**changes: object) -> Event:
    fields: dict[str, object] = {
        "uuid": "0b8a4c1e-6a53-5f0e-9d1a-3c2f7e8b9a10",
        "name": "order_shipped",
        "distinct_id": "customer-42",
        "timestamp": WHEN,
        "properties": {"order_id": "A-17", "amount": 100.5},
        "rule": "order-shipped",
        "source": "shop",
    }
    fields.update(changes)
    return Event(**fields)  # type: ignore[arg-type]


def test_encode_event_writes_the_wire_object_in_order() -> None:
    event = make_event()

    body = encode_event(event, lib_version="1.2.3")

    assert body == (
        b'{"event":"order_shipped","distinct_id":"customer-42",'
        b'"uuid":"0b8a4c1e-6a53-5f0e-9d1a-3c2f7e8b9a10",'
        b'"timestamp":"2026-08-20T10:15:02.123000+00:00",'
        b'"properties":{"order_id":"A-17","amount":100.5,"$lib":"logbridge",'
        b'"$lib_version":"1.2.3","$is_server":true,"$geoip_disable":true}}'
    )


def test_encode_event_converts_the_timestamp_to_utc_with_microseconds() -> None:
    madrid = timezone(timedelta(hours=2))
    event = make_event(timestamp=datetime(2026, 8, 20, 12, 0, tzinfo=madrid))

    wire = decode_event(encode_event(event, lib_version="1"))

    assert wire["timestamp"] == "2026-08-20T10:00:00.000000+00:00"


def test_encode_event_library_keys_win_over_rule_properties() -> None:
    event = make_event(
        properties={
            "$lib": "mine",
            "$lib_version": "9",
            "$is_server": False,
            "$geoip_disable": False,
        }
    )

    wire = decode_event(encode_event(event, lib_version="1.0"))

    # A rule's own $geoip_disable (its geoip: key) is its choice: geolocation on.
    assert wire["properties"] == {
        "$lib": "logbridge",
        "$lib_version": "1.0",
        "$is_server": True,
    }


@pytest.mark.parametrize(
    ("configured", "rule", "expected"),
    [
        (True, None, True),
        (False, None, None),
        (True, False, None),
        (False, True, True),
        (True, "yes", True),
    ],
    ids=["default-off", "configured-on", "rule-on", "rule-off", "not-a-boolean"],
)
def test_geolocation_is_the_rules_choice_over_the_configurations(
    configured, rule, expected
) -> None:
    properties = {"plan": "pro"} if rule is None else {"$geoip_disable": rule}
    event = make_event(properties=properties)

    wire = decode_event(encode_event(event, lib_version="1", geoip_disable=configured))

    assert wire["properties"].get("$geoip_disable") == expected


def test_encode_event_renders_datetimes_in_properties_as_rfc3339() -> None:
    event = make_event(properties={"paid_at": datetime(2026, 1, 2, 3, 4, tzinfo=UTC)})

    wire = decode_event(encode_event(event, lib_version="1"))

    assert wire["properties"]["paid_at"] == "2026-01-02T03:04:00+00:00"


def test_encode_event_refuses_a_naive_timestamp() -> None:
    event = make_event(timestamp=datetime(2026, 1, 1))  # noqa: DTZ001 - on purpose

    message = "event 0b8a4c1e-6a53-5f0e-9d1a-3c2f7e8b9a10: timestamp has no time zone"
    with pytest.raises(ValueError, match=exactly(message)):
        encode_event(event, lib_version="1")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[1, 2]", "spooled event is not a JSON object: got list"),
        (b'"text"', "spooled event is not a JSON object: got str"),
    ],
    ids=["array", "string"],
)
def test_decode_event_refuses_anything_but_an_object(body: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=exactly(message)):
        decode_event(body)


def test_decode_event_refuses_invalid_json() -> None:
    with pytest.raises(orjson.JSONDecodeError):
        decode_event(b"{not json")


@pytest.mark.parametrize(
    "number",
    [123456789012345678901234567890, -(2**63) - 1, int("7" * 400)],
    ids=["30-digits", "below-int64", "400-digits-past-a-double"],
)
def test_decode_event_keeps_integers_beyond_64_bits_as_they_were_sent(
    number: int,
) -> None:
    body = encode_event(make_event(properties={"id": BigInt(number)}), lib_version="1")

    wire = decode_event(body)

    assert wire["properties"]["id"] == number
    assert orjson.dumps(wire, option=JSON_OPTIONS, default=json_default) == body


# Values that survive a JSON round trip unchanged.
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(codec="utf-8"))
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(st.characters(codec="utf-8")), inner, max_size=4)
    ),
    max_leaves=12,
)
events = st.builds(
    Event,
    uuid=st.uuids().map(str),
    name=st.text(st.characters(codec="utf-8"), min_size=1),
    distinct_id=st.text(st.characters(codec="utf-8")),
    timestamp=st.datetimes(
        min_value=datetime(1971, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive
        timezones=st.timezones(),
    ),
    properties=st.dictionaries(st.text(st.characters(codec="utf-8")), json_values),
    rule=st.text(),
    source=st.text(),
)


@given(event=events, lib_version=st.text(), geoip_disable=st.booleans())
def test_encode_then_decode_gives_back_the_event(
    event: Event, lib_version: str, geoip_disable: bool
) -> None:
    wire = decode_event(
        encode_event(event, lib_version=lib_version, geoip_disable=geoip_disable)
    )

    library = {"$lib": "logbridge", "$lib_version": lib_version, "$is_server": True}
    if geoip_disable:
        library["$geoip_disable"] = True
    rule_properties = {
        k: v
        for k, v in event.properties.items()
        if k not in {"$lib", "$lib_version", "$is_server", "$geoip_disable"}
    }
    assert wire == {
        "event": event.name,
        "distinct_id": event.distinct_id,
        "uuid": event.uuid,
        "timestamp": wire["timestamp"],
        "properties": rule_properties | library,
    }
    # Compare instants: equality of aware datetimes in different zones is False for
    # times that fall in a DST fold, although they name the same instant.
    assert datetime.fromisoformat(wire["timestamp"]).timestamp() == pytest.approx(
        event.timestamp.timestamp(), abs=1e-6
    )
    assert wire["timestamp"].endswith("+00:00")
