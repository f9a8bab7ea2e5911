"""What follows each response, and how long to wait (bridge.sink.policy)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.sink.policy import (
    MAX_RETRY_AFTER_SECONDS,
    Action,
    Outcome,
    backoff_seconds,
    classify_response,
    parse_retry_after,
)

NOW = datetime(2026, 8, 20, 10, 0, 0, tzinfo=UTC)

A = Action
CASES = [
    (None, 10, Outcome(A.RETRY, None, None, "no response")),
    (200, 10, Outcome(A.ACK, None, 200, "accepted")),
    (204, 1, Outcome(A.ACK, None, 204, "accepted")),
    (408, 10, Outcome(A.RETRY, None, 408, "request timeout")),
    (429, 10, Outcome(A.RETRY, None, 429, "rate limited")),
    (500, 10, Outcome(A.RETRY, None, 500, "server error")),
    (503, 1, Outcome(A.RETRY, None, 503, "server error")),
    (599, 10, Outcome(A.RETRY, None, 599, "server error")),
    (413, 10, Outcome(A.SPLIT, None, 413, "too large")),
    (413, 1, Outcome(A.QUARANTINE, None, 413, "too large")),
    (400, 10, Outcome(A.BISECT, None, 400, "rejected")),
    (400, 1, Outcome(A.QUARANTINE, None, 400, "rejected")),
    (422, 2, Outcome(A.BISECT, None, 422, "rejected")),
    (402, 1, Outcome(A.QUARANTINE, None, 402, "rejected")),
    (401, 10, Outcome(A.HALT, None, 401, "api key refused")),
    (403, 1, Outcome(A.HALT, None, 403, "api key refused")),
    (404, 10, Outcome(A.HALT, None, 404, "not a capture endpoint; check host")),
    (405, 1, Outcome(A.HALT, None, 405, "not a capture endpoint; check host")),
    (301, 10, Outcome(A.HALT, None, 301, "not a capture endpoint; check host")),
    (101, 10, Outcome(A.HALT, None, 101, "not a capture endpoint; check host")),
]


@pytest.mark.parametrize(
    ("status", "batch_size", "expected"),
    CASES,
    ids=[f"{status}-of-{size}" for status, size, _ in CASES],
)
def test_classify_response(
    status: int | None, batch_size: int, expected: Outcome
) -> None:
    assert classify_response(status, {}, batch_size, now=NOW) == expected


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (503, {"Retry-After": "7"}, 7.0),
        (429, {"retry-after": "120"}, 120.0),
        (503, {"RETRY-AFTER": "Thu, 20 Aug 2026 10:00:30 GMT"}, 30.0),
        (408, {"Content-Type": "text/plain"}, None),
        (200, {"Retry-After": "7"}, None),
    ],
    ids=["seconds", "lowercase-header", "http-date", "absent", "ignored-on-success"],
)
def test_classify_response_reads_retry_after(
    status: int, headers: dict[str, str], expected: float | None
) -> None:
    outcome = classify_response(status, headers, 5, now=NOW)

    assert outcome.retry_after_seconds == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("0", 0.0),
        (" 12 ", 12.0),
        ("1.5", 1.5),
        ("-3", None),
        ("nan", None),
        ("inf", None),
        ("soon", None),
        ("", None),
        ("Thu, 20 Aug 2026 10:01:00 GMT", 60.0),
        ("Thu, 20 Aug 2026 09:00:00 GMT", 0.0),
        ("Thu, 20 Aug 2026 12:00:10 +0200", 10.0),
        ("Thu, 20 Aug 2026 10:00:05 -0000", 5.0),
    ],
    ids=[
        "absent",
        "zero",
        "spaces",
        "fraction",
        "negative",
        "nan",
        "infinite",
        "word",
        "empty",
        "date",
        "date-in-the-past",
        "date-with-offset",
        "date-naive",
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


@pytest.mark.parametrize(
    ("attempt", "rand", "retry_after", "expected"),
    [
        (0, 1.0, None, 2.0),
        (1, 1.0, None, 4.0),
        (2, 0.5, None, 4.5),
        (10, 1.0, None, 30.0),
        (10_000, 1.0, None, 30.0),
        (-1, 1.0, None, 2.0),
        (0, 0.0, None, 1.0),
        (7, 0.0, None, 1.0),
        (0, 0.5, 7.0, 7.0),
        (5, 1.0, 7.0, 30.0),
        (0, 0.5, 86_400.0, MAX_RETRY_AFTER_SECONDS),
    ],
    ids=[
        "first",
        "doubles",
        "jitter",
        "capped",
        "huge-attempt",
        "negative-attempt",
        "zero-jitter-is-the-floor",
        "late-zero-jitter-is-the-floor",
        "retry-after-floor",
        "backoff-above-floor",
        "floor-capped",
    ],
)
def test_backoff_seconds(
    attempt: int, rand: float, retry_after: float | None, expected: float
) -> None:
    delay = backoff_seconds(
        attempt, initial=1.0, cap=30.0, retry_after=retry_after, rand=lambda: rand
    )

    assert delay == expected


@given(
    attempt=st.integers(0, 10_000),
    rand=st.floats(0.0, 1.0, exclude_max=True),
    retry_after=st.none() | st.floats(0.0, 1e9),
)
def test_backoff_stays_between_the_floors_and_the_caps(
    attempt: int, rand: float, retry_after: float | None
) -> None:
    delay = backoff_seconds(
        attempt, initial=0.5, cap=30.0, retry_after=retry_after, rand=lambda: rand
    )

    floor = 0.5
    if retry_after is not None:
        floor = max(floor, min(retry_after, MAX_RETRY_AFTER_SECONDS))
    assert floor <= delay <= max(30.0, floor)


def test_the_cap_wins_over_a_larger_initial_delay() -> None:
    delay = backoff_seconds(0, initial=5.0, cap=2.0, retry_after=None, rand=lambda: 0.5)

    assert delay == 2.0
