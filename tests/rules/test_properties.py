"""Property-based checks: no record and no rule-file text makes the core crash."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import example, given
from hypothesis import strategies as st

from bridge.errors import RuleFileError
from bridge.model import Event
from bridge.rules import compile_rules
from bridge.rules.fieldpaths import MISSING, compile_getter, parse_field_path
from bridge.spool.rows import encode_event
from tests.rules.support import FILE, record

# Every operator, value form, conversion and timestamp format at least once.
EVERYTHING = """\
sources:
  - {name: iso, paths: /a.log, timestamp: {field: t, timezone: Europe/Madrid}}
  - {name: unix, paths: /b.log, timestamp: {field: t, format: unix}}
  - {name: ms, paths: /c.log, timestamp: {field: a.t, format: unix_ms}}
rules:
  - &rule
    name: ops
    source: iso
    event: e
    when:
      any:
        - {a: x, b: 1, c: true, d: null}
        - {a: {eq: 1, ne: '2'}, b: {in: [1, '2', true, null]}, c: {exists: true}}
        - {a: {regex: '^x', contains: y, startswith: x, endswith: z}}
        - {a.b.0: {gt: 0, gte: 1.5, lt: 10, lte: 10.5}}
        - not: {a: {not: {in: [x]}}}
        - all: [{'a."b.c"': {exists: false}}, {b: {ne: null}}]
    distinct_id: '{a}-{b.0}'
    properties:
      t1: '{a} {b} {$hostname} {$source} {$rule} {$file_id} {$offset} {{x}}'
      i: {field: a, type: int}
      f: {field: b, type: float, default: 0}
      b: {field: c, type: bool, default: null}
      s: {field: d, type: str}
      v: {value: [1, {k: v}]}
      n: {field: a.b.0.c}
      tpl: {template: 'x-{c}'}
  - {<<: *rule, name: unix-rule, source: unix, distinct_id: {field: a}}
  - {<<: *rule, name: ms-rule, source: ms, distinct_id: {field: b, type: int}}
"""

RULESET = compile_rules([(FILE, EVERYTHING)])


def json_like(integers: st.SearchStrategy[int]) -> st.SearchStrategy[dict[str, Any]]:
    scalars = (
        st.none()
        | st.booleans()
        | integers
        | st.floats()
        | st.text(max_size=20)
        | st.sampled_from(["x", "xyz", "1", "2", "1e3", "true", "2025-01-01T00:00"])
    )
    values = st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(
                st.sampled_from(["a", "b", "c", "t", "0", "b.c"]), children
            )
        ),
        max_leaves=12,
    )
    return st.dictionaries(st.sampled_from(["a", "b", "c", "d", "t"]), values)


SOURCES = st.sampled_from(["iso", "unix", "ms", "other"])
# What parse_json yields: orjson reads integers beyond 64 bits as floats.
PARSED_FIELDS = json_like(st.integers(-(2**63), 2**64 - 1))


def check_events(events: list[Event]) -> None:
    for event in events:
        assert isinstance(event.distinct_id, str)
        assert event.timestamp.utcoffset() is not None
        assert MISSING not in event.properties.values()


@given(PARSED_FIELDS, SOURCES, st.integers(0, 2**40))
# 2**64 as a float: type int makes it a BigInt, which only the spool's options encode.
@example({"a": 2.0**64}, "iso", 0)
def test_apply_never_raises_and_events_encode_as_json(fields, source, offset):
    result = RULESET.apply(record(fields, source=source, offset=offset))

    check_events(result)
    for event in result:
        # As the spool writes it: integers past 64 bits (BigInt) digit for digit.
        assert orjson.loads(encode_event(event, lib_version="test"))["uuid"]


@given(json_like(st.integers()), SOURCES)
def test_apply_never_raises_on_any_integers(fields, source):
    result = RULESET.apply(record(fields, source=source))

    check_events(result)


@given(st.text(max_size=200))
def test_compile_rules_raises_only_rule_file_errors_on_any_text(text):
    try:
        ruleset = compile_rules([(FILE, text)])
    except RuleFileError as exc:
        problems = exc.problems
    else:
        problems = ruleset.warnings
    assert all(problem.line >= 1 and problem.col >= 1 for problem in problems)


@given(st.text(max_size=40))
def test_template_values_compile_or_fail_cleanly(template):
    text = (
        "sources: [{name: app, paths: /a.log}]\n"
        "rules: [{name: r, source: app, event: e, properties: {p: {template: T}}}]\n"
    )
    quoted = "'" + template.replace("'", "''") + "'"

    try:
        ruleset = compile_rules([(FILE, text.replace("T", quoted, 1))])
    except RuleFileError:
        return
    (event,) = ruleset.apply(record({"a": 1}))
    assert isinstance(event.properties.get("p", ""), str)


@given(st.text(max_size=30), PARSED_FIELDS)
def test_field_paths_parse_or_fail_and_lookups_never_raise(path, fields):
    segments = parse_field_path(path)

    if isinstance(segments, str):
        assert repr(path) in segments or segments == "empty field path"
    else:
        compile_getter(segments)(fields)
