"""Which literals a rule's conditions require of a raw line (the prefilter's input)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.rules import compile_rules
from bridge.rules.literals import Threshold, source_literals
from bridge.rules.values.types import to_number

HEAD = "sources:\n  - {name: s, paths: [x]}\nrules:\n  - name: r\n    source: s\n    event: e\n"


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("{event: order_processed}", (b"order_processed",)),
        ("{event: order_processed, level: {in: [INFO, WARN]}}", (b"order_processed",)),
        ("{level: {in: [INFO, WARN]}}", (b"INFO", b"WARN")),
        ("{msg: {contains: timeout}}", (b"timeout",)),
        ("{msg: {startswith: GET}, status: 500}", (b"GET",)),
        ("{any: [{a: x1}, {b: {endswith: y2}}]}", (b"x1", b"y2")),
        ("{any: [{a: x1}, {b: {gt: 3}}]}", None),
        ("{status: '200'}", None),  # a number may be spelled many ways
        ("{amount: {gt: 0}}", None),
        ("{a: {ne: x}}", None),
        ("{not: {a: x}}", None),
        ("{a: {regex: 'x+'}}", None),
        ("{a: {exists: true}}", None),
        ("{a: ''}", None),
        ("{a: true}", None),
    ],
    ids=[
        "eq",
        "and-picks-one",
        "in",
        "contains",
        "startswith-and-number",
        "any-union",
        "any-with-numeric",
        "numeric-string",
        "gt",
        "ne",
        "not",
        "regex",
        "exists",
        "empty",
        "bool",
    ],
)
def test_required_literals(when: str, expected: tuple[bytes, ...] | None) -> None:
    ruleset = compile_rules([("r.yaml", HEAD + f"    when: {when}\n")])

    assert source_literals(ruleset.rules) == expected


def test_a_rule_without_when_needs_no_literal() -> None:
    ruleset = compile_rules([("r.yaml", HEAD)])

    assert source_literals(ruleset.rules) is None


def test_no_rules_need_no_literal() -> None:
    assert source_literals(()) is None


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("{duration_ms: {gt: 1000}}", [("duration_ms", 1000, False)]),
        ("{status: {gte: 500}}", [("status", 500, True)]),
        ("{a.b: {gt: 2.5}}", [("b", 2.5, False)]),
        ("{event: x, duration_ms: {gt: 1000}}", None),  # the literal is preferred
        ("{any: [{d: {gt: 10}}, {event: x}]}", [("d", 10, False)]),
        ("{d: {gt: 0.5}}", "none"),  # below 1: every digit count may exceed it
        ("{d: {gt: -3}}", "none"),
        ("{d: {lt: 10}}", "none"),
        ("{items.0: {gt: 10}}", "none"),  # a list index has no key in the line
        (r"""{'"a\\b"': {gt: 10}}""", "none"),  # the key would be escaped
        ("{took: {gt: 1s}}", "none"),  # a duration may be text: "1.2s"
        ("{took: {gte: 1s, number_unit: ms}}", "none"),
        ("{event: x, took: {gt: 1s}}", None),
    ],
)
def test_thresholds_of_json_sources(when: str, expected: object) -> None:
    ruleset = compile_rules([("r.yaml", HEAD + f"    when: {when}\n")])

    found = source_literals(ruleset.rules, json=True)
    plain = source_literals(ruleset.rules)

    if expected == "none":
        assert found is None
    elif expected is None:
        assert found == (b"x",)
    else:
        assert found is not None
        patterns = [n for n in found if not isinstance(n, bytes)]
        assert [n.pattern for n in patterns] == [
            Threshold(key, bound, inclusive).pattern().pattern
            for key, bound, inclusive in expected  # type: ignore[attr-defined]
        ]
    if expected is not None:
        assert plain is None  # thresholds are for JSON only


_JSON_NUMBERS = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    st.floats(-1e6, 1e6, allow_nan=False).map(repr),
    st.decimals(-1000000, 1000000, places=3, allow_nan=False).map(str),
    st.sampled_from(["1e3", "1E+4", "0.5e4", "-0", "-0.0", "0", "999.999", "1000.0"]),
)


@settings(max_examples=400, deadline=None)
@given(
    number=_JSON_NUMBERS,
    bound=st.one_of(st.integers(1, 100_000), st.floats(1, 100_000, allow_nan=False)),
    inclusive=st.booleans(),
    spaces=st.sampled_from(["", " ", "\t ", "  "]),
    quoted=st.booleans(),
)
def test_a_value_above_the_bound_is_never_skipped(
    number: str, bound: float, inclusive: bool, spaces: str, quoted: bool
) -> None:
    value = f'"{number}"' if quoted else number
    line = f'{{"a":1,"d"{spaces}:{spaces}{value}{spaces},"z":[{value}]}}'.encode()
    parsed = to_number(json.loads(line)["d"])
    above = parsed is not None and (parsed >= bound if inclusive else parsed > bound)

    matched = Threshold("d", bound, inclusive).pattern().search(line) is not None

    if above:
        assert matched, (line, bound)


def test_plainly_smaller_values_are_skipped() -> None:
    pattern = Threshold("duration_ms", 1000, inclusive=False).pattern()
    low = [b"7", b"999", b"12.5", b"-4000", b"0"]
    high = [b"1000", b"1001", b"1e4", b'"5"', b"true", b"[5]", b"99999"]

    assert [pattern.search(b'{"duration_ms":' + v + b"}") is None for v in low] == [
        True
    ] * len(low)
    assert all(pattern.search(b'{"duration_ms": ' + v + b"}") for v in high)
    assert Threshold("s", 500, inclusive=True).pattern().search(b'{"s":404}') is None
    assert Threshold("s", 500, inclusive=True).pattern().search(b'{"s":503}')
    assert Threshold("s", 5, inclusive=False).pattern().search(b'{"s":0}') is None
