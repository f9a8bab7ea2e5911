"""Segment encoding, ids and settling (bridge.spool.segments), pure."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.spool.segments import (
    INDEX_BITS,
    DecodedSegment,
    EncodedSegment,
    Settlement,
    decode_segment,
    encode_columns,
    encode_rows,
    fit_bytes,
    format_settled,
    group_ids,
    parse_settled,
    pick,
    salvage_events,
    settle,
)


def event_id(segment_id: int, index: int) -> int:
    """The id of event ``index`` of segment ``segment_id``, as the store makes it."""
    return (segment_id << INDEX_BITS) | index


def exactly(message: str) -> str:
    """A ``match=`` pattern for the whole message."""
    return f"^{re.escape(message)}$"


# -- encoding ------------------------------------------------------------------------


def test_encode_rows_joins_each_column_with_newlines() -> None:
    encoded = encode_rows([("u1", b'{"a":1}', "r1"), ("u2", b"{}", "r2")])

    assert encoded == EncodedSegment(
        bodies=b'{"a":1}\n{}', uuids="u1\nu2", rules="r1\nr2", events=2, bytes=9
    )


def test_encode_then_decode_gives_the_events_back() -> None:
    rows = [("u1", b'{"a":1}', "r1"), ("u2", b"", "r2"), ("u3", b"{}", "r1")]
    encoded = encode_rows(rows)

    decoded = decode_segment(encoded.bodies, encoded.uuids, encoded.rules, 3)

    assert decoded == DecodedSegment(
        bodies=[b'{"a":1}', b"", b"{}"],
        uuids=["u1", "u2", "u3"],
        rules=["r1", "r2", "r1"],
    )


@given(
    st.lists(
        st.tuples(
            st.text().filter(lambda s: "\n" not in s),
            st.binary().filter(lambda b: b"\n" not in b),
            st.text().filter(lambda s: "\n" not in s),
        ),
        min_size=1,
    )
)
def test_any_rows_without_newlines_round_trip(
    rows: list[tuple[str, bytes, str]],
) -> None:
    encoded = encode_rows(rows)
    decoded = decode_segment(encoded.bodies, encoded.uuids, encoded.rules, len(rows))

    assert list(zip(decoded.uuids, decoded.bodies, decoded.rules, strict=True)) == rows
    assert encoded.bytes == sum(len(body) for _, body, _ in rows)


@pytest.mark.parametrize(
    ("row", "field"),
    [
        (("u", b"{\n}", "r"), "body"),
        (("u\n", b"{}", "r"), "uuid"),
        (("u", b"{}", "\nr"), "rule"),
    ],
)
def test_encode_refuses_a_newline_in_a_field(
    row: tuple[str, bytes, str], field: str
) -> None:
    with pytest.raises(
        ValueError, match=exactly(f"an event {field} contains a newline")
    ):
        encode_rows([("a", b"{}", "r"), row])


def test_encode_refuses_no_rows_and_uneven_columns() -> None:
    with pytest.raises(ValueError, match=exactly("a segment holds at least one event")):
        encode_rows([])
    with pytest.raises(ValueError, match=exactly("columns of 2, 1 and 2 events")):
        encode_columns([b"{}", b"{}"], ["u"], ["r", "r"])


def test_encode_refuses_a_body_that_is_not_bytes() -> None:
    with pytest.raises(TypeError):
        encode_rows([("u", "{}", "r")])  # type: ignore[list-item]


def test_decode_refuses_columns_that_do_not_hold_the_count() -> None:
    with pytest.raises(
        ValueError, match=exactly("segment columns do not hold 3 events each")
    ):
        decode_segment(b"a\nb\nc", "u1\nu2", "r\nr\nr", 3)


# -- ids -----------------------------------------------------------------------------


def test_group_ids_gives_runs_as_ranges_and_the_rest_as_lists() -> None:
    ids = [event_id(2, 1), event_id(1, 4), event_id(1, 3), event_id(2, 3)]
    ids += [event_id(1, 5), event_id(1, 3)]

    assert group_ids(ids) == [(1, range(3, 6)), (2, [1, 3])]
    assert group_ids([]) == []


# -- settling ------------------------------------------------------------------------


def test_settling_the_next_run_moves_done() -> None:
    assert settle(10, 2, frozenset(), range(2, 5)) == Settlement(
        range(2, 5), 5, frozenset()
    )


def test_settling_ahead_of_done_is_remembered_out_of_order() -> None:
    assert settle(10, 0, frozenset(), [3, 5]) == Settlement(
        [3, 5], 0, frozenset({3, 5})
    )
    assert settle(10, 0, frozenset(), range(3, 5)) == Settlement(
        [3, 4], 0, frozenset({3, 4})
    )


def test_settling_the_gap_moves_done_over_what_was_settled_before() -> None:
    assert settle(10, 0, frozenset({1, 2, 5}), [0]) == Settlement(
        [0], 3, frozenset({5})
    )


def test_settling_again_or_out_of_range_does_nothing() -> None:
    done, settled = 4, frozenset({6})

    assert settle(10, done, settled, [1, 6, 10, 11, -1]) == Settlement(
        [], done, settled
    )
    assert settle(10, done, frozenset(), range(4)).newly == range(0)
    assert settle(10, done, frozenset(), range(8, 20)).newly == [8, 9]


@given(
    st.integers(min_value=1, max_value=40).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.lists(
                st.lists(st.integers(min_value=-2, max_value=n + 2), max_size=n),
                max_size=8,
            ),
        )
    )
)
def test_settling_matches_a_plain_set_of_settled_indexes(
    case: tuple[int, list[list[int]]],
) -> None:
    events, calls = case
    done, settled = 0, frozenset[int]()
    model: set[int] = set()
    for indexes in calls:
        result = settle(events, done, settled, sorted(set(indexes)))
        fresh = {i for i in indexes if 0 <= i < events} - model
        assert list(result.newly) == sorted(fresh)
        model |= fresh
        done, settled = result.done, result.settled
        assert set(range(done)) | settled == model
        assert done not in settled
        assert all(done < i < events for i in settled)


def test_settled_indexes_round_trip_through_the_column() -> None:
    assert format_settled({12, 3, 7}) == "3,7,12"
    assert parse_settled("3,7,12") == {3, 7, 12}
    assert format_settled(set()) is None
    assert parse_settled(None) == frozenset()
    assert parse_settled("") == frozenset()


# -- taking --------------------------------------------------------------------------


def test_pick_slices_a_range_and_indexes_a_list() -> None:
    items = ["a", "b", "c", "d"]

    assert pick(items, range(1, 3)) == ["b", "c"]
    assert pick(items, [0, 3]) == ["a", "d"]


@pytest.mark.parametrize(
    ("sizes", "budget", "first", "expected"),
    [
        ([10, 10, 10], 25, False, (2, 5)),
        ([10, 10, 10], 30, False, (3, 0)),
        ([50, 1], 20, True, (1, -30)),
        ([50, 1], 20, False, (0, 20)),
        ([], 20, True, (0, 20)),
        ([0, 0], -5, False, (0, -5)),
    ],
)
def test_fit_bytes_counts_the_bodies_within_the_budget(
    sizes: list[int], budget: int, first: bool, expected: tuple[int, int]
) -> None:
    assert fit_bytes([b"x" * n for n in sizes], budget, first=first) == expected


# -- salvaging a damaged segment -------------------------------------------------------


def _body(uuid: str) -> bytes:
    return b'{"event":"e","uuid":"%s"}' % uuid.encode()


@pytest.mark.parametrize(
    ("bodies", "uuids", "rules", "events", "settled", "expected"),
    [
        (
            _body("a") + b"\n" + _body("b") + b"\n" + _body("c"),
            b"a\nb\nc",
            b"r1\nr2\nr3",
            3,
            set(),
            [("a", _body("a"), "r1"), ("b", _body("b"), "r2"), ("c", _body("c"), "r3")],
        ),
        (
            _body("a") + b"\n" + _body("b") + b"\n" + _body("c"),
            b"a\nb\nc",
            b"r1\nr2\nr3",
            3,
            {0, 2},
            [("b", _body("b"), "r2")],
        ),
        (
            _body("a") + b"x" + _body("b") + b"\n" + _body("c"),
            b"a\nb\nc",
            b"r1\nr2\nr3",
            3,
            set(),
            [("c", _body("c"), "r3")],
        ),
        (
            _body("a") + b"\n" + _body("b")[:9],
            b"",
            b"",
            3,
            {0},
            [("a", _body("a"), "")],
        ),
        (
            b'[1]\n{"uuid": 7}\n{"uuid": "x\\ny"}\n' + _body("a") + b"\n" + _body("a"),
            b"a\nb\nc\nd\ne",
            b"r\nr\nr\nr",
            5,
            set(),
            [("a", _body("a"), "")],
        ),
    ],
    ids=["intact", "settled-skipped", "merged-bodies", "cut-short", "not-events"],
)
def test_salvage_keeps_whole_json_events_with_their_own_uuid(
    bodies: bytes,
    uuids: bytes,
    rules: bytes,
    events: int,
    settled: set[int],
    expected: list[tuple[str, bytes, str]],
) -> None:
    rows = salvage_events(bodies, uuids, rules, events, settled)

    assert rows == expected
