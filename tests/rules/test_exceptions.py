"""Rules that emit PostHog ``$exception`` events."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.rules.errortracking.exceptions import MAX_EXCEPTION_VALUE_CHARS
from bridge.rules.state import RuleState
from bridge.rules.values.failures import Issue
from tests.rules.support import compile_text, errors, record, rule_file

TRACE = 'Traceback (most recent call last):\n  File "pay.py", line 8, in charge'
PY_FRAME = {
    "platform": "python",
    "filename": "pay.py",
    "abs_path": "pay.py",
    "function": "charge",
    "lineno": 8,
    "in_app": True,
}


def exception_event(spec: str, fields: dict[str, Any], text: str = "<line>") -> Any:
    ruleset = compile_text(rule_file(event="", extra=f"exception: {spec}"))
    (event,) = ruleset.apply(record(fields, text=text))
    return event


def test_exception_rule_emits_the_minimal_valid_shape():
    event = exception_event("{type: '{err}', value: '{msg}'}", {"err": "E", "msg": "m"})

    assert event.name == "$exception"
    assert dict(event.properties) == {
        "$exception_list": [
            {
                "type": "E",
                "value": "m",
                "mechanism": {"handled": True, "synthetic": True},
            }
        ],
        "$process_person_profile": False,
    }


def test_trace_of_a_multi_line_record_becomes_the_stacktrace():
    event = exception_event("{type: E}", {}, text=f"error line\n{TRACE}")

    (item,) = event.properties["$exception_list"]
    assert item["stacktrace"] == {"type": "raw", "frames": [PY_FRAME]}


TRACE_SOURCE_CASES = [
    ("field-text", "{type: E, stacktrace: {field: t}}", {"t": TRACE}, [PY_FRAME]),
    (
        "field-list-of-lines",
        "{type: E, stacktrace: {field: t}}",
        {"t": TRACE.split("\n")},
        [PY_FRAME],
    ),
    ("field-missing", "{type: E, stacktrace: {field: t}}", {}, None),
    ("field-blank", "{type: E, stacktrace: {field: t}}", {"t": "  "}, None),
    ("one-line-record", "{type: E}", {}, None),
]


@pytest.mark.parametrize(
    ("spec", "fields", "frames"),
    [case[1:] for case in TRACE_SOURCE_CASES],
    ids=[case[0] for case in TRACE_SOURCE_CASES],
)
def test_stacktrace_comes_from_a_field_or_the_record(spec, fields, frames):
    event = exception_event(spec, fields)

    (item,) = event.properties["$exception_list"]
    assert item.get("stacktrace", {}).get("frames") == frames


def test_fingerprint_level_and_handled():
    spec = "{type: E, fingerprint: 'pay:{err}', level: '{lvl}', handled: false}"

    event = exception_event(spec, {"err": "Timeout", "lvl": "error"})

    assert event.properties["$exception_fingerprint"] == "pay:Timeout"
    assert event.properties["$exception_level"] == "error"
    (item,) = event.properties["$exception_list"]
    assert item["mechanism"] == {"handled": False, "synthetic": True}


def test_absent_fingerprint_and_level_are_left_out():
    event = exception_event("{type: E, fingerprint: '{f}', level: '{l}'}", {})

    assert set(event.properties) == {"$exception_list", "$process_person_profile"}


VALUE_CASES = [
    ("type-missing-falls-back", "{type: '{err}'}", {}, ("Error", "")),
    ("type-null-falls-back", "{type: {field: err}}", {"err": None}, ("Error", "")),
    ("type-number-as-text", "{type: {field: err}}", {"err": 500}, ("500", "")),
    (
        "value-unrenderable-empty",
        "{type: E, value: {field: v}}",
        {"v": 10**5000},
        ("E", ""),
    ),
    (
        "value-cut",
        "{type: E, value: {field: v}}",
        {"v": "x" * (MAX_EXCEPTION_VALUE_CHARS + 1)},
        ("E", "x" * MAX_EXCEPTION_VALUE_CHARS),
    ),
]


@pytest.mark.parametrize(
    ("spec", "fields", "expected"),
    [case[1:] for case in VALUE_CASES],
    ids=[case[0] for case in VALUE_CASES],
)
def test_exception_type_is_never_empty_and_value_is_bounded(spec, fields, expected):
    event = exception_event(spec, fields)

    (item,) = event.properties["$exception_list"]
    assert (item["type"], item["value"]) == expected


PY_RAISED = f"{TRACE}\n    charge()\nbilling.Declined: card declined"

TYPE_CASES = [
    # Each case: id, exception mapping, fields, line text, the type, what is counted.
    ("trace-names-it", "{}", {}, f"error\n{PY_RAISED}", "billing.Declined", []),
    (
        "trace-wins-over-the-rule",
        "{type: '{err}'}",
        {"err": "E"},
        f"error\n{PY_RAISED}",
        "billing.Declined",
        [],
    ),
    ("rule-gives-it", "{type: '{err}'}", {"err": "E"}, "error", "E", []),
    (
        "neither-gives-it",
        "{value: m}",
        {},
        "error",
        "Error",
        [Issue("r", "exception.type", "missing")],
    ),
    (
        "rule-field-absent",
        "{type: '{err}'}",
        {},
        "error",
        "Error",
        [Issue("r", "exception.type", "missing")],
    ),
    (
        "rule-text-empty",
        "{type: {field: err}}",
        {"err": ""},
        "error",
        "Error",
        [Issue("r", "exception.type", "missing")],
    ),
    (
        "rule-value-failed-is-counted-once",
        "{type: {field: err, type: int}}",
        {"err": "x"},
        "error",
        "Error",
        [Issue("r", "exception.type", "not_int")],
    ),
]


@pytest.mark.parametrize(
    ("spec", "fields", "text", "expected", "issues"),
    [case[1:] for case in TYPE_CASES],
    ids=[case[0] for case in TYPE_CASES],
)
def test_exception_type_from_the_trace_the_rule_or_counted_error(
    spec, fields, text, expected, issues
):
    ruleset = compile_text(rule_file(event="", extra=f"exception: {spec}"))
    state = RuleState(ruleset)

    (event,) = ruleset.apply(record(fields, text=text), state)

    assert event.properties["$exception_list"][0]["type"] == expected
    assert state.issues == issues


def test_exception_rule_with_a_person_and_properties():
    text = rule_file(
        event="$exception",
        distinct_id="'{user}'",
        properties="{service: billing}",
        extra="exception: {type: E}",
    )

    (event,) = compile_text(text).apply(record({"user": 5}))

    assert event.distinct_id == "5"
    assert event.properties["service"] == "billing"
    assert "$process_person_profile" not in event.properties


ERROR_CASES = [
    pytest.param(
        rule_file(event="errors", extra="exception: {type: E}"),
        [
            "rules/a.yaml:8:12: error: rules[0].event: a rule with exception makes "
            "its own event, got event: 'errors' (hint: remove event:)"
        ],
        id="other-event-name",
    ),
    pytest.param(
        rule_file(event="", extra="exception: {type: E, handled: 1}"),
        [
            "rules/a.yaml:8:35: error: rules[0].exception.handled: expected true or "
            "false, got 1"
        ],
        id="handled-not-bool",
    ),
    pytest.param(
        rule_file(event="", extra="exception: {type: E, stack: x}"),
        [
            "rules/a.yaml:8:26: error: rules[0].exception: unknown key 'stack'; "
            "expected one of fingerprint, handled, level, stacktrace, type, value "
            "(did you mean 'stacktrace'?)"
        ],
        id="unknown-key",
    ),
    pytest.param(
        rule_file(event="", extra="exception: {type: '{'}"),
        [
            "rules/a.yaml:8:23: error: rules[0].exception.type: unclosed '{' in "
            "template '{' (hint: write {{ for a literal brace)"
        ],
        id="bad-template",
    ),
    pytest.param(
        rule_file(event="", extra="exception: E"),
        [
            "rules/a.yaml:8:16: error: rules[0].exception: expected a mapping, got 'E'",
        ],
        id="not-a-mapping",
    ),
    pytest.param(
        rule_file(event=""),
        [
            "rules/a.yaml:6:5: error: rules[0]: missing required key 'event'",
        ],
        id="no-event-no-exception",
    ),
]


@pytest.mark.parametrize(("text", "expected"), ERROR_CASES)
def test_invalid_exception_rule_is_reported_at_its_position(text, expected):
    result = errors(text)

    assert result == expected
