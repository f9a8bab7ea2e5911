"""The ``tests:`` of rule files: validation at load, runs, and their report."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bridge.rules import render_case_results, run_cases
from bridge.rules.cases import same_value
from tests.rules.support import READ_AT, SOURCE, compile_text, errors

RULES = (
    SOURCE
    + """\
rules:
  - name: orders
    source: app
    when: {msg: order}
    event: order_placed
    distinct_id: "{user}"
    properties: {amount: {field: amount, type: float}, currency: EUR}
"""
)


def results_of(tests: str, rules: str = RULES):
    ruleset = compile_text(rules + "tests:\n" + tests)
    return run_cases(ruleset, read_at=READ_AT)


def test_passing_case():
    tests = """\
  - name: order line
    source: app
    line: '{"msg": "order", "user": 7, "amount": "100"}'
    expect:
      - event: order_placed
        distinct_id: 7
        properties: {amount: 100, currency: EUR}
        timestamp: "2026-01-02T04:04:05+01:00"
"""

    (result,) = results_of(tests)

    assert (result.passed, result.problems, result.notes) == (True, (), ())
    assert result.case.name == "order line"
    assert result.expected == (
        {
            "event": "order_placed",
            "distinct_id": "7",
            "properties": {"amount": 100, "currency": "EUR"},
            "timestamp": "2026-01-02T03:04:05+00:00",
        },
    )
    assert result.actual == (
        {
            "event": "order_placed",
            "distinct_id": "7",
            "properties": {"amount": 100.0, "currency": "EUR"},
            "timestamp": "2026-01-02T03:04:05+00:00",
        },
    )


FAILING_CASES = [
    (
        "count",
        'line: \'{"msg": "other"}\'\n    expect: [{event: order_placed}]',
        ("expected 1 event, got 0: none",),
    ),
    (
        "count-plural",
        'line: \'{"msg": "order"}\'\n    expect: []',
        ("expected 0 events, got 1: order_placed",),
    ),
    (
        "name-and-person",
        'line: \'{"msg": "order", "user": 1}\'\n'
        "    expect: [{event: x, distinct_id: '2'}]",
        (
            "event 1: expected event 'x', got 'order_placed'",
            "event 1: expected distinct_id '2', got '1'",
        ),
    ),
    (
        "timestamp",
        'line: \'{"msg": "order"}\'\n'
        "    expect: [{event: order_placed, timestamp: '2020-01-01T00:00:00Z'}]",
        (
            "event 1: expected timestamp 2020-01-01T00:00:00+00:00, got "
            "2026-01-02T03:04:05+00:00",
        ),
    ),
    (
        "properties",
        'line: \'{"msg": "order", "amount": "5"}\'\n'
        "    expect: [{event: order_placed, properties: {amount: '5', x: 1}}]",
        (
            "event 1: property 'amount': expected '5', got 5.0",
            "event 1: property 'x': expected 1, got nothing",
        ),
    ),
    (
        "properties-exact",
        'line: \'{"msg": "order", "user": 1}\'\n'
        "    expect: [{event: order_placed, properties_exact: {}}]",
        ("event 1: unexpected property 'currency'",),
    ),
]


@pytest.mark.parametrize(
    ("body", "problems"),
    [case[1:] for case in FAILING_CASES],
    ids=[case[0] for case in FAILING_CASES],
)
def test_failing_case_says_each_difference(body, problems):
    (result,) = results_of(f"  - source: app\n    {body}\n")

    assert (result.passed, result.problems) == (False, problems)


def test_line_that_does_not_parse_is_noted():
    (result,) = results_of("  - source: app\n    line: 'nope'\n    expect: []\n")

    assert result.passed
    assert result.notes == (
        "line 1 does not parse: invalid_json: invalid literal, expected 'null': "
        "line 1 column 1 (char 0)",
    )


def test_lines_share_one_state_and_aggregates_are_flushed_last():
    rules = (
        SOURCE
        + """\
rules:
  - name: seen
    source: app
    event: seen
    rate_limit: {events: 1, per_seconds: 60}
  - name: count
    source: app
    event: counted
    aggregate: {window_seconds: 60, count: n}
"""
    )
    tests = """\
  - source: app
    lines: ['{}', '{}', '{}']
    expect:
      - event: seen
      - event: counted
        properties: {n: 3}
"""

    (result,) = results_of(tests, rules)

    assert result.passed, result.problems


def test_multiline_source_joins_the_lines_of_a_case():
    rules = """\
sources:
  - name: app
    paths: [/var/log/app.log]
    multiline: {start: '^\\{'}
rules:
  - name: errors
    source: app
    exception: {type: '{err}'}
"""
    tests = """\
  - source: app
    lines:
      - '{"err": "KeyError"}'
      - 'Traceback (most recent call last):'
      - '  File "a.py", line 3, in f'
    expect:
      - event: $exception
"""

    (result,) = results_of(tests, rules)

    assert result.passed, result.problems
    (item,) = result.actual[0]["properties"]["$exception_list"]
    assert item["stacktrace"]["frames"][0]["lineno"] == 3


SAME_CASES = [
    ("int-float", 100, 100.0, True),
    ("bool-int", True, 1, False),
    ("int-bool", 1, True, False),
    ("bools", False, False, True),
    ("str-int", "1", 1, False),
    ("dict", {"a": [1, {"b": 2.0}]}, {"a": [1, {"b": 2}]}, True),
    ("dict-keys", {"a": 1}, {"b": 1}, False),
    ("list-length", [1], [1, 2], False),
    ("list-tuple", [1, 2], (1, 2), True),
    ("none", None, None, True),
    ("none-str", None, "null", False),
]


@pytest.mark.parametrize(
    ("want", "got", "expected"),
    [case[1:] for case in SAME_CASES],
    ids=[case[0] for case in SAME_CASES],
)
def test_values_compare_as_json(want, got, expected):
    assert same_value(want, got) is expected


def test_report_lists_verdicts_and_a_failure_side_by_side():
    tests = """\
  - name: good
    source: app
    line: '{"msg": "order", "user": 1}'
    expect: [{event: order_placed}]
  - source: app
    line: 'nope'
    expect:
      - event: order_placed
        distinct_id: '1'
        timestamp: "2026-01-02T03:04:05Z"
        properties: {amount: 1}
"""

    report = render_case_results(results_of(tests))

    assert report == (
        "✓ rules/a.yaml:12:5 good\n"
        "✗ rules/a.yaml:16:5\n"
        "    line 1 does not parse: invalid_json: invalid literal, expected 'null': "
        "line 1 column 1 (char 0)\n"
        "    expected 1 event, got 0: none\n"
        "    expected:                                  | actual:\n"
        "      - event: order_placed                    |   (no events)\n"
        '        distinct_id: "1"                       |\n'
        '        timestamp: "2026-01-02T03:04:05+00:00" |\n'
        "        properties:                            |\n"
        "          amount: 1                            |\n"
        "1 passed, 1 failed"
    )


def test_report_shows_only_what_a_test_expects():
    tests = (
        '  - source: app\n    line: \'{"msg": "order"}\'\n    expect: [{event: x}]\n'
    )

    report = render_case_results(results_of(tests))

    assert report.splitlines()[1:3] == [
        "    line 1: rule orders: distinct_id: missing",
        "    event 1: expected event 'x', got 'order_placed'",
    ]
    assert report.splitlines()[3:] == [
        "    expected:    | actual:",
        "      - event: x |   - event: order_placed",
        '                 |     distinct_id: "e2a5ee8c-0ff5-579d-a65d-5ddfa3b7f2d4"',
        '                 |     timestamp: "2026-01-02T03:04:05+00:00"',
        "                 |     properties:",
        '                 |       currency: "EUR"',
        "                 |       $process_person_profile: false",
        "0 passed, 1 failed",
    ]


ERROR_CASES = [
    pytest.param(
        "  - {source: ap, line: x, expect: []}\n",
        [
            (
                "rules/a.yaml:12:14: error: tests[0].source: unknown source 'ap' "
                "(did you mean 'app'?)"
            ),
        ],
        id="unknown-source",
    ),
    pytest.param(
        "  - {source: app, line: x, expect: [], lien: x}\n",
        [
            (
                "rules/a.yaml:12:40: error: tests[0]: unknown key 'lien'; expected "
                "one of expect, line, lines, name, read_at, source (did you mean "
                "'line'?)"
            ),
        ],
        id="unknown-key",
    ),
    pytest.param(
        "  - {line: x}\n",
        [
            ("rules/a.yaml:12:5: error: tests[0]: missing required key 'expect'"),
            ("rules/a.yaml:12:5: error: tests[0]: missing required key 'source'"),
        ],
        id="missing-keys",
    ),
    pytest.param(
        "  - {source: app, expect: []}\n",
        [
            (
                "rules/a.yaml:12:5: error: tests[0]: expected exactly one of line, "
                "lines, got none"
            ),
        ],
        id="no-line",
    ),
    pytest.param(
        "  - {source: app, line: x, lines: [x], expect: []}\n",
        [
            (
                "rules/a.yaml:12:5: error: tests[0]: expected exactly one of line, "
                "lines, got line and lines"
            ),
        ],
        id="line-and-lines",
    ),
    pytest.param(
        '  - {source: app, line: {"a": 1}, expect: []}\n',
        [
            (
                "rules/a.yaml:12:25: error: tests[0].line: expected a line of text,"
                " got a mapping (hint: quote the line)"
            ),
        ],
        id="unquoted-json-line",
    ),
    pytest.param(
        "  - {source: app, lines: [], expect: []}\n",
        [
            (
                "rules/a.yaml:12:26: error: tests[0].lines: expected at least one "
                "line, got an empty list"
            ),
        ],
        id="no-lines",
    ),
    pytest.param(
        "  - {source: app, lines: x, expect: []}\n",
        [
            (
                "rules/a.yaml:12:26: error: tests[0].lines: expected a list of "
                "lines, got 'x'"
            ),
        ],
        id="lines-not-list",
    ),
    pytest.param(
        "  - {source: app, lines: [a, 5], expect: []}\n",
        [
            (
                "rules/a.yaml:12:30: error: tests[0].lines[1]: expected a line of "
                "text, got 5"
            ),
        ],
        id="line-not-text",
    ),
    pytest.param(
        "  - {source: app, line: x, name: '', expect: {}}\n",
        [
            ("rules/a.yaml:12:34: error: tests[0].name: expected a test name, got ''"),
            (
                "rules/a.yaml:12:46: error: tests[0].expect: expected a list of "
                "events, got a mapping"
            ),
        ],
        id="empty-name-and-expect-map",
    ),
    pytest.param(
        "  - {source: app, line: x, expect: [x, {evnt: e}]}\n",
        [
            (
                "rules/a.yaml:12:37: error: tests[0].expect[0]: expected a mapping,"
                " got 'x'"
            ),
            (
                "rules/a.yaml:12:40: error: tests[0].expect[1]: missing required "
                "key 'event'"
            ),
            (
                "rules/a.yaml:12:41: error: tests[0].expect[1]: unknown key 'evnt';"
                " expected one of distinct_id, event, properties, properties_exact,"
                " timestamp (did you mean 'event'?)"
            ),
        ],
        id="expect-items",
    ),
    pytest.param(
        "  - source: app\n    line: x\n    expect:\n"
        "      - {event: [e], distinct_id: null, properties: [],"
        " timestamp: '2020-01-01'}\n"
        "      - {event: e, properties: {}, properties_exact: {}}\n"
        "      - {event: e, timestamp: 5, properties_exact: x}\n"
        "      - {event: e, timestamp: 'noon'}\n",
        [
            (
                "rules/a.yaml:15:17: error: tests[0].expect[0].event: expected an "
                "event name, got a list"
            ),
            (
                "rules/a.yaml:15:35: error: tests[0].expect[0].distinct_id: "
                "expected a distinct id, got null"
            ),
            (
                "rules/a.yaml:15:53: error: tests[0].expect[0].properties: expected"
                " a mapping, got a list"
            ),
            (
                "rules/a.yaml:15:68: error: tests[0].expect[0].timestamp: expected "
                "an ISO 8601 timestamp with a time zone, got '2020-01-01' (hint: "
                "end it with Z for UTC)"
            ),
            (
                "rules/a.yaml:16:9: error: tests[0].expect[1]: expected at most one"
                " of properties, properties_exact, got both"
            ),
            (
                "rules/a.yaml:17:31: error: tests[0].expect[2].timestamp: expected "
                "an ISO 8601 timestamp, got 5 (hint: quote it to make it a string: "
                "'5')"
            ),
            (
                "rules/a.yaml:17:52: error: tests[0].expect[2].properties_exact: "
                "expected a mapping, got 'x'"
            ),
            (
                "rules/a.yaml:18:31: error: tests[0].expect[3].timestamp: expected "
                "an ISO 8601 timestamp with a time zone, got 'noon' (hint: end it "
                "with Z for UTC)"
            ),
        ],
        id="expect-values",
    ),
    pytest.param(
        "  - {source: app, line: x, expect: [], read_at: '2026-12-06 10:00'}\n"
        "  - {source: app, line: x, expect: [], read_at: 1796552102}\n",
        [
            (
                "rules/a.yaml:12:49: error: tests[0].read_at: expected an ISO 8601 "
                "timestamp with a time zone, got '2026-12-06 10:00' (hint: end it "
                "with Z for UTC)"
            ),
            (
                "rules/a.yaml:13:49: error: tests[1].read_at: expected an ISO 8601 "
                "timestamp, got 1796552102 (hint: quote it to make it a string: "
                "'1796552102')"
            ),
        ],
        id="read-at",
    ),
]


@pytest.mark.parametrize(("tests", "expected"), ERROR_CASES)
def test_invalid_test_entry_is_reported_at_its_position(tests, expected):
    result = errors(RULES + "tests:\n" + tests)

    assert result == expected


TIMED = """\
sources:
  - name: sshd
    paths: [/var/log/auth.log]
    format: regex
    pattern: '^(?P<time>[A-Z][a-z]{2} [ 0-9][0-9] [0-9:]{8}) (?P<msg>.*)$'
    timestamp: {field: time, format: syslog}
  - name: app
    paths: [/var/log/app.log]
    timestamp: {field: ts}
rules:
  - {name: logins, source: sshd, event: login}
  - {name: orders, source: app, event: order}
tests:
"""

READ_AT_CASES = [
    # Each case: id, test entry, the event's timestamp, the notes.
    (
        "year-read-counts-from-read-at",
        "{source: sshd, line: 'Dec 24 23:59:01 login', read_at: '2027-01-02T08:00:00Z'",
        "2026-12-24T23:59:01+00:00",
        (),
    ),
    (
        "same-line-read-a-year-later",
        "{source: sshd, line: 'Dec 24 23:59:01 login', read_at: '2028-03-01T00:00:00Z'",
        "2027-12-24T23:59:01+00:00",
        (),
    ),
    (
        "unparsed-time-falls-back-to-read-at",
        "{source: app, line: '{\"ts\": \"soon\"}', read_at: '2026-12-06T11:00:00+01:00'",
        "2026-12-06T10:00:00+00:00",
        ("line 1: rule orders: timestamp: unparsed",),
    ),
    (
        "a-time-ahead-of-read-at",
        '{source: app, line: \'{"ts": "2026-12-08T10:00:00Z"}\', '
        "read_at: '2026-12-06T10:00:00Z'",
        "2026-12-08T10:00:00+00:00",
        ("line 1: rule orders: timestamp: future",),
    ),
    (
        "without-read-at-the-runners-time",
        "{source: app, line: '{}'",
        "2026-01-02T03:04:05+00:00",
        ("line 1: rule orders: timestamp: missing",),
    ),
]


@pytest.mark.parametrize(
    ("entry", "timestamp", "notes"),
    [case[1:] for case in READ_AT_CASES],
    ids=[case[0] for case in READ_AT_CASES],
)
def test_read_at_is_the_time_the_lines_were_read(entry, timestamp, notes):
    event = "login" if "sshd" in entry else "order"
    tests = f"  - {entry}, expect: [{{event: {event}, timestamp: '{timestamp}'}}]}}\n"

    (result,) = run_cases(compile_text(TIMED + tests), read_at=READ_AT)

    assert (result.passed, result.problems, result.notes) == (True, (), notes)


def test_case_of_an_undefined_source_is_noted_not_raised():
    ruleset = compile_text(RULES + "tests:\n  - {source: app, line: x, expect: []}\n")
    empty = type(ruleset)(rules=ruleset.rules, cases=ruleset.cases)

    (result,) = run_cases(empty, read_at=datetime(2026, 1, 1, tzinfo=UTC))

    assert result.notes == ("source 'app' is not defined",)
