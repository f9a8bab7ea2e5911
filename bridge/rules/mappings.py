"""A rule's ``distinct_id`` and ``properties`` → functions from a record to a value.

Value forms:

- a string with braces is a template: ``{path}`` inserts a field (strings as they are,
  anything else as JSON), ``{{`` and ``}}`` are literal braces, and ``{$hostname}``,
  ``{$source}``, ``{$rule}``, ``{$file_id}``, ``{$offset}`` are built-ins;
- any other scalar is a static value;
- a mapping with exactly one of ``field``, ``template``, ``value``, plus optional
  ``type`` (int, float, bool, str) and ``default``.

Invariants: templates, paths and types are checked at load; a value function never
raises and returns ``MISSING`` when a field is absent, a template names an absent
field, or a conversion fails (``default`` then applies, even ``default: null``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from bridge.model import Record
from bridge.rules.coercions import CONVERTERS, render_text
from bridge.rules.fieldpaths import MISSING, Getter, compile_getter, parse_field_path
from bridge.rules.schema import (
    Reporter,
    check_keys,
    did_you_mean,
    expect_map,
    expect_str,
    one_of,
)
from bridge.rules.yamlnodes import Map, Node, Scalar, Seq, child_path, show, to_plain

__all__ = [
    "BUILTINS",
    "ValueFn",
    "ValueScope",
    "compile_properties",
    "compile_value",
    "is_constant",
]

ValueFn = Callable[[Record], Any]

BUILTINS = ("$file_id", "$hostname", "$offset", "$rule", "$source")
_SOURCES = ("field", "template", "value")
_VALUE_KEYS = ("default", "field", "template", "type", "value")
_QUOTE = '"'


@dataclass(frozen=True, slots=True)
class ValueScope:
    """What the load-time built-ins resolve to for one rule."""

    hostname: str
    source: str
    rule: str


def is_constant(node: Node) -> bool:
    """Whether a value node yields the same value for every record."""
    if isinstance(node, Scalar):
        return not _is_template(node.value)
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
        if isinstance(node.value, str) and _is_template(node.value):
            return _compile_template(rep, node, path, node.value, scope)
        return _compile_static(rep, node, path)
    if isinstance(node, Seq):
        message = "expected a string, number, boolean, null or mapping, got a list"
        rep.error(node, path, message, "hint: write {value: [...]} for a list value")
        return None
    return _compile_mapping(rep, node, path, scope)


def _is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{" in value or "}" in value)


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
    if base is None or not type_ok or not default_ok:
        return None

    def value_of(record: Record) -> Any:
        value = base(record)
        if convert is not None:
            value = convert(value)
        if value is MISSING and has_default:
            return default
        return value

    return value_of


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
        if _is_template(text):
            return _compile_template(rep, node, where, text, scope)
        return _constant(text)
    segments = parse_field_path(text)
    if isinstance(segments, str):
        rep.error(node, where, segments)
        return None
    get = compile_getter(segments)
    return lambda record: get(record.fields)


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


def _compile_template(
    rep: Reporter, node: Node, path: str, text: str, scope: ValueScope
) -> ValueFn | None:
    parts = _split_template(rep, node, path, text)
    if parts is None:
        return None
    pieces: list[str | ValueFn] = []
    ok = True
    for part, is_placeholder in parts:
        piece = (
            _compile_placeholder(rep, node, path, part, scope)
            if is_placeholder
            else part
        )
        if piece is None:
            ok = False
        elif isinstance(piece, str) and pieces and isinstance(pieces[-1], str):
            pieces[-1] += piece
        else:
            pieces.append(piece)
    return _join(pieces) if ok else None


def _split_template(
    rep: Reporter, node: Node, path: str, text: str
) -> list[tuple[str, bool]] | None:
    """Cut a template into (literal, False) and (placeholder, True) parts."""
    parts: list[tuple[str, bool]] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char in "{}" and text.startswith(char * 2, i):
            literal.append(char)
            i += 2
            continue
        if char == "}":
            message = f"unmatched '}}' in template {show(text)}"
            rep.error(node, path, message, "hint: write }} for a literal brace")
            return None
        if char != "{":
            literal.append(char)
            i += 1
            continue
        end = _placeholder_end(text, i + 1)
        if end < 0:
            message = f"unclosed '{{' in template {show(text)}"
            rep.error(node, path, message, "hint: write {{ for a literal brace")
            return None
        if end == i + 1:
            message = f"empty placeholder {{}} in template {show(text)}"
            rep.error(node, path, message, "hint: write {{}} for literal braces")
            return None
        if literal:
            parts.append(("".join(literal), False))
            literal = []
        parts.append((text[i + 1 : end], True))
        i = end + 1
    if literal:
        parts.append(("".join(literal), False))
    return parts


def _placeholder_end(text: str, start: int) -> int:
    """Index of the '}' closing a placeholder, skipping quoted path segments."""
    quoted = False
    i = start
    while i < len(text):
        char = text[i]
        if quoted and char == "\\":
            i += 2
            continue
        if char == _QUOTE:
            quoted = not quoted
        elif char == "}" and not quoted:
            return i
        i += 1
    return -1


def _compile_placeholder(
    rep: Reporter, node: Node, path: str, inner: str, scope: ValueScope
) -> str | ValueFn | None:
    if inner.startswith("$"):
        if inner not in BUILTINS:
            message = (
                f"unknown built-in {show(inner)}; expected one of {one_of(BUILTINS)}"
            )
            rep.error(node, path, message, did_you_mean(inner, BUILTINS))
            return None
        return _builtin(inner, scope)
    segments = parse_field_path(inner)
    if isinstance(segments, str):
        rep.error(node, path, segments)
        return None
    get: Getter = compile_getter(segments)
    return lambda record: render_text(get(record.fields))


def _builtin(name: str, scope: ValueScope) -> str | ValueFn:
    if name == "$file_id":
        return lambda record: record.line.file_id
    if name == "$offset":
        return lambda record: str(record.line.offset)
    return {"$hostname": scope.hostname, "$source": scope.source, "$rule": scope.rule}[
        name
    ]


def _join(pieces: list[str | ValueFn]) -> ValueFn:
    if len(pieces) == 1:
        (piece,) = pieces
        return _constant(piece) if isinstance(piece, str) else piece
    frozen = tuple(pieces)

    def render(record: Record) -> Any:
        out: list[str] = []
        for piece in frozen:
            if isinstance(piece, str):
                out.append(piece)
                continue
            text = piece(record)
            if text is MISSING:
                return MISSING
            out.append(text)
        return "".join(out)

    return render
