"""Template strings of rule values: ``"user-{fields.user_id}"``, ``"{$hostname}"``.

A template is literal text with placeholders: ``{path}`` inserts a field (strings
as they are, anything else as JSON), ``{$name}`` a built-in, ``{$match.name}`` a
named group of the rule's ``regex`` conditions (``captures``), and ``{{``/``}}``
are literal braces. Built-ins known at load (``$hostname``, ``$source``, ``$rule``) are
folded into the text; ``$file_id``, ``$offset``, ``$text`` (the record's whole
text) and ``$trace`` (its lines after the first) are read from the record.

Invariants: a template is split and its paths parsed once, at load; rendering
never raises and gives ``MISSING`` when any placeholder is absent or null. The
``ValueScope`` a rule's values compile against lives here, with the ``ValueFn``
type, because templates are the innermost piece that needs them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from bridge.model import Record
from bridge.rules.fieldpaths import (
    MISSING,
    FieldRef,
    compile_record_getter,
    parse_field_path,
)
from bridge.rules.schema import Reporter, did_you_mean, one_of
from bridge.rules.values.captures import Capture, capture_getter
from bridge.rules.values.failures import NO_MATCH, OnError, TraceFn
from bridge.rules.values.types import render_text
from bridge.yamlnodes import Node, show

__all__ = [
    "BUILTINS",
    "ValueFn",
    "ValueScope",
    "capture_of",
    "compile_template",
    "is_template",
    "template_parts",
]

ValueFn = Callable[[Record], Any]
_MATCH_PREFIX = "$match."

BUILTINS = (
    "$file_id",
    "$hostname",
    "$offset",
    "$rule",
    "$source",
    "$text",
    "$trace",
)
_QUOTE = '"'


@dataclass(frozen=True, slots=True)
class ValueScope:
    """
    What one rule's values are compiled against.

    The load-time built-ins, the salt of ``hash``, the ``captures`` of the rule's
    regex conditions, its default ``on_error``, and what compiling collects:
    ``refs``, every field path the rule names (to check them against its source's
    fields), and ``traces``, how ``explain`` shows each value's steps, by where the
    value sits in the rule (``properties.amount``). ``rule_path`` is the rule's
    breadcrumb (``rules[2]``), cut from value paths to make those labels.
    """

    hostname: str
    source: str
    rule: str
    salt: bytes | None = None
    refs: list[FieldRef] = field(default_factory=list)
    captures: Mapping[str, Capture] = field(
        default_factory=lambda: MappingProxyType({})
    )
    on_error: OnError = "default"
    rule_path: str = ""
    traces: list[tuple[str, TraceFn]] = field(default_factory=list)

    def label(self, path: str) -> str:
        """Where a value sits in its rule: its path without the rule's breadcrumb."""
        prefix = self.rule_path + "."
        return path[len(prefix) :] if path.startswith(prefix) else path

    def note(
        self,
        text: str,
        segments: tuple[tuple[str, int | None], ...],
        at: Node,
        path: str,
    ) -> None:
        """Record that the rule names the field path ``text`` at ``at``."""
        self.refs.append(FieldRef(text, segments[0][0], path, at.line, at.col))


def is_template(value: Any) -> bool:
    """Whether a value is a template string (it holds a brace)."""
    return isinstance(value, str) and ("{" in value or "}" in value)


def template_parts(text: str) -> list[tuple[str, bool]] | None:
    """
    A template's (literal, False) and (placeholder, True) parts, in order; None if
    it is malformed (``compile_template`` says how).
    """
    parts = _scan_template(text)
    return None if isinstance(parts, tuple) else parts


def _constant(value: Any) -> ValueFn:
    return lambda _record: value


def compile_template(
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
    parts = _scan_template(text)
    if isinstance(parts, tuple):
        message, hint = parts
        rep.error(node, path, message, hint)
        return None
    return parts


def _scan_template(text: str) -> list[tuple[str, bool]] | tuple[str, str]:
    """The parts of a template, or what is wrong with it (message, hint)."""
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
            return message, "hint: write }} for a literal brace"
        if char != "{":
            literal.append(char)
            i += 1
            continue
        end = _placeholder_end(text, i + 1)
        if end < 0:
            message = f"unclosed '{{' in template {show(text)}"
            return message, "hint: write {{ for a literal brace"
        if end == i + 1:
            message = f"empty placeholder {{}} in template {show(text)}"
            return message, "hint: write {{}} for literal braces"
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
    if inner.startswith(_MATCH_PREFIX):
        return _compile_capture(rep, node, path, inner[len(_MATCH_PREFIX) :], scope)
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
    scope.note(inner, segments, node, path)
    get = compile_record_getter(segments)

    def placeholder(record: Record) -> Any:
        value = get(record)
        if type(value) is str:
            return value
        # A null renders as nothing, like an absent field: "user-{id}" with id null
        # is no value, not "user-null" (nor, as a distinct_id, a person "null").
        return MISSING if value is None else render_text(value)

    return placeholder


def _compile_capture(
    rep: Reporter, node: Node, path: str, name: str, scope: ValueScope
) -> ValueFn | None:
    capture = capture_of(rep, node, path, name, scope)
    if capture is None:
        return None
    captured = capture_getter(capture)

    def placeholder(record: Record) -> Any:
        text = captured(record)
        return MISSING if text is NO_MATCH else text

    return placeholder


def capture_of(
    rep: Reporter, node: Node, path: str, name: str, scope: ValueScope
) -> Capture | None:
    """The rule's capture called ``name``, or None after reporting it is unknown."""
    capture = scope.captures.get(name)
    if capture is None:
        known = one_of(scope.captures) or "none"
        message = (
            f"no regex condition of the rule captures {name!r} (captured: {known})"
        )
        hint = did_you_mean(name, scope.captures) or (
            "hint: name a group in a regex of when: (?P<name>...)"
        )
        rep.error(node, path, message, hint)
    return capture


def _builtin(name: str, scope: ValueScope) -> str | ValueFn:
    if name == "$file_id":
        return lambda record: record.line.file_id
    if name == "$offset":
        return lambda record: str(record.line.offset)
    if name == "$text":
        return lambda record: record.line.text
    if name == "$trace":
        return _trace_of
    return {"$hostname": scope.hostname, "$source": scope.source, "$rule": scope.rule}[
        name
    ]


def _trace_of(record: Record) -> Any:
    """The lines of a multi-line record after its first, or MISSING."""
    _first, newline, rest = record.line.text.partition("\n")
    return rest if newline else MISSING


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
