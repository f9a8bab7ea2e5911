"""Per-rule ``sample`` and ``rate_limit``."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.rules import RuleState
from bridge.rules.volume.limits import (
    MAX_RATE_KEYS,
    RateLimit,
    TokenBuckets,
    is_sampled_in,
    sample_threshold,
)
from tests.rules.support import READ_AT, compile_text, errors, record, rule_file


def apply_lines(text: str, count: int, state: RuleState | None = None, **fields):
    ruleset = compile_text(text)
    return [
        event
        for offset in range(count)
        for event in ruleset.apply(record(fields, offset=offset), state)
    ]


def test_sample_keeps_the_same_lines_on_every_run():
    text = rule_file(extra="sample: 0.3")

    first = [event.uuid for event in apply_lines(text, 200)]
    second = [event.uuid for event in apply_lines(text, 200)]

    assert first == second
    assert 30 < len(first) < 90


def test_sample_one_keeps_everything():
    events = apply_lines(rule_file(extra="sample: 1"), 50)

    assert len(events) == 50


def test_sampled_out_events_are_counted_in_the_state():
    text = rule_file(extra="sample: 0.5")
    ruleset = compile_text(text)
    state = RuleState(ruleset)

    kept = apply_lines(text, 100, state)

    assert len(kept) + state.sampled_out["r"] == 100


@settings(max_examples=20)
@given(rate=st.floats(min_value=0.05, max_value=0.95))
def test_sample_rate_is_close_to_the_target_over_many_uuids(rate):
    threshold = sample_threshold(rate)
    uuids = [str(uuid.uuid5(uuid.NAMESPACE_URL, str(n))) for n in range(4000)]

    kept = sum(is_sampled_in(u, threshold) for u in uuids) / len(uuids)

    assert abs(kept - rate) < 0.05


def limited(spec: str, events: int = 3) -> str:
    return rule_file(extra=f"rate_limit: {spec}")


def apply_at(ruleset, state, seconds: list[float], **fields) -> list[bool]:
    """Whether each record, at READ_AT + s of event time, yields an event."""
    results = []
    for offset, second in enumerate(seconds):
        at = (READ_AT + timedelta(seconds=second)).isoformat()
        rec = record({**fields, "ts": at}, offset=offset)
        results.append(bool(ruleset.apply(rec, state)))
    return results


TIMED_SOURCE = """\
sources:
  - name: app
    paths: [/var/log/app.log]
    timestamp: {field: ts}
rules:
  - name: r
    source: app
    event: e
"""


def test_rate_limit_refills_by_event_time():
    ruleset = compile_text(
        TIMED_SOURCE + "    rate_limit: {events: 2, per_seconds: 10}\n"
    )
    state = RuleState(ruleset)

    result = apply_at(ruleset, state, [0, 1, 2, 6, 7, 30, 30, 30])

    assert result == [True, True, False, True, False, True, True, False]
    assert state.over_limit == {"r": 3}


def test_rate_limit_ignores_time_going_backwards():
    ruleset = compile_text(
        TIMED_SOURCE + "    rate_limit: {events: 1, per_seconds: 10}\n"
    )
    state = RuleState(ruleset)

    result = apply_at(ruleset, state, [100, 50, 105, 110])

    assert result == [True, False, False, True]


def test_rate_limit_has_one_bucket_per_key():
    ruleset = compile_text(
        TIMED_SOURCE + "    rate_limit: {events: 1, per_seconds: 60, key: '{user}'}\n"
    )
    state = RuleState(ruleset)

    first = apply_at(ruleset, state, [0, 1], user="a")
    second = apply_at(ruleset, state, [2, 3], user="b")
    missing = apply_at(ruleset, state, [4, 5])

    assert (first, second, missing) == ([True, False], [True, False], [True, False])


def test_rate_limit_is_not_applied_without_state():
    ruleset = compile_text(
        TIMED_SOURCE + "    rate_limit: {events: 1, per_seconds: 60}\n"
    )

    result = apply_at(ruleset, None, [0, 1, 2])

    assert result == [True, True, True]


def test_sample_and_rate_limit_combine():
    text = (
        TIMED_SOURCE
        + "    sample: 0.5\n    rate_limit: {events: 5, per_seconds: 3600}\n"
    )
    ruleset = compile_text(text)
    state = RuleState(ruleset)

    kept = sum(apply_at(ruleset, state, [float(n) for n in range(100)]))

    assert kept == 5
    assert state.sampled_out["r"] + state.over_limit["r"] == 95


def test_buckets_forget_idle_keys_beyond_the_cap():
    buckets = TokenBuckets(RateLimit(events=1, per_seconds=1.0))
    for n in range(MAX_RATE_KEYS):
        buckets.admit(f"k{n}", 0.0)

    buckets.admit("late", 0.5)

    # Buckets of every key are half refilled: none is full, the oldest go.
    assert len(buckets) == MAX_RATE_KEYS // 2
    assert buckets.admit(f"k{MAX_RATE_KEYS - 1}", 0.5) is False


def test_buckets_drop_full_ones_first():
    buckets = TokenBuckets(RateLimit(events=1, per_seconds=1.0))
    for n in range(MAX_RATE_KEYS):
        buckets.admit(f"k{n}", 0.0)

    buckets.admit("late", 10.0)

    assert len(buckets) == 1


ERROR_CASES = [
    pytest.param(
        "sample: 0",
        [
            "rules/a.yaml:9:13: error: rules[0].sample: expected a rate above 0 and "
            "at most 1, got 0 (hint: 0.1 keeps one event in ten)"
        ],
        id="sample-zero",
    ),
    pytest.param(
        "sample: 1.5",
        [
            "rules/a.yaml:9:13: error: rules[0].sample: expected a rate above 0 and "
            "at most 1, got 1.5 (hint: 0.1 keeps one event in ten)"
        ],
        id="sample-above-one",
    ),
    pytest.param(
        "sample: true",
        [
            "rules/a.yaml:9:13: error: rules[0].sample: expected a rate above 0 and "
            "at most 1, got true (hint: 0.1 keeps one event in ten)"
        ],
        id="sample-bool",
    ),
    pytest.param(
        "sample: [a]",
        [
            "rules/a.yaml:9:13: error: rules[0].sample: expected a rate above 0 and "
            "at most 1, got a list (hint: 0.1 keeps one event in ten)"
        ],
        id="sample-list",
    ),
    pytest.param(
        "rate_limit: {events: 0, per_seconds: -1}",
        [
            "rules/a.yaml:9:26: error: rules[0].rate_limit.events: expected a "
            "positive integer, got 0",
            "rules/a.yaml:9:42: error: rules[0].rate_limit.per_seconds: expected a "
            "positive number, got -1",
        ],
        id="rate-not-positive",
    ),
    pytest.param(
        "rate_limit: {events: 1.5, per_seconds: x}",
        [
            "rules/a.yaml:9:26: error: rules[0].rate_limit.events: expected a "
            "positive integer, got 1.5",
            "rules/a.yaml:9:44: error: rules[0].rate_limit.per_seconds: expected a "
            "positive number, got 'x'",
        ],
        id="rate-wrong-types",
    ),
    pytest.param(
        "rate_limit: {events: 1}",
        [
            "rules/a.yaml:9:17: error: rules[0].rate_limit: missing required key "
            "'per_seconds'"
        ],
        id="rate-missing-period",
    ),
    pytest.param(
        "rate_limit: {events: 1, per_seconds: 1, key: '{'}",
        [
            "rules/a.yaml:9:50: error: rules[0].rate_limit.key: unclosed '{' in "
            "template '{' (hint: write {{ for a literal brace)"
        ],
        id="rate-bad-key",
    ),
    pytest.param(
        "rate_limit: 5",
        ["rules/a.yaml:9:17: error: rules[0].rate_limit: expected a mapping, got 5"],
        id="rate-not-mapping",
    ),
]


@pytest.mark.parametrize(("extra", "expected"), ERROR_CASES)
def test_invalid_sample_or_rate_limit_is_reported_at_its_position(extra, expected):
    result = errors(rule_file(extra=extra))

    assert result == expected
