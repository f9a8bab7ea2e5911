"""The batch-cutting oracle the store is checked by (tests.sink.oracle)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.sink.oracle import take_batch


@dataclass(frozen=True, slots=True)
class Item:
    """Stands in for a spooled event: all the oracle reads is ``body``."""

    name: str
    body: bytes


def items(*sizes: int) -> list[Item]:
    return [Item(f"i{n}", b"x" * size) for n, size in enumerate(sizes)]


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
