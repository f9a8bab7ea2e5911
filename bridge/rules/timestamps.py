"""A source's ``timestamp`` spec → a function giving each record's event time.

Formats: ``iso8601`` (``datetime.fromisoformat`` after a trailing Z becomes +00:00;
naive times are read in the spec's IANA ``timezone``, UTC by default), ``unix``
(seconds) and ``unix_ms`` (milliseconds), numbers or numeric strings.

Invariants: the result is an aware datetime in UTC; a missing field or a value that
does not parse gives the record's ``read_at``, never an exception. The time zone is
checked at load, with a did-you-mean hint over the names zoneinfo knows.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo

from bridge.model import Record
from bridge.rules.coercions import to_number
from bridge.rules.fieldpaths import Getter, compile_getter, parse_field_path
from bridge.rules.schema import (
    Reporter,
    check_keys,
    did_you_mean,
    expect_map,
    expect_str,
    one_of,
)
from bridge.rules.yamlnodes import Node, child_path, show

__all__ = ["FORMATS", "TimestampFn", "compile_timestamp", "read_time"]

TimestampFn = Callable[[Record], datetime]

FORMATS = ("iso8601", "unix", "unix_ms")
_KEYS = ("field", "format", "timezone")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def read_time(record: Record) -> datetime:
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
    if not ok or get is None or fmt is None or zone is None:
        return None
    if fmt == "iso8601":
        return _iso8601(get, zone)
    return _epoch(
        get, timedelta(seconds=1) if fmt == "unix" else timedelta(milliseconds=1)
    )


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
    message = f"unknown format {show(name)}; expected one of {one_of(FORMATS)}"
    rep.error(node, path, message, did_you_mean(name, FORMATS))
    return None


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


def _iso8601(get: Getter, zone: tzinfo) -> TimestampFn:
    def timestamp_of(record: Record) -> datetime:
        value = get(record.fields)
        if not isinstance(value, str):
            return record.read_at
        if value.endswith(("Z", "z")):
            value = value[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(value)
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=zone)
            return parsed.astimezone(UTC)
        except (ValueError, OverflowError):
            # OverflowError: year 1 or 9999 shifted out of range by the offset.
            return record.read_at

    return timestamp_of


def _epoch(get: Getter, unit: timedelta) -> TimestampFn:
    def timestamp_of(record: Record) -> datetime:
        number = to_number(get(record.fields))
        if number is None:
            return record.read_at
        try:
            # timedelta arithmetic is exact for integer milliseconds, where
            # fromtimestamp(ms / 1000) would round through a float.
            return _EPOCH + number * unit
        except (ValueError, OverflowError):
            return record.read_at

    return timestamp_of
