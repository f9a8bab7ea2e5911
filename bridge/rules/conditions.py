"""A rule's ``when`` mapping → one plain predicate over a record's fields.

Invariants:

- Compiled once: field paths are parsed, RE2 patterns compiled and operands checked
  at load; the predicate does no dispatch on the YAML shape per line.
- A predicate never raises: a field of an unexpected type makes a test false (or
  true for ``ne`` and ``not``), never an exception.
- A missing field equals nothing, not even null; ``ne`` holds on a missing field,
  ``exists: false`` tests exactly that, and ``not`` negates whatever it wraps.

Shape: every entry of a ``when`` mapping must hold. An entry is ``path: condition``
or one of ``any: [when, ...]``, ``all: [when, ...]``, ``not: when``. A condition is a
scalar (equality, see ``coercions.equals``), or a mapping of operators that must all
hold; a list is refused as ambiguous (``in`` says what it means).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import re2

from bridge.rules.coercions import equals, render_text, to_number
from bridge.rules.fieldpaths import MISSING, compile_getter, parse_field_path
from bridge.rules.schema import (
    Reporter,
    did_you_mean,
    expect_list,
    expect_map,
    expect_str,
    one_of,
)
from bridge.rules.yamlnodes import (
    Key,
    Map,
    Node,
    Scalar,
    Seq,
    child_path,
    describe,
    item_path,
)

__all__ = ["OPERATORS", "Predicate", "compile_condition", "compile_when"]

Predicate = Callable[[Any], bool]
_Compiler = Callable[[Reporter, Node, str], Predicate | None]

_GROUPS = ("all", "any")


def compile_when(rep: Reporter, node: Node, path: str) -> Predicate | None:
    """
    Compile a ``when`` mapping into a predicate over a record's fields.

    Returns:
        The predicate, or None after reporting what is wrong.
    """
    mapping = expect_map(rep, node, path)
    if mapping is None:
        return None
    predicates: list[Predicate] = []
    ok = True
    for key, value in mapping.entries:
        where = child_path(path, key.text)
        predicate: Predicate | None
        if key.text in _GROUPS:
            predicate = _compile_group(rep, key.text, value, where)
        elif key.text == "not":
            inner = compile_when(rep, value, where)
            predicate = None if inner is None else _negate(inner)
        else:
            predicate = _compile_field(rep, key, value, where)
        if predicate is None:
            ok = False
        else:
            predicates.append(predicate)
    return _all_of(predicates) if ok else None


def compile_condition(
    rep: Reporter, node: Node, path: str, field: str = ""
) -> Predicate | None:
    """
    Compile the condition on one field's value (which may be ``MISSING``).

    ``field`` is the field path as written, used to hint at nested-field mistakes.
    """
    if isinstance(node, Scalar):
        return equals(node.value)
    if isinstance(node, Seq):
        rep.error(node, path, "a list is ambiguous here", "hint: write {in: [...]}")
        return None
    return _compile_operators(rep, node, path, field)


def _compile_field(rep: Reporter, key: Key, node: Node, path: str) -> Predicate | None:
    segments = parse_field_path(key.text)
    test = compile_condition(rep, node, path, key.text)
    if isinstance(segments, str):
        rep.error(key, path, segments)
        return None
    if test is None:
        return None
    get = compile_getter(segments)
    return lambda fields: test(get(fields))


def _compile_group(rep: Reporter, name: str, node: Node, path: str) -> Predicate | None:
    seq = expect_list(rep, node, path, "a list of condition mappings")
    if seq is None:
        return None
    if not seq.items:
        message = "expected at least one condition mapping, got an empty list"
        rep.error(seq, path, message)
        return None
    compiled = [
        compile_when(rep, item, item_path(path, i)) for i, item in enumerate(seq.items)
    ]
    predicates = [p for p in compiled if p is not None]
    if len(predicates) != len(compiled):
        return None
    return _all_of(predicates) if name == "all" else _any_of(predicates)


def _compile_operators(
    rep: Reporter, mapping: Map, path: str, field: str
) -> Predicate | None:
    if not mapping.entries:
        rep.error(mapping, path, "expected at least one operator, got an empty mapping")
        return None
    tests: list[Predicate] = []
    ok = True
    for key, value in mapping.entries:
        compile_operator = _OPERATOR_COMPILERS.get(key.text)
        if compile_operator is None:
            message = (
                f"unknown operator {key.text!r}; expected one of {one_of(OPERATORS)}"
            )
            hint = did_you_mean(key.text, OPERATORS)
            if not hint and field:
                hint = f"hint: to test a nested field, write '{field}.{key.text}'"
            rep.error(key, path, message, hint)
            ok = False
            continue
        test = compile_operator(rep, value, path)
        if test is None:
            ok = False
        else:
            tests.append(test)
    return _all_of(tests) if ok else None


def _scalar_operand(rep: Reporter, node: Node, path: str, name: str) -> Scalar | None:
    if isinstance(node, Scalar):
        return node
    kind = "a list" if isinstance(node, Seq) else "a mapping"
    rep.error(node, path, f"expected a scalar for {name!r}, got {kind}")
    return None


def _compile_eq(rep: Reporter, node: Node, path: str) -> Predicate | None:
    operand = _scalar_operand(rep, node, path, "eq")
    return None if operand is None else equals(operand.value)


def _compile_ne(rep: Reporter, node: Node, path: str) -> Predicate | None:
    operand = _scalar_operand(rep, node, path, "ne")
    return None if operand is None else _negate(equals(operand.value))


def _compile_in(rep: Reporter, node: Node, path: str) -> Predicate | None:
    seq = expect_list(rep, node, path, "a list for 'in'")
    if seq is None:
        return None
    if not seq.items:
        rep.error(seq, path, "expected at least one value for 'in', got an empty list")
        return None
    operands = [_scalar_operand(rep, item, path, "in") for item in seq.items]
    values = [operand.value for operand in operands if operand is not None]
    if len(values) != len(operands):
        return None
    tests = tuple(equals(value) for value in values)
    # A string field equals a rule value exactly when it equals that value's text
    # (coercions.equals), so strings, the most common case, need one set lookup.
    texts = frozenset(
        text
        for text in (render_text(value) for value in values if value is not None)
        if isinstance(text, str)
    )

    def is_in(value: Any) -> bool:
        if isinstance(value, str):
            return value in texts
        return any(test(value) for test in tests)

    return is_in


def _compile_exists(rep: Reporter, node: Node, path: str) -> Predicate | None:
    if not (isinstance(node, Scalar) and isinstance(node.value, bool)):
        rep.error(
            node, path, f"expected true or false for 'exists', got {describe(node)}"
        )
        return None
    if node.value:
        return lambda value: value is not MISSING
    return lambda value: value is MISSING


def _compile_regex(rep: Reporter, node: Node, path: str) -> Predicate | None:
    pattern = expect_str(rep, node, path, "a pattern for 'regex'")
    if pattern is None:
        return None
    options = re2.Options()
    # RE2 would also print the error to stderr; the Problem reports it instead.
    options.log_errors = False
    try:
        regex = re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args else ""
        rep.error(node, path, f"RE2 cannot compile {pattern!r}: {reason}")
        return None
    search = regex.search
    return lambda value: isinstance(value, str) and search(value) is not None


def _compile_text_test(name: str) -> _Compiler:
    def compile_text_test(rep: Reporter, node: Node, path: str) -> Predicate | None:
        operand = expect_str(rep, node, path, f"a non-empty string for {name!r}")
        if operand is None:
            return None
        if name == "contains":
            return lambda value: isinstance(value, str) and operand in value
        if name == "startswith":
            return lambda value: isinstance(value, str) and value.startswith(operand)
        return lambda value: isinstance(value, str) and value.endswith(operand)

    return compile_text_test


def _compile_comparison(name: str, compare: Callable[[Any, Any], bool]) -> _Compiler:
    def compile_comparison(rep: Reporter, node: Node, path: str) -> Predicate | None:
        bound = node.value if isinstance(node, Scalar) else None
        if not isinstance(bound, int | float) or isinstance(bound, bool):
            rep.error(
                node, path, f"expected a number for {name!r}, got {describe(node)}"
            )
            return None

        def is_in_range(value: Any) -> bool:
            number = to_number(value)
            return number is not None and compare(number, bound)

        return is_in_range

    return compile_comparison


def _compile_not(rep: Reporter, node: Node, path: str) -> Predicate | None:
    inner = compile_condition(rep, node, path)
    return None if inner is None else _negate(inner)


def _negate(inner: Predicate) -> Predicate:
    return lambda value: not inner(value)


def _all_of(tests: Sequence[Predicate]) -> Predicate:
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        # The most common conjunction, unrolled: one call less per line.
        first, second = tests
        return lambda value: first(value) and second(value)
    frozen = tuple(tests)
    return lambda value: all(test(value) for test in frozen)


def _any_of(tests: Sequence[Predicate]) -> Predicate:
    frozen = tuple(tests)
    return lambda value: any(test(value) for test in frozen)


_OPERATOR_COMPILERS: Mapping[str, _Compiler] = MappingProxyType(
    {
        "contains": _compile_text_test("contains"),
        "endswith": _compile_text_test("endswith"),
        "eq": _compile_eq,
        "exists": _compile_exists,
        "gt": _compile_comparison("gt", operator.gt),
        "gte": _compile_comparison("gte", operator.ge),
        "in": _compile_in,
        "lt": _compile_comparison("lt", operator.lt),
        "lte": _compile_comparison("lte", operator.le),
        "ne": _compile_ne,
        "not": _compile_not,
        "regex": _compile_regex,
        "startswith": _compile_text_test("startswith"),
    }
)
OPERATORS: frozenset[str] = frozenset(_OPERATOR_COMPILERS)
