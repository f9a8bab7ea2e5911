"""A rule's ``set``, ``set_once`` and ``groups`` → person and group properties.

- ``set: {plan: "{fields.plan}"}`` → ``$set: {plan: ...}``: person properties
  that overwrite; ``set_once`` → ``$set_once``: filled only if not set before.
- ``groups: {company: "{fields.org}"}`` → ``$groups: {company: "acme"}``: the
  event belongs to that group (group analytics); group keys are sent as text.

Values take every form of ``bridge.rules.values.forms``. Invariants: an entry whose
value is absent is left out, and an empty ``$set``/``$set_once``/``$groups`` is not
sent; a personless event never carries ``$set`` or ``$set_once`` (PostHog strips
them, reference/posthog-capture.md §8), so what it would drop is not even sent.
"""

from __future__ import annotations

from typing import Any

from bridge.model import Record
from bridge.rules.fieldpaths import MISSING
from bridge.rules.schema import Reporter
from bridge.rules.values.failures import Failed, settle
from bridge.rules.values.forms import Extra, ValueFn, ValueScope, compile_properties
from bridge.rules.values.types import render_text
from bridge.yamlnodes import Node

__all__ = ["MAX_GROUP_TYPES", "compile_groups", "compile_person_properties"]

# The events table has five group slots, $group_0..4 (reference §8).
MAX_GROUP_TYPES = 5


def compile_person_properties(
    rep: Reporter, node: Node, path: str, scope: ValueScope, key: str
) -> Extra | None:
    """Compile ``set`` or ``set_once`` into an adder of ``key`` ($set, $set_once)."""
    pairs = compile_properties(rep, node, path, scope)
    if pairs is None:
        return None

    def add(
        record: Record,
        properties: dict[str, Any],
        personless: bool,
        failed: list[Failed] | None,
    ) -> None:
        if personless:
            return
        values = _values(pairs, record, failed)
        if values:
            properties[key] = values

    return add


def compile_groups(
    rep: Reporter, node: Node, path: str, scope: ValueScope
) -> Extra | None:
    """Compile ``groups`` into an adder of ``$groups``."""
    pairs = compile_properties(rep, node, path, scope)
    if pairs is None:
        return None
    if len(pairs) > MAX_GROUP_TYPES:
        message = f"expected at most {MAX_GROUP_TYPES} group types, got {len(pairs)}"
        hint = f"hint: PostHog keeps {MAX_GROUP_TYPES} group types per project"
        rep.warning(node, path, message, hint)

    def add(
        record: Record,
        properties: dict[str, Any],
        _personless: bool,
        failed: list[Failed] | None,
    ) -> None:
        groups: dict[str, str] = {}
        for name, value in _values(pairs, record, failed).items():
            text = render_text(value) if value is not None else ""
            if isinstance(text, str) and text:
                groups[name] = text
        if groups:
            properties["$groups"] = groups

    return add


def _values(
    pairs: tuple[tuple[str, ValueFn], ...],
    record: Record,
    failed: list[Failed] | None,
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, value_of in pairs:
        value = settle(value_of(record), failed)
        if value is not MISSING:
            values[name] = value
    return values
