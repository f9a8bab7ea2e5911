"""The ``tests:`` of rule files: checked at load, run by ``logbridge test`` and pytest.

Entry shape::

    tests:
      - name: order line becomes pedido_procesado     # optional
        source: tl-engine
        line: '{"msg": "order processed", ...}'        # or lines: ['...', '...']
        read_at: "2025-12-16T10:00:05Z"                # optional: when it was read
        expect:                                        # the events out, in order
          - event: pedido_procesado
            distinct_id: "123"                         # optional
            properties: {amount: 100.0}                # these keys must match, or
            # properties_exact: {...}                  # the whole map must
            timestamp: "2025-12-16T10:00:00Z"          # optional

``expect: []`` asserts that nothing is emitted. Several ``lines`` go through the
source as a file would: joined into records when the source is ``multiline``, one
``RuleState`` for the whole entry (rate limits apply, aggregation windows fill and
are flushed after the last line, so their summaries are expected last). A line's
uuid comes from file id ``"test"`` and its index in the list as the offset.

``read_at`` is the time the entry's lines were read (and, for ``year: file``, the
time their file was last modified): what a timestamp that fails falls back to, what
``year: read`` counts from, what a time too far ahead is measured against. Without
it, the time the runner is given (``logbridge test``: now) is used.

Invariants: entries are validated with every other rule-file problem (unknown
keys, unknown source, bad shapes), each at its position; running them is pure:
the read time is given (the entry's own, or the runner's), and events are compared
as PostHog would store them (a number equals a number of the same value, never a
boolean).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bridge.model import Event, Line, Record
from bridge.parse import ParseFailure
from bridge.rules.ruleset import ExpectedEvent, RuleCase, RuleSet
from bridge.rules.schema import (
    Item,
    Reporter,
    Site,
    check_keys,
    did_you_mean,
    expect_list,
    expect_map,
    expect_str,
)
from bridge.rules.state import RuleState
from bridge.rules.values.types import render_text
from bridge.yamlnodes import Map, Node, Scalar, child_path, describe, item_path
from bridge.yamlnodes import to_plain as plain_of

__all__ = ["CASE_FILE_ID", "CaseResult", "compile_cases", "run_cases", "same_value"]

# The file id of a test's lines: uuids of test events never match a real file's.
CASE_FILE_ID = "test"

_CASE_KEYS = ("expect", "line", "lines", "name", "read_at", "source")
_EXPECT_KEYS = ("distinct_id", "event", "properties", "properties_exact", "timestamp")


def compile_cases(items: list[Item], source_sites: dict[str, Site]) -> list[RuleCase]:
    """Validate ``tests:`` entries; report problems and return the valid ones."""
    cases: list[RuleCase] = []
    for item in items:
        case = _compile_case(item, source_sites)
        if case is not None:
            cases.append(case)
    return cases


def _compile_case(item: Item, source_sites: dict[str, Site]) -> RuleCase | None:
    rep, path = item.rep, item.path
    mapping = expect_map(rep, item.node, path)
    if mapping is None:
        return None
    ok = check_keys(rep, mapping, path, _CASE_KEYS, required=("expect", "source"))
    name = ""
    name_node = mapping.get("name")
    if name_node is not None:
        name = expect_str(rep, name_node, child_path(path, "name"), "a test name") or ""
        ok = ok and bool(name)
    source = _case_source(rep, mapping.get("source"), path, source_sites)
    lines = _case_lines(rep, mapping, path)
    read_at_ok, read_at = _instant(rep, mapping, path, "read_at")
    expect = _case_expect(rep, mapping.get("expect"), child_path(path, "expect"))
    if not ok or source is None or lines is None or expect is None or not read_at_ok:
        return None
    return RuleCase(
        rep.file, mapping.line, mapping.col, name, source, lines, expect, read_at
    )


def _case_source(
    rep: Reporter, node: Node | None, path: str, source_sites: dict[str, Site]
) -> str | None:
    if node is None:
        return None
    where = child_path(path, "source")
    name = expect_str(rep, node, where, "a source name")
    if name is None or name in source_sites:
        return name
    rep.error(node, where, f"unknown source {name!r}", did_you_mean(name, source_sites))
    return None


def _case_lines(rep: Reporter, mapping: Map, path: str) -> tuple[str, ...] | None:
    line, lines = mapping.get("line"), mapping.get("lines")
    if line is not None and lines is None:
        text = _text(rep, line, child_path(path, "line"))
        return None if text is None else (text,)
    if lines is None or line is not None:
        got = "line and lines" if line is not None else "none"
        rep.error(mapping, path, f"expected exactly one of line, lines, got {got}")
        return None
    where = child_path(path, "lines")
    seq = expect_list(rep, lines, where, "a list of lines")
    if seq is None:
        return None
    if not seq.items:
        rep.error(seq, where, "expected at least one line, got an empty list")
        return None
    texts = [_text(rep, node, item_path(where, i)) for i, node in enumerate(seq.items)]
    found = [text for text in texts if text is not None]
    return tuple(found) if len(found) == len(texts) else None


def _text(rep: Reporter, node: Node, path: str) -> str | None:
    if isinstance(node, Scalar) and isinstance(node.value, str):
        return node.value
    # An unquoted JSON line reads as a YAML mapping.
    hint = "" if isinstance(node, Scalar) else "hint: quote the line"
    rep.error(node, path, f"expected a line of text, got {describe(node)}", hint)
    return None


def _case_expect(
    rep: Reporter, node: Node | None, path: str
) -> tuple[ExpectedEvent, ...] | None:
    if node is None:
        return None
    seq = expect_list(rep, node, path, "a list of events")
    if seq is None:
        return None
    compiled = [
        _expected(rep, item, item_path(path, i)) for i, item in enumerate(seq.items)
    ]
    found = [event for event in compiled if event is not None]
    return tuple(found) if len(found) == len(compiled) else None


def _expected(rep: Reporter, node: Node, path: str) -> ExpectedEvent | None:
    mapping = expect_map(rep, node, path)
    if mapping is None:
        return None
    ok = check_keys(rep, mapping, path, _EXPECT_KEYS, required=("event",))
    event_node = mapping.get("event")
    event = None
    if event_node is not None:
        event = expect_str(rep, event_node, child_path(path, "event"), "an event name")
    distinct_ok, distinct_id = _expected_distinct_id(rep, mapping, path)
    properties_ok, properties, exact = _expected_properties(rep, mapping, path)
    timestamp_ok, timestamp = _instant(rep, mapping, path, "timestamp")
    if not (ok and distinct_ok and properties_ok and timestamp_ok) or event is None:
        return None
    return ExpectedEvent(event, distinct_id, properties, exact, timestamp)


def _expected_distinct_id(
    rep: Reporter, mapping: Map, path: str
) -> tuple[bool, str | None]:
    node = mapping.get("distinct_id")
    if node is None:
        return True, None
    value = node.value if isinstance(node, Scalar) else None
    text = render_text(value) if value is not None else None
    if isinstance(text, str) and text:
        # distinct_id: 123 means the text "123": PostHog stores distinct ids as text.
        return True, text
    where = child_path(path, "distinct_id")
    rep.error(node, where, f"expected a distinct id, got {describe(node)}")
    return False, None


def _expected_properties(
    rep: Reporter, mapping: Map, path: str
) -> tuple[bool, Mapping[str, Any] | None, bool]:
    partial, exact = mapping.get("properties"), mapping.get("properties_exact")
    if partial is not None and exact is not None:
        message = "expected at most one of properties, properties_exact, got both"
        rep.error(mapping, path, message)
        return False, None, False
    node, key = (exact, "properties_exact") if exact is not None else (partial, "")
    if node is None:
        return True, None, False
    where = child_path(path, key or "properties")
    if expect_map(rep, node, where) is None:
        return False, None, False
    return True, plain_of(node), bool(key)


def _instant(
    rep: Reporter, mapping: Map, path: str, key: str
) -> tuple[bool, datetime | None]:
    """Whether the optional ``key`` is valid, and the aware instant it names."""
    node = mapping.get(key)
    if node is None:
        return True, None
    where = child_path(path, key)
    text = expect_str(rep, node, where, "an ISO 8601 timestamp")
    if text is None:
        return False, None
    moment = _parse_instant(text)
    if moment is None:
        message = f"expected an ISO 8601 timestamp with a time zone, got {text!r}"
        rep.error(node, where, message, "hint: end it with Z for UTC")
        return False, None
    return True, moment


def _parse_instant(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(
            text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
        )
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo is not None else None


@dataclass(frozen=True, slots=True)
class CaseResult:
    """
    The outcome of one test entry.

    ``expected`` and ``actual`` are plain mappings (event, distinct_id, properties,
    timestamp) for a side-by-side rendering; ``problems`` says each difference,
    ``notes`` what else happened (a line that did not parse).
    """

    case: RuleCase
    passed: bool
    expected: tuple[Mapping[str, Any], ...]
    actual: tuple[Mapping[str, Any], ...]
    problems: tuple[str, ...]
    notes: tuple[str, ...]


def run_cases(ruleset: RuleSet, *, read_at: datetime) -> list[CaseResult]:
    """Run every test entry of the rule set, in file order."""
    return [_run_case(ruleset, case, read_at) for case in ruleset.cases]


def _run_case(ruleset: RuleSet, case: RuleCase, read_at: datetime) -> CaseResult:
    events, notes = _events_of(ruleset, case, case.read_at or read_at)
    expected = tuple(_expected_view(event) for event in case.expect)
    actual = tuple(_actual_view(event) for event in events)
    problems = _differences(case.expect, events)
    return CaseResult(case, not problems, expected, actual, problems, notes)


def _events_of(
    ruleset: RuleSet, case: RuleCase, read_at: datetime
) -> tuple[list[Event], tuple[str, ...]]:
    source = ruleset.source(case.source)
    if source is None:
        return [], (f"source {case.source!r} is not defined",)
    lines = [
        Line(case.source, CASE_FILE_ID, i, text) for i, text in enumerate(case.lines)
    ]
    if source.joins is not None:
        assembler = source.joins()
        joined = [record for line in lines for record in assembler.feed(line, 0.0)]
        lines = joined + assembler.flush(0.0, force=True)
    state = RuleState(ruleset)
    events: list[Event] = []
    notes: list[str] = []
    for line in lines:
        if not line.text or line.text.isspace():
            continue
        fields, failed = source.read(line.text)
        notes.extend(f"line {line.offset + 1}: {label}" for label in failed)
        if isinstance(fields, ParseFailure):
            detail = f": {fields.detail}" if fields.detail else ""
            notes.append(
                f"line {line.offset + 1} does not parse: {fields.reason}{detail}"
            )
            continue
        events.extend(ruleset.apply(Record(line, fields, read_at), state))
        notes.extend(
            f"line {line.offset + 1}: rule {issue.rule}: {issue.label}"
            for issue in state.issues
        )
        state.issues.clear()
    events.extend(ruleset.flush(state, now=None))
    return events, tuple(notes)


def _expected_view(expected: ExpectedEvent) -> Mapping[str, Any]:
    view: dict[str, Any] = {"event": expected.event}
    if expected.distinct_id is not None:
        view["distinct_id"] = expected.distinct_id
    if expected.properties is not None:
        view["properties"] = dict(expected.properties)
    if expected.timestamp is not None:
        view["timestamp"] = expected.timestamp.isoformat()
    return view


def _actual_view(event: Event) -> Mapping[str, Any]:
    return {
        "event": event.name,
        "distinct_id": event.distinct_id,
        "properties": dict(event.properties),
        "timestamp": event.timestamp.isoformat(),
    }


def _differences(
    expected: Sequence[ExpectedEvent], events: Sequence[Event]
) -> tuple[str, ...]:
    if len(expected) != len(events):
        names = ", ".join(event.name for event in events) or "none"
        plural = "" if len(expected) == 1 else "s"
        return (f"expected {len(expected)} event{plural}, got {len(events)}: {names}",)
    problems: list[str] = []
    for number, (want, got) in enumerate(zip(expected, events, strict=True), 1):
        problems.extend(f"event {number}: {p}" for p in _event_differences(want, got))
    return tuple(problems)


def _event_differences(want: ExpectedEvent, got: Event) -> list[str]:
    problems: list[str] = []
    if want.event != got.name:
        problems.append(f"expected event {want.event!r}, got {got.name!r}")
    if want.distinct_id is not None and want.distinct_id != got.distinct_id:
        problems.append(
            f"expected distinct_id {want.distinct_id!r}, got {got.distinct_id!r}"
        )
    if want.timestamp is not None and want.timestamp != got.timestamp:
        problems.append(
            f"expected timestamp {want.timestamp.isoformat()}, "
            f"got {got.timestamp.isoformat()}"
        )
    if want.properties is not None:
        problems.extend(_property_differences(want.properties, got.properties))
        if want.exact:
            problems.extend(
                f"unexpected property {name!r}"
                for name in got.properties
                if name not in want.properties
            )
    return problems


def _property_differences(want: Mapping[str, Any], got: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    for name, value in want.items():
        if name not in got:
            problems.append(f"property {name!r}: expected {value!r}, got nothing")
        elif not same_value(value, got[name]):
            problems.append(f"property {name!r}: expected {value!r}, got {got[name]!r}")
    return problems


def same_value(want: Any, got: Any) -> bool:
    """
    Whether two JSON values are equal as PostHog stores them.

    Numbers compare by value (100 equals 100.0), a boolean never equals a number,
    and containers compare item by item.
    """
    if isinstance(want, bool) or isinstance(got, bool):
        return type(want) is type(got) and want == got
    if isinstance(want, dict) and isinstance(got, Mapping):
        return want.keys() == got.keys() and all(
            same_value(value, got[key]) for key, value in want.items()
        )
    if isinstance(want, list) and isinstance(got, list | tuple):
        return len(want) == len(got) and all(
            same_value(a, b) for a, b in zip(want, got, strict=True)
        )
    if isinstance(want, int | float) and isinstance(got, int | float):
        return want == got
    return type(want) is type(got) and bool(want == got)
