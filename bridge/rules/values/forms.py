"""A rule's values (distinct_id, properties, set, groups...) → functions of a record.

Value forms:

- a string with braces is a template (``bridge.rules.values.templates``);
- any other scalar is a static value;
- a mapping with exactly one source, then optional stages applied in this order::

      {field: path | template: "…" | value: v | match: group     # the source
       | when: {…}                                              # true or false
       | cases: [{when: {…}, <value form>}, …],                  # the first that holds
       extract: RE2 | steps: [step, …],                          # 1. steps (in order)
       type: int | float | bool | str | duration,                # 2. the type, last
       unit: ms, number_unit: ms,                                #    (duration only)
       hash: true | redact: […],                                 # 3. personal data
       default: v, required: true,                               # the outcome
       on_error: default | drop | null | skip}

A ``when`` or a ``cases`` whose conditions a value leaves undecided (a duration bound
over text that is no duration: ``bridge.rules.conditions``) fails with that reason
(``not_duration``): neither true nor false, nor a later case, can be told.

Outcome (``bridge.rules.values.failures``): an absent field gives the ``default``,
or leaves the property out; a step that finds nothing (``NO_MATCH``) gives the
``default``, or null; null passes through steps and types unchanged. A value
that fails (a conversion, a step on the wrong kind of value, or a ``required``
value absent or not found) is a ``Failed``: counted by the caller, and replaced
as ``on_error`` says; the rule's ``on_error`` (default ``default``) applies when
the value names none: the ``default`` if the value has one, else nothing.

Invariants: templates, paths, patterns and types are checked at load; a value
function never raises. Every field path compiled is recorded in
``ValueScope.refs``, and every property's stages in ``ValueScope.traces`` for
``explain``, which evaluates them with the same code (``_evaluate``). The plain
shapes (a field, with a type or a default) get closures of their own that give the
same results with fewer calls: they are what the daemon runs for most values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bridge.model import Record
from bridge.rules.conditions import Judge, Undecided, compile_when_tree, judge_of
from bridge.rules.fieldpaths import MISSING, compile_record_getter, parse_field_path
from bridge.rules.schema import (
    Reporter,
    check_keys,
    choice,
    did_you_mean,
    expect_list,
    expect_map,
    expect_str,
    one_of,
)
from bridge.rules.values.captures import capture_getter
from bridge.rules.values.durations import DEFAULT_UNIT, UNITS, duration_converter
from bridge.rules.values.failures import (
    NO_MATCH,
    ON_ERROR_CHOICES,
    Failed,
    OnError,
    TraceFn,
    failure,
)
from bridge.rules.values.privacy import Transform, compile_hash, compile_redact
from bridge.rules.values.steps import (
    Step,
    compile_extract,
    compile_steps,
    exact_ints,
    json_text,
)
from bridge.rules.values.templates import (
    BUILTINS,
    ValueFn,
    ValueScope,
    capture_of,
    compile_template,
    is_template,
)
from bridge.rules.values.types import CONVERTERS
from bridge.yamlnodes import (
    Map,
    Node,
    Scalar,
    Seq,
    child_path,
    item_path,
    show,
    to_plain,
)

__all__ = [
    "BUILTINS",
    "TYPES",
    "Extra",
    "ValueFn",
    "ValueScope",
    "compile_properties",
    "compile_value",
    "is_constant",
    "on_error_choice",
]

# Adds to the properties of an event being built: (record, properties, personless,
# issues); a value that failed there is appended to ``issues`` (when not None).
Extra = Callable[[Record, dict[str, Any], bool, list[Failed] | None], None]

_SOURCES = ("cases", "field", "match", "template", "value", "when")
_VALUE_KEYS = (
    *_SOURCES,
    "default",
    "extract",
    "hash",
    "number_unit",
    "on_error",
    "redact",
    "required",
    "steps",
    "type",
    "unit",
)
TYPES = (*sorted(CONVERTERS), "duration")
_CASE_SOURCES = ("field", "match", "template", "value")


@dataclass(frozen=True, slots=True)
class _Parts:
    """A value mapping, compiled: what ``_evaluate`` runs, stage by stage."""

    base: ValueFn
    base_label: str
    steps: tuple[Step, ...]
    convert: Callable[[Any], Any] | None
    type_name: str
    transform: Transform | None
    transform_label: str
    default: Any
    has_default: bool
    required: bool
    on_error: OnError
    where: str

    def fail(self, reason: str) -> Failed:
        return failure(
            reason,
            self.on_error,
            self.default,
            has_default=self.has_default,
            where=self.where,
        )


def is_constant(node: Node) -> bool:
    """Whether a value node yields the same value for every record."""
    if isinstance(node, Scalar):
        return not is_template(node.value)
    return (
        isinstance(node, Map)
        and node.get("value") is not None
        and not ({"cases", "when"} & {key.text for key, _ in node.entries})
    )


def compile_properties(
    rep: Reporter, node: Node, path: str, scope: ValueScope
) -> tuple[tuple[str, ValueFn], ...] | None:
    """Compile a ``properties`` mapping into (name, value function) pairs."""
    mapping = expect_map(rep, node, path)
    if mapping is None:
        return None
    compiled: list[tuple[str, ValueFn]] = []
    ok = True
    for key, value in mapping.entries:
        fn = compile_value(rep, value, child_path(path, key.text), scope)
        if not key.text:
            rep.error(key, path, "expected a property name, got an empty string")
            ok = False
        elif fn is None:
            ok = False
        else:
            compiled.append((key.text, fn))
    return tuple(compiled) if ok else None


def compile_value(
    rep: Reporter, node: Node, path: str, scope: ValueScope
) -> ValueFn | None:
    """
    Compile one value (a property or the distinct_id).

    Returns:
        A function of the record returning the value, MISSING or a ``Failed``;
        None after reporting what is wrong.
    """
    if isinstance(node, Scalar):
        if isinstance(node.value, str) and is_template(node.value):
            fn = compile_template(rep, node, path, node.value, scope)
        else:
            fn = _compile_static(rep, node, path)
        if fn is not None:
            _trace_plain(scope, path, fn, "template" if is_template(node.value) else "")
        return fn
    if isinstance(node, Seq):
        message = "expected a string, number, boolean, null or mapping, got a list"
        rep.error(node, path, message, "hint: write {value: [...]} for a list value")
        return None
    parts = _compile_parts(rep, node, path, scope)
    if parts is None:
        return None
    scope.traces.append((scope.label(path), _tracer(parts)))
    return _fast(parts)


# -- compiling a mapping -------------------------------------------------------------


def _compile_parts(
    rep: Reporter, mapping: Map, path: str, scope: ValueScope
) -> _Parts | None:
    if _is_unquoted_template(mapping):
        ((key, _),) = mapping.entries
        message = f"unknown key {show(key.text)}; expected one of {one_of(_VALUE_KEYS)}"
        hint = f'hint: quote a template: "{{{key.text}}}"'
        rep.error(key, path, message, hint)
        return None
    if not check_keys(rep, mapping, path, _VALUE_KEYS):
        return None
    found = ((name, mapping.get(name)) for name in _SOURCES)
    given = [(name, node) for name, node in found if node is not None]
    if len(given) != 1:
        got = " and ".join(name for name, _ in given) or "none"
        message = f"expected exactly one of {', '.join(_SOURCES)}, got {got}"
        rep.error(mapping, path, message)
        return None
    ((name, node),) = given
    base = _compile_base(rep, name, node, path, scope)
    steps = _compile_value_steps(rep, mapping, path)
    convert, type_name = _compile_type(rep, mapping, path)
    default_ok, has_default, default = True, False, None
    default_node = mapping.get("default")
    if default_node is not None:
        default_ok, default = _static_value(
            rep, default_node, child_path(path, "default")
        )
        has_default = True
    required = _flag(rep, mapping, path, "required")
    on_error = on_error_choice(rep, mapping, path, scope.on_error)
    transform_ok, transform = _compile_transform(rep, mapping, path, scope)
    if (
        base is None
        or steps is None
        or type_name is None
        or not default_ok
        or required is None
        or on_error is None
        or not transform_ok
    ):
        return None
    label = name if name in ("cases", "when") else f"{name} {_source_text(node)}"
    return _Parts(
        base=base,
        base_label=label,
        steps=steps,
        convert=convert,
        type_name=type_name,
        transform=transform,
        transform_label="hash" if mapping.get("hash") is not None else "redact",
        default=default,
        has_default=has_default,
        required=required,
        on_error=on_error,
        where=scope.label(path),
    )


def _source_text(node: Node) -> str:
    text = to_plain(node)
    return text if isinstance(text, str) else show(text)


def _compile_base(
    rep: Reporter, name: str, node: Node, path: str, scope: ValueScope
) -> ValueFn | None:
    where = child_path(path, name)
    if name == "value":
        return _compile_static(rep, node, where)
    if name == "when":
        tree = compile_when_tree(rep, node, where)
        if tree is None:
            return None
        judge = judge_of(tree)
        return lambda record: _decided(judge(record.fields))
    if name == "cases":
        return _compile_cases(rep, node, where, scope)
    text = expect_str(rep, node, where, _WHAT[name])
    if text is None:
        return None
    return _compile_named(rep, name, text, node, where, scope)


def _compile_named(
    rep: Reporter, name: str, text: str, node: Node, where: str, scope: ValueScope
) -> ValueFn | None:
    """A ``template``, ``match`` or ``field`` source, from its text."""
    if name == "template":
        if is_template(text):
            return compile_template(rep, node, where, text, scope)
        return _constant(text)
    if name == "match":
        capture = capture_of(rep, node, where, text, scope)
        return None if capture is None else capture_getter(capture)
    segments = parse_field_path(text)
    if isinstance(segments, str):
        rep.error(node, where, segments)
        return None
    scope.note(text, segments, node, where)
    return compile_record_getter(segments)


_WHAT = {"field": "a field path", "template": "a template", "match": "a group name"}


def _compile_cases(
    rep: Reporter, node: Node, path: str, scope: ValueScope
) -> ValueFn | None:
    """``cases``: the value of the first case whose ``when`` holds, else MISSING."""
    seq = expect_list(rep, node, path, "a list of cases")
    if seq is None:
        return None
    if not seq.items:
        rep.error(seq, path, "expected at least one case, got an empty list")
        return None
    cases: list[tuple[Judge, ValueFn]] = []
    ok = True
    for i, item in enumerate(seq.items):
        where = item_path(path, i)
        case = _compile_case(rep, item, where, scope)
        if case is None:
            ok = False
        else:
            cases.append(case)
    if not ok:
        return None
    frozen = tuple(cases)

    def choose(record: Record) -> Any:
        fields = record.fields
        for judge, value_of in frozen:
            verdict = judge(fields)
            if verdict is True:
                return value_of(record)
            if isinstance(verdict, Undecided):
                # Which case holds cannot be told: no later one may be chosen.
                return _decided(verdict)
        return MISSING

    return choose


def _decided(verdict: bool | Undecided) -> Any:
    """A verdict as a value: true or false, or a failure when undecided."""
    if isinstance(verdict, Undecided):
        return Failed(verdict.reason, MISSING)
    return verdict


def _compile_case(
    rep: Reporter, node: Node, path: str, scope: ValueScope
) -> tuple[Judge, ValueFn] | None:
    mapping = expect_map(rep, node, path)
    if mapping is None:
        return None
    if not check_keys(rep, mapping, path, ("when", *_CASE_SOURCES), required=("when",)):
        return None
    when_node = mapping.get("when")
    assert when_node is not None  # noqa: S101 (required above)
    tree = compile_when_tree(rep, when_node, child_path(path, "when"))
    given = [(name, mapping.get(name)) for name in _CASE_SOURCES]
    sources = [(name, value) for name, value in given if value is not None]
    if len(sources) != 1:
        got = " and ".join(name for name, _ in sources) or "none"
        message = f"expected one of {', '.join(_CASE_SOURCES)} beside when, got {got}"
        rep.error(mapping, path, message)
        return None
    ((name, value_node),) = sources
    value_of = _compile_base(rep, name, value_node, path, scope)
    if tree is None or value_of is None:
        return None
    return judge_of(tree), value_of


def _compile_value_steps(
    rep: Reporter, mapping: Map, path: str
) -> tuple[Step, ...] | None:
    extract_node = mapping.get("extract")
    steps_node = mapping.get("steps")
    if extract_node is not None and steps_node is not None:
        message = "expected extract or steps, got both"
        hint = "hint: make the extract the first of the steps"
        rep.error(mapping, path, message, hint)
        return None
    if extract_node is not None:
        step = compile_extract(rep, extract_node, child_path(path, "extract"))
        return None if step is None else (step,)
    if steps_node is not None:
        return compile_steps(rep, steps_node, child_path(path, "steps"))
    return ()


def _compile_type(
    rep: Reporter, mapping: Map, path: str
) -> tuple[Callable[[Any], Any] | None, str | None]:
    """The converter (None: no type) and the type's name ("" for none; None: error)."""
    node = mapping.get("type")
    name = ""
    if node is not None:
        where = child_path(path, "type")
        name = expect_str(rep, node, where, "a type name") or ""
        if name and name not in TYPES:
            message = f"unknown type {show(name)}; expected one of {one_of(TYPES)}"
            rep.error(node, where, message, did_you_mean(name, TYPES))
            return None, None
        if not name:
            return None, None
    units = [key for key in ("unit", "number_unit") if mapping.get(key) is not None]
    if name != "duration":
        for key in units:
            message = f"{key!r} applies only to type 'duration'"
            rep.error(mapping.get(key) or mapping, child_path(path, key), message)
        if units:
            return None, None
        return CONVERTERS.get(name), name
    unit = choice(rep, mapping, path, "unit", UNITS, DEFAULT_UNIT)
    number_unit = choice(rep, mapping, path, "number_unit", UNITS, unit or DEFAULT_UNIT)
    if unit is None or number_unit is None:
        return None, None
    return duration_converter(unit, number_unit), name


def on_error_choice(
    rep: Reporter, mapping: Map, path: str, default: OnError
) -> OnError | None:
    """The ``on_error`` of a value or a rule; YAML's null stands for "null"."""
    node = mapping.get("on_error")
    if isinstance(node, Scalar) and node.value is None:
        return "null"
    name = choice(rep, mapping, path, "on_error", ON_ERROR_CHOICES, default)
    for known in ON_ERROR_CHOICES:
        if known == name:
            return known
    return None


def _flag(rep: Reporter, mapping: Map, path: str, key: str) -> bool | None:
    node = mapping.get(key)
    if node is None:
        return False
    if isinstance(node, Scalar) and isinstance(node.value, bool):
        return node.value
    rep.error(node, child_path(path, key), f"expected true or false for {key!r}")
    return None


def _compile_transform(
    rep: Reporter, mapping: Map, path: str, scope: ValueScope
) -> tuple[bool, Transform | None]:
    """Return whether ``hash``/``redact`` are valid, and the transform (or None)."""
    hash_node = mapping.get("hash")
    redact_node = mapping.get("redact")
    if hash_node is not None and redact_node is not None:
        message = "expected at most one of hash, redact, got hash and redact"
        hint = "hint: a hash hides the whole value already"
        rep.error(mapping, path, message, hint)
        return False, None
    if hash_node is not None:
        return compile_hash(rep, hash_node, child_path(path, "hash"), scope.salt)
    if redact_node is not None:
        transform = compile_redact(rep, redact_node, child_path(path, "redact"))
        return transform is not None, transform
    return True, None


def _is_unquoted_template(mapping: Map) -> bool:
    # distinct_id: {fields.user_id} is a YAML flow mapping {"fields.user_id": null},
    # not a template: the most likely slip when writing values.
    if len(mapping.entries) != 1:
        return False
    ((key, value),) = mapping.entries
    return (
        key.text not in _VALUE_KEYS
        and isinstance(value, Scalar)
        and value.value is None
    )


def _constant(value: Any) -> ValueFn:
    return lambda _record: value


def _static_value(rep: Reporter, node: Node, path: str) -> tuple[bool, Any]:
    """Return whether a static YAML value can be sent as JSON, and the value."""
    value = to_plain(node)
    try:
        json_text(value)
    except TypeError:
        # YAML has no type JSON lacks; only a structure nested past 254 levels.
        message = f"expected a value JSON can carry, got {show(value)}"
        rep.error(node, path, message, "hint: nest it less deeply")
        return False, None
    return True, exact_ints(value)


def _compile_static(rep: Reporter, node: Node, path: str) -> ValueFn | None:
    ok, value = _static_value(rep, node, path)
    return _constant(value) if ok else None


# -- running ------------------------------------------------------------------------


def _evaluate(
    parts: _Parts, record: Record, trace: list[tuple[str, Any]] | None = None
) -> Any:
    """The value for one record: what every compiled value function gives."""
    value = parts.base(record)
    if trace is not None:
        trace.append((parts.base_label, value))
    if value is MISSING or type(value) is Failed:
        return _no_value(parts, value)
    value = _run_steps(parts.steps, value, trace)
    if type(value) is Failed:
        return parts.fail(value.reason)
    if value is NO_MATCH:
        if parts.required:
            return parts.fail("no_match")
        return parts.default if parts.has_default else None
    return _convert(parts, value, trace)


def _no_value(parts: _Parts, value: Any) -> Any:
    """What a base that gave nothing gives: a failure, the default, or MISSING."""
    if type(value) is Failed:  # a when or cases a value left undecided
        return parts.fail(value.reason)
    if parts.required:
        return parts.fail("missing")
    return parts.default if parts.has_default else MISSING


def _run_steps(
    steps: tuple[Step, ...], value: Any, trace: list[tuple[str, Any]] | None
) -> Any:
    for step in steps:
        value = step.apply(value)
        if trace is not None:
            trace.append((step.name, value))
        if type(value) is Failed:
            break
    return value


def _convert(parts: _Parts, value: Any, trace: list[tuple[str, Any]] | None) -> Any:
    """The type, then hash or redact; null passes through both."""
    if parts.convert is not None and value is not None:
        converted = parts.convert(value)
        if converted is MISSING:
            # A converter says "cannot" with MISSING; explain shows the failure, as
            # "missing" there would read as a field that is absent.
            converted = parts.fail(f"not_{parts.type_name}")
        if trace is not None:
            trace.append((f"type {parts.type_name}", converted))
        if type(converted) is Failed:
            return converted
        value = converted
    if parts.transform is not None and value is not None:
        value = parts.transform(value)
        if trace is not None:
            trace.append((parts.transform_label, value))
    return value


def _tracer(parts: _Parts) -> TraceFn:
    def trace(record: Record) -> list[tuple[str, Any]]:
        stages: list[tuple[str, Any]] = []
        result = _evaluate(parts, record, stages)
        stages.append(("result", result))
        return stages

    return trace


def _trace_plain(scope: ValueScope, path: str, fn: ValueFn, label: str) -> None:
    def trace(record: Record) -> list[tuple[str, Any]]:
        return [("result", fn(record))] if not label else [(label, fn(record))]

    scope.traces.append((scope.label(path), trace))


def _fast(parts: _Parts) -> ValueFn:
    """The value function: a closure of its own for the plain shapes."""
    plain = (
        not parts.steps
        and parts.transform is None
        and not parts.required
        and parts.base_label.startswith("field ")
    )
    if not plain:
        return lambda record: _evaluate(parts, record)
    base, convert = parts.base, parts.convert
    if convert is None:
        if not parts.has_default:
            return base
        default = parts.default

        def field_or_default(record: Record) -> Any:
            value = base(record)
            return default if value is MISSING else value

        return field_or_default
    fail = parts.fail
    reason = f"not_{parts.type_name}"
    has_default, default = parts.has_default, parts.default

    def converted(record: Record) -> Any:
        value = base(record)
        if value is MISSING:
            return default if has_default else MISSING
        if value is None:
            return None
        result = convert(value)
        return fail(reason) if result is MISSING else result

    return converted
