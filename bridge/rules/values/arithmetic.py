"""Arithmetic steps: a number multiplied, divided, shifted or rounded.

::

    steps:
      - multiply: 100          # 149.9 → 14990.0
      - divide: 1000           # 1532 → 1.532
      - add: -273.15           # or subtract: 273.15
      - round: 2               # 2 decimals; round alone: a whole number (an int)

A step reads a number, or a string that spells one ("149.90"); null and ``NO_MATCH``
pass on unchanged, as through every step. Anything else (text that is no number, a
boolean, a list, a mapping) fails with ``not_number``; a result too large for a
float fails with ``out_of_range``. The value's ``on_error`` then decides.

Results: integers stay integers through ``add``, ``subtract`` and ``multiply`` by an
integer (exact at any size); any float in the operation makes a float, ``divide``
always gives a float, ``round: N`` a float with N decimals and ``round`` an int. The
arithmetic is decimal on the numbers as written, so ``149.9 * 100`` is ``14990.0``,
not ``14990.000000000002``, and ``type: int`` after it gives ``14990``; halves round
away from zero (``0.125`` → ``0.13``).

Invariants: operands are checked at load (a number, finite, and no division by
zero); a step never raises.
"""

from __future__ import annotations

import decimal
import math
import operator
from collections.abc import Callable, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from bridge.model import exact_int
from bridge.rules.fieldpaths import MISSING
from bridge.rules.schema import Reporter
from bridge.rules.values.failures import NO_MATCH, Failed
from bridge.rules.values.types import to_number
from bridge.yamlnodes import Node, Scalar, describe

__all__ = ["ARITHMETIC_STEPS", "MAX_ROUND_DECIMALS"]

StepFn = Callable[[Any], Any]
_Compiler = Callable[[Reporter, Node | None, str], StepFn | None]

# A float carries 15 to 17 significant digits: more decimals than this say nothing.
MAX_ROUND_DECIMALS = 15
# Enough digits for any float, and for an integer of a few dozen digits times one.
_CONTEXT = decimal.Context(prec=60, rounding=decimal.ROUND_HALF_UP)

# Each operation on integers (exact at any size), and on decimals.
_Operation = Callable[[Any, Any], Any]
_OPERATIONS: Mapping[str, tuple[_Operation, _Operation]] = MappingProxyType(
    {
        "add": (operator.add, _CONTEXT.add),
        "subtract": (operator.sub, _CONTEXT.subtract),
        "multiply": (operator.mul, _CONTEXT.multiply),
        "divide": (operator.truediv, _CONTEXT.divide),
    }
)


def _compile_operation(name: str) -> _Compiler:
    on_ints, on_decimals = _OPERATIONS[name]

    def compile_step(rep: Reporter, node: Node | None, path: str) -> StepFn | None:
        if node is None:
            return None  # steps.py says it needs an argument
        operand = _operand(rep, node, path, name)
        if operand is None:
            return None
        if name == "divide" and operand == 0:
            rep.error(node, path, "division by zero; expected a number other than 0")
            return None
        exact = Decimal(repr(operand))
        # An integer operation keeps integers; divide always makes a float.
        whole = isinstance(operand, int) and name != "divide"

        def apply(value: Any) -> Any:
            number = _number(value)
            if number is None or number is NO_MATCH or type(number) is Failed:
                return number
            if whole and isinstance(number, int):
                return exact_int(on_ints(number, operand))
            return _float(on_decimals(_decimal(number), exact))

        return apply

    return compile_step


def _compile_round(rep: Reporter, node: Node | None, path: str) -> StepFn | None:
    decimals = 0
    if node is not None:
        value = node.value if isinstance(node, Scalar) else None
        if (
            not isinstance(value, int)
            or isinstance(value, bool)
            or not 0 <= value <= MAX_ROUND_DECIMALS
        ):
            message = (
                f"expected a number of decimals from 0 to {MAX_ROUND_DECIMALS} "
                f"for 'round', got {describe(node)}"
            )
            rep.error(node, path, message)
            return None
        decimals = value
    quantum = Decimal(1).scaleb(-decimals)

    def apply(value: Any) -> Any:
        number = _number(value)
        if number is None or number is NO_MATCH or type(number) is Failed:
            return number
        if isinstance(number, int) and decimals == 0:
            return exact_int(number)
        try:
            rounded = _decimal(number).quantize(quantum, context=_CONTEXT)
        except decimal.InvalidOperation:
            # More digits than the context holds: a float so large has no decimals.
            rounded = _decimal(number)
        return exact_int(int(rounded)) if decimals == 0 else _float(rounded)

    return apply


def _operand(rep: Reporter, node: Node, path: str, name: str) -> int | float | None:
    value = node.value if isinstance(node, Scalar) else None
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
    ):
        return value
    message = f"expected a finite number for {name!r}, got {describe(node)}"
    rep.error(node, path, message)
    return None


def _number(value: Any) -> Any:
    """The number a value is or spells; null and NO_MATCH as they are; or a Failed."""
    if value is None or value is NO_MATCH:
        return value
    number = to_number(value)
    if number is None or (isinstance(number, float) and not math.isfinite(number)):
        return Failed("not_number", MISSING)
    return number


def _decimal(number: int | float) -> Decimal:
    # repr() of a float is its shortest round-trip spelling: 149.9, not 149.900000...
    return Decimal(number) if isinstance(number, int) else Decimal(repr(number))


def _float(result: Decimal) -> Any:
    # float() of a Decimal beyond a float's range is infinity, which JSON lacks.
    value = float(result)
    return value if math.isfinite(value) else Failed("out_of_range", MISSING)


ARITHMETIC_STEPS: Mapping[str, _Compiler] = MappingProxyType(
    {
        **{name: _compile_operation(name) for name in _OPERATIONS},
        "round": _compile_round,
    }
)
