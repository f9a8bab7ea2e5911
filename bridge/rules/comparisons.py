"""The bounds of a condition: ``gt``, ``gte``, ``lt``, ``lte`` against a number or a duration.

::

    when:
      status: {gte: 500}                      # a number (or a numeric string) >= 500
      took: {gt: 1s}                          # a duration: "1.2s", "850ms", "1m3.5s"
      duration: {gt: 1s, number_unit: ns}     # ... or a bare number, in nanoseconds
      elapsed: {gte: 500ms, lt: 2m}           # a range: every bound a duration

A bound is a number, or a duration written with its units (``1s``, ``500ms``,
``1.5s``, ``2m``, ``1h30m``: ``bridge.rules.values.durations``). A number bound
compares the field as a number, as it always did. A duration bound compares the
field as a duration: text with its units, whatever they are ("1.2s" > 1s, "850ms" <
1s), and, only when ``number_unit`` says in which unit, a bare number or a numeric
string (Go's JSON writes a ``time.Duration`` as integer nanoseconds; pino's
``responseTime`` is milliseconds). Without ``number_unit`` a bare number is no
duration: a number has no unit of its own, and guessing one would make
``{gt: 1s}`` hold for a 2 ms ``2``.

The bounds of one mapping are all numbers or all durations, and ``number_unit`` sits
beside duration bounds only; anything else is an error where it is written.

Comparison is exact (decimal nanoseconds): ``1.1ms`` equals ``1100us``. A value that
cannot be read as a duration (text without units, a bare number without
``number_unit``, a boolean, a list) makes the bound neither true nor false:
``unreadable`` says why, the condition that holds it does not hold, and the rule
counts it (``bridge.rules.conditions``). An absent field or null is just false, as
for any bound.

Invariants: bounds are checked at load; a test never raises, whatever the value.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from bridge.rules.fieldpaths import MISSING
from bridge.rules.schema import Reporter, choice
from bridge.rules.values.durations import UNITS, parse_duration, parse_duration_text
from bridge.rules.values.types import to_number
from bridge.yamlnodes import Map, Node, Scalar, child_path, describe, to_plain

__all__ = ["BOUNDS", "NOT_DURATION", "Bound", "compile_bounds"]

_Compare = Callable[[Any, Any], bool]
BOUNDS: Mapping[str, _Compare] = MappingProxyType(
    {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}
)
# Why a duration bound could not judge a value: the reason counted.
NOT_DURATION = "not_duration"
_NUMBER_UNIT = "number_unit"
_DURATION_HINT = "hint: write a number, or a duration with its unit: 1s, 500ms, 1m30s"


@dataclass(frozen=True, slots=True)
class Bound:
    """
    One compiled bound: the operator, its operand as written, the test, and for a
    duration, what says why a value cannot be judged ("" when it can).
    """

    op: str
    operand: Any
    test: Callable[[Any], bool] = field(repr=False, compare=False)
    unreadable: Callable[[Any], str] | None = field(
        default=None, repr=False, compare=False
    )


def compile_bounds(rep: Reporter, mapping: Map, path: str) -> dict[str, Bound] | None:
    """
    Compile the bounds (and ``number_unit``) of one operator mapping.

    Returns:
        The bounds by operator name (none: {}), or None after reporting.
    """
    operands = [
        (key.text, node, _operand(node))
        for key, node in mapping.entries
        if key.text in BOUNDS
    ]
    durations = [
        to_plain(node) for _, node, value in operands if isinstance(value, Decimal)
    ]
    ok = True
    for op, node, value in operands:
        if value is None:
            message = (
                f"expected a number or a duration for {op!r}, got {describe(node)}"
            )
            rep.error(node, path, message, _DURATION_HINT)
            ok = False
        elif durations and not isinstance(value, Decimal):
            message = (
                f"expected a duration for {op!r} like {durations[0]!r}, "
                f"got {describe(node)}"
            )
            hint = f"hint: write it with its unit, e.g. {value}ms or {value}s"
            rep.error(node, path, message, hint)
            ok = False
    number_unit = _number_unit(rep, mapping, path, has_durations=bool(durations))
    if not ok or number_unit is None:
        return None
    return {
        op: _bound(op, to_plain(node), value, number_unit or None)
        for op, node, value in operands
        if value is not None
    }


def _number_unit(
    rep: Reporter, mapping: Map, path: str, *, has_durations: bool
) -> str | None:
    """The unit of bare numbers ("": none stated), or None after reporting."""
    node = mapping.get(_NUMBER_UNIT)
    if node is None:
        return ""
    if not has_durations:
        message = f"{_NUMBER_UNIT!r} applies only beside duration bounds"
        hint = "hint: write the bound with its unit, e.g. gt: 1s"
        rep.error(node, child_path(path, _NUMBER_UNIT), message, hint)
        return None
    return choice(rep, mapping, path, _NUMBER_UNIT, UNITS, "")


def _operand(node: Node) -> Decimal | int | float | None:
    """A number bound, a duration bound (in nanoseconds, a Decimal), or None."""
    value = node.value if isinstance(node, Scalar) else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        return parse_duration_text(value)
    return None


def _bound(
    op: str, written: Any, value: Decimal | int | float, number_unit: str | None
) -> Bound:
    compare = BOUNDS[op]
    if not isinstance(value, Decimal):

        def is_in_range(found: Any) -> bool:
            number = to_number(found)
            return number is not None and compare(number, value)

        return Bound(op, value, is_in_range)

    def is_in_duration_range(found: Any) -> bool:
        nanos = parse_duration(found, number_unit)
        return nanos is not None and compare(nanos, value)

    def unreadable(found: Any) -> str:
        if found is MISSING or found is None:
            return ""
        if parse_duration(found, number_unit) is not None:
            return ""
        if to_number(found) is not None:
            return "a number, and no number_unit says in which unit"
        return "not a duration"

    return Bound(op, written, is_in_duration_range, unreadable)
