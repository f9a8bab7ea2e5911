from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bridge.rules import RuleSet
from bridge.rules.state import RuleState
from bridge.rules.values.failures import Issue
from tests.rules.support import READ_AT, compile_text, events, record


def source_with_timestamp(spec: str) -> str:
    return f"""\
sources:
  - name: app
    paths: [/var/log/app.log]
    timestamp: {spec}
rules:
  - name: r
    source: app
    event: e
"""


def event_time(spec: str, fields: dict[str, Any]) -> datetime:
    (event,) = events(source_with_timestamp(spec), fields)
    return event.timestamp


def utc(
    year: int, month: int, day: int, hour: int = 0, *, second: int = 0, us: int = 0
) -> datetime:
    return datetime(year, month, day, hour, 0, second, us, tzinfo=UTC)


TIMESTAMP_CASES = [
    # Each case: id, timestamp spec, value of field t, expected event time.
    ("iso-z", "{field: t}", "2025-12-16T10:00:00Z", utc(2025, 12, 16, 10)),
    ("iso-lower-z", "{field: t}", "2025-12-16T10:00:00z", utc(2025, 12, 16, 10)),
    ("iso-offset", "{field: t}", "2025-12-16T12:00:00+02:00", utc(2025, 12, 16, 10)),
    (
        "iso-negative-offset",
        "{field: t}",
        "2025-12-16T05:00:00-05:00",
        utc(2025, 12, 16, 10),
    ),
    (
        "iso-millis",
        "{field: t}",
        "2025-12-16T10:00:00.123Z",
        utc(2025, 12, 16, 10, us=123000),
    ),
    (
        "iso-nanos-cut",
        "{field: t}",
        "2025-12-16T10:00:00.123456789Z",
        utc(2025, 12, 16, 10, us=123456),
    ),
    ("iso-space", "{field: t}", "2025-12-16 10:00:00+00:00", utc(2025, 12, 16, 10)),
    ("iso-date-only", "{field: t}", "2025-12-16", utc(2025, 12, 16)),
    ("iso-naive-is-utc", "{field: t}", "2025-12-16T10:00:00", utc(2025, 12, 16, 10)),
    (
        "iso-naive-in-zone-winter",
        "{field: t, timezone: Europe/Madrid}",
        "2025-12-16T11:00:00",
        utc(2025, 12, 16, 10),
    ),
    (
        "iso-naive-in-zone-summer",
        "{field: t, timezone: Europe/Madrid}",
        "2025-07-16T12:00:00",
        utc(2025, 7, 16, 10),
    ),
    (
        "iso-aware-ignores-zone",
        "{field: t, timezone: Europe/Madrid}",
        "2025-07-16T10:00:00Z",
        utc(2025, 7, 16, 10),
    ),
    (
        "iso-explicit-format",
        "{field: t, format: iso8601}",
        "2025-12-16T10:00:00Z",
        utc(2025, 12, 16, 10),
    ),
    (
        "iso-utc-zone",
        "{field: t, timezone: UTC}",
        "2025-12-16T10:00:00",
        utc(2025, 12, 16, 10),
    ),
    ("iso-unparseable", "{field: t}", "yesterday", READ_AT),
    ("iso-number", "{field: t}", 1765879200, READ_AT),
    ("iso-null", "{field: t}", None, READ_AT),
    ("iso-overflow", "{field: t}", "0001-01-01T00:00:00+01:00", READ_AT),
    ("unix-int", "{field: t, format: unix}", 1765879200, utc(2025, 12, 16, 10)),
    (
        "unix-float",
        "{field: t, format: unix}",
        1765879200.25,
        utc(2025, 12, 16, 10, us=250000),
    ),
    ("unix-string", "{field: t, format: unix}", "1765879200", utc(2025, 12, 16, 10)),
    (
        "unix-float-string",
        "{field: t, format: unix}",
        "1765879200.5",
        utc(2025, 12, 16, 10, us=500000),
    ),
    ("unix-bool", "{field: t, format: unix}", True, READ_AT),
    ("unix-text", "{field: t, format: unix}", "soon", READ_AT),
    ("unix-iso-text", "{field: t, format: unix}", "2025-12-16T10:00:00Z", READ_AT),
    ("unix-overflow", "{field: t, format: unix}", 10**20, READ_AT),
    ("unix-infinite", "{field: t, format: unix}", "1e999", READ_AT),
    (
        "unix-ms-int",
        "{field: t, format: unix_ms}",
        1765879200123,
        utc(2025, 12, 16, 10, us=123000),
    ),
    (
        "unix-ms-string",
        "{field: t, format: unix_ms}",
        "1765879200123",
        utc(2025, 12, 16, 10, us=123000),
    ),
    (
        "unix-ms-float",
        "{field: t, format: unix_ms}",
        1765879200123.5,
        utc(2025, 12, 16, 10, us=123500),
    ),
    (
        "unix-ms-negative",
        "{field: t, format: unix_ms}",
        -1000,
        utc(1969, 12, 31, 23, second=59) + timedelta(minutes=59),
    ),
]


@pytest.mark.parametrize(
    ("spec", "value", "expected"),
    [case[1:] for case in TIMESTAMP_CASES],
    ids=[case[0] for case in TIMESTAMP_CASES],
)
def test_event_timestamp(spec, value, expected):
    result = event_time(spec, {"t": value})

    assert result == expected
    assert result.utcoffset() is not None
    assert result.tzinfo is UTC or result == READ_AT


def test_missing_timestamp_field_gives_read_time():
    result = event_time("{field: t}", {"other": "2025-12-16T10:00:00Z"})

    assert result == READ_AT


def test_nested_timestamp_field():
    result = event_time("{field: meta.ts, format: unix}", {"meta": {"ts": 0}})

    assert result == utc(1970, 1, 1)


def test_source_without_timestamp_spec_uses_read_time():
    (event,) = events(
        source_with_timestamp("null").replace("    timestamp: null\n", ""),
        {"timestamp": "2025-12-16T10:00:00Z"},
    )

    assert event.timestamp == READ_AT


def test_all_events_of_a_line_share_its_timestamp():
    text = (
        source_with_timestamp("{field: t}")
        + """\
  - name: r2
    source: app
    event: e2
"""
    )

    result = events(text, {"t": "2025-12-16T10:00:00Z"})

    assert [e.timestamp for e in result] == [utc(2025, 12, 16, 10)] * 2


# A line of the checkout service: the order rule should not send an order at the
# wrong time, while the audit rule wants every line, whenever it happened.
PER_RULE = """\
sources:
  - name: app
    paths: [/var/log/shop/app.log]
    timestamp: {field: ts SOURCE_ON_ERROR}
rules:
  - name: orders
    source: app
    when: {msg: order placed}
    event: order_placed
    RULE_ON_ERROR
  - name: audit
    source: app
    event: line_seen
"""
ORDER = {"msg": "order placed", "order_id": "A-1041"}


def per_rule(source_on_error: str, rule_on_error: str) -> RuleSet:
    text = PER_RULE.replace(" SOURCE_ON_ERROR", source_on_error)
    return compile_text(text.replace("RULE_ON_ERROR", rule_on_error))


def emitted(
    ruleset: RuleSet, fields: dict[str, Any]
) -> tuple[list[tuple[str, datetime]], list[Issue]]:
    """(rule, time) of each event the fields give, and the issues counted."""
    state = RuleState(ruleset)
    found = ruleset.apply(record(fields), state)
    return [(event.rule, event.timestamp) for event in found], state.issues


@pytest.mark.parametrize(
    ("ts", "reason"),
    [({"ts": "yesterday"}, "unparsed"), ({}, "missing")],
    ids=["unparsed", "missing"],
)
def test_a_rule_may_skip_its_event_when_the_time_fails(ts, reason):
    ruleset = per_rule("", "timestamp_on_error: skip")

    result = emitted(ruleset, {**ORDER, **ts})

    assert result == (
        [("audit", READ_AT)],
        [
            Issue("orders", "timestamp", reason),
            Issue("orders", "event", "skipped"),
            Issue("audit", "timestamp", reason),
        ],
    )


def test_a_rule_may_keep_its_event_at_the_read_time_when_the_source_skips():
    ruleset = per_rule(", on_error: skip", "timestamp_on_error: read_time")

    result = emitted(ruleset, {**ORDER, "ts": "yesterday"})

    assert result == (
        [("orders", READ_AT)],
        [
            Issue("orders", "timestamp", "unparsed"),
            Issue("audit", "timestamp", "unparsed"),
            Issue("audit", "event", "skipped"),
        ],
    )


def test_without_state_a_rule_that_keeps_its_event_still_gets_the_read_time():
    ruleset = per_rule(", on_error: skip", "timestamp_on_error: read_time")

    result = ruleset.apply(record({**ORDER, "ts": "yesterday"}))

    assert [(e.rule, e.timestamp) for e in result] == [("orders", READ_AT)]


@pytest.mark.parametrize(
    "rule_on_error",
    ["timestamp_on_error: skip", "timestamp_on_error: read_time"],
    ids=["skip", "read-time"],
)
def test_a_time_that_parses_is_used_whatever_the_rule_says(rule_on_error):
    ruleset = per_rule(", on_error: skip", rule_on_error)

    result = emitted(ruleset, {**ORDER, "ts": "2025-12-16T10:00:00Z"})

    assert result == (
        [("orders", utc(2025, 12, 16, 10)), ("audit", utc(2025, 12, 16, 10))],
        [],
    )


def test_a_rule_without_timestamp_on_error_follows_its_source():
    ruleset = per_rule(", on_error: skip", "")

    result = emitted(ruleset, {**ORDER, "ts": "yesterday"})

    assert result == (
        [],
        [
            Issue("orders", "timestamp", "unparsed"),
            Issue("orders", "event", "skipped"),
            Issue("audit", "timestamp", "unparsed"),
            Issue("audit", "event", "skipped"),
        ],
    )


def test_the_rule_decides_for_its_aggregate_too():
    ruleset = per_rule(
        "", "timestamp_on_error: skip\n    aggregate: {window_seconds: 60, count: n}"
    )
    state = RuleState(ruleset)

    during = ruleset.apply(record({**ORDER, "ts": "yesterday"}), state)
    summaries = ruleset.flush(state, now=None)

    assert [e.rule for e in during + summaries] == ["audit"]
    assert state.issues[:2] == [
        Issue("orders", "timestamp", "unparsed"),
        Issue("orders", "event", "skipped"),
    ]
