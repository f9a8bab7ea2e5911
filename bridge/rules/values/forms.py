"""A rule's values (distinct_id, properties, set, groups...) → functions of a record.

Value forms:

- a string with braces is a template: ``{path}`` inserts a field (strings as they are,
  anything else as JSON), ``{{`` and ``}}`` are literal braces, and ``{$hostname}``,
  ``{$source}``, ``{$rule}``, ``{$file_id}``, ``{$offset}`` are built-ins, as are
  ``{$text}`` (the record's whole text) and ``{$trace}`` (its lines after the first:
  the stack trace of a multi-line record; absent for a one-line record);
- any other scalar is a static value;
- a mapping with exactly one of ``field``, ``template``, ``value``, plus optional
  ``type`` (int, float, bool, str), ``default``, and one of ``hash: true`` or
  ``redact: [...]`` for personal data (``bridge.rules.values.privacy``).

Invariants: templates, paths and types are checked at load; a value function never
raises and returns ``MISSING`` when a field is absent, a template names an absent
field, or a conversion fails (``default`` then applies, even ``default: null``).
``hash`` and ``redact`` apply to a value found, never to the ``default``, which the
rule author wrote. Every field path compiled is recorded in ``ValueScope.refs``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from bridge.model import Record
from bridge.rules.fieldpaths import (
    MISSING,
    compile_record_getter,
    parse_field_path,
)
from bridge.rules.schema import (
    Reporter,
    check_keys,
    did_you_mean,
    expect_map,
    expect_str,
    one_of,
)
from bridge.rules.values.privacy import Transform, compile_hash, compile_redact
from bridge.rules.values.templates import (
    BUILTINS,
    ValueFn,
    ValueScope,
    compile_template,
    is_template,
)
from bridge.rules.values.types import CONVERTERS
from bridge.rules.yamlnodes import Map, Node, Scalar, Seq, child_path, show, to_plain

__all__ = [
    "BUILTINS",
    "Extra",
    "ValueFn",
    "ValueScope",
    "compile_properties",
    "compile_value",
    "is_constant",
]

# Adds to the properties of an event being built: (record, properties, personless).
Extra = Callable[[Record, dict[str, Any], bool], None]

_SOURCES = ("field", "template", "value")
_VALUE_KEYS = ("default", "field", "hash", "redact", "template", "type", "value")


def is_constant(node: Node) -> bool:
    """Whether a value node yields the same value for every record."""
    if isinstance(node, Scalar):
        return not is_template(node.value)
    return isinstance(node, Map) and node.get("value") is not None


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
        A function of the record returning the value or MISSING; None after
        reporting what is wrong.
    """
    if isinstance(node, Scalar):
        if isinstance(node.value, str) and is_template(node.value):
            return compile_template(rep, node, path, node.value, scope)
        return _compile_static(rep, node, path)
    if isinstance(node, Seq):
        message = "expected a string, number, boolean, null or mapping, got a list"
        rep.error(node, path, message, "hint: write {value: [...]} for a list value")
        return None
    return _compile_mapping(rep, node, path, scope)


def _constant(value: Any) -> ValueFn:
    return lambda _record: value


def _static_value(rep: Reporter, node: Node, path: str) -> tuple[bool, Any]:
    """Return whether a static YAML value can be sent as JSON, and the value."""
    value = to_plain(node)
    try:
        orjson.dumps(value)
    except TypeError:
        # Only integers beyond 64 bits get here: YAML has no other type JSON lacks.
        message = f"expected a value JSON can carry, got {show(value)}"
        rep.error(node, path, message, "hint: integers must fit in 64 bits")
        return False, None
    return True, value


def _compile_static(rep: Reporter, node: Node, path: str) -> ValueFn | None:
    ok, value = _static_value(rep, node, path)
    return _constant(value) if ok else None


def _compile_mapping(
    rep: Reporter, mapping: Map, path: str, scope: ValueScope
) -> ValueFn | None:
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
        message = f"expected exactly one of field, template, value, got {got}"
        rep.error(mapping, path, message)
        return None
    ((name, node),) = given
    base = _compile_base(rep, name, node, path, scope)
    type_node = mapping.get("type")
    type_ok, convert = _compile_type(rep, type_node, child_path(path, "type"))
    default_node = mapping.get("default")
    default_ok, has_default, default = True, False, None
    if default_node is not None:
        where = child_path(path, "default")
        default_ok, default = _static_value(rep, default_node, where)
        has_default = True
    transform_ok, transform = _compile_transform(rep, mapping, path, scope)
    if base is None or not type_ok or not default_ok or not transform_ok:
        return None
    if transform is None:
        return _finish(base, convert, has_default, default)
    return _finish_transformed(base, convert, has_default, default, transform)


def _finish(
    base: ValueFn,
    convert: Callable[[Any], Any] | None,
    has_default: bool,
    default: Any,
) -> ValueFn:
    # The common shapes get their own closures: one call less per value.
    if not has_default:
        if convert is None:
            return base
        return lambda record: convert(base(record))

    def value_of(record: Record) -> Any:
        value = base(record)
        if convert is not None:
            value = convert(value)
        if value is MISSING:
            return default
        return value

    return value_of


def _finish_transformed(
    base: ValueFn,
    convert: Callable[[Any], Any] | None,
    has_default: bool,
    default: Any,
    transform: Transform,
) -> ValueFn:
    def value_of(record: Record) -> Any:
        value = base(record)
        if convert is not None:
            value = convert(value)
        if value is MISSING:
            return default if has_default else MISSING
        return transform(value)

    return value_of


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


def _compile_base(
    rep: Reporter, name: str, node: Node, path: str, scope: ValueScope
) -> ValueFn | None:
    where = child_path(path, name)
    if name == "value":
        return _compile_static(rep, node, where)
    text = expect_str(
        rep, node, where, "a field path" if name == "field" else "a template"
    )
    if text is None:
        return None
    if name == "template":
        if is_template(text):
            return compile_template(rep, node, where, text, scope)
        return _constant(text)
    segments = parse_field_path(text)
    if isinstance(segments, str):
        rep.error(node, where, segments)
        return None
    scope.note(text, segments, node, where)
    return compile_record_getter(segments)


def _compile_type(
    rep: Reporter, node: Node | None, path: str
) -> tuple[bool, Callable[[Any], Any] | None]:
    """Return whether the type is valid, and its converter (None: no type)."""
    if node is None:
        return True, None
    name = expect_str(rep, node, path, "a type name")
    if name is None:
        return False, None
    convert = CONVERTERS.get(name)
    if convert is None:
        message = f"unknown type {show(name)}; expected one of {one_of(CONVERTERS)}"
        rep.error(node, path, message, did_you_mean(name, CONVERTERS))
    return convert is not None, convert
