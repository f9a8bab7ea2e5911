"""The ``json`` parser: one JSON object per line, decoded with orjson.

Invariants:

- ``parse_json`` never raises, whatever the text; a line that is valid JSON but not
  an object is a failure, because rules address fields by name.
- Duplicate keys keep the last value (orjson and the stdlib agree on that). A
  byte-order mark is not JSON: the reader strips it from the start of a file, and
  one anywhere else makes the line invalid.
- Nesting deeper than ``max_depth`` levels (``read.max_depth``, 128 by default; orjson
  itself stops at 1024) is the failure ``too_deep``, kept apart from
  ``invalid_json`` so an operator can tell hostile or runaway input from noise. What
  is accepted can be shown by every tool and written back by orjson (254 levels).
- No digit of an integer is lost: orjson reads integers beyond 64 bits as floats
  (1.2345678901234568e+29), so a line that holds a run of 20 or more digits is read
  again with the stdlib, and an integer beyond 64 bits becomes a ``BigInt``, which
  the spool writes as a JSON integer digit for digit (a distinct_id rounded to a
  float would merge different people). ``decode_json`` reads any JSON text the same
  way: a spooled event's body, for the tools that show it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from bridge.model import exact_int
from bridge.parse.failure import ParseFailure

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "BlockScan",
    "decode_json",
    "exceeds_depth",
    "parse_json",
    "scan_json_block",
]

# Logs nest a handful of levels; this leaves room for odd ones while staying far below
# what orjson writes back (254 levels) once a value sits inside an event.
DEFAULT_MAX_DEPTH = 128

# orjson's fixed nesting limit reports itself with this message (orjson README,
# "Deserialize": "depth limit exceeded" past 1024 levels).
_TOO_DEEP = "depth limit exceeded"
# Python's limit for int() of a digit string (sys.get_int_max_str_digits()).
_MAX_INT_DIGITS = 4300
# orjson's message for a number past the double range, integer or not.
_INFINITY = "number is infinity"
# An integer beyond 64 bits has 20 digits or more (2**64 - 1 has 20), or is a
# negative one of 19 (-2**63 has 19).
_DIGIT_RUN = b"0" * 20
_NEGATIVE_RUN = b"-" + b"0" * 19
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_RUN_OF_19 = b"0" * 19
_ZERO = ord("0")
_MINUS = ord("-")
_JSON_SPACE = frozenset(b" \t\r\n")
_OPENERS = frozenset(b"{[")
_CLOSERS = frozenset(b"}]")
_QUOTE = ord('"')
_BACKSLASH = ord("\\")
_VALUE_OPENERS = frozenset(b":[,")
# What _read_exactly gives back when the stdlib cannot read a text either.
_UNREAD = object()

_JSON_KINDS = {
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}


def parse_json(
    text: str, max_depth: int = DEFAULT_MAX_DEPTH
) -> dict[str, Any] | ParseFailure:
    """
    Return the fields of a JSON-object line, or why it is not one.
    """
    try:
        value = decode_json(text)
    except orjson.JSONDecodeError as exc:
        detail = str(exc)
        reason = "too_deep" if detail.startswith(_TOO_DEEP) else "invalid_json"
        return ParseFailure(reason, detail)
    if not isinstance(value, dict):
        kind = _JSON_KINDS.get(type(value), "a non-object value")
        return ParseFailure("not_an_object", f"expected a JSON object, got {kind}")
    if exceeds_depth(text, max_depth):
        return _too_deep(max_depth)
    return value


def decode_json(data: str | bytes) -> Any:
    """
    Return the JSON value of ``data`` with every integer as written: one beyond 64
    bits is a ``BigInt``, where orjson alone gives a float or, past a double's range,
    refuses it; one over 4300 digits stays its text.

    Raises:
        orjson.JSONDecodeError: ``data`` is not JSON orjson reads, an integer past
            a double's range aside.
    """
    try:
        # orjson also refuses numbers out of double range, lone surrogates, raw
        # control characters in strings and nesting deeper than 1024 levels.
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        # An integer past the double range reads as infinity, which orjson refuses.
        if str(exc).startswith(_INFINITY):
            exact = _read_exactly(data, _UNREAD)
            if exact is not _UNREAD:
                return exact
        raise
    if _may_hold_huge_int(data):
        return _read_exactly(data, value)
    return value


def _too_deep(max_depth: int) -> ParseFailure:
    return ParseFailure("too_deep", f"nested deeper than {max_depth} levels")


def exceeds_depth(text: str | bytes, max_depth: int) -> bool:
    """Whether a JSON text nests objects and arrays deeper than ``max_depth``."""
    # Two counts in C settle nearly every line: it cannot nest deeper than it has
    # brackets.
    if isinstance(text, str):
        if text.count("{") + text.count("[") <= max_depth:
            return False
        return _depth_above(text.encode(errors="surrogatepass"), max_depth)
    if text.count(b"{") + text.count(b"[") <= max_depth:
        return False
    return _depth_above(text, max_depth)


def _depth_above(data: bytes, max_depth: int) -> bool:
    """The exact walk: brackets count outside strings only."""
    depth = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == _BACKSLASH:
                escaped = True
            else:
                in_string = byte != _QUOTE
        elif byte == _QUOTE:
            in_string = True
        elif byte in _OPENERS:
            depth += 1
            if depth > max_depth:
                return True
        elif byte in _CLOSERS:
            depth -= 1
    return False


@dataclass(slots=True)
class BlockScan:
    """
    What ``scan_json_block`` found: the lines kept (offset in the block, bytes without
    the line terminator, fields, and what ``keep`` said of them), how many parsed but
    were not kept, and the reason of each line that did not parse.
    """

    kept: list[tuple[int, bytes, dict[str, Any], Any]] = field(default_factory=list)
    dropped: int = 0
    failures: list[str] = field(default_factory=list)
    # Empty or white-space lines: no record, and no parse error either.
    blank: int = 0


def scan_json_block(
    block: bytes,
    keep: Callable[[dict[str, Any]], Any],
    spans: Iterable[tuple[int, bytes]] | None = None,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> BlockScan:
    """
    Parse the lines of ``block`` (valid UTF-8, each line ending in ``\\n``), or only
    ``spans`` of it (offset, line without terminator), and keep the fields for which
    ``keep`` gives a true value (kept with them); every field is what ``parse_json``
    gives for the line's text.

    The daemon's hot path: lines are read by orjson from the bytes, without decoding
    them or a Python call of our own per line; ``parse_json`` reads again only the
    lines orjson alone cannot settle (not an object, invalid, or holding a run of
    digits that may be an integer beyond 64 bits).
    """
    scan = BlockScan()
    kept, failures = scan.kept, scan.failures
    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    dropped = 0
    if spans is None:
        suspects = _huge_int_lines(block)
        spans = _every_line(block)
    else:
        suspects = None
    for begin, raw in spans:
        try:
            fields = loads(raw)
        except decode_error:
            fields = None
        if (
            type(fields) is not dict
            or (suspects is None and _may_hold_huge_int_bytes(raw))
            or (suspects and begin in suspects)
        ):
            if not raw.strip():
                scan.blank += 1
                continue
            exact = parse_json(raw.removesuffix(b"\r").decode(), max_depth)
            if isinstance(exact, ParseFailure):
                failures.append(exact.reason)
                continue
            fields = exact
        verdict = keep(fields)
        if verdict:
            # Only a kept line becomes a record: the depth matters there alone.
            if exceeds_depth(raw, max_depth):
                failures.append("too_deep")
                continue
            kept.append((begin, raw.removesuffix(b"\r"), fields, verdict))
        else:
            dropped += 1
    scan.dropped = dropped
    return scan


def _every_line(block: bytes) -> Iterator[tuple[int, bytes]]:
    begin = 0
    parts = block.split(b"\n")
    parts.pop()  # the block ends with a newline
    for part in parts:
        yield begin, part
        begin += len(part) + 1


def _huge_int_lines(block: bytes) -> set[int]:
    """
    The offsets of the lines of ``block`` that may hold an integer beyond 64 bits.

    A run of 19 or more digits is one when it starts a JSON number: preceded (after
    white space and a minus sign) by ':', '[' or ','. Runs inside strings, such as a
    long numeric id or a hex request id that happens to be all digits, are common in
    logs; they are told apart here so that their lines stay on the fast path.
    """
    digits = block.translate(_DIGITS_TO_ZERO)
    lines: set[int] = set()
    at = digits.find(_RUN_OF_19)
    while at >= 0:
        start = at
        while start > 0 and digits[start - 1] == _ZERO:
            start -= 1
        end = at + len(_RUN_OF_19)
        while digits[end] == _ZERO:  # the block ends with a newline, not a digit
            end += 1
        before = start - 1
        while before >= 0 and block[before] in _JSON_SPACE:
            before -= 1
        negative = before >= 0 and block[before] == _MINUS
        if negative:
            before -= 1
            while before >= 0 and block[before] in _JSON_SPACE:
                before -= 1
        starts_number = before >= 0 and block[before] in _VALUE_OPENERS
        if starts_number and (end - start >= len(_DIGIT_RUN) or negative):
            lines.add(block.rfind(b"\n", 0, start) + 1)
        at = digits.find(_RUN_OF_19, end)
    return lines


def _may_hold_huge_int_bytes(raw: bytes) -> bool:
    digits = raw.translate(_DIGITS_TO_ZERO)
    return _DIGIT_RUN in digits or _NEGATIVE_RUN in digits


def _may_hold_huge_int(text: str | bytes) -> bool:
    # bytes.translate is the cheapest whole-line scan CPython offers (well under a
    # microsecond for a typical line); a regex search costs several. orjson has
    # already accepted the text, so it holds no lone surrogate and encodes.
    raw = text.encode() if isinstance(text, str) else text
    return _may_hold_huge_int_bytes(raw)


def _read_exactly(text: str | bytes, fallback: Any) -> Any:
    """The stdlib's reading of the text, with exact integers; ``fallback`` if none."""
    try:
        # The stdlib is the more lenient parser: the hooks make it refuse what
        # orjson refuses (NaN, infinities), so the only difference left is the
        # integers handled by _exact_int.
        return json.loads(
            text,
            parse_int=_exact_int,
            parse_float=_finite_float,
            parse_constant=_no_constant,
        )
    except (ValueError, RecursionError):
        # ValueError: an infinite float. RecursionError: the stdlib's limit is a
        # little below orjson's 1024 levels.
        return fallback


def _exact_int(digits: str) -> int | str:
    # int() of a string over 4300 digits raises (CVE-2020-10735 limit): such a
    # number stays its text, the one case where no integer can be made.
    if len(digits) > _MAX_INT_DIGITS:
        return digits
    return exact_int(int(digits))


def _finite_float(digits: str) -> float:
    number = float(digits)
    if math.isinf(number):
        msg = "number is infinity when parsed as double"
        raise ValueError(msg)
    return number


def _no_constant(name: str) -> float:
    msg = f"{name} is not JSON"
    raise ValueError(msg)
