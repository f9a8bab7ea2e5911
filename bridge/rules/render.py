"""Plain-text reports for rule authors: explanations and test results, with ✓ and ✗
(and ? for a condition a value left undecided).

Pure string building for ``logbridge explain`` and ``logbridge test``: no colour,
no terminal assumptions, values shown as JSON (the way PostHog will store them),
cut to stay on one line. Line text and property values do appear here: these
reports are for the author at a terminal, never for the daemon's logs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bridge.model import Event
from bridge.rules.cases import CaseResult
from bridge.rules.explain import CheckResult, Explanation, RuleExplanation
from bridge.rules.fieldpaths import MISSING
from bridge.rules.values.failures import NO_MATCH, Failed
from bridge.rules.values.steps import json_text

__all__ = [
    "MAX_VALUE_CHARS",
    "render_case_results",
    "render_explanation",
    "render_value",
]

# Values are cut to this many characters so each condition stays on one line.
MAX_VALUE_CHARS = 80
_OK = "✓"
_FAIL = "✗"
# A condition a value left undecided: neither true nor false.
_UNDECIDED = "?"
_INDENT = "    "
_GROUP_WORDS = {"all": "all of:", "any": "any of:", "not": "not:"}


def render_value(value: Any) -> str:
    """
    A value as compact JSON, cut to ``MAX_VALUE_CHARS``: "missing" when absent, "no
    match" after a step found nothing, "failed (reason)" for a failed value.
    """
    if value is MISSING:
        return "missing"
    if value is NO_MATCH:
        return "no match"
    if isinstance(value, Failed):
        return f"failed ({value.reason})"
    try:
        text = json_text(value)
    except TypeError:
        # Nested past orjson's 254 levels (too deep to show on one line anyway), or
        # a type JSON has no form for.
        text = "<not shown: nested too deeply, or not JSON>"
    if len(text) <= MAX_VALUE_CHARS:
        return text
    return text[: MAX_VALUE_CHARS - 3] + "..."


def _mark(held: bool, *, undecided: bool = False) -> str:
    if undecided:
        return _UNDECIDED
    return _OK if held else _FAIL


def render_explanation(explanation: Explanation) -> str:
    """The explanation as indented lines of text."""
    lines = [f"source {explanation.source}: {render_value(explanation.text)}"]
    if explanation.failure is not None:
        failure = explanation.failure
        detail = f": {failure.detail}" if failure.detail else ""
        lines.append(f"{_FAIL} does not parse: {failure.reason}{detail}")
        return "\n".join(lines)
    fields = explanation.fields or {}
    lines.append(f"{_OK} parsed: {render_value(dict(fields))}")
    moment = explanation.timestamp
    time = moment.isoformat() if moment else "unknown"
    if explanation.time_issue == "future":
        time += " (more than 23 h ahead: PostHog will use its receive time)"
    elif explanation.time_issue:
        what = "read time used"
        if explanation.time_skips:
            # The source's choice; a rule that decides otherwise says so in its note.
            what = "the source skips its events"
        time += f" ({_FAIL} timestamp {explanation.time_issue}: {what})"
    lines.append(f"  time: {time}")
    if not explanation.rules:
        lines.append("  no rule uses this source")
    for verdict in explanation.rules:
        lines.append(f"{_mark(verdict.matched)} rule {verdict.rule} → {verdict.event}")
        lines.extend(_check_lines(verdict.checks, 1))
        if verdict.note:
            lines.append(f"{_INDENT}({verdict.note})")
        lines.extend(f"{_INDENT}{_event_line(event)}" for event in verdict.events)
        lines.extend(_value_lines(verdict))
    return "\n".join(lines)


def _check_lines(checks: Iterable[CheckResult], depth: int) -> list[str]:
    lines: list[str] = []
    pad = _INDENT * depth
    for check in checks:
        mark = _mark(check.held, undecided=check.undecided)
        if check.op in _GROUP_WORDS and not check.field:
            lines.append(f"{pad}{mark} {_GROUP_WORDS[check.op]}")
            lines.extend(_check_lines(check.children, depth + 1))
            continue
        if check.op == "all":
            # One field tested by several operators.
            lines.extend(_check_lines(check.children, depth))
            continue
        operand = render_value(check.operand)
        seen = render_value(check.value)
        note = f": {check.note}" if check.note else ""
        text = f"{check.field} {check.op} {operand} (saw {seen}{note})"
        lines.append(f"{pad}{mark} {text}")
    return lines


def _value_lines(verdict: RuleExplanation) -> list[str]:
    """Each value's stages, and every value that failed."""
    lines: list[str] = []
    for value in verdict.values:
        stages = " → ".join(
            f"{stage} {render_value(result)}" for stage, result in value.stages
        )
        lines.append(f"{_INDENT}  {value.where}: {stages}")
    for issue in verdict.issues:
        lines.append(f"{_INDENT}{_FAIL} {issue.where}: {issue.reason}")
    return lines


def _event_line(event: Event) -> str:
    return (
        f"event {event.name} distinct_id={render_value(event.distinct_id)} "
        f"properties={render_value(dict(event.properties))}"
    )


def render_case_results(results: Sequence[CaseResult]) -> str:
    """Each test's verdict; a failed one with its differences and both event lists."""
    lines: list[str] = []
    for result in results:
        case = result.case
        title = f"{case.file}:{case.line}:{case.col}"
        if case.name:
            title += f" {case.name}"
        lines.append(f"{_mark(result.passed)} {title}")
        lines.extend(f"{_INDENT}{note}" for note in result.notes)
        if result.passed:
            continue
        lines.extend(f"{_INDENT}{problem}" for problem in result.problems)
        lines.extend(_side_by_side(result.expected, result.actual))
    failed = sum(1 for result in results if not result.passed)
    lines.append(f"{len(results) - failed} passed, {failed} failed")
    return "\n".join(lines)


def _side_by_side(
    expected: Sequence[Mapping[str, Any]], actual: Sequence[Mapping[str, Any]]
) -> list[str]:
    left = ["expected:", *_event_rows(expected)]
    right = ["actual:", *_event_rows(actual)]
    width = max(len(row) for row in left)
    rows = max(len(left), len(right))
    left += [""] * (rows - len(left))
    right += [""] * (rows - len(right))
    return [
        f"{_INDENT}{a.ljust(width)} | {b}".rstrip()
        for a, b in zip(left, right, strict=True)
    ]


def _event_rows(events: Sequence[Mapping[str, Any]]) -> list[str]:
    rows: list[str] = []
    if not events:
        rows.append("  (no events)")
    for event in events:
        rows.append(f"  - event: {event['event']}")
        for key in ("distinct_id", "timestamp"):
            if key in event:
                rows.append(f"    {key}: {render_value(event[key])}")
        properties = event.get("properties")
        if properties is not None:
            rows.append("    properties:")
            rows.extend(
                f"      {name}: {render_value(value)}"
                for name, value in properties.items()
            )
    return rows
