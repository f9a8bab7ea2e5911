"""Aggregate rules: one summary event per time window and group."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bridge.model import Record
from bridge.rules import RuleSet, RuleState, compile_rules
from bridge.rules.volume.windows import aggregate_uuid, to_us
from tests.rules.support import FILE, READ_AT, errors, record

T0 = datetime(2025, 12, 16, 10, 0, 0, tzinfo=UTC)

SOURCE = """\
sources:
  - name: app
    paths: [/var/log/app.log]
    timestamp: {field: ts}
"""

HITS = (
    SOURCE
    + """\
rules:
  - name: hits
    source: app
    when: {msg: cache hit}
    event: cache_hits
    aggregate:
      window_seconds: 60
      group_by: [cache]
      count: hits
      sum: {bytes: size}
      min: {smallest: size}
      max: {largest: size}
      avg: {mean: size}
"""
)


def compile_text(text: str) -> RuleSet:
    return compile_rules([(FILE, text)])


def hit(
    second: float,
    *,
    offset: int = 0,
    read_at: datetime = READ_AT,
    file_id: str = "fp1",
    **fields: Any,
) -> Record:
    ts = (T0 + timedelta(seconds=second)).isoformat()
    return record(
        {"msg": "cache hit", "ts": ts, **fields},
        offset=offset,
        read_at=read_at,
        file_id=file_id,
    )


def run(ruleset: RuleSet, records: list[Record], state: RuleState) -> list[Any]:
    out = []
    for rec in records:
        out.extend(ruleset.apply(rec, state))
    return out


def test_a_window_and_group_becomes_one_summary_at_the_flush():
    ruleset = compile_text(HITS)
    state = RuleState(ruleset)
    records = [
        hit(1, offset=0, cache="a", size=10),
        hit(2, offset=10, cache="a", size="30"),
        hit(3, offset=20, cache="b", size=1),
        hit(4, offset=30, cache="a", size="n/a"),
    ]

    during = run(ruleset, records, state)
    flushed = ruleset.flush(state, now=None)

    assert during == []
    assert [(e.name, e.timestamp, dict(e.properties)) for e in flushed] == [
        (
            "cache_hits",
            T0,
            {
                "cache": "a",
                "hits": 3,
                "bytes": 40,
                "smallest": 10,
                "largest": 30,
                "mean": 20.0,
                "$process_person_profile": False,
            },
        ),
        (
            "cache_hits",
            T0,
            {
                "cache": "b",
                "hits": 1,
                "bytes": 1,
                "smallest": 1,
                "largest": 1,
                "mean": 1.0,
                "$process_person_profile": False,
            },
        ),
    ]
    assert flushed[0].uuid == aggregate_uuid("app", "hits", to_us(T0), ("a",))
    assert flushed[0].distinct_id == flushed[0].uuid


def test_replaying_the_same_lines_gives_the_same_summaries():
    ruleset = compile_text(HITS)
    records = [hit(n, offset=n, cache="a", size=n) for n in range(0, 200, 7)]

    state = RuleState(ruleset)
    first = run(ruleset, records, state) + ruleset.flush(state, now=None)
    again = RuleState(ruleset)
    second = run(ruleset, records, again) + ruleset.flush(again, now=None)

    assert [(e.uuid, dict(e.properties)) for e in first] == [
        (e.uuid, dict(e.properties)) for e in second
    ]


def test_without_state_aggregate_rules_emit_nothing():
    ruleset = compile_text(HITS)

    result = ruleset.apply(hit(1, cache="a"))

    assert result == []


def test_a_record_past_the_end_and_grace_closes_older_windows():
    ruleset = compile_text(HITS)
    state = RuleState(ruleset)

    early = run(ruleset, [hit(1, cache="a"), hit(65, cache="a")], state)
    closing = ruleset.apply(hit(125, cache="a"), state)

    assert early == []
    assert [(e.timestamp, e.properties["hits"]) for e in closing] == [(T0, 1)]
    # 60 s window + 6 s grace: the second window (ending at 120 s) is still open.
    assert [e.timestamp for e in ruleset.flush(state, now=None)] == [
        T0 + timedelta(seconds=60),
        T0 + timedelta(seconds=120),
    ]


def test_flush_waits_for_end_plus_grace_and_for_reading_to_stop():
    ruleset = compile_text(HITS)
    state = RuleState(ruleset)
    read_at = T0 + timedelta(seconds=200)
    run(ruleset, [hit(1, cache="a", read_at=read_at)], state)

    too_early = ruleset.flush(state, now=T0 + timedelta(seconds=65))
    still_reading = ruleset.flush(state, now=read_at + timedelta(seconds=5))
    done = ruleset.flush(state, now=read_at + timedelta(seconds=6))

    assert (too_early, still_reading) == ([], [])
    assert [e.properties["hits"] for e in done] == [1]


def test_lines_for_an_emitted_window_are_late_and_counted():
    ruleset = compile_text(HITS)
    state = RuleState(ruleset)
    run(ruleset, [hit(1, cache="a")], state)
    ruleset.flush(state, now=None)

    result = run(ruleset, [hit(30, cache="a"), hit(30, cache="new")], state)

    assert result == []
    assert state.late == {"hits": 2}
    assert ruleset.flush(state, now=None) == []


def test_holdback_is_the_first_offset_per_file_of_open_windows():
    ruleset = compile_text(HITS)
    state = RuleState(ruleset)
    records = [
        hit(1, offset=500, cache="a"),
        hit(2, offset=100, cache="b"),
        hit(3, offset=40, cache="a", file_id="fp2"),
        hit(4, offset=300, cache="a"),
        hit(5, offset=900, cache="c"),
    ]

    run(ruleset, records, state)
    before = state.holdback()
    ruleset.flush(state, now=None)

    assert before == {"fp1": 100, "fp2": 40}
    assert state.holdback() == {}


def test_windows_beyond_the_cap_drop_their_lines_and_count_them():
    ruleset = compile_text(HITS)
    state = RuleState(ruleset, max_open_windows=2)

    run(ruleset, [hit(1, cache=name) for name in "abcd"], state)

    assert state.window_overflow == {"hits": 2}
    assert len(ruleset.flush(state, now=None)) == 2


PERSON = (
    SOURCE
    + """\
rules:
  - name: per-user
    source: app
    event: usage
    distinct_id: "{user}"
    properties: {plan: "{plan}", n: overwritten}
    aggregate:
      window_seconds: 3600
      group_by: [user, {region: geo.region}]
      count: n
"""
)


def test_values_come_from_the_first_record_and_counts_win():
    ruleset = compile_text(PERSON)
    state = RuleState(ruleset)
    records = [
        record(
            {"ts": T0.isoformat(), "user": 1, "plan": "pro", "geo": {"region": "eu"}}
        ),
        record(
            {"ts": T0.isoformat(), "user": 1, "plan": "free", "geo": {"region": "eu"}}
        ),
        record({"ts": T0.isoformat(), "user": 2}),
    ]

    run(ruleset, records, state)
    result = ruleset.flush(state, now=None)

    assert [(e.distinct_id, dict(e.properties)) for e in result] == [
        ("1", {"plan": "pro", "n": 2, "user": 1, "region": "eu"}),
        ("2", {"n": 1, "user": 2}),
    ]


NUMBERS = (
    SOURCE
    + """\
rules:
  - name: nums
    source: app
    event: nums
    aggregate:
      window_seconds: 1
      sum: {total: v}
      min: {low: v}
      avg: {mean: v}
"""
)

NUMBER_CASES = [
    ("no-numbers", [None, "x"], {"total": 0}),
    (
        "big-ints-sum-as-float",
        [2**63, 2**63],
        {"total": 2.0**64, "low": 2.0**63, "mean": 2.0**63},
    ),
    ("infinite-skipped", ["1e999", 2], {"total": 2, "low": 2, "mean": 2.0}),
    ("sum-overflow-left-out", [1.7e308, 1.7e308], {"low": 1.7e308}),
    ("bool-not-a-number", [True, 3], {"total": 3, "low": 3, "mean": 3.0}),
]


@pytest.mark.parametrize(
    ("values", "expected"),
    [case[1:] for case in NUMBER_CASES],
    ids=[case[0] for case in NUMBER_CASES],
)
def test_metrics_take_numbers_only_and_stay_json(values, expected):
    ruleset = compile_text(NUMBERS)
    state = RuleState(ruleset)
    records = [record({"ts": T0.isoformat(), "v": value}) for value in values]

    run(ruleset, records, state)
    (event,) = ruleset.flush(state, now=None)

    properties = dict(event.properties)
    del properties["$process_person_profile"]
    assert properties == expected


def test_reload_keeps_windows_of_an_unchanged_aggregate():
    ruleset = compile_text(HITS)
    state = RuleState(ruleset)
    run(ruleset, [hit(1, cache="a")], state)
    reworded = compile_text(HITS.replace("event: cache_hits", "event: hits_v2"))

    emitted = state.adopt(reworded)
    run(reworded, [hit(2, cache="a")], state)
    result = reworded.flush(state, now=None)

    assert emitted == []
    assert [(e.name, e.properties["hits"]) for e in result] == [("hits_v2", 2)]


def test_reload_emits_windows_of_a_changed_or_removed_aggregate():
    ruleset = compile_text(HITS + NUMBERS.removeprefix(SOURCE).removeprefix("rules:\n"))
    state = RuleState(ruleset)
    run(ruleset, [hit(1, cache="a", v=5)], state)
    changed = compile_text(HITS.replace("window_seconds: 60", "window_seconds: 30"))

    emitted = state.adopt(changed)
    late = run(changed, [hit(2, cache="a")], state)

    assert [(e.name, e.rule) for e in emitted] == [
        ("cache_hits", "hits"),
        ("nums", "nums"),
    ]
    assert (late, state.late) == ([], {"hits": 1})


def test_reload_keeps_rate_limit_buckets_of_an_unchanged_limit():
    base = SOURCE + "rules:\n  - {name: r, source: app, event: e, rate_limit: %s}\n"
    limited = compile_text(base % "{events: 1, per_seconds: 60}")
    state = RuleState(limited)
    limited.apply(hit(1), state)

    state.adopt(compile_text(base % "{events: 1, per_seconds: 60}"))
    kept = limited.apply(hit(2), state)
    state.adopt(compile_text(base % "{events: 2, per_seconds: 60}"))
    reset = limited.apply(hit(3), state)
    state.adopt(compile_text(SOURCE + "rules:\n  - {name: x, source: app, event: e}\n"))

    assert (kept, len(reset)) == ([], 1)


def test_state_methods_ignore_rules_without_their_feature():
    ruleset = compile_text(SOURCE + "rules:\n  - {name: r, source: app, event: e}\n")
    state = RuleState(ruleset)
    (rule,) = ruleset.rules

    result = (state.admit(rule, hit(1), T0), state.aggregate(rule, hit(1), T0))

    assert result == (True, [])


def rule_with(aggregate: str, extra: str = "") -> str:
    return (
        SOURCE
        + "rules:\n  - name: r\n    source: app\n    event: e\n"
        + f"    aggregate: {aggregate}\n"
        + extra
    )


ERROR_CASES = [
    pytest.param(
        rule_with("{count: n}"),
        [
            "rules/a.yaml:9:16: error: rules[0].aggregate: missing required key "
            "'window_seconds'"
        ],
        id="no-window",
    ),
    pytest.param(
        rule_with("{window_seconds: 0.5, count: n}"),
        [
            "rules/a.yaml:9:33: error: rules[0].aggregate.window_seconds: expected a "
            "number of seconds of at least 1, got 0.5"
        ],
        id="window-too-short",
    ),
    pytest.param(
        rule_with("{window_seconds: .inf, count: n}"),
        [
            "rules/a.yaml:9:33: error: rules[0].aggregate.window_seconds: expected a "
            "number of seconds of at least 1, got inf"
        ],
        id="window-infinite",
    ),
    pytest.param(
        rule_with("{window_seconds: 60}"),
        [
            "rules/a.yaml:9:16: error: rules[0].aggregate: expected at least one of "
            "avg, count, max, min, sum"
        ],
        id="nothing-to-count",
    ),
    pytest.param(
        rule_with("{window_seconds: 60, count: n, sum: {n: size}}"),
        [
            "rules/a.yaml:9:53: error: rules[0].aggregate.sum.n: duplicate property "
            "name 'n' (first used at line 9, column 44)"
        ],
        id="duplicate-name",
    ),
    pytest.param(
        rule_with("{window_seconds: 60, group_by: [a.x, b.x], count: n}"),
        [
            "rules/a.yaml:9:53: error: rules[0].aggregate.group_by[1]: duplicate "
            "property name 'x' (first used at line 9, column 48)"
        ],
        id="duplicate-group-name",
    ),
    pytest.param(
        rule_with("{window_seconds: 60, group_by: a, count: n}"),
        [
            "rules/a.yaml:9:47: error: rules[0].aggregate.group_by: expected a list "
            "of field paths, got 'a'"
        ],
        id="group-by-not-list",
    ),
    pytest.param(
        rule_with("{window_seconds: 60, group_by: ['a..b', {x: 5}], count: n}"),
        [
            "rules/a.yaml:9:48: error: rules[0].aggregate.group_by[0]: empty segment "
            "in field path 'a..b'",
            "rules/a.yaml:9:60: error: rules[0].aggregate.group_by[1]: expected a "
            "field path, got 5 (hint: quote it to make it a string: '5')",
        ],
        id="group-by-bad-paths",
    ),
    pytest.param(
        rule_with("{window_seconds: 60, count: [n]}"),
        [
            "rules/a.yaml:9:44: error: rules[0].aggregate.count: expected a "
            "property name, got a list"
        ],
        id="count-not-name",
    ),
    pytest.param(
        rule_with("{window_seconds: 60, avg: [x]}"),
        [
            "rules/a.yaml:9:42: error: rules[0].aggregate.avg: expected a mapping, got a list"
        ],
        id="metric-not-mapping",
    ),
    pytest.param(
        rule_with("{window_seconds: 60, max: {m: 'a..b'}}"),
        [
            "rules/a.yaml:9:46: error: rules[0].aggregate.max.m: empty segment in "
            "field path 'a..b'"
        ],
        id="metric-bad-path",
    ),
    pytest.param(
        rule_with("{window_seconds: 60, cnt: n}"),
        [
            "rules/a.yaml:9:37: error: rules[0].aggregate: unknown key 'cnt'; "
            "expected one of avg, count, group_by, max, min, sum, window_seconds "
            "(did you mean 'count'?)"
        ],
        id="unknown-key",
    ),
    pytest.param(
        rule_with("[60]"),
        [
            "rules/a.yaml:9:16: error: rules[0].aggregate: expected a mapping, got a list"
        ],
        id="not-a-mapping",
    ),
    pytest.param(
        rule_with(
            "{window_seconds: 60, count: n}",
            "    sample: 0.5\n    rate_limit: {events: 1, per_seconds: 1}\n",
        ),
        [
            "rules/a.yaml:10:13: error: rules[0].sample: sample cannot be combined "
            "with aggregate (hint: an aggregate rule emits one summary per window)",
            "rules/a.yaml:11:17: error: rules[0].rate_limit: rate_limit cannot be "
            "combined with aggregate (hint: an aggregate rule emits one summary per "
            "window)",
        ],
        id="with-sample-and-rate-limit",
    ),
]


@pytest.mark.parametrize(("text", "expected"), ERROR_CASES)
def test_invalid_aggregate_is_reported_at_its_position(text, expected):
    result = errors(text)

    assert result == expected
