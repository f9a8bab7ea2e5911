"""Identity events as rules: ``identify``, ``alias`` and ``group_identify``.

::

    - name: login                       # the anonymous session is this user now
      source: app
      when: {msg: user logged in}
      distinct_id: "{user_id}"
      identify: {anon_distinct_id: "{session_id}"}     # → $identify
      set: {plan: "{plan}"}                             # → $set, as on any rule

    - name: account-merged              # two ids of one person
      distinct_id: "{user_id}"
      alias: "{legacy_id}"                              # → $create_alias

    - name: company-seen                # give a group its name and properties
      group_identify:                                   # → $groupidentify
        type: company
        key: "{org_id}"
        set: {name: "{org_name}", plan: "{org_plan}"}

The events are built as PostHog's SDKs build them (reference/posthog-capture.md §8):
``$identify`` carries the user's distinct_id, ``$anon_distinct_id`` and the rule's
``$set``/``$set_once``; ``$create_alias`` carries ``{"distinct_id", "alias"}``;
``$groupidentify`` has the distinct_id ``$<type>_<key>`` and carries ``$group_type``,
``$group_key`` and ``$group_set``.

Invariants: PostHog drops these events when they are personless, so they always have
a person (their rule's ids that cannot name one skip the event, counted); an alias,
an anonymous id or a group key that cannot name anything is counted and, for the
alias and the group key, skips the event; a group key over 400 characters too
(ingestion drops such events). Nothing raises.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bridge.model import Record
from bridge.rules.fieldpaths import MISSING
from bridge.rules.identity.ids import id_problem
from bridge.rules.schema import Reporter, check_keys, expect_map, expect_str
from bridge.rules.values.failures import Failed, settle
from bridge.rules.values.forms import (
    ValueFn,
    ValueScope,
    compile_properties,
    compile_value,
)
from bridge.rules.values.types import render_text
from bridge.yamlnodes import Map, child_path

__all__ = [
    "IDENTITY_EVENTS",
    "IDENTITY_KEYS",
    "MAX_GROUP_KEY_CHARS",
    "IdentityForm",
    "compile_identity",
]

IDENTITY_EVENTS = {
    "identify": "$identify",
    "alias": "$create_alias",
    "group_identify": "$groupidentify",
}
IDENTITY_KEYS = tuple(IDENTITY_EVENTS)
# Ingestion drops a $groupidentify whose $group_key is longer (reference §8).
MAX_GROUP_KEY_CHARS = 400

# Adds what the event needs, given the distinct_id settled; False: skip the event.
Completer = Callable[[Record, str, dict[str, Any], list[Failed]], bool]


@dataclass(frozen=True, slots=True)
class IdentityForm:
    """What an identity rule makes: its event, its distinct_id, its properties."""

    kind: str
    event: str
    complete: Completer
    # For group_identify: the distinct_id is made from the group, not written.
    distinct_id: ValueFn | None = None


def compile_identity(
    rep: Reporter, mapping: Map, path: str, scope: ValueScope
) -> tuple[bool, IdentityForm | None]:
    """Whether the rule's identity key is valid, and its form (None: no such key)."""
    given = [key for key in IDENTITY_KEYS if mapping.get(key) is not None]
    if not given:
        return True, None
    kind = given[0]
    node = mapping.get(kind)
    assert node is not None  # noqa: S101 (found above)
    where = child_path(path, kind)
    if kind == "identify":
        return _identify(rep, node, where, scope)
    if kind == "alias":
        return _alias(rep, node, where, scope)
    return _group_identify(rep, node, where, scope)


def _identify(
    rep: Reporter, node: Any, path: str, scope: ValueScope
) -> tuple[bool, IdentityForm | None]:
    mapping = expect_map(rep, node, path)
    if mapping is None or not check_keys(rep, mapping, path, ("anon_distinct_id",)):
        return False, None
    anon: ValueFn | None = None
    anon_node = mapping.get("anon_distinct_id")
    if anon_node is not None:
        anon = compile_value(
            rep, anon_node, child_path(path, "anon_distinct_id"), scope
        )
        if anon is None:
            return False, None

    def complete(
        record: Record,
        _distinct_id: str,
        properties: dict[str, Any],
        failed: list[Failed],
    ) -> bool:
        if anon is not None:
            text, problem = _id_text(settle(anon(record), failed))
            if problem is None:
                properties["$anon_distinct_id"] = text
            else:
                failed.append(
                    Failed(problem, MISSING, where="identify.anon_distinct_id")
                )
        return True

    return True, IdentityForm("identify", "$identify", complete)


def _alias(
    rep: Reporter, node: Any, path: str, scope: ValueScope
) -> tuple[bool, IdentityForm | None]:
    alias = compile_value(rep, node, path, scope)
    if alias is None:
        return False, None

    def complete(
        record: Record,
        distinct_id: str,
        properties: dict[str, Any],
        failed: list[Failed],
    ) -> bool:
        text, problem = _id_text(settle(alias(record), failed))
        if problem is not None or text is None:
            failed.append(
                Failed(problem or "missing", MISSING, skip=True, where="alias")
            )
            return False
        properties["distinct_id"] = distinct_id
        properties["alias"] = text
        return True

    return True, IdentityForm("alias", "$create_alias", complete)


def _group_identify(
    rep: Reporter, node: Any, path: str, scope: ValueScope
) -> tuple[bool, IdentityForm | None]:
    mapping = expect_map(rep, node, path)
    if mapping is None or not check_keys(
        rep, mapping, path, ("key", "set", "type"), required=("key", "type")
    ):
        return False, None
    type_node, key_node = mapping.get("type"), mapping.get("key")
    assert type_node is not None  # noqa: S101 (required above)
    assert key_node is not None  # noqa: S101 (required above)
    group_type = expect_str(rep, type_node, child_path(path, "type"), "a group type")
    key = compile_value(rep, key_node, child_path(path, "key"), scope)
    group_set: tuple[tuple[str, ValueFn], ...] | None = ()
    set_node = mapping.get("set")
    if set_node is not None:
        group_set = compile_properties(rep, set_node, child_path(path, "set"), scope)
    if group_type is None or key is None or group_set is None:
        return False, None

    def distinct_id(record: Record) -> Any:
        text, problem = _group_key(settle(key(record), None))
        return MISSING if problem is not None else f"${group_type}_{text}"

    form = IdentityForm(
        "group_identify",
        "$groupidentify",
        _group_completer(group_type, key, group_set),
        distinct_id,
    )
    return True, form


def _group_completer(
    group_type: str, key: ValueFn, group_set: tuple[tuple[str, ValueFn], ...]
) -> Completer:
    def complete(
        record: Record,
        _distinct_id: str,
        properties: dict[str, Any],
        failed: list[Failed],
    ) -> bool:
        text, problem = _group_key(settle(key(record), failed))
        if problem is not None:
            failed.append(
                Failed(problem, MISSING, skip=True, where="group_identify.key")
            )
            return False
        properties["$group_type"] = group_type
        properties["$group_key"] = text
        values: dict[str, Any] = {}
        for name, value_of in group_set:
            value = settle(value_of(record), failed)
            if value is not MISSING:
                values[name] = value
        properties["$group_set"] = values
        return True

    return complete


def _group_key(value: Any) -> tuple[str, str | None]:
    """A group key's text, and what makes it unusable (None: usable)."""
    text = _text(value)
    if text is None:
        return "", "missing"
    if not text.strip():
        return text, "blank"
    if len(text) > MAX_GROUP_KEY_CHARS:
        return text, "too_long"
    return text, None


def _id_text(value: Any) -> tuple[str | None, str | None]:
    """A person's id's text, and what makes it unusable (None: usable)."""
    text = _text(value)
    if text is None:
        return None, "missing"
    return text, id_problem(text)


def _text(value: Any) -> str | None:
    if value is MISSING or value is None:
        return None
    text = value if isinstance(value, str) else render_text(value)
    return text if isinstance(text, str) else None
