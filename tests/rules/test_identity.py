"""Persons and identities: ids that cannot name a person, person profiles, identity
events, and the events PostHog treats apart."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.rules import RuleState
from tests.rules.support import compile_text, errors, record, rule_file, warnings_of


def built(text: str, fields: dict[str, Any]) -> tuple[list[Any], list[str]]:
    ruleset = compile_text(text)
    state = RuleState(ruleset)
    events = ruleset.apply(record(fields), state)
    return events, [issue.label for issue in state.issues]


ID_CASES = [
    # id, extra keys, user, (distinct_id sent or None for the uuid, personless), issues
    ("valid", "", "u-42", ("u-42", False), []),
    ("placeholder", "", "anonymous", (None, True), ["distinct_id: placeholder"]),
    ("any-case", "", "GUEST", (None, True), ["distinct_id: placeholder"]),
    ("exact-case-only", "", "NULL", ("NULL", False), []),
    ("quoted", "", "'undefined'", (None, True), ["distinct_id: placeholder"]),
    ("python-none", "", "None", (None, True), ["distinct_id: placeholder"]),
    ("js-undefined", "", "undefined", (None, True), ["distinct_id: placeholder"]),
    ("text-true", "", "true", (None, True), ["distinct_id: placeholder"]),
    ("text-false-any-case", "", "False", (None, True), ["distinct_id: placeholder"]),
    ("blank", "", "  ", (None, True), ["distinct_id: blank"]),
    ("missing", "", None, (None, True), ["distinct_id: missing"]),
    (
        "too-long-hashed",
        "",
        "u" * 250,
        ("sha256:" + "f" * 64, False),
        ["distinct_id: too_long"],
    ),
    (
        "skip",
        "invalid_id: skip",
        "null",
        "skipped",
        ["distinct_id: placeholder", "event: skipped"],
    ),
    (
        "hash-placeholder",
        "invalid_id: hash",
        "0",
        ("sha256:", False),
        ["distinct_id: placeholder"],
    ),
    (
        "always-skips",
        "person_profiles: always",
        "null",
        "skipped",
        ["distinct_id: placeholder", "event: skipped"],
    ),
    ("never-keeps-the-id", "person_profiles: never", "u-1", ("u-1", True), []),
    (
        "never-invalid",
        "person_profiles: never",
        "none",
        (None, True),
        ["distinct_id: placeholder"],
    ),
]


@pytest.mark.parametrize(
    ("extra", "user", "expected", "issues"),
    [case[1:] for case in ID_CASES],
    ids=[case[0] for case in ID_CASES],
)
def test_ids_that_cannot_name_a_person(extra, user, expected, issues):
    text = rule_file(distinct_id="{field: user}", extra=extra)
    fields = {} if user is None else {"user": user}

    events, found = built(text, fields)

    assert found == issues
    if expected == "skipped":
        assert events == []
        return
    (event,) = events
    distinct_id, personless = expected
    if distinct_id is None:
        assert event.distinct_id == event.uuid
    elif distinct_id.startswith("sha256:"):
        assert event.distinct_id.startswith("sha256:")
        assert len(event.distinct_id) == 71
    else:
        assert event.distinct_id == distinct_id
    assert (event.properties.get("$process_person_profile") is False) == personless


def test_a_too_long_id_hashes_to_the_same_id_every_time():
    text = rule_file(distinct_id="{field: user}")

    first, _ = built(text, {"user": "a" * 201})
    again, _ = built(text, {"user": "a" * 201})
    other, _ = built(text, {"user": "a" * 200 + "b"})

    assert first[0].distinct_id == again[0].distinct_id != other[0].distinct_id


IDENTIFY = rule_file(
    event="",
    distinct_id="'{user}'",
    extra="identify: {anon_distinct_id: '{session}'}\nset: {plan: '{plan}'}",
)


def test_identify_links_the_anonymous_id_to_the_user():
    (event,), issues = built(IDENTIFY, {"user": "u1", "session": "s9", "plan": "pro"})

    assert (event.name, event.distinct_id) == ("$identify", "u1")
    assert dict(event.properties) == {
        "$anon_distinct_id": "s9",
        "$set": {"plan": "pro"},
    }
    assert issues == []


def test_identify_without_a_person_is_skipped_and_a_bad_anonymous_id_left_out():
    skipped, skip_issues = built(IDENTIFY, {"user": "null", "session": "s9"})
    (kept,), kept_issues = built(IDENTIFY, {"user": "u1", "session": "undefined"})

    assert skipped == []
    assert skip_issues == ["distinct_id: placeholder", "event: skipped"]
    assert "$anon_distinct_id" not in kept.properties
    assert kept_issues == ["identify.anon_distinct_id: placeholder"]


def test_alias_says_two_ids_are_one_person():
    text = rule_file(event="", distinct_id="'{user}'", extra="alias: '{legacy}'")

    (event,), _ = built(text, {"user": "u1", "legacy": "old-7"})
    skipped, issues = built(text, {"user": "u1", "legacy": "guest"})

    assert (event.name, event.distinct_id) == ("$create_alias", "u1")
    assert dict(event.properties) == {"distinct_id": "u1", "alias": "old-7"}
    assert skipped == []
    assert issues == ["alias: placeholder", "event: skipped"]


def test_group_identify_names_a_group():
    text = rule_file(
        event="",
        extra="group_identify: {type: company, key: '{org}', set: {name: '{org_name}'}}",
    )

    (event,), _ = built(text, {"org": "acme", "org_name": "Acme Inc"})
    skipped, issues = built(text, {"org": "k" * 401, "org_name": "x"})

    assert (event.name, event.distinct_id) == ("$groupidentify", "$company_acme")
    assert dict(event.properties) == {
        "$group_type": "company",
        "$group_key": "acme",
        "$group_set": {"name": "Acme Inc"},
    }
    assert "$process_person_profile" not in event.properties
    assert skipped == []
    assert issues == ["distinct_id: missing", "event: skipped"]


def test_a_rule_may_turn_geolocation_on_for_its_events():
    text = rule_file(properties="{$ip: '{client}'}", extra="geoip: true")

    (event,), _ = built(text, {"client": "203.0.113.9"})

    assert event.properties["$geoip_disable"] is False
    assert event.properties["$ip"] == "203.0.113.9"


CHECK_CASES = [
    (
        "identify-without-id",
        rule_file(event="", extra="identify: {}"),
        "rules/a.yaml:6:5: error: rules[0]: identify needs a distinct_id (the person it "
        "is about)",
    ),
    (
        "identify-never",
        rule_file(
            event="", distinct_id="'{u}'", extra="identify: {}\nperson_profiles: never"
        ),
        "rules/a.yaml:10:22: error: rules[0].person_profiles: $identify cannot be "
        "personless: PostHog drops it",
    ),
    (
        "group-with-id",
        rule_file(
            event="", distinct_id="'{u}'", extra="group_identify: {type: c, key: k}"
        ),
        "rules/a.yaml:8:18: error: rules[0].distinct_id: group_identify makes its own "
        "distinct_id ($<type>_<key>) (hint: remove it)",
    ),
    (
        "group-without-key",
        rule_file(event="", extra="group_identify: {type: company}"),
        "rules/a.yaml:8:21: error: rules[0].group_identify: missing required key 'key'",
    ),
    (
        "group-without-type",
        rule_file(event="", extra="group_identify: {key: '{c}'}"),
        "rules/a.yaml:8:21: error: rules[0].group_identify: missing required key "
        "'type'",
    ),
    (
        "alias-without-id",
        rule_file(event="", extra="alias: '{x}'"),
        "rules/a.yaml:6:5: error: rules[0]: alias needs a distinct_id (the person it "
        "is about)",
    ),
    (
        "always-without-id",
        rule_file(extra="person_profiles: always"),
        "rules/a.yaml:9:22: error: rules[0].person_profiles: person_profiles: always "
        "needs a distinct_id",
    ),
    (
        "identify-as-event",
        rule_file(event="$identify"),
        "rules/a.yaml:8:12: error: rules[0].event: '$identify' is an event PostHog "
        "treats apart (hint: write identify: {anon_distinct_id: ...} with a "
        "distinct_id)",
    ),
    (
        "exception-as-event",
        rule_file(event="$exception"),
        "rules/a.yaml:8:12: error: rules[0].event: '$exception' is an event PostHog "
        "treats apart (hint: write exception: {type: ..., value: ...} instead of "
        "event:)",
    ),
    (
        "performance-event-as-event",
        rule_file(event="$performance_event"),
        "rules/a.yaml:8:12: error: rules[0].event: '$performance_event' is an event "
        "PostHog treats apart (hint: PostHog discards these events)",
    ),
    (
        "identity-and-event",
        rule_file(event="login", distinct_id="'{u}'", extra="alias: '{x}'"),
        "rules/a.yaml:8:12: error: rules[0].event: a rule with alias makes its own "
        "event, got event: 'login' (hint: remove event:)",
    ),
    (
        "placeholder-constant",
        rule_file(distinct_id="anonymous"),
        "rules/a.yaml:9:18: error: rules[0].distinct_id: 'anonymous' cannot name a "
        "person (placeholder) (hint: omit distinct_id to send personless events)",
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [case[1:] for case in CHECK_CASES],
    ids=[case[0] for case in CHECK_CASES],
)
def test_check_knows_what_posthog_requires(text, expected):
    assert expected in errors(text)


def test_dollar_names_are_posthogs_a_warning():
    assert warnings_of(rule_file(event="$pageleave")) == [
        "rules/a.yaml:8:12: warning: rules[0].event: '$pageleave': names starting "
        "with '$' are PostHog's (hint: name your events without '$')"
    ]


def test_check_warns_of_a_placeholder_default_for_the_distinct_id() -> None:
    (warning,) = warnings_of(rule_file(distinct_id="{field: user, default: anonymous}"))

    assert warning == (
        "rules/a.yaml:9:41: warning: rules[0].distinct_id.default: the default"
        " 'anonymous' cannot name a person (placeholder): events without the field go"
        " under invalid_id (hint: leave the default out; such events go personless)"
    )


@pytest.mark.parametrize(
    ("distinct_id", "warned"),
    [
        pytest.param('"user-{user}"', True, id="text-before"),
        pytest.param('"{tenant}:{user}"', True, id="two-fields-and-a-colon"),
        pytest.param('"{user}"', False, id="field-alone"),
        pytest.param('" {user} "', False, id="only-spaces-around"),
        pytest.param("{field: user}", False, id="field-form"),
    ],
)
def test_check_warns_where_text_around_a_field_hides_a_placeholder(
    distinct_id: str, warned: bool
) -> None:
    warnings = warnings_of(rule_file(distinct_id=distinct_id))

    assert bool(warnings) is warned
    if warned:
        assert "hides a field that is empty or a placeholder" in warnings[0]
        assert 'use the field alone, e.g. distinct_id: "{user_id}"' in warnings[0]
