"""The ``json`` parser: one JSON object per line, decoded with orjson.

Invariants:

- ``parse_json`` never raises, whatever the text; a line that is valid JSON but not
  an object is a failure, because rules address fields by name.
- A leading byte-order mark is ignored; duplicate keys keep the last value (orjson
  and the stdlib agree on that).
- Nesting deeper than orjson's 1024 levels is the failure ``too_deep``, kept apart
  from ``invalid_json`` so an operator can tell hostile or runaway input from noise.
- No digit of an integer is lost: orjson reads integers beyond 64 bits as floats
  (1.2345678901234568e+29), so a line that holds a run of 20 or more digits is read
  again with the stdlib, and an integer beyond 64 bits becomes its decimal string.
  A string, because neither orjson (which encodes the spooled events) nor PostHog
  can hold such an integer exactly, and a distinct_id rounded to a float would
  merge different people.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson

from bridge.parse.failure import ParseFailure

__all__ = ["parse_json"]

# Some writers put a byte-order mark at the start of a file; orjson refuses it.
_BOM = "\ufeff"
# orjson's fixed nesting limit reports itself with this message (orjson README,
# "Deserialize": "depth limit exceeded" past 1024 levels).
_TOO_DEEP = "depth limit exceeded"
# orjson keeps integers in [-2**63, 2**64 - 1] exact (its README: 64-bit integers).
_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1
# orjson's message for a number past the double range, integer or not.
_INFINITY = "number is infinity"
# An integer beyond 64 bits has 20 digits or more (2**64 - 1 has 20), or is a
# negative one of 19 (-2**63 has 19).
_DIGIT_RUN = b"0" * 20
_NEGATIVE_RUN = b"-" + b"0" * 19
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")

_JSON_KINDS = {
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}


def parse_json(text: str) -> dict[str, Any] | ParseFailure:
    """
    Return the fields of a JSON-object line, or why it is not one.
    """
    if text.startswith(_BOM):
        text = text[1:]
    try:
        # orjson also refuses numbers out of double range, lone surrogates, raw
        # control characters in strings and nesting deeper than 1024 levels.
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        detail = str(exc)
        if detail.startswith(_TOO_DEEP):
            return ParseFailure("too_deep", detail)
        failure = ParseFailure("invalid_json", detail)
        # An integer past the double range reads as infinity, which orjson refuses.
        value = (
            _read_exactly(text, failure) if detail.startswith(_INFINITY) else failure
        )
        if isinstance(value, ParseFailure):
            return value
    else:
        if isinstance(value, dict) and _may_hold_huge_int(text):
            value = _read_exactly(text, value)
    if not isinstance(value, dict):
        kind = _JSON_KINDS.get(type(value), "a non-object value")
        return ParseFailure("not_an_object", f"expected a JSON object, got {kind}")
    return value


def _may_hold_huge_int(text: str) -> bool:
    # bytes.translate is the cheapest whole-line scan CPython offers (well under a
    # microsecond for a typical line); a regex search costs several. orjson has
    # already accepted the text, so it holds no lone surrogate and encodes.
    digits = text.encode().translate(_DIGITS_TO_ZERO)
    return _DIGIT_RUN in digits or _NEGATIVE_RUN in digits


def _read_exactly(text: str, fallback: Any) -> Any:
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
    # Length first: int() of a string over 4300 digits raises (CVE-2020-10735 limit).
    if len(digits) <= len(str(_INT_MIN)):
        number = int(digits)
        if _INT_MIN <= number <= _INT_MAX:
            return number
    return digits


def _finite_float(digits: str) -> float:
    number = float(digits)
    if math.isinf(number):
        msg = "number is infinity when parsed as double"
        raise ValueError(msg)
    return number


def _no_constant(name: str) -> float:
    msg = f"{name} is not JSON"
    raise ValueError(msg)
