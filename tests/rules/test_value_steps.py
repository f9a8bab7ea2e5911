"""Values that take part of a field, transform it, convert it, or are decided by
conditions; and what happens, counted, when they fail."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.model import BigInt
from bridge.rules import RuleState
from bridge.rules.values.failures import Issue
from tests.rules.support import compile_text, errors, record, rule_file

SSHD = "Failed password for invalid user admin from 203.0.113.9 port 52144 ssh2"
FIELDS: dict[str, Any] = {
    "msg": SSHD,
    "request": "GET /search?q=shoes&utm_source=mail&empty= HTTP/1.1",
    "path": "/var/www/static/app.tar.gz",
    "url": "https://shop.example/img/logo.png?v=3#top",
    "padded": '  "quoted"  ',
    "csv": "a, b ,c",
    "words": "one  two three",
    "method": {"POST": {"path": "/login"}},
    "two_keys": {"a": 1, "b": 2},
    "took": "1h2m3.5s",
    "go": "40.058304ms",
    "rust": "199.184µs",
    "nanos": 1532000,
    "flag": "off",
    "n": 42,
    "big": BigInt(123456789012345678901234567890),
    "nothing": None,
}


def value_of(spec: str, fields: dict[str, Any] | None = None) -> Any:
    ruleset = compile_text(rule_file(properties=f"{{p: {spec}}}"))
    (event,) = ruleset.apply(record(FIELDS if fields is None else fields))
    return event.properties.get("p", "OMITTED")


STEP_CASES = [
    # id, value spec, expected ("OMITTED": the property is left out)
    ("extract-named", r"{field: msg, extract: 'user (?P<user>\S+) from'}", "admin"),
    ("extract-whole", r"{field: msg, extract: '\d+\.\d+\.\d+\.\d+'}", "203.0.113.9"),
    (
        "extract-which-group",
        r"{field: msg, extract: {pattern: '(?P<a>user) (?P<b>\S+)', group: b}}",
        "admin",
    ),
    ("extract-no-match-null", r"{field: msg, extract: 'xyz(?P<x>\d)'}", None),
    ("extract-no-match-default", r"{field: msg, extract: 'zz', default: '-'}", "-"),
    ("extract-number-text", r"{field: n, extract: '(?P<d>\d)$'}", "2"),
    ("extract-then-int", r"{field: msg, extract: 'port (?P<p>\d+)', type: int}", 52144),
    ("extract-missing-field", r"{field: absent, extract: '.'}", "OMITTED"),
    ("extract-null-stays-null", r"{field: nothing, extract: '.'}", None),
    (
        "steps-in-order",
        r"{field: request, steps: [{extract: ' (?P<p>\S+) '}, {query: utm_source},"
        " upper]}",
        "MAIL",
    ),
    (
        "replace-groups",
        r"{field: csv, steps: [{replace: {pattern: '\s*,\s*', with: '|'}}]}",
        "a|b|c",
    ),
    (
        "replace-named-ref",
        r"{field: msg, steps: [{replace: {pattern: '.*user (?P<u>\S+).*', with: '<\g<u>>'}}]}",
        "<admin>",
    ),
    (
        "replace-numbered-ref",
        r"{field: csv, steps: [{replace: {pattern: '(a)', with: '\1\1'}}]}",
        "aa, b ,c",
    ),
    ("trim", "{field: padded, steps: [trim]}", '"quoted"'),
    ("trim-chars", "{field: padded, steps: [trim, {trim: '\"'}]}", "quoted"),
    ("lower", "{field: msg, steps: [lower, {extract: '^(?P<w>\\w+)'}]}", "failed"),
    ("split-by", "{field: csv, steps: [{split: {by: ',', index: 1}}, trim]}", "b"),
    ("split-spaces", "{field: words, steps: [{split: {index: -1}}]}", "three"),
    ("split-past-end", "{field: csv, steps: [{split: {by: ',', index: 9}}]}", None),
    ("query-url", "{field: url, steps: [{query: v}]}", "3"),
    ("query-absent", "{field: url, steps: [{query: nope}]}", None),
    (
        "query-blank",
        "{field: request, steps: [{extract: ' (?P<p>\\S+) '}, {query: empty}]}",
        "",
    ),
    ("basename-path", "{field: path, steps: [basename]}", "app.tar.gz"),
    ("basename-url", "{field: url, steps: [basename]}", "logo.png"),
    ("extension", "{field: path, steps: [extension]}", "gz"),
    ("extension-none", "{value: /etc/hosts, steps: [extension]}", None),
    ("extension-dotfile", "{value: /home/a/.bashrc, steps: [extension]}", None),
    ("key", "{field: method, steps: [key]}", "POST"),
    ("json-object", "{field: method, steps: [json]}", '{"POST":{"path":"/login"}}'),
    ("json-big-int", "{field: big, steps: [json]}", "123456789012345678901234567890"),
    ("json-string", "{field: flag, steps: [json]}", '"off"'),
    ("big-int-stays-int", "{field: big}", BigInt(123456789012345678901234567890)),
    (
        "big-int-to-int",
        "{value: '123456789012345678901234567890', type: int}",
        BigInt(123456789012345678901234567890),
    ),
    ("bool-off", "{field: flag, type: bool}", False),
    ("bool-on", "{value: ' ON ', type: bool}", True),
    ("duration-go", "{field: took, type: duration}", 3723500.0),
    ("duration-go-ms", "{field: go, type: duration}", 40.058304),
    ("duration-rust-micro", "{field: rust, type: duration, unit: us}", 199.184),
    ("duration-seconds", "{field: took, type: duration, unit: s}", 3723.5),
    ("duration-bare-number", "{field: nanos, type: duration, number_unit: ns}", 1.532),
    ("duration-bare-in-unit", "{value: 250, type: duration}", 250.0),
    ("duration-signed", "{value: -1.5h, type: duration, unit: m}", -90.0),
    ("duration-spaced", "{value: 2m 30s, type: duration, unit: s}", 150.0),
    ("when-true", "{when: {msg: {contains: 'invalid user'}}}", True),
    ("when-false", "{when: {msg: {startswith: Accepted}}}", False),
    (
        "cases-first-that-holds",
        "{cases: [{when: {msg: {startswith: Accepted}}, value: success},"
        " {when: {msg: {startswith: Failed}}, value: failure}]}",
        "failure",
    ),
    (
        "cases-field",
        "{cases: [{when: {n: {gt: 10}}, field: flag}], default: none}",
        "off",
    ),
    (
        "cases-none-default",
        "{cases: [{when: {n: 0}, value: a}], default: other}",
        "other",
    ),
    ("cases-none-omitted", "{cases: [{when: {n: 0}, value: a}]}", "OMITTED"),
    ("cases-null-label", "{cases: [{when: {n: 42}, value: null}], default: x}", None),
]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [case[1:] for case in STEP_CASES],
    ids=[case[0] for case in STEP_CASES],
)
def test_value(spec, expected):
    value = value_of(spec)

    assert value == expected
    assert type(value) is type(expected)


CAPTURE_RULE = rule_file(
    when=r"{msg: {regex: 'for (?:invalid user )?(?P<user>\S+) from (?P<ip>\S+)'}}",
    properties="{user: {match: user}, where: '{$match.ip}:{$match.user}',"
    " port: {field: msg, extract: 'port (?P<port>\\d+)', type: int}}",
)


def test_regex_captures_of_when_are_values_of_the_rule():
    (event,) = compile_text(CAPTURE_RULE).apply(record(FIELDS))

    assert {k: event.properties[k] for k in ("user", "where", "port")} == {
        "user": "admin",
        "where": "203.0.113.9:admin",
        "port": 52144,
    }


def _issues(
    spec: str, fields: dict[str, Any], extra: str = ""
) -> tuple[Any, list[Issue]]:
    ruleset = compile_text(rule_file(properties=f"{{p: {spec}}}", extra=extra))
    state = RuleState(ruleset)
    found = ruleset.apply(record(fields), state)
    value = found[0].properties.get("p", "OMITTED") if found else "NO EVENT"
    return value, state.issues


FAILURE_CASES = [
    # id, spec, fields, rule extra, value sent, issues
    ("type-drop", "{field: a, type: int}", {"a": "x"}, "", "OMITTED", ["not_int"]),
    (
        "type-default",
        "{field: a, type: int, default: 0}",
        {"a": "x"},
        "",
        0,
        ["not_int"],
    ),
    (
        "type-null",
        "{field: a, type: int, on_error: null}",
        {"a": "x"},
        "",
        None,
        ["not_int"],
    ),
    (
        "type-skip",
        "{field: a, type: int, on_error: skip}",
        {"a": "x"},
        "",
        "NO EVENT",
        ["not_int", "skipped"],
    ),
    (
        "type-drop-over-default",
        "{field: a, type: int, default: 0, on_error: drop}",
        {"a": "x"},
        "",
        "OMITTED",
        ["not_int"],
    ),
    (
        "rule-on-error",
        "{field: a, type: float}",
        {"a": "x"},
        "on_error: skip",
        "NO EVENT",
        ["not_float", "skipped"],
    ),
    (
        "value-overrides-rule",
        "{field: a, type: float, on_error: null}",
        {"a": "x"},
        "on_error: skip",
        None,
        ["not_float"],
    ),
    (
        "duration",
        "{field: a, type: duration}",
        {"a": "5 parsecs"},
        "",
        "OMITTED",
        ["not_duration"],
    ),
    ("required-missing", "{field: a, required: true}", {}, "", "OMITTED", ["missing"]),
    (
        "required-no-match",
        "{field: a, extract: 'x(?P<x>y)', required: true, on_error: null}",
        {"a": "b"},
        "",
        None,
        ["no_match"],
    ),
    (
        "step-not-text",
        "{field: a, steps: [lower]}",
        {"a": [1]},
        "",
        "OMITTED",
        ["not_text"],
    ),
    (
        "key-not-single",
        "{field: a, steps: [key]}",
        {"a": {"x": 1, "y": 2}},
        "",
        "OMITTED",
        ["not_a_single_key_object"],
    ),
    ("fine", "{field: a, type: int}", {"a": "7"}, "", 7, []),
]


@pytest.mark.parametrize(
    ("spec", "fields", "extra", "expected", "reasons"),
    [case[1:] for case in FAILURE_CASES],
    ids=[case[0] for case in FAILURE_CASES],
)
def test_a_failed_value_is_counted_and_handled_as_on_error_says(
    spec, fields, extra, expected, reasons
):
    value, issues = _issues(spec, fields, extra)

    assert value == expected
    assert [issue.reason for issue in issues] == reasons
    assert all(issue.rule == "r" for issue in issues)


def test_an_issue_says_where_the_value_sits():
    _, issues = _issues("{field: a, type: int}", {"a": "x"})

    assert issues == [Issue("r", "properties.p", "not_int")]
    assert issues[0].label == "properties.p: not_int"


def test_person_properties_and_distinct_id_failures_are_counted_too():
    text = rule_file(
        distinct_id="{field: uid, type: int}",
        extra="set: {age: {field: age, type: int}}",
    )
    ruleset = compile_text(text)
    state = RuleState(ruleset)

    (bad_id,) = ruleset.apply(record({"uid": "u-1", "age": "40"}), state)
    (bad_age,) = ruleset.apply(record({"uid": "7", "age": "old"}), state)

    assert bad_id.properties["$process_person_profile"] is False
    assert "$set" not in bad_age.properties
    assert [issue.label for issue in state.issues] == [
        "distinct_id: not_int",
        "set.age: not_int",
    ]


ERROR_CASES = [
    (
        "unknown-step",
        "{field: a, steps: [lowr]}",
        "rules/a.yaml:9:40: error: rules[0].properties.p.steps[0]: unknown step "
        "'lowr'; expected one of add, basename, divide, extension, extract, json, "
        "key, lower, multiply, query, replace, round, split, subtract, trim, upper "
        "(did you mean 'lower'?)",
    ),
    (
        "step-needs-argument",
        "{field: a, steps: [extract]}",
        "rules/a.yaml:9:40: error: rules[0].properties.p.steps[0]: step 'extract' "
        "needs an argument (hint: extract: '(?P<name>...)')",
    ),
    (
        "two-named-groups",
        "{field: a, extract: '(?P<x>a)(?P<y>b)'}",
        "rules/a.yaml:9:41: error: rules[0].properties.p.extract: pattern "
        "'(?P<x>a)(?P<y>b)' has several named groups (hint: say which with "
        "{pattern: ..., group: name})",
    ),
    (
        "bad-reference",
        "{field: a, steps: [{replace: {pattern: '(a)', with: '\\2'}}]}",
        "rules/a.yaml:9:73: error: rules[0].properties.p.steps[0].replace.with: "
        "'with' refers to group 2; the pattern has 1",
    ),
    (
        "extract-and-steps",
        "{field: a, extract: x, steps: [trim]}",
        "rules/a.yaml:9:21: error: rules[0].properties.p: expected extract or steps, "
        "got both (hint: make the extract the first of the steps)",
    ),
    (
        "unit-without-duration",
        "{field: a, type: int, unit: s}",
        "rules/a.yaml:9:49: error: rules[0].properties.p.unit: 'unit' applies only "
        "to type 'duration'",
    ),
    (
        "bad-unit",
        "{field: a, type: duration, unit: sec}",
        "rules/a.yaml:9:54: error: rules[0].properties.p.unit: unknown unit 'sec'; "
        "expected one of d, h, m, ms, ns, s, us",
    ),
    (
        "unknown-capture",
        "{match: user}",
        "rules/a.yaml:9:29: error: rules[0].properties.p.match: no regex condition "
        "of the rule captures 'user' (captured: none) (hint: name a group in a regex "
        "of when: (?P<name>...))",
    ),
    (
        "bad-on-error",
        "{field: a, on_error: ignore}",
        "rules/a.yaml:9:42: error: rules[0].properties.p.on_error: unknown on_error "
        "'ignore'; expected one of default, drop, null, skip",
    ),
    (
        "case-without-when",
        "{cases: [{value: a}]}",
        "rules/a.yaml:9:30: error: rules[0].properties.p.cases[0]: missing required "
        "key 'when'",
    ),
]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [case[1:] for case in ERROR_CASES],
    ids=[case[0] for case in ERROR_CASES],
)
def test_mistakes_in_values_are_located(spec, expected):
    assert errors(rule_file(properties=f"{{p: {spec}}}")) == [expected]


def test_captures_under_any_are_not_available():
    text = rule_file(
        when=r"{any: [{msg: {regex: '(?P<user>\w+)'}}, {n: 1}]}",
        properties="{u: {match: user}}",
    )

    (error,) = errors(text)

    assert "no regex condition of the rule captures 'user'" in error


def test_a_group_name_captured_twice_is_an_error():
    text = rule_file(
        when=r"{msg: {regex: '(?P<u>\w+)'}, request: {regex: '(?P<u>\S+)'}}",
    )

    assert errors(text) == [
        "rules/a.yaml:9:40: error: rules[0].when.request: group 'u' is captured by "
        "two conditions ('msg' and 'request') (hint: name the groups apart)"
    ]
