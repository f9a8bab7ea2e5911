"""Timestamp formats beyond the basics: RFC 3339, epoch units, auto, syslog, strptime."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.model import Line, Record
from bridge.rules.timestamps import FORMATS
from bridge.rules.values.failures import Failed
from tests.rules.support import READ_AT, compile_text, errors

# READ_AT is 2026-01-02T03:04:05Z: year-less times are placed against it.


def time_of(spec: str, value: Any, read_at: datetime = READ_AT) -> datetime:
    """The event time; a time that fails is replaced by the read time, as events are."""
    text = f"sources:\n  - name: app\n    paths: [/a.log]\n    timestamp: {spec}\n"
    (source,) = compile_text(text).sources
    found = source.timestamp_of(Record(Line("app", "fp", 0, ""), {"t": value}, read_at))
    return read_at if isinstance(found, Failed) else found


def utc(
    year: int,
    month: int,
    day: int,
    hour: int = 0,
    minute: int = 0,
    second: int = 0,
    *,
    us: int = 0,
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


CASES = [
    # id, spec, value of field t, expected event time
    (
        "rfc3339",
        "{field: t, format: rfc3339}",
        "2025-12-16T10:00:00Z",
        utc(2025, 12, 16, 10),
    ),
    (
        "rfc3339-lowercase",
        "{field: t, format: rfc3339}",
        "2025-12-16t10:00:00.5z",
        utc(2025, 12, 16, 10, 0, 0, us=500000),
    ),
    (
        "iso-python-logging-comma",
        "{field: t}",
        "2025-12-16 10:00:00,123",
        utc(2025, 12, 16, 10, 0, 0, us=123000),
    ),
    ("iso-basic-form", "{field: t}", "20251216T100000Z", utc(2025, 12, 16, 10)),
    ("iso-padded", "{field: t}", " 2025-12-16T10:00:00Z ", utc(2025, 12, 16, 10)),
    (
        "iso-offset-no-colon",
        "{field: t}",
        "2025-12-16T11:00:00+0100",
        utc(2025, 12, 16, 10),
    ),
    ("iso-leap-second", "{field: t}", "2016-12-31T23:59:60Z", READ_AT),
    (
        "unix-us",
        "{field: t, format: unix_us}",
        1765879200123456,
        utc(2025, 12, 16, 10, 0, 0, us=123456),
    ),
    (
        "unix-us-string",
        "{field: t, format: unix_us}",
        "1765879200123456",
        utc(2025, 12, 16, 10, 0, 0, us=123456),
    ),
    (
        "unix-ns",
        "{field: t, format: unix_ns}",
        1765879200123456789,
        utc(2025, 12, 16, 10, 0, 0, us=123457),
    ),
    (
        "unix-ns-string",
        "{field: t, format: unix_ns}",
        "1765879200123456000",
        utc(2025, 12, 16, 10, 0, 0, us=123456),
    ),
    ("unix-ns-nan", "{field: t, format: unix_ns}", "nan", READ_AT),
    ("auto-seconds", "{field: t, format: auto}", 1765879200, utc(2025, 12, 16, 10)),
    (
        "auto-float-seconds",
        "{field: t, format: auto}",
        1765879200.25,
        utc(2025, 12, 16, 10, 0, 0, us=250000),
    ),
    (
        "auto-seconds-string",
        "{field: t, format: auto}",
        "1765879200",
        utc(2025, 12, 16, 10),
    ),
    (
        "auto-millis",
        "{field: t, format: auto}",
        1765879200123,
        utc(2025, 12, 16, 10, 0, 0, us=123000),
    ),
    (
        "auto-micros",
        "{field: t, format: auto}",
        1765879200123456,
        utc(2025, 12, 16, 10, 0, 0, us=123456),
    ),
    (
        "auto-nanos",
        "{field: t, format: auto}",
        1765879200123456000,
        utc(2025, 12, 16, 10, 0, 0, us=123456),
    ),
    (
        "auto-negative-seconds",
        "{field: t, format: auto}",
        -1,
        utc(1969, 12, 31, 23, 59, 59),
    ),
    (
        "auto-iso",
        "{field: t, format: auto}",
        "2025-12-16T10:00:00Z",
        utc(2025, 12, 16, 10),
    ),
    (
        "auto-naive-iso-in-zone",
        "{field: t, format: auto, timezone: Europe/Madrid}",
        "2025-12-16T11:00:00",
        utc(2025, 12, 16, 10),
    ),
    ("auto-bool", "{field: t, format: auto}", True, READ_AT),
    ("auto-text", "{field: t, format: auto}", "soon", READ_AT),
    ("auto-overflow", "{field: t, format: auto}", 10**30, READ_AT),
    (
        "syslog-this-year",
        "{field: t, format: syslog}",
        "Jan  2 03:04:05",
        utc(2026, 1, 2, 3, 4, 5),
    ),
    (
        "syslog-last-year",
        "{field: t, format: syslog}",
        "Nov 28 04:12:01",
        utc(2025, 11, 28, 4, 12, 1),
    ),
    (
        "syslog-new-year-eve",
        "{field: t, format: syslog}",
        "Dec 31 23:59:59",
        utc(2025, 12, 31, 23, 59, 59),
    ),
    (
        "syslog-a-day-ahead-is-this-year",
        "{field: t, format: syslog}",
        "Jan  3 03:04:05",
        utc(2026, 1, 3, 3, 4, 5),
    ),
    (
        "syslog-past-a-day-ahead-is-last-year",
        "{field: t, format: syslog}",
        "Jan  3 03:04:06",
        utc(2025, 1, 3, 3, 4, 6),
    ),
    (
        "syslog-fraction-and-lowercase",
        "{field: t, format: syslog}",
        "nov 28 04:12:01.25",
        utc(2025, 11, 28, 4, 12, 1, us=250000),
    ),
    (
        "syslog-nanosecond-fraction-cut",
        "{field: t, format: syslog}",
        "Nov 28 04:12:01.123456789",
        utc(2025, 11, 28, 4, 12, 1, us=123456),
    ),
    (
        "syslog-in-zone",
        "{field: t, format: syslog, timezone: Europe/Madrid}",
        "Nov 28 05:12:01",
        utc(2025, 11, 28, 4, 12, 1),
    ),
    (
        "syslog-leap-day-goes-to-a-leap-year",
        "{field: t, format: syslog}",
        "Feb 29 12:00:00",
        utc(2024, 2, 29, 12),
    ),
    ("syslog-unknown-month", "{field: t, format: syslog}", "Foo 28 04:12:01", READ_AT),
    ("syslog-impossible-day", "{field: t, format: syslog}", "Nov 31 04:12:01", READ_AT),
    ("syslog-no-time", "{field: t, format: syslog}", "Nov 28", READ_AT),
    ("syslog-number", "{field: t, format: syslog}", 1765879200, READ_AT),
    (
        "strptime-nginx",
        "{field: t, format: '%d/%b/%Y:%H:%M:%S %z'}",
        "16/Dec/2025:11:00:00 +0100",
        utc(2025, 12, 16, 10),
    ),
    (
        "strptime-naive-in-zone",
        "{field: t, format: '%Y-%m-%d %H:%M:%S', timezone: Europe/Madrid}",
        "2025-07-16 12:00:00",
        utc(2025, 7, 16, 10),
    ),
    (
        "strptime-two-digit-year-and-micros",
        "{field: t, format: '%y%m%d %H%M%S.%f'}",
        "251216 100000.000042",
        utc(2025, 12, 16, 10, 0, 0, us=42),
    ),
    (
        "strptime-literal-percent",
        "{field: t, format: '%Y-%m-%d 100%%'}",
        "2025-12-16 100%",
        utc(2025, 12, 16),
    ),
    (
        "strptime-year-less",
        "{field: t, format: '%b %d %H:%M:%S'}",
        "Nov 28 04:12:01",
        utc(2025, 11, 28, 4, 12, 1),
    ),
    (
        "strptime-year-less-with-offset",
        "{field: t, format: '%m-%d %H:%M %z'}",
        "12-31 23:30 -0100",
        utc(2026, 1, 1, 0, 30),
    ),
    (
        "strptime-year-less-in-zone",
        "{field: t, format: '%d.%m. %H:%M', timezone: Europe/Madrid}",
        "02.01. 04:00",
        utc(2026, 1, 2, 3),
    ),
    (
        "strptime-year-less-leap-day",
        "{field: t, format: '%m/%d %H:%M'}",
        "02/29 12:00",
        utc(2024, 2, 29, 12),
    ),
    ("strptime-no-match", "{field: t, format: '%Y-%m-%d'}", "16/12/2025", READ_AT),
    ("strptime-number", "{field: t, format: '%Y'}", 2025, READ_AT),
    ("strptime-year-less-no-match", "{field: t, format: '%b %d'}", "2025", READ_AT),
    ("strptime-year-less-number", "{field: t, format: '%b %d'}", 5, READ_AT),
    (
        "strptime-overflow",
        "{field: t, format: '%Y-%m-%d %z'}",
        "0001-01-01 +0100",
        READ_AT,
    ),
]


@pytest.mark.parametrize(
    ("spec", "value", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_event_timestamp_in_every_format(spec, value, expected):
    result = time_of(spec, value)

    assert result == expected
    assert result.tzinfo is UTC


def test_year_inference_at_the_end_of_time_keeps_the_read_time():
    read_at = datetime(9999, 12, 31, 23, 0, tzinfo=UTC)

    result = time_of("{field: t, format: syslog}", "Dec 31 22:00:00", read_at)

    assert result == datetime(9999, 12, 31, 22, 0, tzinfo=UTC)


def test_year_inference_with_no_possible_year_gives_the_read_time():
    read_at = datetime(1, 1, 2, tzinfo=UTC)

    results = [
        time_of("{field: t, format: syslog}", "Feb 29 00:00:00", read_at),
        time_of(
            "{field: t, format: syslog, timezone: Asia/Tokyo}",
            "Jan  1 05:00:00",
            read_at,
        ),
    ]

    assert results == [read_at, read_at]


@given(st.sampled_from(FORMATS), st.text() | st.integers() | st.floats())
def test_timestamps_never_raise_and_are_utc(fmt, value):
    result = time_of(f"{{field: t, format: {fmt}}}", value)

    assert result.tzinfo is UTC


HEAD = "sources:\n  - name: app\n    paths: /a.log\n    timestamp: {field: t, format: "
ERROR_CASES = [
    pytest.param(
        "'%d/%q/%Y'}\n",
        "rules/a.yaml:4:35: error: sources[0].timestamp.format: strptime pattern "
        "'%d/%q/%Y': unknown directive '%q' (hint: %% stands for a literal '%')",
        id="unknown-directive",
    ),
    pytest.param(
        "'%s'}\n",
        "rules/a.yaml:4:35: error: sources[0].timestamp.format: strptime pattern "
        "'%s': unknown directive '%s' (hint: for epoch seconds use format: unix)",
        id="epoch-directive",
    ),
    pytest.param(
        "'%Y-%m-%-d'}\n",
        "rules/a.yaml:4:35: error: sources[0].timestamp.format: strptime pattern "
        "'%Y-%m-%-d': unknown directive '%-' (hint: strptime reads unpadded "
        "numbers with the plain directive, e.g. %d)",
        id="glibc-flag",
    ),
    pytest.param(
        "'at %Y %'}\n",
        "rules/a.yaml:4:35: error: sources[0].timestamp.format: strptime pattern "
        "'at %Y %' ends with a lone '%' (hint: %% stands for a literal '%')",
        id="lone-percent",
    ),
    pytest.param(
        "'%H:%M:%S'}\n",
        "rules/a.yaml:4:35: error: sources[0].timestamp.format: strptime pattern "
        "'%H:%M:%S' has no date (hint: it needs %Y (or %y), or a month and a day "
        "(%m or %b, and %d))",
        id="time-only",
    ),
    pytest.param(
        "'%b %H:%M'}\n",
        "rules/a.yaml:4:35: error: sources[0].timestamp.format: strptime pattern "
        "'%b %H:%M' has no date (hint: it needs %Y (or %y), or a month and a day "
        "(%m or %b, and %d))",
        id="month-without-day",
    ),
    pytest.param(
        "'%G-%V'}\n",
        "rules/a.yaml:4:35: error: sources[0].timestamp.format: strptime pattern "
        "'%G-%V': ISO year directive '%G' must be used with the ISO week directive "
        "'%V' and a weekday directive ('%A', '%a', '%w', or '%u')",
        id="iso-week-incomplete",
    ),
    pytest.param(
        "sylog}\n",
        "rules/a.yaml:4:35: error: sources[0].timestamp.format: unknown format "
        "'sylog'; expected one of auto, iso8601, rfc3339, syslog, unix, unix_ms, "
        "unix_ns, unix_us, or a strptime pattern (did you mean 'syslog'?)",
        id="format-typo",
    ),
]


@pytest.mark.parametrize(("spec", "expected"), ERROR_CASES)
def test_invalid_timestamp_format_is_reported_at_load(spec, expected):
    assert errors(HEAD + spec) == [expected]
