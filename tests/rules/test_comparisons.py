"""Bounds in conditions: numbers, and durations (``took: {gt: 1s}``), undecided when
a value is no duration, and counted so."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.rules import RuleState
from bridge.rules.values.failures import Issue
from tests.rules.support import compile_text, errors, record, rule_file


def verdict(when: str, fields: dict[str, Any]) -> tuple[bool, list[str]]:
    """Whether the rule matches the fields, and the issues counted."""
    ruleset = compile_text(rule_file(when=when))
    state = RuleState(ruleset)
    found = ruleset.apply(record(fields), state)
    return bool(found), [issue.label for issue in state.issues]


DURATION_CASES = [
    # Each case: id, condition on field f, its value, whether the rule matches.
    ("go-seconds", "{gt: 1s}", "1.2s", True),
    ("go-milliseconds-below", "{gt: 1s}", "850ms", False),
    ("go-minutes-and-seconds", "{gt: 1m}", "1m3.5s", True),
    ("go-microseconds", "{lt: 1ms}", "199.184µs", True),
    ("rust-mu-sign", "{lt: 1ms}", "199.184μs", True),
    ("fractional-bound", "{gte: 1.5s}", "1500ms", True),
    ("minutes-bound", "{lt: 2m}", "119s", True),
    ("hours-and-minutes-bound", "{gt: 1h30m}", "1h31m", True),
    ("exact-equal-not-gt", "{gt: 1s}", "1000ms", False),
    ("exact-decimal-gte", "{gte: 1100us}", "1.1ms", True),
    ("exact-decimal-lte", "{lte: 1.1ms}", "1100us", True),
    ("spaced-text", "{gt: 2m}", "2m 30s", True),
    ("negative", "{lt: 0s}", "-1.5s", True),
    ("range-inside", "{gte: 500ms, lt: 2s}", "1.2s", True),
    ("range-outside", "{gte: 500ms, lt: 2s}", "2s", False),
    ("number-in-ms", "{gt: 1s, number_unit: ms}", 1500, True),
    ("number-in-ms-below", "{gt: 1s, number_unit: ms}", 999.5, False),
    ("numeric-text-in-ms", "{gt: 1s, number_unit: ms}", "1500", True),
    ("go-json-nanoseconds", "{gt: 1s, number_unit: ns}", 1532871004, True),
    ("text-with-units-beside-number-unit", "{gt: 1s, number_unit: ms}", "2s", True),
    ("big-number", "{gt: 1s, number_unit: ns}", 10**40, True),
    ("missing", "{gt: 1s}", "MISSING", False),
    ("null", "{gt: 1s}", None, False),
    ("not-of-a-missing-bound-holds", "{not: {gt: 1s}}", "MISSING", True),
    ("not-of-a-false-bound-holds", "{not: {gt: 1s}}", "850ms", True),
]


@pytest.mark.parametrize(
    ("condition", "value", "expected"),
    [case[1:] for case in DURATION_CASES],
    ids=[case[0] for case in DURATION_CASES],
)
def test_a_duration_bound_compares_the_field_as_a_duration(condition, value, expected):
    fields = {} if value == "MISSING" else {"f": value}

    assert verdict(f"{{f: {condition}}}", fields) == (expected, [])


UNDECIDED_CASES = [
    # Each case: id, when, fields, whether the rule matches, the issues counted.
    ("text", "{f: {gt: 1s}}", {"f": "n/a"}, False, ["when.f: not_duration"]),
    (
        "number-without-unit",
        "{f: {gt: 1s}}",
        {"f": 1500},
        False,
        ["when.f: not_duration"],
    ),
    (
        "numeric-text-without-unit",
        "{f: {gt: 1s}}",
        {"f": "1500"},
        False,
        ["when.f: not_duration"],
    ),
    ("bool", "{f: {gt: 1s}}", {"f": True}, False, ["when.f: not_duration"]),
    ("list", "{f: {gt: 1s}}", {"f": ["1s"]}, False, ["when.f: not_duration"]),
    (
        "unknown-unit",
        "{f: {gt: 1s}}",
        {"f": "1.2 seconds"},
        False,
        ["when.f: not_duration"],
    ),
    (
        "not-does-not-make-it-hold",
        "{f: {not: {lt: 1s}}}",
        {"f": "n/a"},
        False,
        ["when.f: not_duration"],
    ),
    (
        "group-not-does-not-make-it-hold",
        "{not: {f: {lt: 1s}}}",
        {"f": "n/a"},
        False,
        ["when.not.f: not_duration"],
    ),
    (
        "another-entry-false-decides",
        "{g: 1, f: {gt: 1s}}",
        {"g": 2, "f": "n/a"},
        False,
        [],
    ),
    (
        "another-entry-true-does-not",
        "{g: 1, f: {gt: 1s}}",
        {"g": 1, "f": "n/a"},
        False,
        ["when.f: not_duration"],
    ),
    (
        "any-with-a-true-one-holds",
        "{any: [{f: {gt: 1s}}, {g: 1}]}",
        {"f": "x", "g": 1},
        True,
        [],
    ),
    (
        "any-with-false-ones-is-undecided",
        "{any: [{g: 1}, {f: {gt: 1s}}]}",
        {"f": "x", "g": 2},
        False,
        ["when.any[1].f: not_duration"],
    ),
    (
        "all-group",
        "{all: [{g: 1}, {f: {gt: 1s}}]}",
        {"f": "x", "g": 1},
        False,
        ["when.all[1].f: not_duration"],
    ),
    (
        "exists-beside-a-bound-false-decides",
        "{f: {gt: 1s, ne: x}}",
        {"f": "x"},
        False,
        [],
    ),
    (
        "the-first-undecided-is-counted",
        "{f: {gt: 1s}, g: {lt: 1m}}",
        {"f": "x", "g": "y"},
        False,
        ["when.f: not_duration"],
    ),
]


@pytest.mark.parametrize(
    ("when", "fields", "expected", "issues"),
    [case[1:] for case in UNDECIDED_CASES],
    ids=[case[0] for case in UNDECIDED_CASES],
)
def test_a_value_that_is_no_duration_leaves_the_rule_undecided_and_counted(
    when, fields, expected, issues
):
    assert verdict(when, fields) == (expected, issues)


def test_number_bounds_are_as_they_were():
    assert verdict("{f: {gt: 1000}}", {"f": "n/a"}) == (False, [])
    assert verdict("{f: {gt: 1000}}", {"f": 1500}) == (True, [])
    assert verdict("{f: {not: {gt: 1000}}}", {"f": "n/a"}) == (True, [])


def test_undecided_lines_are_counted_only_with_a_state():
    ruleset = compile_text(rule_file(when="{f: {gt: 1s}}"))

    assert ruleset.apply(record({"f": "n/a"})) == []


def test_matching_counts_the_rules_it_leaves_undecided():
    ruleset = compile_text(rule_file(when="{f: {gt: 1s}}"))
    issues: list[Issue] = []
    matching = ruleset.matching("app", issues)

    assert matching({"f": "2s"}) == ruleset.rules
    assert matching({"f": "n/a"}) == ()
    assert matching({"f": "1ms"}) == ()
    assert issues == [Issue("r", "when.f", "not_duration")]


VALUE_CASES = [
    # Each case: id, value, fields, value sent, issues counted.
    ("when-true", "{when: {f: {gt: 1s}}}", {"f": "2s"}, True, []),
    ("when-false", "{when: {f: {gt: 1s}}}", {"f": "2ms"}, False, []),
    (
        "when-undecided-fails",
        "{when: {f: {gt: 1s}}}",
        {"f": "n/a"},
        "OMITTED",
        ["properties.p: not_duration"],
    ),
    (
        "when-undecided-default",
        "{when: {f: {gt: 1s}}, default: unknown}",
        {"f": "n/a"},
        "unknown",
        ["properties.p: not_duration"],
    ),
    (
        "cases-first-holds",
        "{cases: [{when: {f: {gt: 1s}}, value: slow}], default: fast}",
        {"f": "2s"},
        "slow",
        [],
    ),
    (
        "cases-none-holds",
        "{cases: [{when: {f: {gt: 1s}}, value: slow}], default: fast}",
        {"f": "2ms"},
        "fast",
        [],
    ),
    (
        "cases-undecided-is-not-the-default",
        "{cases: [{when: {f: {gt: 1s}}, value: slow}], default: fast, on_error: null}",
        {"f": "n/a"},
        None,
        ["properties.p: not_duration"],
    ),
    (
        "cases-an-earlier-case-decides",
        "{cases: [{when: {g: 1}, value: one}, {when: {f: {gt: 1s}}, value: slow}]}",
        {"f": "n/a", "g": 1},
        "one",
        [],
    ),
]


@pytest.mark.parametrize(
    ("spec", "fields", "expected", "issues"),
    [case[1:] for case in VALUE_CASES],
    ids=[case[0] for case in VALUE_CASES],
)
def test_values_decided_by_duration_bounds_fail_when_undecided(
    spec, fields, expected, issues
):
    ruleset = compile_text(rule_file(properties=f"{{p: {spec}}}"))
    state = RuleState(ruleset)

    (event,) = ruleset.apply(record(fields), state)

    assert event.properties.get("p", "OMITTED") == expected
    assert [issue.label for issue in state.issues] == issues


R = rule_file(when="WHEN")

ERROR_CASES = [
    (
        "unknown-unit-in-bound",
        "{f: {gt: 1sec}}",
        "rules/a.yaml:9:20: error: rules[0].when.f: expected a number or a duration "
        "for 'gt', got '1sec' (hint: write a number, or a duration with its unit: "
        "1s, 500ms, 1m30s)",
    ),
    (
        "bound-without-unit-text",
        "{f: {gt: 'fast'}}",
        "rules/a.yaml:9:20: error: rules[0].when.f: expected a number or a duration "
        "for 'gt', got 'fast' (hint: write a number, or a duration with its unit: "
        "1s, 500ms, 1m30s)",
    ),
    (
        "number-beside-a-duration",
        "{f: {gt: 1s, lt: 5000}}",
        "rules/a.yaml:9:28: error: rules[0].when.f: expected a duration for 'lt' "
        "like '1s', got 5000 (hint: write it with its unit, e.g. 5000ms or 5000s)",
    ),
    (
        "number-unit-beside-a-number",
        "{f: {gt: 1000, number_unit: ms}}",
        "rules/a.yaml:9:39: error: rules[0].when.f.number_unit: 'number_unit' "
        "applies only beside duration bounds (hint: write the bound with its unit, "
        "e.g. gt: 1s)",
    ),
    (
        "number-unit-alone",
        "{f: {number_unit: ms}}",
        "rules/a.yaml:9:29: error: rules[0].when.f.number_unit: 'number_unit' "
        "applies only beside duration bounds (hint: write the bound with its unit, "
        "e.g. gt: 1s)",
    ),
    (
        "number-unit-unknown",
        "{f: {gt: 1s, number_unit: msec}}",
        "rules/a.yaml:9:37: error: rules[0].when.f.number_unit: unknown number_unit "
        "'msec'; expected one of d, h, m, ms, ns, s, us (did you mean 'ms'?)",
    ),
    (
        "unit-is-not-the-key",
        "{f: {gt: 1s, unit: ms}}",
        "rules/a.yaml:9:24: error: rules[0].when.f: unknown operator 'unit'; "
        "expected one of contains, endswith, eq, exists, gt, gte, in, lt, lte, ne, "
        "not, regex, startswith (hint: the unit of a field's bare numbers is "
        "number_unit: ms)",
    ),
    (
        "number-unit-misspelt",
        "{f: {gt: 1s, number_units: ms}}",
        "rules/a.yaml:9:24: error: rules[0].when.f: unknown operator 'number_units'; "
        "expected one of contains, endswith, eq, exists, gt, gte, in, lt, lte, ne, "
        "not, regex, startswith (did you mean 'number_unit'?)",
    ),
]


@pytest.mark.parametrize(
    ("when", "expected"),
    [case[1:] for case in ERROR_CASES],
    ids=[case[0] for case in ERROR_CASES],
)
def test_mistakes_in_bounds_are_located(when, expected):
    assert errors(R.replace("WHEN", when)) == [expected]


def test_only_rules_with_duration_bounds_are_judged_for_doubt():
    text = rule_file(when="{f: {gt: 1s}}") + (
        "  - {name: plain, source: app, event: p, when: {g: 1}}\n"
    )
    ruleset = compile_text(text)
    state = RuleState(ruleset)

    found = ruleset.apply(record({"f": "2s", "g": 2}), state)
    ruleset.apply(record({"f": "x", "g": 2}), state)

    assert [event.name for event in found] == ["e"]
    assert [issue.label for issue in state.issues] == ["when.f: not_duration"]
