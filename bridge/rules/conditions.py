"""A rule's ``when`` mapping → a condition tree and one plain predicate over fields.

Invariants:

- Compiled once: field paths are parsed, RE2 patterns compiled and operands checked
  at load; the predicate does no dispatch on the YAML shape per line.
- Two results of one compilation: the tree (``Cond``), which keeps every path,
  operator and operand for ``explain``, and the predicate made from it, which is
  all the hot path calls. Both judge a record the same way.
- A predicate never raises: a field of an unexpected type makes a test false (or
  true for ``ne`` and ``not``), never an exception.
- A missing field equals nothing, not even null; ``ne`` holds on a missing field,
  ``exists: false`` tests exactly that, and ``not`` negates whatever it wraps.
- Undecided, not false: a duration bound (``took: {gt: 1s}``,
  ``bridge.rules.comparisons``) cannot judge a value that is no duration ("n/a", a
  bare number without ``number_unit``). Such a check is neither true nor false, and
  so is what holds it, up the tree, unless the rest decides without it (an ``all``
  with a false entry is false, an ``any`` with a true one true; ``not`` of an
  undecided condition is undecided): three-valued logic, as SQL's NULL. An undecided
  ``when`` does not hold, even under ``not``, and ``judge_of`` says which field's
  condition left it undecided, so that callers count it (a rule as ``when.took:
  not_duration``) instead of letting a line silently stop matching. Trees without
  such checks never are undecided, and their predicate is the two-valued one.

Shape: every entry of a ``when`` mapping must hold. An entry is ``path: condition``
or one of ``any: [when, ...]``, ``all: [when, ...]``, ``not: when``. A condition is a
scalar (equality, see ``values.types.equals``), or a mapping of operators that must all
hold (the bounds ``gt``, ``gte``, ``lt``, ``lte`` and, beside duration bounds,
``number_unit``: ``bridge.rules.comparisons``); a list is refused as ambiguous (``in``
says what it means).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from bridge.rules.comparisons import BOUNDS, NOT_DURATION, compile_bounds
from bridge.rules.fieldpaths import MISSING, Getter, compile_getter, parse_field_path
from bridge.rules.patterns import compile_pattern
from bridge.rules.schema import (
    Reporter,
    did_you_mean,
    expect_list,
    expect_map,
    expect_str,
    one_of,
)
from bridge.rules.values.types import equals, render_text
from bridge.yamlnodes import (
    Key,
    Map,
    Node,
    Scalar,
    Seq,
    child_path,
    describe,
    item_path,
    to_plain,
)

__all__ = [
    "OPERATORS",
    "Check",
    "Cond",
    "FieldCond",
    "GroupCond",
    "Judge",
    "Predicate",
    "Undecided",
    "compile_when_tree",
    "is_fallible",
    "judge_of",
    "predicate_of",
]

Predicate = Callable[[Any], bool]
_Compiler = Callable[[Reporter, Node, str], "Check | None"]

_GROUPS = ("all", "any")
# Beside the operators, a duration bound's mapping may say its bare numbers' unit.
_NUMBER_UNIT = "number_unit"


@dataclass(frozen=True, slots=True)
class Check:
    """
    One operator applied to a field's value.

    ``operand`` is the rule's operand as plain data; ``inner`` holds the checks a
    value-level ``not`` negates.
    """

    op: str
    operand: Any
    test: Predicate = field(repr=False, compare=False)
    inner: tuple[Check, ...] = ()
    # A check that cannot judge every value (a duration bound): what says why it
    # cannot judge one ("" when it can), and the reason that is counted.
    unreadable: Callable[[Any], str] | None = field(
        default=None, repr=False, compare=False
    )
    reason: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class FieldCond:
    """
    ``path: condition``: every check must hold on the value at ``path``.

    ``top`` is the path's first segment; ``line``, ``col`` and ``where`` locate the
    key in the rule file.
    """

    path: str
    checks: tuple[Check, ...]
    get: Getter = field(repr=False, compare=False)
    top: str = ""
    line: int = 0
    col: int = 0
    where: str = ""


@dataclass(frozen=True, slots=True)
class GroupCond:
    """``all`` (the ``when`` mapping itself, and ``all:``), ``any`` or ``not``."""

    kind: Literal["all", "any", "not"]
    children: tuple[Cond, ...]


Cond = FieldCond | GroupCond


@dataclass(frozen=True, slots=True)
class Undecided:
    """The verdict of a condition a value kept from deciding: which one, and why."""

    cond: FieldCond
    reason: str

    def where_in(self, prefix: str) -> str:
        """Where the condition sits below ``prefix`` (a rule's path): ``when.took``."""
        return self.cond.where.removeprefix(prefix + ".")


# A verdict: True, False, or undecided.
Judge = Callable[[Any], "bool | Undecided"]


def compile_when_tree(rep: Reporter, node: Node, path: str) -> GroupCond | None:
    """
    Compile a ``when`` mapping into its condition tree (an ``all`` group).

    Returns:
        The tree, or None after reporting what is wrong.
    """
    mapping = expect_map(rep, node, path)
    if mapping is None:
        return None
    children: list[Cond] = []
    ok = True
    for key, value in mapping.entries:
        where = child_path(path, key.text)
        child: Cond | None
        if key.text in _GROUPS:
            child = _compile_group(rep, key.text, value, where)
        elif key.text == "not":
            inner = compile_when_tree(rep, value, where)
            child = None if inner is None else GroupCond("not", (inner,))
        else:
            child = _compile_field(rep, key, value, where)
        if child is None:
            ok = False
        else:
            children.append(child)
    return GroupCond("all", tuple(children)) if ok else None


def predicate_of(cond: Cond) -> Predicate:
    """
    The fast predicate over a record's fields that judges like the tree: true when
    the condition holds; false when it does not, or is undecided.
    """
    if is_fallible(cond):
        judge = judge_of(cond)
        return lambda fields: judge(fields) is True
    return _plain_predicate(cond)


def is_fallible(cond: Cond) -> bool:
    """Whether the condition may be undecided (it holds a duration bound)."""
    if isinstance(cond, FieldCond):
        return any(_is_fallible_check(check) for check in cond.checks)
    return any(is_fallible(child) for child in cond.children)


def _is_fallible_check(check: Check) -> bool:
    return check.unreadable is not None or any(
        _is_fallible_check(inner) for inner in check.inner
    )


def judge_of(cond: Cond) -> Judge:
    """The three-valued verdict of the condition over a record's fields."""
    if not is_fallible(cond):
        return _plain_predicate(cond)
    if isinstance(cond, FieldCond):
        checks, get = cond.checks, cond.get

        def judge_field(fields: Any) -> bool | Undecided:
            verdict = _judge_checks(checks, get(fields))
            return verdict if isinstance(verdict, bool) else Undecided(cond, verdict)

        return judge_field
    judges = tuple(judge_of(child) for child in cond.children)
    if cond.kind == "not":
        (inner,) = judges

        def judge_not(fields: Any) -> bool | Undecided:
            verdict = inner(fields)
            return verdict if isinstance(verdict, Undecided) else not verdict

        return judge_not
    # all: false if one is false; any: true if one is true; else undecided if one is.
    decisive = cond.kind == "any"

    def judge_group(fields: Any) -> bool | Undecided:
        undecided: Undecided | None = None
        for judge in judges:
            verdict = judge(fields)
            if verdict is decisive:
                return decisive
            if undecided is None and isinstance(verdict, Undecided):
                undecided = verdict
        return not decisive if undecided is None else undecided

    return judge_group


def _judge_checks(checks: Sequence[Check], value: Any) -> bool | str:
    """Every check on one value: True, False, or the reason one is undecided."""
    undecided = ""
    for check in checks:
        verdict = _judge_check(check, value)
        if verdict is False:
            return False
        if verdict is not True and not undecided:
            undecided = verdict
    return undecided or True


def _judge_check(check: Check, value: Any) -> bool | str:
    if check.inner:  # a value-level not
        inner = _judge_checks(check.inner, value)
        return inner if isinstance(inner, str) else not inner
    if check.test(value):
        return True
    if check.unreadable is not None and check.unreadable(value):
        return check.reason
    return False


def _plain_predicate(cond: Cond) -> Predicate:
    if isinstance(cond, FieldCond):
        test = _all_of([check.test for check in cond.checks])
        get = cond.get
        return lambda fields: test(get(fields))
    predicates = [_plain_predicate(child) for child in cond.children]
    if cond.kind == "not":
        return _negate(predicates[0])
    if cond.kind == "any":
        return _any_of(predicates)
    return _all_of(predicates)


def _compile_field(rep: Reporter, key: Key, node: Node, path: str) -> FieldCond | None:
    segments = parse_field_path(key.text)
    checks = _compile_checks(rep, node, path, key.text)
    if isinstance(segments, str):
        rep.error(key, path, segments)
        return None
    if checks is None:
        return None
    get = compile_getter(segments)
    top = segments[0][0]
    return FieldCond(key.text, checks, get, top, key.line, key.col, path)


def _compile_checks(
    rep: Reporter, node: Node, path: str, field_path: str = ""
) -> tuple[Check, ...] | None:
    """
    Compile the condition on one field's value (which may be ``MISSING``).

    ``field_path`` is the field path as written, used to hint at nested-field
    mistakes.
    """
    if isinstance(node, Scalar):
        return (Check("eq", node.value, equals(node.value)),)
    if isinstance(node, Seq):
        rep.error(node, path, "a list is ambiguous here", "hint: write {in: [...]}")
        return None
    return _compile_operators(rep, node, path, field_path)


def _compile_group(rep: Reporter, name: str, node: Node, path: str) -> GroupCond | None:
    seq = expect_list(rep, node, path, "a list of condition mappings")
    if seq is None:
        return None
    if not seq.items:
        message = "expected at least one condition mapping, got an empty list"
        rep.error(seq, path, message)
        return None
    compiled = [
        compile_when_tree(rep, item, item_path(path, i))
        for i, item in enumerate(seq.items)
    ]
    children = [child for child in compiled if child is not None]
    if len(children) != len(compiled):
        return None
    return GroupCond("all" if name == "all" else "any", tuple(children))


def _compile_operators(
    rep: Reporter, mapping: Map, path: str, field_path: str
) -> tuple[Check, ...] | None:
    if not mapping.entries:
        rep.error(mapping, path, "expected at least one operator, got an empty mapping")
        return None
    bounds = compile_bounds(rep, mapping, path)
    checks: list[Check] = []
    ok = bounds is not None
    for key, value in mapping.entries:
        if key.text in BOUNDS or key.text == _NUMBER_UNIT:
            bound = None if bounds is None else bounds.get(key.text)
            if bound is not None:
                reason = NOT_DURATION if bound.unreadable is not None else ""
                checks.append(
                    Check(
                        bound.op,
                        bound.operand,
                        bound.test,
                        (),
                        bound.unreadable,
                        reason,
                    )
                )
            continue
        compile_operator = _OPERATOR_COMPILERS.get(key.text)
        if compile_operator is None:
            _unknown_operator(rep, key, path, field_path)
            ok = False
            continue
        check = compile_operator(rep, value, path)
        if check is None:
            ok = False
        else:
            checks.append(check)
    return tuple(checks) if ok else None


def _unknown_operator(rep: Reporter, key: Key, path: str, field_path: str) -> None:
    message = f"unknown operator {key.text!r}; expected one of {one_of(OPERATORS)}"
    hint = did_you_mean(key.text, (*OPERATORS, _NUMBER_UNIT))
    if key.text == "unit":
        hint = "hint: the unit of a field's bare numbers is number_unit: ms"
    elif not hint and field_path:
        hint = f"hint: to test a nested field, write '{field_path}.{key.text}'"
    rep.error(key, path, message, hint)


def _scalar_operand(rep: Reporter, node: Node, path: str, name: str) -> Scalar | None:
    if isinstance(node, Scalar):
        return node
    kind = "a list" if isinstance(node, Seq) else "a mapping"
    rep.error(node, path, f"expected a scalar for {name!r}, got {kind}")
    return None


def _compile_eq(rep: Reporter, node: Node, path: str) -> Check | None:
    operand = _scalar_operand(rep, node, path, "eq")
    if operand is None:
        return None
    return Check("eq", operand.value, equals(operand.value))


def _compile_ne(rep: Reporter, node: Node, path: str) -> Check | None:
    operand = _scalar_operand(rep, node, path, "ne")
    if operand is None:
        return None
    return Check("ne", operand.value, _negate(equals(operand.value)))


def _compile_in(rep: Reporter, node: Node, path: str) -> Check | None:
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
    # (values.types.equals), so strings, the most common case, need one set lookup.
    texts = frozenset(
        text
        for text in (render_text(value) for value in values if value is not None)
        if isinstance(text, str)
    )

    def is_in(value: Any) -> bool:
        if isinstance(value, str):
            return value in texts
        return any(test(value) for test in tests)

    return Check("in", values, is_in)


def _compile_exists(rep: Reporter, node: Node, path: str) -> Check | None:
    if not (isinstance(node, Scalar) and isinstance(node.value, bool)):
        rep.error(
            node, path, f"expected true or false for 'exists', got {describe(node)}"
        )
        return None
    if node.value:
        return Check("exists", True, lambda value: value is not MISSING)
    return Check("exists", False, lambda value: value is MISSING)


def _compile_regex(rep: Reporter, node: Node, path: str) -> Check | None:
    regex = compile_pattern(rep, node, path, "a pattern for 'regex'")
    if regex is None:
        return None
    search = regex.search
    return Check(
        "regex",
        regex.pattern,
        lambda value: isinstance(value, str) and search(value) is not None,
    )


def _compile_text_test(name: str) -> _Compiler:
    def compile_text_test(rep: Reporter, node: Node, path: str) -> Check | None:
        operand = expect_str(rep, node, path, f"a non-empty string for {name!r}")
        if operand is None:
            return None
        return Check(name, operand, _text_test(name, operand))

    return compile_text_test


def _text_test(name: str, operand: str) -> Predicate:
    if name == "contains":
        return lambda value: isinstance(value, str) and operand in value
    if name == "startswith":
        return lambda value: isinstance(value, str) and value.startswith(operand)
    return lambda value: isinstance(value, str) and value.endswith(operand)


def _compile_not(rep: Reporter, node: Node, path: str) -> Check | None:
    inner = _compile_checks(rep, node, path)
    if inner is None:
        return None
    test = _all_of([check.test for check in inner])
    return Check("not", to_plain(node), _negate(test), inner)


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
        "in": _compile_in,
        "ne": _compile_ne,
        "not": _compile_not,
        "regex": _compile_regex,
        "startswith": _compile_text_test("startswith"),
    }
)
OPERATORS: frozenset[str] = frozenset({*_OPERATOR_COMPILERS, *BOUNDS})
