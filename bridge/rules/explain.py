"""Why a log line does or does not become events: ``explain`` for rule authors.

For one line of a source: how it parsed (or why not), its event time, and for
each rule of that source every condition of its ``when`` (the field path, the
operator, the operand, the value seen, whether it held, nested all/any/not), and
what the rule would emit: each value's stages (the field, what each step made of
it, the converted value) and every value that failed, with why. A condition a value
left undecided (a duration bound over text that is no duration) says so, and why,
and so does the rule, with the issue it counts. A time that failed is shown with
what each matched rule does about it (its ``timestamp_on_error``, else the
source's ``on_error``), decided by the function ``RuleSet.apply`` uses, with the
issues it counts.

Invariants: pure, and judged exactly as ``RuleSet.apply`` judges: the walk goes
over the condition tree each rule was compiled from (``CompiledRule.condition``),
whose checks are the very functions the rule's predicate calls; unlike the
predicate, it does not stop at the first failing condition, so every one is shown.
No state is involved: rate limits are not applied, a sampled rule shows its event
with the share of lines it keeps (which ones depends on their place in their file),
and an aggregate rule shows the window the line would be counted in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bridge.model import Event, Line, Record
from bridge.parse import ParseFailure
from bridge.rules.conditions import Check, Cond, FieldCond
from bridge.rules.ruleset import (
    FUTURE_LIMIT,
    CompiledRule,
    RuleSet,
    settle_failed_time,
)
from bridge.rules.values.failures import Failed, Issue
from bridge.rules.volume.windows import from_us, to_us

__all__ = [
    "EXPLAIN_FILE_ID",
    "CheckResult",
    "Explanation",
    "RuleExplanation",
    "ValueExplanation",
    "explain",
]

# The file id of the explained line; its uuids never match a real file's.
EXPLAIN_FILE_ID = "explain"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """
    One condition and how it judged the line.

    A field check has ``field`` (the path as written), ``op`` and ``operand`` and
    the ``value`` seen (``MISSING`` when absent); a group has ``op`` all, any or
    not and its ``children``; a value-level ``not`` has both. ``undecided``: the
    condition is neither true nor false (``held`` is then false), a check because
    it could not read its value (``note`` says why), a group because of one.
    """

    op: str
    held: bool
    field: str = ""
    operand: Any = None
    value: Any = None
    children: tuple[CheckResult, ...] = ()
    note: str = ""
    undecided: bool = False


@dataclass(frozen=True, slots=True)
class ValueExplanation:
    """
    How one value of a matched rule came out: ``where`` it sits in the rule
    (``properties.amount``) and its stages, (stage, value after it), the last one
    being ("result", the value); a failed one ends in a ``Failed``.
    """

    where: str
    stages: tuple[tuple[str, Any], ...]


@dataclass(frozen=True, slots=True)
class RuleExplanation:
    """
    One rule of the source: its conditions, whether it matched, what it emits,
    how each of its values was computed and which failed.
    """

    rule: str
    event: str
    matched: bool
    checks: tuple[CheckResult, ...]
    events: tuple[Event, ...]
    note: str = ""
    values: tuple[ValueExplanation, ...] = ()
    issues: tuple[Issue, ...] = ()


@dataclass(frozen=True, slots=True)
class Explanation:
    """The parse of one line and the verdict of each rule of its source."""

    source: str
    text: str
    fields: Mapping[str, Any] | None
    failure: ParseFailure | None
    timestamp: datetime | None
    rules: tuple[RuleExplanation, ...]
    # What went wrong with the line's time ("unparsed", "missing", "future"), if
    # anything, and whether the source's on_error skips the events of such a line
    # (each rule's verdict says what the rule does).
    time_issue: str = ""
    time_skips: bool = False


def explain(
    ruleset: RuleSet, source_name: str, text: str, *, read_at: datetime
) -> Explanation:
    """
    Explain what the rules of ``source_name`` make of one line (or record) of text.

    Raises:
        ValueError: no source is called ``source_name``.
    """
    source = ruleset.source(source_name)
    if source is None:
        known = ", ".join(s.name for s in ruleset.sources) or "none"
        message = f"unknown source {source_name!r}; expected one of {known}"
        raise ValueError(message)
    parsed = source.parse(text)
    if isinstance(parsed, ParseFailure):
        return Explanation(source_name, text, None, parsed, None, ())
    record = Record(Line(source_name, EXPLAIN_FILE_ID, 0, text), parsed, read_at)
    found = source.timestamp_of(record)
    failed: Failed | None = None
    issue = ""
    if isinstance(found, Failed):
        failed, issue, timestamp = found, found.reason, read_at
    else:
        timestamp = found
        if found - read_at > FUTURE_LIMIT:
            issue = "future"
    verdicts = tuple(
        _explain_rule(rule, record, timestamp, failed)
        for rule in ruleset.rules
        if rule.source == source_name
    )
    skips = failed is not None and failed.skip
    return Explanation(
        source_name, text, parsed, None, timestamp, verdicts, issue, skips
    )


def _explain_rule(
    rule: CompiledRule, record: Record, timestamp: datetime, failed: Failed | None
) -> RuleExplanation:
    checks: tuple[CheckResult, ...] = ()
    if rule.condition is not None:
        checks = _explain_cond(rule.condition, record.fields).children
    matched = rule.matches(record.fields)
    if not matched:
        doubt = rule.doubt(record.fields) if rule.doubt is not None else None
        doubts = () if doubt is None else (doubt,)
        return RuleExplanation(rule.name, rule.event, False, checks, (), issues=doubts)
    issues: list[Issue] = []
    time_note = ""
    if failed is not None:
        kept = settle_failed_time(failed, (rule,), issues)
        time_note = _time_note(rule, skips=not kept)
        if not kept:
            return RuleExplanation(
                rule.name, rule.event, True, checks, (), time_note, (), tuple(issues)
            )
    events, note = _outcome(rule, record, timestamp, issues)
    note = "; ".join(part for part in (time_note, note) if part)
    values = tuple(
        ValueExplanation(where, tuple(trace(record))) for where, trace in rule.traces
    )
    return RuleExplanation(
        rule.name, rule.event, True, checks, events, note, values, tuple(issues)
    )


def _time_note(rule: CompiledRule, *, skips: bool) -> str:
    """What a rule does with a line whose time failed, and who decided it."""
    if rule.timestamp_on_error is None:
        if skips:
            return "no event: the line's time failed and the source says on_error: skip"
        return ""
    if skips:
        return (
            "no event: the line's time failed and the rule says timestamp_on_error: "
            "skip"
        )
    return (
        "the line's time failed: read time used, as the rule says "
        "timestamp_on_error: read_time"
    )


def _outcome(
    rule: CompiledRule, record: Record, timestamp: datetime, issues: list[Issue]
) -> tuple[tuple[Event, ...], str]:
    """What a matched rule yields for the line, without any state."""
    spec = rule.aggregate
    if spec is not None:
        at = to_us(timestamp)
        start = from_us(at - at % spec.window_us).isoformat()
        seconds = spec.window_us / 1_000_000
        note = f"counted in the {seconds:g} s window starting {start}"
        return (), note
    notes = []
    if rule.sample is not None:
        # Which lines a sample keeps depends on where they sit in their file,
        # which an explained line does not have.
        share = f"{rule.sample * 100:g}%"
        notes.append(f"sample {rule.sample:g}: about {share} of such lines are sent")
    if rule.rate_limit is not None:
        limit = rule.rate_limit
        notes.append(
            f"subject to rate_limit {limit.events} per {limit.per_seconds:g} s"
        )
    event = rule.build(record, timestamp, "", issues)
    if event is None:
        notes.append("no event: a value failed with on_error: skip")
        return (), "; ".join(notes)
    return (event,), "; ".join(notes)


def _explain_cond(cond: Cond, fields: Mapping[str, Any]) -> CheckResult:
    if isinstance(cond, FieldCond):
        value = cond.get(fields)
        results = tuple(
            _explain_check(check, cond.path, value) for check in cond.checks
        )
        if len(results) == 1:
            return results[0]
        held, undecided = _combine("all", results)
        return CheckResult(
            "all", held, cond.path, children=results, undecided=undecided
        )
    children = tuple(_explain_cond(child, fields) for child in cond.children)
    held, undecided = _combine(cond.kind, children)
    return CheckResult(cond.kind, held, children=children, undecided=undecided)


def _explain_check(check: Check, path: str, value: Any) -> CheckResult:
    if check.inner:  # a value-level not
        inner = tuple(_explain_check(item, path, value) for item in check.inner)
        held, undecided = _combine("not", (_summary(inner),))
        return CheckResult(
            check.op, held, path, check.operand, value, inner, undecided=undecided
        )
    held = check.test(value)
    note = ""
    if not held and check.unreadable is not None:
        note = check.unreadable(value)
    return CheckResult(
        check.op, held, path, check.operand, value, note=note, undecided=bool(note)
    )


def _summary(results: tuple[CheckResult, ...]) -> CheckResult:
    """Several checks on one value, as the one result they make together."""
    held, undecided = _combine("all", results)
    return CheckResult("all", held, undecided=undecided)


def _combine(kind: str, results: tuple[CheckResult, ...]) -> tuple[bool, bool]:
    """
    (held, undecided) of ``all``, ``any`` or ``not`` over results, as
    ``bridge.rules.conditions`` judges: a decided result decides when it can.
    """
    if kind == "not":
        (inner,) = results
        return (False, True) if inner.undecided else (not inner.held, False)
    decisive = kind == "any"
    if any(r.held is decisive and not r.undecided for r in results):
        return decisive, False
    if any(r.undecided for r in results):
        return False, True
    return not decisive, False
