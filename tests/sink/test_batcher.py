"""Batch bodies and batch cutting (bridge.sink.batcher)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.model import Event
from bridge.sink.batcher import render_batch, split_batch, take_batch
from bridge.spool.rows import encode_event

SNAPSHOT = Path(__file__).parent.parent / "snapshots" / "batch_body.json"


def exactly(message: str) -> str:
    """A ``match=`` pattern for the whole message."""
    return f"^{re.escape(message)}$"


@dataclass(frozen=True, slots=True)
class Item:
    """Stands in for a spooled event: all the batcher reads is ``body``."""

    name: str
    body: bytes


def items(*sizes: int) -> list[Item]:
    return [Item(f"i{n}", b"x" * size) for n, size in enumerate(sizes)]


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


# -- take_batch ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sizes", "max_events", "max_bytes", "expected"),
    [
        ([], 5, 100, []),
        ([1, 1, 1], 2, 100, ["i0", "i1"]),
        ([4, 4, 4], 5, 8, ["i0", "i1"]),
        ([4, 4, 4], 5, 7, ["i0"]),
        ([9, 1], 5, 5, ["i0"]),
        ([1, 9, 1], 5, 5, ["i0"]),
        ([3], 0, 0, ["i0"]),
    ],
    ids=[
        "empty",
        "count",
        "bytes-exact",
        "bytes-under",
        "oversized-alone",
        "stops-before-oversized",
        "always-one",
    ],
)
def test_take_batch_takes_the_longest_prefix_within_limits(
    sizes: list[int], max_events: int, max_bytes: int, expected: list[str]
) -> None:
    taken = take_batch(items(*sizes), max_events, max_bytes)

    assert [i.name for i in taken] == expected


@given(
    sizes=st.lists(st.integers(0, 50), max_size=30),
    max_events=st.integers(1, 40),
    max_bytes=st.integers(0, 400),
)
def test_take_batch_respects_limits_keeps_order_and_stops_only_when_full(
    sizes: list[int], max_events: int, max_bytes: int
) -> None:
    events = items(*sizes)

    taken = take_batch(events, max_events, max_bytes)

    assert taken == events[: len(taken)]
    assert bool(taken) == bool(events)
    assert len(taken) <= max_events
    total = sum(len(i.body) for i in taken)
    assert total <= max_bytes or len(taken) == 1
    if len(taken) < len(events):
        assert (
            len(taken) == max_events or total + len(events[len(taken)].body) > max_bytes
        )


@given(
    sizes=st.lists(st.integers(0, 50), max_size=60),
    max_events=st.integers(1, 40),
    max_bytes=st.integers(0, 400),
)
def test_repeated_take_batch_delivers_everything_once_in_order(
    sizes: list[int], max_events: int, max_bytes: int
) -> None:
    remaining = items(*sizes)
    delivered: list[Item] = []

    while remaining:
        batch = take_batch(remaining, max_events, max_bytes)
        delivered += batch
        remaining = remaining[len(batch) :]

    assert delivered == items(*sizes)


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
