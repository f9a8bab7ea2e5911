"""Batch bodies and batch cutting (bridge.sink.batcher)."""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.model import Event
from bridge.sink.batcher import (
    CAPTURE_ENVELOPE_BYTES,
    HISTORICAL_AGE_SECONDS,
    captured_size,
    escaped_size,
    historical_cutoff,
    is_older_than,
    plan_requests,
    render_batch,
    split_batch,
)
from bridge.spool.rows import encode_event

SNAPSHOT = Path(__file__).parent.parent / "snapshots" / "batch_body.json"


def exactly(message: str) -> str:
    """A ``match=`` pattern for the whole message."""
    return f"^{re.escape(message)}$"


# -- render_batch --------------------------------------------------------------------


def test_render_batch_joins_the_stored_bodies_unchanged() -> None:
    body = render_batch(
        "phc_k", [b'{"a":1}', b'{"b":2.50}'], historical_migration=False
    )

    assert body == b'{"api_key":"phc_k","batch":[{"a":1},{"b":2.50}]}'


def test_render_batch_flags_historical_migration_only_when_asked() -> None:
    body = render_batch("phc_k", [b"{}"], historical_migration=True)

    assert body == b'{"api_key":"phc_k","batch":[{}],"historical_migration":true}'


def test_render_batch_escapes_the_key() -> None:
    body = render_batch('phc_"\\', [b"{}"], historical_migration=False)

    assert orjson.loads(body)["api_key"] == 'phc_"\\'


def test_render_batch_matches_the_golden_body() -> None:
    events = [
        Event(
            uuid="0b8a4c1e-6a53-5f0e-9d1a-3c2f7e8b9a10",
            name="pedido_procesado",
            distinct_id="123",
            timestamp=datetime(2025, 12, 16, 10, 0, tzinfo=UTC),
            properties={"amount": 100.0, "currency": "EUR", "host": "web-1"},
            rule="order-processed",
            source="tl-engine",
        ),
        Event(
            uuid="5d0f7a52-93f1-5c1b-8a7e-0e4b2c6d8f31",
            name="engine_started",
            distinct_id="tl-engine",
            timestamp=datetime(2025, 12, 16, 10, 0, 1, 250000, tzinfo=UTC),
            properties={"$process_person_profile": False},
            rule="engine-started",
            source="tl-engine",
        ),
    ]
    bodies = [encode_event(e, lib_version="0.1.0") for e in events]

    body = render_batch("phc_test", bodies, historical_migration=True)

    pretty = orjson.dumps(orjson.loads(body), option=orjson.OPT_INDENT_2) + b"\n"
    if os.environ.get("LOGBRIDGE_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_bytes(pretty)
    assert pretty == SNAPSHOT.read_bytes()
    # The snapshot is pretty for review; the wire form is compact.
    assert body == orjson.dumps(orjson.loads(body))


# -- split_batch ---------------------------------------------------------------------


def test_split_batch_puts_the_smaller_half_first() -> None:
    assert split_batch([1, 2, 3, 4, 5]) == ([1, 2], [3, 4, 5])


@given(st.lists(st.integers(), min_size=2))
def test_split_batch_halves_are_non_empty_and_lose_nothing(values: list[int]) -> None:
    first, second = split_batch(values)

    assert [*first, *second] == values
    assert first
    assert second
    assert abs(len(first) - len(second)) <= 1


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([], "cannot split a batch of 0 event(s)"),
        ([1], "cannot split a batch of 1 event(s)"),
    ],
    ids=["empty", "one"],
)
def test_split_batch_refuses_fewer_than_two(values: list[int], message: str) -> None:
    with pytest.raises(ValueError, match=exactly(message)):
        split_batch(values)


# -- escaped_size and captured_size --------------------------------------------------


@given(st.text())
def test_escaped_size_is_the_size_of_the_body_as_a_json_string(text: str) -> None:
    body = text.encode()

    assert escaped_size(body) == len(json.dumps(text, ensure_ascii=False).encode())


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(name=st.text(min_size=1), distinct_id=st.text(), properties=json_values)
def test_captured_size_of_a_spooled_event_counts_its_escapes(
    name: str, distinct_id: str, properties: object
) -> None:
    body = encode_event(
        Event(
            uuid="0b8a4c1e-6a53-5f0e-9d1a-3c2f7e8b9a10",
            name=name,
            distinct_id=distinct_id,
            timestamp=datetime(2026, 1, 1, tzinfo=UTC),
            properties={"value": properties},
            rule="r",
            source="s",
        ),
        lib_version="0.1.0",
    )

    as_string = json.dumps(body.decode(), ensure_ascii=False).encode()
    assert captured_size(body) == len(as_string) + CAPTURE_ENVELOPE_BYTES


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", 2),
        (b'{"a":"b"}', 2 + 9 + 4),
        (b"\\\\", 2 + 4),
        (b"\n\x01", 2 + 2 + 6),
        ("é".encode(), 2 + 2),
    ],
    ids=["empty", "quotes", "backslashes", "controls", "non-ascii"],
)
def test_escaped_size_examples(body: bytes, expected: int) -> None:
    assert escaped_size(body) == expected


# -- lanes ---------------------------------------------------------------------------

NOW = datetime(2026, 8, 20, 12, 0, tzinfo=UTC)
CUTOFF = historical_cutoff(NOW)


def body_at(moment: datetime, *, size: int = 0) -> bytes:
    return encode_event(
        Event(
            uuid="0b8a4c1e-6a53-5f0e-9d1a-3c2f7e8b9a10",
            name="e",
            distinct_id='"timestamp":"1999-01-01T00:00:00.000000+00:00"',
            timestamp=moment,
            properties={"pad": "x" * size},
            rule="r",
            source="s",
        ),
        lib_version="0.1.0",
    )


def test_the_cutoff_is_48_hours_before_now_as_rows_writes_times() -> None:
    assert HISTORICAL_AGE_SECONDS == 48 * 3600
    assert CUTOFF == b"2026-08-18T12:00:00.000000+00:00"


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        (timedelta(days=30), True),
        (timedelta(hours=48, microseconds=1), True),
        (timedelta(hours=48), False),
        (timedelta(minutes=1), False),
        (timedelta(hours=-30), False),
    ],
    ids=["month-old", "just-over-48h", "exactly-48h", "live", "future"],
)
def test_is_older_than_reads_the_top_level_timestamp(
    age: timedelta, expected: bool
) -> None:
    # The distinct_id holds a timestamp-like text, escaped: it must not be read.
    assert is_older_than(body_at(NOW - age), CUTOFF) is expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"event":"e","timestamp":"2026-08-01T00:00:00Z"}', True),
        (b'{"event":"e","timestamp":"2026-08-01T02:00:00+02:00"}', True),
        (b'{"event":"e","timestamp":"2026-08-20T00:00:00"}', False),
        (b'{"event":"e","timestamp":"yesterday"}', False),
        (b'{"event":"e"}', False),
    ],
    ids=["zulu", "offset", "zone-less", "unreadable", "missing"],
)
def test_is_older_than_reads_other_forms_the_slow_way(
    body: bytes, expected: bool
) -> None:
    assert is_older_than(body, CUTOFF) is expected


OLD = body_at(NOW - timedelta(days=3))
LIVE = body_at(NOW)
BIG = 100


@pytest.mark.parametrize(
    ("bodies", "sizes", "mode", "expected"),
    [
        (
            [OLD, LIVE, OLD, LIVE],
            [1, 1, 1, 1],
            "auto",
            [((0, 2), True), ((1, 3), False)],
        ),
        ([LIVE, OLD, LIVE], [1, 1, 1], "auto", [((0, 2), False), ((1,), True)]),
        ([OLD, LIVE], [1, 1], "always", [((0, 1), True)]),
        ([OLD, LIVE], [1, 1], "never", [((0, 1), False)]),
        (
            [LIVE, LIVE, LIVE, LIVE],
            [1, BIG, 1, 1],
            "auto",
            [((0,), False), ((1,), False), ((2, 3), False)],
        ),
        ([LIVE, LIVE], [BIG, BIG], "auto", [((0,), False), ((1,), False)]),
        (
            [LIVE, OLD, LIVE, OLD],
            [1, BIG, 1, 1],
            "auto",
            [((0, 2), False), ((1,), True), ((3,), True)],
        ),
        ([], [], "auto", []),
    ],
    ids=[
        "lanes-apart",
        "first-event-first",
        "always",
        "never",
        "solo-between",
        "solos",
        "solo-in-its-lane",
        "empty",
    ],
)
def test_plan_requests(
    bodies: list[bytes],
    sizes: list[int],
    mode: Literal["auto", "always", "never"],
    expected: list[tuple[tuple[int, ...], bool]],
) -> None:
    plan = plan_requests(
        bodies,
        sizes,
        mode=mode,
        cutoff=CUTOFF,
        solo_bytes=10,
    )

    assert [(r.indexes, r.historical) for r in plan] == expected


@given(
    events=st.lists(st.tuples(st.booleans(), st.integers(0, 20)), max_size=40),
    solo=st.integers(0, 20),
)
def test_plan_requests_keeps_lanes_apart_order_and_large_events_alone(
    events: list[tuple[bool, int]], solo: int
) -> None:
    bodies = [OLD if old else LIVE for old, _ in events]
    sizes = [size for _, size in events]

    plan = plan_requests(bodies, sizes, mode="auto", cutoff=CUTOFF, solo_bytes=solo)

    sent = [i for r in plan for i in r.indexes]
    assert sorted(sent) == list(range(len(events)))
    for lane in (True, False):
        in_lane = [i for r in plan if r.historical is lane for i in r.indexes]
        assert in_lane == sorted(in_lane)
        assert in_lane == [i for i, (old, _) in enumerate(events) if old is lane]
    for r in plan:
        assert r.indexes
        assert len(r.indexes) == 1 or all(sizes[i] <= solo for i in r.indexes)
