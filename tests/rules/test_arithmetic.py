"""Arithmetic steps: multiply, divide, add, subtract and round a value's number."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.model import BigInt
from bridge.rules import RuleState
from tests.rules.support import compile_text, errors, record, rule_file


def outcome(steps: str, value: Any, extra: str = "") -> tuple[Any, list[str]]:
    """The property made of field ``a`` by the steps, and the issues counted."""
    spec = f"{{field: a, steps: {steps}{extra}}}"
    ruleset = compile_text(rule_file(properties=f"{{p: {spec}}}"))
    state = RuleState(ruleset)
    found = ruleset.apply(record({"a": value}), state)
    sent = found[0].properties.get("p", "OMITTED") if found else "NO EVENT"
    return sent, [issue.label for issue in state.issues]


VALUE_CASES = [
    # Each case: id, steps, the field's value, the value sent.
    ("multiply-int", "[{multiply: 100}]", 150, 15000),
    ("multiply-float-stays-decimal", "[{multiply: 100}]", 149.9, 14990.0),
    ("multiply-by-float", "[{multiply: 1.5}]", 2, 3.0),
    ("multiply-numeric-string", "[{multiply: 100}]", "149.90", 14990.0),
    ("multiply-int-string", "[{multiply: 2}]", "21", 42),
    ("multiply-negative", "[{multiply: -1}]", 5, -5),
    ("divide-always-float", "[{divide: 100}]", 14990, 149.9),
    ("divide-exact-still-float", "[{divide: 100}]", 200, 2.0),
    ("divide-by-float", "[{divide: 0.5}]", 3, 6.0),
    ("add", "[{add: 1}]", 41, 42),
    ("add-decimal", "[{add: 0.1}]", 0.2, 0.3),
    ("subtract", "[{subtract: 273.15}]", 300, 26.85),
    ("add-big-int-exact", "[{add: 1}]", 10**30, BigInt(10**30 + 1)),
    ("round-whole-is-int", "[round]", 2.5, 3),
    ("round-half-away-from-zero", "[round]", -2.5, -3),
    ("round-zero-is-int", "[{round: 0}]", 7.6, 8),
    ("round-decimals", "[{round: 2}]", 0.125, 0.13),
    ("round-int-to-decimals", "[{round: 2}]", 5, 5.0),
    ("round-int-whole", "[round]", 5, 5),
    ("round-huge-float", "[{round: 2}]", 1e300, 1e300),
    ("divide-then-round", "[{divide: 3}, {round: 2}]", 10, 3.33),
    (
        "text-steps-then-number",
        "[{extract: '(?P<n>[0-9.]+)'}, {multiply: 2}]",
        "€1.25",
        2.5,
    ),
    ("null-passes", "[{multiply: 2}]", None, None),
    ("no-match-passes", "[{extract: 'x(?P<x>y)'}, {multiply: 2}]", "abc", None),
]


@pytest.mark.parametrize(
    ("steps", "value", "expected"),
    [case[1:] for case in VALUE_CASES],
    ids=[case[0] for case in VALUE_CASES],
)
def test_arithmetic_step(steps, value, expected):
    sent, issues = outcome(steps, value)

    assert sent == expected
    assert type(sent) is type(expected)
    assert issues == []


def test_cents_become_an_int_when_the_rule_says_so():
    sent, issues = outcome("[{multiply: 100}]", 149.9, ", type: int")

    assert (sent, issues) == (14990, [])


FAILURE_CASES = [
    # Each case: id, steps, the field's value, the rest of the value, sent, issues.
    ("text", "[{multiply: 2}]", "n/a", "", "OMITTED", ["properties.p: not_number"]),
    ("bool", "[{add: 1}]", True, "", "OMITTED", ["properties.p: not_number"]),
    ("list", "[round]", [1], "", "OMITTED", ["properties.p: not_number"]),
    ("mapping", "[{divide: 2}]", {"x": 1}, "", "OMITTED", ["properties.p: not_number"]),
    ("nan-text", "[{add: 1}]", "nan", "", "OMITTED", ["properties.p: not_number"]),
    (
        "infinite-text",
        "[{add: 1}]",
        "1e400",
        "",
        "OMITTED",
        ["properties.p: not_number"],
    ),
    (
        "overflow",
        "[{multiply: 10}]",
        1e308,
        "",
        "OMITTED",
        ["properties.p: out_of_range"],
    ),
    (
        "on-error-null",
        "[{multiply: 2}]",
        "x",
        ", on_error: null",
        None,
        ["properties.p: not_number"],
    ),
    (
        "on-error-default",
        "[{multiply: 2}]",
        "x",
        ", default: 0",
        0,
        ["properties.p: not_number"],
    ),
    (
        "on-error-skip",
        "[{multiply: 2}]",
        "x",
        ", on_error: skip",
        "NO EVENT",
        ["properties.p: not_number", "event: skipped"],
    ),
    (
        "later-steps-not-run",
        "[{multiply: 2}, {add: 1}]",
        "x",
        "",
        "OMITTED",
        ["properties.p: not_number"],
    ),
]


@pytest.mark.parametrize(
    ("steps", "value", "extra", "expected", "issues"),
    [case[1:] for case in FAILURE_CASES],
    ids=[case[0] for case in FAILURE_CASES],
)
def test_a_value_that_is_no_number_fails_and_is_counted(
    steps, value, extra, expected, issues
):
    assert outcome(steps, value, extra) == (expected, issues)


ERROR_CASES = [
    (
        "divide-by-zero",
        "[{divide: 0}]",
        "rules/a.yaml:9:49: error: rules[0].properties.p.steps[0].divide: division "
        "by zero; expected a number other than 0",
    ),
    (
        "divide-by-zero-float",
        "[{divide: 0.0}]",
        "rules/a.yaml:9:49: error: rules[0].properties.p.steps[0].divide: division "
        "by zero; expected a number other than 0",
    ),
    (
        "not-a-number",
        "[{multiply: x}]",
        "rules/a.yaml:9:51: error: rules[0].properties.p.steps[0].multiply: expected "
        "a finite number for 'multiply', got 'x'",
    ),
    (
        "a-bool",
        "[{add: true}]",
        "rules/a.yaml:9:46: error: rules[0].properties.p.steps[0].add: expected a "
        "finite number for 'add', got true",
    ),
    (
        "infinite",
        "[{subtract: .inf}]",
        "rules/a.yaml:9:51: error: rules[0].properties.p.steps[0].subtract: expected "
        "a finite number for 'subtract', got inf",
    ),
    (
        "no-argument",
        "[multiply]",
        "rules/a.yaml:9:40: error: rules[0].properties.p.steps[0]: step 'multiply' "
        "needs an argument (hint: multiply: 100)",
    ),
    (
        "round-fraction",
        "[{round: 1.5}]",
        "rules/a.yaml:9:48: error: rules[0].properties.p.steps[0].round: expected a "
        "number of decimals from 0 to 15 for 'round', got 1.5",
    ),
    (
        "round-negative",
        "[{round: -1}]",
        "rules/a.yaml:9:48: error: rules[0].properties.p.steps[0].round: expected a "
        "number of decimals from 0 to 15 for 'round', got -1",
    ),
]


@pytest.mark.parametrize(
    ("steps", "expected"),
    [case[1:] for case in ERROR_CASES],
    ids=[case[0] for case in ERROR_CASES],
)
def test_mistakes_in_arithmetic_steps_are_located(steps, expected):
    text = rule_file(properties=f"{{p: {{field: a, steps: {steps}}}}}")

    assert errors(text) == [expected]
