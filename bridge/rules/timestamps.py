"""A source's ``timestamp`` spec → a function giving each record's event time.

Formats (``format:``, default ``iso8601``):

- ``iso8601`` / ``rfc3339``: ``datetime.fromisoformat`` after a trailing Z becomes
  +00:00 (so ``2025-12-16T10:00:00.123456789Z``, ``2025-12-16 10:00:00,123``, a
  lowercase ``t``, ``+0200`` and date-only forms all read).
- ``unix``, ``unix_ms``, ``unix_us``, ``unix_ns``: seconds, milliseconds,
  microseconds or nanoseconds since the epoch, numbers or numeric strings.
- ``auto``: a number or numeric string is epoch time whose unit is guessed from its
  size (below 1e11 seconds, which reaches the year 5138; below 1e14 milliseconds;
  below 1e17 microseconds; nanoseconds beyond); any other string is ISO 8601.
- ``syslog``: RFC 3164's ``Nov 28 04:12:01`` (English month, optional fraction),
  whose year is inferred (below).
- any text with a ``%``: a ``datetime.strptime`` pattern, checked at load (each
  directive, then a round trip of a sample time). A pattern with a month and day
  but no year (%Y, %y, %G, %c, %x) has its year inferred; one without a date at
  all is refused, because it would date every event to 1900.

The year of a year-less format (``year:``):

- ``read`` (default): the latest year that puts the time no more than a day after
  the line was read (the day absorbs clock skew and zone confusion): a December
  line read on January 1st belongs to the year before;
- ``file``: the same, from the time the line's file was last modified, for files
  older than a year (a backfill of rotated logs); read time when it is unknown;
- a number: that year, for every line.

Invariants: the result is an aware datetime in UTC, or a ``Failed`` when the field
is absent (``missing``) or does not parse (``unparsed``), whose ``skip`` follows
the spec's ``on_error`` (``read_time``, the default: the caller uses the record's
``read_at``; ``skip``: the line gives no event), which a rule may override for its
own events (``timestamp_on_error``, ``bridge.rules.ruleset``); never an exception.
Naive times (no offset in the value) are read in the spec's IANA ``timezone``, UTC
by default; the zone is checked at load, with a did-you-mean hint over the names
zoneinfo knows.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Literal

from bridge.model import Record
from bridge.rules.fieldpaths import MISSING, Getter, compile_getter, parse_field_path
from bridge.rules.schema import (
    Reporter,
    check_keys,
    choice,
    did_you_mean,
    expect_map,
    expect_str,
    one_of,
)
from bridge.rules.values.failures import Failed
from bridge.rules.values.types import to_number
from bridge.yamlnodes import Map, Node, Scalar, child_path, describe, show

__all__ = [
    "FORMATS",
    "TIME_ON_ERROR_CHOICES",
    "TimeOnError",
    "TimestampFn",
    "compile_timestamp",
    "read_time",
]

TimestampFn = Callable[[Record], "datetime | Failed"]
# What a record whose time failed gives: an event at its read time, or none.
TimeOnError = Literal["read_time", "skip"]
TIME_ON_ERROR_CHOICES: tuple[TimeOnError, ...] = ("read_time", "skip")
# A field's value and the record → the instant, or None.
_ValueReader = Callable[[Any, Record], datetime | None]
# The moment a year-less time may not be more than a day after, for a record.
_YearReference = Callable[[Record], datetime]

_EPOCH_UNITS = {
    "unix": timedelta(seconds=1),
    "unix_ms": timedelta(milliseconds=1),
    "unix_us": timedelta(microseconds=1),
    # timedelta has no nanoseconds: the value is scaled down by _NS_PER_US below.
    "unix_ns": timedelta(microseconds=1),
}
FORMATS = ("auto", "iso8601", "rfc3339", "syslog", *_EPOCH_UNITS)
_KEYS = ("field", "format", "on_error", "timezone", "year")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NS_PER_US = 1000
# auto: the largest magnitude read in each unit (see the module docstring).
_AUTO_LIMITS = ((1e11, "unix"), (1e14, "unix_ms"), (1e17, "unix_us"))

# How far ahead of read_at an inferred-year time may be.
_YEAR_SLACK = timedelta(days=1)
# A leap year stands in for the missing one, so that Feb 29 parses at all.
_PLACEHOLDER_YEAR = "2000"
# Feb 29 recurs at most 8 years apart (1896 → 1904): one more candidate than that.
_YEARS_TRIED = 9

_SYSLOG = re.compile(
    r"([A-Za-z]{3}) +([0-9]{1,2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?"
)
# RFC 3164 writes English month abbreviations, whatever the host's locale.
_MONTH_NAMES = "jan feb mar apr may jun jul aug sep oct nov dec"
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES.split(), start=1)}

# What datetime.strptime understands (CPython's _strptime.TimeRE, 3.11).
_STRPTIME_DIRECTIVES = frozenset("aAbBcdfGHIjmMpSuUVwWxXyYzZ%")
_YEAR_DIRECTIVES = frozenset("YyGcx")
_MONTH_DIRECTIVES = frozenset("mbB")
_PERCENT = "hint: %% stands for a literal '%'"
_DIRECTIVE_HINTS = {
    "s": "hint: for epoch seconds use format: unix",
    "-": "hint: strptime reads unpadded numbers with the plain directive, e.g. %d",
}
# A sample instant for the load-time round trip of a strptime pattern.
_PROBE = datetime(2001, 2, 3, 4, 5, 6, 789000, tzinfo=UTC)


def read_time(record: Record) -> datetime | Failed:
    """The event time of a source without a timestamp spec: when the line was read."""
    return record.read_at


def compile_timestamp(rep: Reporter, node: Node, path: str) -> TimestampFn | None:
    """
    Compile a ``timestamp`` mapping into a record → aware UTC datetime function.

    Returns:
        The function, or None after reporting what is wrong.
    """
    mapping = expect_map(rep, node, path)
    if mapping is None:
        return None
    ok = check_keys(rep, mapping, path, _KEYS, required=("field",))
    get = _compile_field(rep, mapping.get("field"), child_path(path, "field"))
    fmt = _compile_format(rep, mapping.get("format"), child_path(path, "format"))
    zone = _compile_zone(rep, mapping.get("timezone"), child_path(path, "timezone"))
    on_error = choice(
        rep, mapping, path, "on_error", TIME_ON_ERROR_CHOICES, "read_time"
    )
    reference = _compile_year(rep, mapping, path, fmt)
    if (
        not ok
        or get is None
        or fmt is None
        or zone is None
        or on_error is None
        or reference is None
    ):
        return None
    return _timestamp_fn(
        get, _value_reader(fmt, zone, reference), skip=on_error == "skip"
    )


def _value_reader(fmt: str, zone: tzinfo, reference: _YearReference) -> _ValueReader:
    if fmt in ("iso8601", "rfc3339"):
        return lambda value, _record: _read_iso(value, zone)
    if fmt == "auto":
        return lambda value, _record: _read_auto(value, zone)
    if fmt == "syslog":
        return lambda value, record: _read_syslog(value, zone, reference(record))
    if fmt in _EPOCH_UNITS:
        return lambda value, _record: _read_epoch(to_number(value), fmt)
    return _strptime_reader(fmt, zone, reference)


def _timestamp_fn(get: Getter, read: _ValueReader, *, skip: bool) -> TimestampFn:
    missing = Failed("missing", MISSING, skip=skip, where="timestamp")
    unparsed = Failed("unparsed", MISSING, skip=skip, where="timestamp")

    def timestamp_of(record: Record) -> datetime | Failed:
        value = get(record.fields)
        if value is MISSING:
            return missing
        instant = read(value, record)
        return unparsed if instant is None else instant

    return timestamp_of


def _compile_year(
    rep: Reporter, mapping: Map, path: str, fmt: str | None
) -> _YearReference | None:
    """Where a year-less format takes its year from (see the module docstring)."""
    node = mapping.get("year")
    where = child_path(path, "year")
    if node is not None and fmt is not None and not _is_year_less_format(fmt):
        message = f"'year' applies only to a format without a year, not {show(fmt)}"
        rep.error(
            node, where, message, "hint: syslog, or a strptime pattern without %Y"
        )
        return None
    value = node.value if isinstance(node, Scalar) else None
    if node is None or value == "read":
        return _read_time
    if value == "file":
        return _file_time
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 9998:
        # The day after Dec 31 of that year: the latest year not past it is that one.
        limit = datetime(value + 1, 1, 1, tzinfo=UTC) - _YEAR_SLACK
        return lambda _record: limit
    message = f"expected 'read', 'file' or a year for 'year', got {describe(node)}"
    rep.error(node, where, message, "hint: e.g. year: 2025")
    return None


def _read_time(record: Record) -> datetime:
    return record.read_at


def _file_time(record: Record) -> datetime:
    return record.file_time or record.read_at


def _is_year_less_format(fmt: str) -> bool:
    if fmt == "syslog":
        return True
    return "%" in fmt and _is_year_less(set(re.findall("%(.)", fmt)))


def _compile_field(rep: Reporter, node: Node | None, path: str) -> Getter | None:
    if node is None:
        return None
    text = expect_str(rep, node, path, "a field path")
    if text is None:
        return None
    segments = parse_field_path(text)
    if isinstance(segments, str):
        rep.error(node, path, segments)
        return None
    return compile_getter(segments)


def _compile_format(rep: Reporter, node: Node | None, path: str) -> str | None:
    if node is None:
        return "iso8601"
    name = expect_str(rep, node, path, "a timestamp format")
    if name is None or name in FORMATS:
        return name
    if "%" in name:
        problem = _check_strptime(name)
        if problem is None:
            return name
        rep.error(node, path, *problem)
        return None
    message = (
        f"unknown format {show(name)}; expected one of {one_of(FORMATS)}, "
        "or a strptime pattern"
    )
    rep.error(node, path, message, did_you_mean(name, FORMATS))
    return None


def _check_strptime(pattern: str) -> tuple[str, str] | None:
    """Return (message, hint) when strptime cannot use the pattern, else None."""
    directives: set[str] = set()
    index = pattern.find("%")
    while index != -1:
        directive = pattern[index + 1 : index + 2]
        if not directive:
            return (f"strptime pattern {show(pattern)} ends with a lone '%'", _PERCENT)
        if directive not in _STRPTIME_DIRECTIVES:
            message = (
                f"strptime pattern {show(pattern)}: unknown directive '%{directive}'"
            )
            return (message, _DIRECTIVE_HINTS.get(directive, _PERCENT))
        directives.add(directive)
        index = pattern.find("%", index + 2)
    probe = pattern
    if _is_year_less(directives):
        has_date = "d" in directives and bool(directives & _MONTH_DIRECTIVES)
        if not has_date:
            return (
                f"strptime pattern {show(pattern)} has no date",
                "hint: it needs %Y (or %y), or a month and a day (%m or %b, and %d)",
            )
        probe = f"%Y|{pattern}"
    try:
        # The result is thrown away; only whether strptime takes the pattern counts.
        datetime.strptime(_PROBE.strftime(probe), probe)  # noqa: DTZ007
    except ValueError as exc:
        # E.g. %G without %V and a weekday directive.
        reason = str(exc).rstrip(".")
        return (f"strptime pattern {show(pattern)}: {reason}", "")
    return None


def _is_year_less(directives: set[str]) -> bool:
    return not directives & _YEAR_DIRECTIVES


def _compile_zone(rep: Reporter, node: Node | None, path: str) -> tzinfo | None:
    if node is None:
        return UTC
    name = expect_str(rep, node, path, "an IANA time zone name")
    if name is None:
        return None
    if name == "UTC":
        # Needs no tz database: a host without tzdata still runs UTC sources.
        return UTC
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        pass
    rep.error(node, path, f"unknown time zone {show(name)}", _zone_hint(name))
    return None


def _zone_hint(name: str) -> str:
    known = zoneinfo.available_timezones() | {"UTC"}
    by_lower = {zone.lower(): zone for zone in known}
    if name.lower() in by_lower:
        return f"did you mean {by_lower[name.lower()]!r}?"
    return did_you_mean(name, known)


def _to_utc(moment: datetime, zone: tzinfo) -> datetime | None:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        # Year 1 or 9999 shifted out of range by the offset.
        return None


def _read_iso(value: Any, zone: tzinfo) -> datetime | None:
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return _to_utc(parsed, zone)


def _read_epoch(number: float | None, unit_name: str) -> datetime | None:
    if number is None:
        return None
    try:
        # timedelta arithmetic is exact for integers, where fromtimestamp(ms / 1000)
        # would round through a float.
        offset = number * _EPOCH_UNITS[unit_name]
        if unit_name == "unix_ns":
            offset /= _NS_PER_US
        return _EPOCH + offset
    except (ValueError, OverflowError):
        # NaN, infinity, or beyond the years 1-9999.
        return None


def _read_auto(value: Any, zone: tzinfo) -> datetime | None:
    number = to_number(value)
    if number is None:
        return _read_iso(value, zone)
    size = abs(number)
    unit_name = next((name for limit, name in _AUTO_LIMITS if size < limit), "unix_ns")
    return _read_epoch(number, unit_name)


def _read_syslog(value: Any, zone: tzinfo, reference: datetime) -> datetime | None:
    if not isinstance(value, str):
        return None
    found = _SYSLOG.fullmatch(value.strip())
    if found is None:
        return None
    month_name, day, hour, minute, second, fraction = found.groups()
    month = _MONTHS.get(month_name.lower())
    if month is None:
        return None
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        moment = datetime(
            int(_PLACEHOLDER_YEAR),
            month,
            int(day),
            int(hour),
            int(minute),
            int(second),
            micro,
            tzinfo=zone,
        )
    except ValueError:
        return None
    return _infer_year(moment, reference)


def _strptime_reader(
    pattern: str, zone: tzinfo, reference: _YearReference
) -> _ValueReader:
    directives = set(re.findall("%(.)", pattern))
    if not _is_year_less(directives):

        def read_dated(value: Any, _record: Record) -> datetime | None:
            if not isinstance(value, str):
                return None
            try:
                # Naive when the pattern has no %z: _to_utc applies the zone.
                parsed = datetime.strptime(value.strip(), pattern)  # noqa: DTZ007
            except ValueError:
                return None
            return _to_utc(parsed, zone)

        return read_dated

    # Parsing with a placeholder year avoids strptime's year 1900 (not a leap
    # year, so Feb 29 would fail) and Python 3.13's warning about year-less dates.
    with_year = f"%Y|{pattern}"

    def read_year_less(value: Any, record: Record) -> datetime | None:
        if not isinstance(value, str):
            return None
        try:
            text = f"{_PLACEHOLDER_YEAR}|{value.strip()}"
            parsed = datetime.strptime(text, with_year)  # noqa: DTZ007 - zone below
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=zone)
        return _infer_year(parsed, reference(record))

    return read_year_less


def _infer_year(moment: datetime, reference: datetime) -> datetime | None:
    """Give an aware ``moment`` the latest year that keeps it within a day of
    ``reference``."""
    try:
        limit = reference + _YEAR_SLACK
    except OverflowError:
        limit = reference
    for year in range(limit.year + 1, limit.year + 1 - _YEARS_TRIED, -1):
        try:
            candidate = moment.replace(year=year)
        except ValueError:
            # Feb 29 in a common year, or a year outside 1-9999.
            continue
        if candidate <= limit:
            return _to_utc(candidate, UTC)
    return None
