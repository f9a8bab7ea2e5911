"""Who a rule's events are about: its distinct_id, its person profiles, its identity form.

Checked at load (reference/posthog-capture.md §8): an identity event (``identify``,
``alias``) needs a ``distinct_id``, ``group_identify`` makes its own; none of them
may be personless (``person_profiles: never``, ``invalid_id: personless``), since
PostHog drops them then; ``person_profiles: always`` needs a ``distinct_id``; a
distinct_id written as a constant is one hot person (a warning), or no person at all
when it is a placeholder such as ``anonymous`` (an error); a placeholder as the
``default`` of a distinct_id's field is a warning (those events go by ``invalid_id``).
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.rules.identity.forms import IDENTITY_KEYS, IdentityForm, compile_identity
from bridge.rules.identity.ids import (
    INVALID_ID_CHOICES,
    PERSON_PROFILES_CHOICES,
    IdPolicy,
    InvalidId,
    PersonProfiles,
    id_problem,
)
from bridge.rules.schema import Reporter, choice
from bridge.rules.values.forms import ValueFn, ValueScope, compile_value, is_constant
from bridge.rules.values.templates import template_parts
from bridge.yamlnodes import Map, Scalar, child_path, show

__all__ = ["PERSON_KEYS", "Person", "compile_person"]

PERSON_KEYS = ("distinct_id", "invalid_id", "person_profiles", *IDENTITY_KEYS)


@dataclass(frozen=True, slots=True)
class Person:
    """A rule's person: how its distinct_id is found and settled, its identity form."""

    distinct_id: ValueFn | None
    policy: IdPolicy
    identity: IdentityForm | None


def compile_person(
    rep: Reporter, mapping: Map, path: str, scope: ValueScope
) -> Person | None:
    """Compile a rule's distinct_id, person_profiles, invalid_id and identity form."""
    profiles = _profiles(rep, mapping, path)
    invalid = _invalid(rep, mapping, path)
    identity_ok, identity = compile_identity(rep, mapping, path, scope)
    distinct_ok, distinct_id = _distinct_id(rep, mapping, path, scope)
    ok = identity_ok and distinct_ok and profiles is not None
    ok = _consistent(rep, mapping, path, identity, profiles, invalid) and ok
    if not ok or profiles is None:
        return None
    if identity is not None and identity.distinct_id is not None:
        distinct_id = identity.distinct_id
    policy = IdPolicy(profiles, invalid, needs_person=identity is not None)
    return Person(distinct_id, policy, identity)


def _profiles(rep: Reporter, mapping: Map, path: str) -> PersonProfiles | None:
    name = choice(
        rep,
        mapping,
        path,
        "person_profiles",
        PERSON_PROFILES_CHOICES,
        "identified_only",
    )
    return next((known for known in PERSON_PROFILES_CHOICES if known == name), None)


def _invalid(rep: Reporter, mapping: Map, path: str) -> InvalidId | None:
    if mapping.get("invalid_id") is None:
        return None
    name = choice(rep, mapping, path, "invalid_id", INVALID_ID_CHOICES, "personless")
    return next((known for known in INVALID_ID_CHOICES if known == name), None)


def _consistent(
    rep: Reporter,
    mapping: Map,
    path: str,
    identity: IdentityForm | None,
    profiles: PersonProfiles | None,
    invalid: InvalidId | None,
) -> bool:
    """Report the combinations PostHog would drop or that cannot work."""
    ok = True
    has_id = mapping.get("distinct_id") is not None
    kinds = [key for key in IDENTITY_KEYS if mapping.get(key) is not None]
    for other in kinds[1:]:
        message = f"a rule makes one identity event, got {kinds[0]} and {other}"
        rep.error(mapping, child_path(path, other), message)
        ok = False
    if identity is not None:
        if identity.kind == "group_identify" and has_id:
            node = mapping.get("distinct_id") or mapping
            message = "group_identify makes its own distinct_id ($<type>_<key>)"
            rep.error(node, child_path(path, "distinct_id"), message, "hint: remove it")
            ok = False
        elif identity.kind != "group_identify" and not has_id:
            message = f"{identity.kind} needs a distinct_id (the person it is about)"
            rep.error(mapping, path, message)
            ok = False
        if profiles == "never" or invalid == "personless":
            node = (
                mapping.get("person_profiles") or mapping.get("invalid_id") or mapping
            )
            message = f"{identity.event} cannot be personless: PostHog drops it"
            where = child_path(
                path, "person_profiles" if profiles == "never" else "invalid_id"
            )
            rep.error(node, where, message)
            ok = False
    elif profiles == "always" and not has_id:
        node = mapping.get("person_profiles") or mapping
        message = "person_profiles: always needs a distinct_id"
        rep.error(node, child_path(path, "person_profiles"), message)
        ok = False
    return ok


def _distinct_id(
    rep: Reporter, mapping: Map, path: str, scope: ValueScope
) -> tuple[bool, ValueFn | None]:
    """Whether the distinct_id is valid, and its function (None: personless)."""
    node = mapping.get("distinct_id")
    if node is None:
        return True, None
    where = child_path(path, "distinct_id")
    value_of = compile_value(rep, node, where, scope)
    if value_of is None:
        return False, None
    if isinstance(node, Scalar) and is_constant(node):
        problem = id_problem(str(node.value)) if node.value is not None else "missing"
        if problem is not None and problem != "too_long":
            message = f"{show(node.value)} cannot name a person ({problem})"
            hint = "hint: omit distinct_id to send personless events"
            rep.error(node, where, message, hint)
            return False, None
    if is_constant(node):
        # reference/posthog-capture.md §10: a single hot distinct_id is re-routed
        # to overflow and may lose person processing.
        message = "every event of this rule gets the same distinct_id"
        hint = "hint: omit distinct_id to send personless events"
        rep.warning(node, where, message, hint)
    text = node.value if isinstance(node, Scalar) else None
    parts = template_parts(text) if isinstance(text, str) else None
    if (
        parts is not None
        and any(placeholder for _, placeholder in parts)
        and any(part.strip() for part, placeholder in parts if not placeholder)
    ):
        # The id is checked whole: "user-" + "" or "user-" + "undefined" is a valid
        # looking id, so the lines without a real one would share one person.
        message = (
            f"text around the fields of {show(text)} hides a field that is"
            " empty or a placeholder (null, undefined, …): such lines would share"
            " one person"
        )
        hint = (
            'hint: use the field alone, e.g. distinct_id: "{user_id}"; lines without'
            " a real id then go under invalid_id"
        )
        rep.warning(node, where, message, hint)
    default = node.get("default") if isinstance(node, Map) else None
    if isinstance(default, Scalar) and default.value is not None:
        problem = id_problem(str(default.value))
        if problem is not None and problem != "too_long":
            message = (
                f"the default {show(default.value)} cannot name a person ({problem}):"
                " events without the field go under invalid_id"
            )
            hint = "hint: leave the default out; such events go personless"
            rep.warning(default, child_path(where, "default"), message, hint)
    type_node = node.get("type") if isinstance(node, Map) else None
    if isinstance(type_node, Scalar) and type_node.value == "bool":
        message = "a boolean distinct_id is always a placeholder (true or false)"
        rep.warning(type_node, child_path(where, "type"), message)
    return True, value_of
