"""The ``duration`` type: "1h2m3.5s", "40.058304ms", "199.184µs", 1532 → a number.

Forms read (case-sensitive, as Go and Rust write them):

- one or more ``<number><unit>`` parts, optionally signed and separated by spaces:
  ``1h2m3.5s``, ``2m 30s``, ``-1.5h``; units ``ns``, ``us`` (also ``µs`` and ``μs``,
  the micro sign and the Greek mu), ``ms``, ``s``, ``m``, ``h``, ``d``. Go's
  ``time.Duration.String()`` and Rust's ``Debug`` of ``Duration`` write these.
- a bare number (or a numeric string) in a unit the rule states (``number_unit``):
  Go's JSON encodes a ``time.Duration`` as integer nanoseconds. Where no unit is
  stated (``number_unit`` None: a condition's bound without one), a bare number is
  not a duration.

The result is a float in the rule's ``unit`` (milliseconds by default). Arithmetic is
decimal until the last step, so ``1.1ms`` is ``1.1``, not ``1.1000000000000003``.

Invariants: pure, never raises; anything else (an unknown unit, a bool, a
structure, text around the duration, NaN) is not a duration.
"""

from __future__ import annotations

import decimal
import math
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from bridge.rules.fieldpaths import MISSING
from bridge.rules.values.types import to_number

__all__ = [
    "DEFAULT_UNIT",
    "UNITS",
    "duration_converter",
    "parse_duration",
    "parse_duration_text",
]

# Nanoseconds per unit. "d" is not Go's but humantime's (Rust); a day is 24 h here.
_NANOS: Mapping[str, int] = MappingProxyType(
    {
        "ns": 1,
        "us": 1_000,
        "µs": 1_000,
        "μs": 1_000,
        "ms": 1_000_000,
        "s": 1_000_000_000,
        "m": 60_000_000_000,
        "h": 3_600_000_000_000,
        "d": 86_400_000_000_000,
    }
)
# The units a rule may ask for: the ASCII spellings.
UNITS = ("ns", "us", "ms", "s", "m", "h", "d")
DEFAULT_UNIT = "ms"
_PART = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h|d)")
_WHOLE = re.compile(
    r"[+-]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ns|us|µs|μs|ms|s|m|h|d) *)+"
)
# Plenty for any real duration; bounds the work on a hostile value.
_MAX_TEXT_CHARS = 100


def parse_duration_text(text: str) -> Decimal | None:
    """Return the nanoseconds of a duration written with its units ("1m3.5s"), or None."""
    text = text.strip()
    if len(text) > _MAX_TEXT_CHARS or not _WHOLE.fullmatch(text):
        return None
    total = sum(
        (Decimal(number) * _NANOS[unit] for number, unit in _PART.findall(text)),
        Decimal(0),
    )
    return -total if text.startswith("-") else total


def parse_duration(value: Any, number_unit: str | None) -> Decimal | None:
    """Return the duration in nanoseconds, or None when ``value`` is not one."""
    if isinstance(value, str):
        if len(value) > _MAX_TEXT_CHARS:
            return None
        nanos = parse_duration_text(value)
        if nanos is not None:
            return nanos
    if number_unit is None:
        return None
    number = to_number(value)
    if number is None or (isinstance(number, float) and not math.isfinite(number)):
        return None
    try:
        # str() of a float is its shortest round-trip spelling: 1.1, not 1.100000...
        exact = Decimal(str(number)) if isinstance(number, float) else Decimal(number)
        return exact * _NANOS[number_unit]
    except decimal.InvalidOperation:
        return None


def duration_converter(unit: str, number_unit: str) -> Callable[[Any], Any]:
    """A ``type: duration`` converter giving a float in ``unit``, or MISSING."""
    per_unit = Decimal(_NANOS[unit])

    def to_duration(value: Any) -> Any:
        nanos = parse_duration(value, number_unit)
        if nanos is None:
            return MISSING
        result = float(nanos / per_unit)
        return result if math.isfinite(result) else MISSING

    return to_duration
