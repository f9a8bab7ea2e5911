"""A rule's ``exception:`` mapping → the properties of a PostHog ``$exception`` event.

Shape (every value is a value form of ``bridge.rules.values.forms``)::

    exception:
      type: "{fields.error_type}"      # when the trace names none; default "Error"
      value: "{fields.message}"        # the message; "" when absent
      stacktrace: {field: trace}       # default "{$trace}": a multi-line record's
                                       # lines after the first
      fingerprint: "billing:{fields.error_type}"   # → $exception_fingerprint
      level: error                     # → $exception_level
      handled: true                    # static; default true

Output (reference/posthog-capture.md §9): ``$exception_list`` holds the exceptions
of the stack trace when it names them (``bridge.rules.errortracking.chains``: a Python chain, a
Java ``Caused by:`` chain, a Node error), outermost first as PostHog's SDKs send it,
each ``{type, value, mechanism: {handled, synthetic: false, type}, stacktrace}`` with
``type: "generic"`` for the first and ``"chained"`` for its causes; otherwise one
item ``{type, value, mechanism: {handled, synthetic: true}, stacktrace?}`` from the
rule's ``type`` and ``value``, its frames parsed by ``bridge.rules.errortracking.traces``.

Every key is optional: a trace that names its exceptions says their types, and
``exception: {}`` sends them as they are.

Invariants: ``$exception_list`` is never empty and its item always has a non-empty
string ``type``: when neither the trace nor the rule's ``type`` gives one (no such
key, an absent field, an empty text), it is "Error", because an exception without a
type would fail PostHog's processing and dropping the line would hide an error; and
that is counted (a ``Failed`` at ``exception.type``, reason ``missing``), unless the
rule's ``type`` failed already and was counted so. ``value`` is cut to PostHog's
10,000 characters; nothing raises for any record.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bridge.model import Record
from bridge.rules.errortracking.chains import TracedException, parse_chain
from bridge.rules.errortracking.traces import parse_frames
from bridge.rules.fieldpaths import MISSING
from bridge.rules.schema import Reporter, check_keys, expect_map
from bridge.rules.values.failures import Failed, settle
from bridge.rules.values.forms import Extra, ValueFn, ValueScope, compile_value
from bridge.rules.values.types import render_text
from bridge.yamlnodes import Node, Scalar, child_path, describe

__all__ = [
    "DEFAULT_EXCEPTION_TYPE",
    "EXCEPTION_EVENT",
    "MAX_EXCEPTION_VALUE_CHARS",
    "compile_exception",
]

EXCEPTION_EVENT = "$exception"
DEFAULT_EXCEPTION_TYPE = "Error"
# cymbal cuts an exception's value at 10,000 characters (reference §9).
MAX_EXCEPTION_VALUE_CHARS = 10_000

_KEYS = ("fingerprint", "handled", "level", "stacktrace", "type", "value")
# The type of a record's one exception; a missing type is added to the list.
_TypeText = Callable[[Record, list[Failed] | None], str]


def _record_trace(record: Record) -> Any:
    _first, newline, rest = record.line.text.partition("\n")
    return rest if newline else MISSING


def compile_exception(
    rep: Reporter, node: Node, path: str, scope: ValueScope
) -> Extra | None:
    """
    Compile an ``exception`` mapping into what it adds to an event's properties.

    Returns:
        The function, or None after reporting what is wrong.
    """
    mapping = expect_map(rep, node, path)
    if mapping is None:
        return None
    ok = check_keys(rep, mapping, path, _KEYS)
    values: dict[str, ValueFn | None] = {}
    for key in ("type", "value", "stacktrace", "fingerprint", "level"):
        value_node = mapping.get(key)
        if value_node is None:
            values[key] = None
            continue
        compiled = compile_value(rep, value_node, child_path(path, key), scope)
        ok = ok and compiled is not None
        values[key] = compiled
    handled = _handled(rep, mapping.get("handled"), child_path(path, "handled"))
    if not ok or handled is None:
        return None
    return _exception_adder(
        _type_text_of(values["type"], scope.label(child_path(path, "type"))),
        values["value"],
        values["stacktrace"] or _record_trace,
        values["fingerprint"],
        values["level"],
        handled=handled,
    )


def _handled(rep: Reporter, node: Node | None, path: str) -> bool | None:
    if node is None:
        return True
    if isinstance(node, Scalar) and isinstance(node.value, bool):
        return node.value
    rep.error(node, path, f"expected true or false, got {describe(node)}")
    return None


def _exception_adder(
    type_text: _TypeText,
    value_of: ValueFn | None,
    trace_of: ValueFn,
    fingerprint_of: ValueFn | None,
    level_of: ValueFn | None,
    *,
    handled: bool,
) -> Extra:
    def add(
        record: Record,
        properties: dict[str, Any],
        _personless: bool,
        failed: list[Failed] | None,
    ) -> None:
        def get(value_fn: ValueFn) -> Any:
            return settle(value_fn(record), failed)

        trace = _trace_text(get(trace_of))
        chain = parse_chain(trace) if trace.strip() else []
        if chain:
            properties["$exception_list"] = _chained(chain, handled)
        else:
            item: dict[str, Any] = {
                "type": type_text(record, failed),
                "value": _text(get(value_of) if value_of else None)[
                    :MAX_EXCEPTION_VALUE_CHARS
                ],
                "mechanism": {"handled": handled, "synthetic": True},
            }
            if trace.strip():
                item["stacktrace"] = {"type": "raw", "frames": parse_frames(trace)}
            properties["$exception_list"] = [item]
        if fingerprint_of is not None:
            fingerprint = _text(get(fingerprint_of))
            if fingerprint:
                properties["$exception_fingerprint"] = fingerprint
        if level_of is not None:
            level = _text(get(level_of))
            if level:
                properties["$exception_level"] = level

    return add


def _type_text_of(type_of: ValueFn | None, where: str) -> _TypeText:
    """The rule's type for its one exception, or "Error", counted when it is missing."""

    def type_text(record: Record, failed: list[Failed] | None) -> str:
        value = MISSING if type_of is None else type_of(record)
        counted = type(value) is Failed
        text = _text(settle(value, failed))
        if text:
            return text
        if not counted and failed is not None:
            failed.append(Failed("missing", MISSING, where=where))
        return DEFAULT_EXCEPTION_TYPE

    return type_text


def _chained(chain: list[TracedException], handled: bool) -> list[dict[str, Any]]:
    """The items of a real trace's exceptions, outermost first."""
    return [
        {
            "type": exception.type,
            "value": exception.value[:MAX_EXCEPTION_VALUE_CHARS],
            "mechanism": {
                "handled": handled,
                "synthetic": False,
                "type": "generic" if i == 0 else "chained",
            },
            "stacktrace": {"type": "raw", "frames": exception.frames},
        }
        for i, exception in enumerate(chain)
    ]


def _text(value: Any) -> str:
    """A value as text; "" for null, MISSING and what JSON cannot carry."""
    if value is None:
        return ""
    text = render_text(value)
    return text if isinstance(text, str) else ""


def _trace_text(value: Any) -> str:
    # Some loggers write the trace as a JSON list of lines.
    if isinstance(value, list) and all(isinstance(line, str) for line in value):
        return "\n".join(value)
    return _text(value)
