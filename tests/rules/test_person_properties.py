"""Person and group properties: ``set``, ``set_once`` and ``groups``."""

from __future__ import annotations

import pytest

from bridge.rules.identity.properties import MAX_GROUP_TYPES
from tests.rules.support import errors, events, rule_file, warnings_of

FIELDS = {"user": 7, "plan": "pro", "org": "acme", "seats": 3, "none": None}

PROPERTY_CASES = [
    (
        "set",
        "set: {plan: '{plan}', seats: {field: seats}}",
        {"$set": {"plan": "pro", "seats": 3}},
    ),
    (
        "set-once",
        "set_once: {first_plan: '{plan}'}",
        {"$set_once": {"first_plan": "pro"}},
    ),
    (
        "set-missing-value-left-out",
        "set: {plan: '{plan}', x: '{nope}'}",
        {"$set": {"plan": "pro"}},
    ),
    ("set-all-missing-not-sent", "set: {x: '{nope}'}", {}),
    ("set-null-is-sent", "set: {x: {field: none}}", {"$set": {"x": None}}),
    ("groups", "groups: {company: '{org}'}", {"$groups": {"company": "acme"}}),
    (
        "groups-number-as-text",
        "groups: {team: {field: seats}}",
        {"$groups": {"team": "3"}},
    ),
    (
        "groups-missing-left-out",
        "groups: {company: '{nope}', t: x}",
        {"$groups": {"t": "x"}},
    ),
    ("groups-null-left-out", "groups: {company: {field: none}}", {}),
    ("groups-empty-text-left-out", "groups: {company: ''}", {}),
]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [case[1:] for case in PROPERTY_CASES],
    ids=[case[0] for case in PROPERTY_CASES],
)
def test_person_and_group_properties_of_an_identified_event(extra, expected):
    text = rule_file(distinct_id="'{user}'", properties="{a: 1}", extra=extra)

    (event,) = events(text, FIELDS)

    assert dict(event.properties) == {"a": 1, **expected}


def test_personless_event_carries_no_person_properties_but_keeps_groups():
    extra = "set: {plan: '{plan}'}\nset_once: {p: '{plan}'}\ngroups: {company: '{org}'}"
    text = rule_file(distinct_id="'{nope}'", extra=extra)

    (event,) = events(text, FIELDS)

    assert dict(event.properties) == {
        "$groups": {"company": "acme"},
        "$process_person_profile": False,
    }


def test_set_wins_over_a_set_property_written_by_hand():
    text = rule_file(
        distinct_id="'{user}'",
        properties="{$set: {value: {old: 1}}}",
        extra="set: {plan: '{plan}'}",
    )

    (event,) = events(text, FIELDS)

    assert event.properties["$set"] == {"plan": "pro"}


WARNING_CASES = [
    pytest.param(
        rule_file(extra="set: {plan: '{plan}'}"),
        [
            "rules/a.yaml:9:10: warning: rules[0].set: set has no effect without "
            "distinct_id (hint: PostHog ignores person properties of personless "
            "events)"
        ],
        id="set-without-distinct-id",
    ),
    pytest.param(
        rule_file(extra="set_once: {plan: '{plan}'}"),
        [
            "rules/a.yaml:9:15: warning: rules[0].set_once: set_once has no effect "
            "without distinct_id (hint: PostHog ignores person properties of "
            "personless events)"
        ],
        id="set-once-without-distinct-id",
    ),
    pytest.param(
        rule_file(
            distinct_id="'{user}'",
            extra="groups: {a: x, b: x, c: x, d: x, e: x, f: x}",
        ),
        [
            f"rules/a.yaml:10:13: warning: rules[0].groups: expected at most "
            f"{MAX_GROUP_TYPES} group types, got 6 (hint: PostHog keeps "
            f"{MAX_GROUP_TYPES} group types per project)"
        ],
        id="too-many-group-types",
    ),
    pytest.param(
        rule_file(distinct_id="'{user}'", extra="set: {plan: '{plan}'}"),
        [],
        id="set-with-distinct-id",
    ),
]


@pytest.mark.parametrize(("text", "expected"), WARNING_CASES)
def test_person_property_warnings(text, expected):
    result = warnings_of(text)

    assert result == expected


ERROR_CASES = [
    pytest.param(
        rule_file(distinct_id="'{u}'", extra="set: [a]"),
        [
            "rules/a.yaml:10:10: error: rules[0].set: expected a mapping, got a list",
        ],
        id="set-list",
    ),
    pytest.param(
        rule_file(distinct_id="'{u}'", extra="set_once: {a: '{'}"),
        [
            "rules/a.yaml:10:19: error: rules[0].set_once.a: unclosed '{' in template "
            "'{' (hint: write {{ for a literal brace)",
        ],
        id="set-once-bad-template",
    ),
    pytest.param(
        rule_file(extra="groups: x"),
        [
            "rules/a.yaml:9:13: error: rules[0].groups: expected a mapping, got 'x'",
        ],
        id="groups-scalar",
    ),
]


@pytest.mark.parametrize(("text", "expected"), ERROR_CASES)
def test_invalid_person_properties_are_reported_at_their_position(text, expected):
    result = errors(text)

    assert result == expected
