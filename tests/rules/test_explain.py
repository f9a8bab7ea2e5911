"""``explain``: every condition of every rule of a source, for one line."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.parse import ParseFailure
from bridge.rules import MISSING, explain, render_explanation
from bridge.rules.explain import CheckResult
from bridge.rules.render import render_value
from bridge.rules.values.failures import Issue
from tests.rules.support import READ_AT, SOURCE, compile_text

RULES = (
    SOURCE
    + """\
rules:
  - name: orders
    source: app
    when:
      msg: order
      amount: {gt: 0, lt: 1000}
      any: [{level: INFO}, {level: {not: {in: [DEBUG, TRACE]}}}]
      not: {user: {exists: false}}
    event: order_placed
    distinct_id: "{user}"
  - name: everything
    source: app
    event: seen
  - name: sampled
    source: app
    when: {msg: noisy}
    event: noisy
    sample: 0.5
    rate_limit: {events: 5, per_seconds: 60}
  - name: counted
    source: app
    when: {msg: hit}
    event: hits
    aggregate: {window_seconds: 60, count: n}
"""
)


def explained(line: str):
    return explain(compile_text(RULES), "app", line, read_at=READ_AT)


def test_every_condition_is_shown_with_the_value_it_saw():
    result = explained('{"msg": "order", "amount": "5000", "level": "WARN"}')

    orders = result.rules[0]
    assert (orders.rule, orders.matched, orders.events) == ("orders", False, ())
    assert orders.checks == (
        CheckResult("eq", True, "msg", "order", "order"),
        CheckResult(
            "all",
            False,
            "amount",
            children=(
                CheckResult("gt", True, "amount", 0, "5000"),
                CheckResult("lt", False, "amount", 1000, "5000"),
            ),
        ),
        CheckResult(
            "any",
            True,
            children=(
                CheckResult(
                    "all",
                    False,
                    children=(CheckResult("eq", False, "level", "INFO", "WARN"),),
                ),
                CheckResult(
                    "all",
                    True,
                    children=(
                        CheckResult(
                            "not",
                            True,
                            "level",
                            {"in": ["DEBUG", "TRACE"]},
                            "WARN",
                            children=(
                                CheckResult(
                                    "in", False, "level", ["DEBUG", "TRACE"], "WARN"
                                ),
                            ),
                        ),
                    ),
                ),
            ),
        ),
        CheckResult(
            "not",
            False,
            children=(
                CheckResult(
                    "all",
                    True,
                    children=(CheckResult("exists", True, "user", False, MISSING),),
                ),
            ),
        ),
    )


def test_matched_rule_shows_its_event():
    result = explained('{"msg": "order", "amount": 5, "level": "INFO", "user": 7}')

    orders, everything = result.rules[0], result.rules[1]
    assert orders.matched
    assert [(e.name, e.distinct_id) for e in orders.events] == [("order_placed", "7")]
    assert (everything.checks, everything.matched) == ((), True)
    assert result.timestamp == READ_AT
    assert result.fields == {"msg": "order", "amount": 5, "level": "INFO", "user": 7}


def test_sample_rate_limit_and_aggregate_are_explained_in_a_note():
    sampled = explained('{"msg": "noisy"}').rules[2]
    counted = explained('{"msg": "hit"}').rules[3]

    assert (len(sampled.events), sampled.note) == (
        1,
        "sample 0.5: about 50% of such lines are sent; subject to rate_limit 5 per "
        "60 s",
    )
    assert (counted.events, counted.note) == (
        (),
        "counted in the 60 s window starting 2026-01-02T03:04:00+00:00",
    )


def test_line_that_does_not_parse_stops_at_the_parse():
    result = explained("not json")

    assert (result.fields, result.rules, result.timestamp) == (None, (), None)
    assert isinstance(result.failure, ParseFailure)


def test_unknown_source_is_refused():
    with pytest.raises(
        ValueError, match=r"^unknown source 'nope'; expected one of app$"
    ):
        explain(compile_text(RULES), "nope", "{}", read_at=READ_AT)


def test_rendered_explanation():
    text = render_explanation(
        explained('{"msg": "order", "amount": 5, "level": "DEBUG", "user": 7}')
    )

    assert text.splitlines()[:16] == [
        'source app: "{\\"msg\\": \\"order\\", \\"amount\\": 5, \\"level\\": '
        '\\"DEBUG\\", \\"user\\": 7}"',
        '✓ parsed: {"msg":"order","amount":5,"level":"DEBUG","user":7}',
        "  time: 2026-01-02T03:04:05+00:00",
        "✗ rule orders → order_placed",
        '    ✓ msg eq "order" (saw "order")',
        "    ✓ amount gt 0 (saw 5)",
        "    ✓ amount lt 1000 (saw 5)",
        "    ✗ any of:",
        "        ✗ all of:",
        '            ✗ level eq "INFO" (saw "DEBUG")',
        "        ✗ all of:",
        '            ✗ level not {"in":["DEBUG","TRACE"]} (saw "DEBUG")',
        "    ✓ not:",
        "        ✗ all of:",
        "            ✗ user exists false (saw 7)",
        "✓ rule everything → seen",
    ]


def test_rendered_parse_failure_and_notes():
    ruleset = compile_text(RULES)
    failed = render_explanation(explain(ruleset, "app", "{", read_at=READ_AT))
    noted = render_explanation(
        explain(ruleset, "app", '{"msg":"hit"}', read_at=READ_AT)
    )
    detail_free = render_explanation(
        explain(ruleset, "app", "{", read_at=READ_AT).__class__(
            "app", "x", None, ParseFailure("invalid_json"), None, ()
        )
    )

    assert failed.splitlines()[1].startswith("✗ does not parse: invalid_json: ")
    assert "    (counted in the 60 s window starting" in noted
    assert detail_free.splitlines()[1] == "✗ does not parse: invalid_json"


def test_rendered_source_without_rules():
    text = (
        SOURCE
        + "  - {name: idle, paths: /i.log}\nrules:\n  - {name: r, source: app, event: e}\n"
    )

    result = render_explanation(
        explain(compile_text(text), "idle", "{}", read_at=READ_AT)
    )

    assert result.splitlines()[-1] == "  no rule uses this source"


VALUE_CASES = [
    ("missing", MISSING, "missing"),
    ("text", "a", '"a"'),
    ("huge-integer", 10**30, str(10**30)),
    ("cut", "x" * 200, '"' + "x" * 76 + "..."),
]


@pytest.mark.parametrize(
    ("value", "expected"),
    [case[1:] for case in VALUE_CASES],
    ids=[case[0] for case in VALUE_CASES],
)
def test_values_are_rendered_as_short_json(value, expected):
    assert render_value(value) == expected


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 2000)
    | st.sampled_from(["order", "INFO", "DEBUG", "TRACE", "5", "x"]),
    lambda inner: st.lists(inner, max_size=2),
    max_leaves=4,
)


@given(
    st.dictionaries(
        st.sampled_from(["msg", "amount", "level", "user"]), JSON_VALUES, max_size=4
    )
)
def test_explanation_judges_like_the_rule(fields):
    ruleset = compile_text(RULES)
    line = orjson.dumps(fields).decode()

    result = explain(ruleset, "app", line, read_at=READ_AT)

    for rule, verdict in zip(ruleset.rules, result.rules, strict=True):
        held = all(check.held for check in verdict.checks)
        assert verdict.matched == rule.matches(fields) == held


STEPPED = (
    SOURCE
    + r"""rules:
  - name: logins
    source: app
    when: {msg: {regex: 'for (?P<user>\S+) from'}}
    event: login_failed
    properties:
      user: {match: user}
      port: {field: msg, extract: 'port (?P<p>\S+)', type: int}
      host: web-1
"""
)


def test_each_value_shows_its_stages_and_a_failure_its_reason():
    line = '{"msg": "Failed password for root from 10.0.0.1 port 22x"}'

    text = render_explanation(
        explain(compile_text(STEPPED), "app", line, read_at=READ_AT)
    )

    assert text.splitlines()[-4:] == [
        '      properties.user: match user "root" → result "root"',
        '      properties.port: field msg "Failed password for root from 10.0.0.1 '
        'port 22x" → extract "22x" → type int failed (not_int) → result failed '
        "(not_int)",
        '      properties.host: result "web-1"',
        "    ✗ properties.port: not_int",
    ]


CONVERSIONS = (
    SOURCE
    + """\
rules:
  - name: paid
    source: app
    event: order_paid
    properties:
      amount: {field: amount, type: float}
      took: {field: took, type: duration}
      gift: {field: gift, type: bool}
      coupon: {field: coupon, type: int}
"""
)


def test_a_conversion_that_fails_says_it_failed_and_why_unlike_an_absent_field():
    line = '{"amount": "12,50", "took": "soon", "gift": "maybe"}'

    text = render_explanation(
        explain(compile_text(CONVERSIONS), "app", line, read_at=READ_AT)
    )

    assert text.splitlines()[-7:] == [
        '      properties.amount: field amount "12,50" → type float failed '
        "(not_float) → result failed (not_float)",
        '      properties.took: field took "soon" → type duration failed '
        "(not_duration) → result failed (not_duration)",
        '      properties.gift: field gift "maybe" → type bool failed (not_bool) → '
        "result failed (not_bool)",
        "      properties.coupon: field coupon missing → result missing",
        "    ✗ properties.amount: not_float",
        "    ✗ properties.took: not_duration",
        "    ✗ properties.gift: not_bool",
    ]


DURATIONS = (
    SOURCE
    + """\
rules:
  - name: slow
    source: app
    when:
      msg: request
      took: {gt: 1s}
      any: [{queue: {lt: 100ms, number_unit: ms}}, {not: {retried: true}}]
    event: slow_request
"""
)


def test_a_value_that_is_no_duration_is_shown_undecided_with_why():
    ruleset = compile_text(DURATIONS)
    line = '{"msg": "request", "took": "n/a", "queue": 20, "retried": true}'

    result = explain(ruleset, "app", line, read_at=READ_AT)

    (slow,) = result.rules
    assert not slow.matched
    assert slow.checks[1] == CheckResult(
        "gt", False, "took", "1s", "n/a", note="not a duration", undecided=True
    )
    assert slow.issues == (Issue("slow", "when.took", "not_duration"),)
    assert render_explanation(result).splitlines()[3:] == [
        "✗ rule slow → slow_request",
        '    ✓ msg eq "request" (saw "request")',
        '    ? took gt "1s" (saw "n/a": not a duration)',
        "    ✓ any of:",
        "        ✓ all of:",
        '            ✓ queue lt "100ms" (saw 20)',
        "        ✗ all of:",
        "            ✗ not:",
        "                ✓ all of:",
        "                    ✓ retried eq true (saw true)",
        "    ✗ when.took: not_duration",
    ]


def test_groups_a_value_leaves_undecided_are_shown_undecided():
    ruleset = compile_text(DURATIONS)
    line = '{"msg": "request", "took": "2s", "queue": "soon", "retried": true}'

    text = render_explanation(explain(ruleset, "app", line, read_at=READ_AT))

    assert text.splitlines()[3:] == [
        "✗ rule slow → slow_request",
        '    ✓ msg eq "request" (saw "request")',
        '    ✓ took gt "1s" (saw "2s")',
        "    ? any of:",
        "        ? all of:",
        '            ? queue lt "100ms" (saw "soon": not a duration)',
        "        ✗ all of:",
        "            ✗ not:",
        "                ✓ all of:",
        "                    ✓ retried eq true (saw true)",
        "    ✗ when.any[0].queue: not_duration",
    ]


@pytest.mark.parametrize(
    ("when", "line", "shown"),
    [
        (
            "{took: {gt: 1s}}",
            '{"took": 1500}',
            '    ? took gt "1s" (saw 1500: a number, and no number_unit says in '
            "which unit)",
        ),
        (
            "{not: {took: {gt: 1s}}}",
            '{"took": "n/a"}',
            "    ? not:",
        ),
        (
            "{took: {not: {gt: 1s}}}",
            '{"took": "n/a"}',
            '    ? took not {"gt":"1s"} (saw "n/a")',
        ),
        (
            "{took: {gt: 1s, lt: 1m}}",
            '{"took": "n/a"}',
            '    ? took gt "1s" (saw "n/a": not a duration)',
        ),
        (
            "{took: {gt: 1s, ne: x}}",
            '{"took": "x"}',
            '    ✗ took ne "x" (saw "x")',
        ),
    ],
    ids=["number-without-unit", "group-not", "value-not", "two-bounds", "decided"],
)
def test_undecided_conditions_are_rendered_with_a_question_mark(when, line, shown):
    text = SOURCE + f"rules:\n  - {{name: r, source: app, event: e, when: {when}}}\n"

    rendered = render_explanation(
        explain(compile_text(text), "app", line, read_at=READ_AT)
    )

    assert shown in rendered.splitlines()


TIMED = """\
sources:
  - name: app
    paths: [/var/log/shop/app.log]
    timestamp: {field: ts SOURCE_ON_ERROR}
rules:
  - name: orders
    source: app
    when: {msg: order placed}
    event: order_placed
    timestamp_on_error: RULE_ON_ERROR
  - name: audit
    source: app
    event: line_seen
"""
LATE_ORDER = '{"msg": "order placed", "ts": "yesterday"}'


def explained_time(source_on_error: str, rule_on_error: str):
    text = TIMED.replace(" SOURCE_ON_ERROR", source_on_error)
    ruleset = compile_text(text.replace("RULE_ON_ERROR", rule_on_error))
    return explain(ruleset, "app", LATE_ORDER, read_at=READ_AT)


def test_a_failed_time_is_shown_with_what_each_rule_does_about_it():
    result = explained_time("", "skip")

    orders, audit = result.rules
    assert (result.timestamp, result.time_issue, result.time_skips) == (
        READ_AT,
        "unparsed",
        False,
    )
    assert (orders.events, orders.note, orders.issues) == (
        (),
        "no event: the line's time failed and the rule says timestamp_on_error: skip",
        (Issue("orders", "timestamp", "unparsed"), Issue("orders", "event", "skipped")),
    )
    assert [(e.name, e.timestamp) for e in audit.events] == [("line_seen", READ_AT)]
    assert (audit.note, audit.issues) == (
        "",
        (Issue("audit", "timestamp", "unparsed"),),
    )


def test_a_rule_that_keeps_its_event_when_the_source_skips_says_so():
    result = explained_time(", on_error: skip", "read_time")
    (order,) = result.rules[0].events

    text = render_explanation(result)

    assert text.splitlines()[2:] == [
        "  time: 2026-01-02T03:04:05+00:00 (✗ timestamp unparsed: the source skips "
        "its events)",
        "✓ rule orders → order_placed",
        '    ✓ msg eq "order placed" (saw "order placed")',
        "    (the line's time failed: read time used, as the rule says "
        "timestamp_on_error: read_time)",
        f'    event order_placed distinct_id="{order.distinct_id}" '
        'properties={"$process_person_profile":false}',
        "    ✗ timestamp: unparsed",
        "✓ rule audit → line_seen",
        "    (no event: the line's time failed and the source says on_error: skip)",
        "    ✗ timestamp: unparsed",
        "    ✗ event: skipped",
    ]
