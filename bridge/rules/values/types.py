"""Value types: the conversions of ``type:`` and the comparisons conditions use.

Types: ``int``, ``float``, ``bool``, ``str`` and ``duration`` (``bridge.rules.values.
durations``). Integers of any size stay exact: beyond 64 bits they become
``bridge.model.BigInt``, which is sent as a JSON integer, digit for digit.

Invariants: nothing here raises, whatever the value (huge integers, NaN, nested
containers, ``MISSING``); a value that cannot be coerced comes back as ``MISSING``
(or None for ``to_number``). A bool is never a number: JSON keeps them apart, and
``True == 1`` in Python would make ``status: 1`` match ``true``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import orjson

from bridge.model import exact_int
from bridge.rules.fieldpaths import MISSING, Missing

__all__ = [
    "CONVERTERS",
    "equals",
    "render_text",
    "to_bool",
    "to_float",
    "to_int",
    "to_number",
    "to_str",
]

# What a numeric string looks like: JSON numbers plus a leading '+' and a bare
# '.5' or '5.'; float() alone would also take 'nan', 'inf', '1_000' and spaces.
_NUMBER_CHARS = "0123456789.eE+-"
# Python refuses int() of longer digit strings (CVE-2020-10735); no id is that long.
_MAX_INT_DIGITS = 4300
_TRUE_WORDS = frozenset({"true", "1", "yes", "y", "on", "t"})
_FALSE_WORDS = frozenset({"false", "0", "no", "n", "off", "f"})


def render_text(value: Any) -> str | Missing:
    """
    Return a value as text: strings as they are, anything else as JSON.

    Returns:
        The text, or MISSING for MISSING and for values JSON cannot hold.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, Missing):
        return MISSING
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            # Exact for any size, unlike orjson, which refuses ints past 64 bits;
            # only Python's 4300-digit limit for int → str remains.
            return str(value)
        except ValueError:
            return MISSING
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return MISSING


def to_number(value: Any) -> int | float | None:
    """Return a number, or the number a numeric string spells; None otherwise."""
    kind = type(value)
    if kind is int or kind is float:  # the common cases first, without the ABCs
        return value  # type: ignore[no-any-return]
    if kind is not str:
        if isinstance(value, bool):
            return None
        if isinstance(value, int | float):
            return value
        if not isinstance(value, str):
            return None
    return _number_in(value)


def _number_in(text: str) -> int | float | None:
    # Only digits, '.', 'e', 'E', '+' and '-': of such strings float() and int() take
    # exactly the decimal numbers (their other spellings need '_', a space or a
    # letter: "1_0", " 1", "inf"), so their ValueError is the only other test needed.
    if text.strip(_NUMBER_CHARS):
        return None
    try:
        if "." in text or "e" in text or "E" in text:
            return float(text)
        if len(text) > _MAX_INT_DIGITS:
            return None
        return int(text)
    except ValueError:
        return None


def to_int(value: Any) -> Any:
    """
    Return an int from an int, an integral float or a numeric string; or MISSING.

    Integers of any size stay exact (a ``BigInt`` beyond 64 bits); a float is only
    taken when it is integral, and a float's digits beyond its precision are not
    invented: ``1e30`` is the float's integer value.
    """
    number = to_number(value)
    if isinstance(number, float):
        number = int(number) if number.is_integer() else None
    if number is None:
        return MISSING
    return exact_int(number)


def to_float(value: Any) -> Any:
    """Return a finite float: from numbers and numeric strings; or MISSING."""
    number = to_number(value)
    if number is None:
        return MISSING
    try:
        result = float(number)
    except OverflowError:
        return MISSING
    # JSON has no NaN or infinity; orjson would send them as null.
    return result if math.isfinite(result) else MISSING


def to_bool(value: Any) -> Any:
    """
    Return a bool from a bool, 1/0, or a word in any case: true/false, yes/no,
    y/n, on/off, t/f, 1/0.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
        return MISSING
    if isinstance(value, int | float) and value in (0, 1):
        return value == 1
    return MISSING


def to_str(value: Any) -> Any:
    """Return text (JSON for non-strings); null and MISSING give MISSING."""
    if value is None:
        return MISSING
    return render_text(value)


CONVERTERS: Mapping[str, Callable[[Any], Any]] = MappingProxyType(
    {"bool": to_bool, "float": to_float, "int": to_int, "str": to_str}
)


def equals(expected: str | int | float | bool | None) -> Callable[[Any], bool]:
    """
    Return a test for equality with a rule's scalar.

    Equal means: equal values, a bool never equal to a number; a string against a
    number or bool compares with the JSON rendering of the other (200 matches "200",
    true matches "true"); MISSING equals nothing, not even null.
    """
    if expected is None:
        return lambda value: value is None
    if isinstance(expected, bool):
        text = "true" if expected else "false"
        return lambda value: (
            value is expected or (isinstance(value, str) and value == text)
        )
    if isinstance(expected, int | float):
        number_text = render_text(expected)

        def equals_number(value: Any) -> bool:
            if isinstance(value, str):
                return value == number_text
            return (
                isinstance(value, int | float)
                and not isinstance(value, bool)
                and (value == expected)
            )

        return equals_number

    def equals_text(value: Any) -> bool:
        if isinstance(value, str):
            return value == expected
        if isinstance(value, int | float):
            return render_text(value) == expected
        return False

    return equals_text
