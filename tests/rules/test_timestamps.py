from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.rules.support import READ_AT, events


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
