"""The compiled rules: immutable values the daemon applies to every record.

Invariants:

- ``RuleSet.apply`` runs the rules of the record's source in file order; a record
  may match several rules, and each emits its own event.
- An event's uuid is ``event_uuid(source, file_id, offset, rule name)``: re-reading a
  line yields the same uuid, so PostHog collapses the copies (DESIGN.md). A summary
  of an ``aggregate`` rule has ``aggregate_uuid(source, rule, window, group)``.
- A rule without a distinct_id, or whose distinct_id comes out missing or null,
  emits a personless event: distinct_id = the event's uuid and
  ``$process_person_profile: false`` (reference/posthog-capture.md §8).
- A rule whose ``when`` a value kept from deciding (a duration bound over text
  that is no duration: ``bridge.rules.conditions``) does not match, and that is
  recorded as an ``Issue`` (``when.took: not_duration``) in the caller's list, by
  ``apply`` and by the function ``matching`` gives.
- A value that fails (``bridge.rules.values.failures.Failed``) is replaced as its
  ``on_error`` says, and recorded as an ``Issue`` in the list the caller passes
  (the ``RuleState``'s); with ``on_error: skip`` the rule emits nothing for the
  record, and that is recorded too (``event: skipped``). A record's time that is
  missing or does not parse is recorded for each rule it matched, and each of
  them decides alone what that gives: by its own ``timestamp_on_error``, else by
  its source's ``on_error`` (``read_time`` by default): an event at the read
  time, or none (recorded as ``event: skipped``); a time more than
  ``FUTURE_LIMIT`` ahead of the read time is recorded too, as PostHog will
  replace it with the time it receives the event.
- A record whose time parses costs what it always did: the rules' choices are
  looked at only when it fails.
- The RuleSet is immutable and ``apply(record)`` is pure: the same record always
  gives the same events. What needs memory (rate limits, aggregation windows) lives
  in a ``bridge.rules.state.RuleState`` the caller owns and passes in; without one,
  rate limits are not applied and aggregate rules emit nothing.
- A rule that uses none of sample, rate_limit and aggregate costs what it always
  did: one flag test picks the plain path.
- Nothing here raises for any record content, and nothing is validated or compiled
  per line: every decision was made in ``bridge.rules.compiler``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from bridge.errors import Problem
from bridge.model import Event, Record, event_uuid
from bridge.parse import Assembler, MultilineSpec, ParseFailure, Parser
from bridge.parse.jsonl import DEFAULT_MAX_DEPTH
from bridge.rules.conditions import GroupCond, Predicate
from bridge.rules.fieldpaths import MISSING
from bridge.rules.identity.forms import IdentityForm
from bridge.rules.identity.ids import IdPolicy
from bridge.rules.layers import Layer, Refiner
from bridge.rules.timestamps import TimeOnError, TimestampFn
from bridge.rules.values.failures import Failed, Issue, TraceFn, settle
from bridge.rules.values.forms import Extra, ValueFn
from bridge.rules.volume.aggregate import Aggregate
from bridge.rules.volume.limits import RateLimit, is_sampled_in, sample_threshold
from bridge.rules.volume.windows import Window, aggregate_uuid, from_us

if TYPE_CHECKING:
    from bridge.rules.state import RuleState

__all__ = [
    "FUTURE_LIMIT",
    "PERSONLESS_PROPERTY",
    "CompiledRule",
    "ExpectedEvent",
    "RuleCase",
    "RuleSet",
    "SourceDef",
    "settle_failed_time",
]

# PostHog skips person processing for events that carry this property set to false.
PERSONLESS_PROPERTY = "$process_person_profile"
# A rule's geoip: PostHog geolocates an event (its $ip) unless this is true.
GEOIP_PROPERTY = "$geoip_disable"
# Capture replaces a timestamp more than 23 hours ahead of its clock with its receive
# time (reference/posthog-capture.md §7, §9), so a resend would not collapse.
FUTURE_LIMIT = timedelta(hours=23)

StartAt = Literal["end", "beginning"]


@dataclass(frozen=True, slots=True)
class SourceDef:
    """
    A source of log lines: which files, how their lines parse, where time comes from.

    ``digest`` changes exactly when the source's definition in the rule file changes,
    so a reload can tell changed sources from unchanged ones. ``fields`` is every
    field the parser can produce (a regex source's group names), None when any
    field may appear. ``multiline`` is the spec of a multi-line source. ``joins``,
    when set, makes the assembler that joins a file's
    lines before they are parsed (a multi-line record, a long container line);
    ``parser`` then reads what it joined. ``refine`` applies the ``parse:`` layers
    (``bridge.rules.layers``) to a record's fields.
    """

    name: str
    paths: tuple[str, ...]
    format: str
    start_at: StartAt
    digest: str
    parser: Parser = field(repr=False, compare=False)
    timestamp_of: TimestampFn = field(repr=False, compare=False)
    fields: frozenset[str] | None = None
    multiline: MultilineSpec | None = None
    joins: Callable[[], Assembler] | None = field(
        default=None, repr=False, compare=False
    )
    layers: tuple[Layer, ...] = ()
    refine: Refiner | None = field(default=None, repr=False, compare=False)
    # How deep a JSON line may nest (read.max_depth).
    max_depth: int = DEFAULT_MAX_DEPTH

    def parse(self, text: str) -> dict[str, Any] | ParseFailure:
        """Parse one line with the source's parser and its layers; never raises."""
        return self.read(text)[0]

    def read(self, text: str) -> tuple[dict[str, Any] | ParseFailure, tuple[str, ...]]:
        """
        Parse one line; also return the layers that failed ("field: reason").

        With a layer's ``on_error: skip``, its failure is the line's: a
        ``ParseFailure`` whose reason is the layer's.
        """
        fields = self.parser(text)
        if self.refine is None or isinstance(fields, ParseFailure):
            return fields, ()
        failed, skip = self.refine(fields)
        if skip:
            return ParseFailure(failed[-1]), failed[:-1]
        return fields, failed


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """
    One rule: its condition, its event name and how its values are computed.

    ``digest`` changes exactly when the rule's definition changes (see SourceDef).
    ``condition`` is the tree ``matches`` was made from (None: no ``when``), for
    ``explain``. ``extras`` add $set, $set_once, $groups and $exception properties.
    ``file`` is the display name of the rule file that defines it; ``traces`` say,
    for ``explain``, how each of its values is computed, by where it sits
    (``properties.amount``). ``doubt``, for a rule whose condition may be undecided,
    gives the issue to count for fields it leaves undecided (None otherwise).
    ``timestamp_on_error`` is what a record whose time failed gives this rule (None:
    what its source's ``on_error`` says).
    """

    name: str
    source: str
    event: str
    digest: str
    matches: Predicate = field(repr=False, compare=False)
    distinct_id: ValueFn | None = field(repr=False, compare=False)
    properties: tuple[tuple[str, ValueFn], ...] = field(repr=False, compare=False)
    extras: tuple[Extra, ...] = field(default=(), repr=False, compare=False)
    condition: GroupCond | None = field(default=None, repr=False, compare=False)
    sample: float | None = None
    rate_limit: RateLimit | None = None
    aggregate: Aggregate | None = None
    # Who its events are about: distinct_id problems and person profiles, and the
    # identity event it makes, if any (bridge.rules.identity).
    id_policy: IdPolicy = field(default=IdPolicy(), compare=False)
    identity: IdentityForm | None = field(default=None, repr=False, compare=False)
    # Geolocation of its events: True on, False off, None as configured.
    geoip: bool | None = None
    timestamp_on_error: TimeOnError | None = None
    file: str = field(default="", compare=False)
    traces: tuple[tuple[str, TraceFn], ...] = field(
        default=(), repr=False, compare=False
    )
    doubt: Callable[[Mapping[str, Any]], Issue | None] | None = field(
        default=None, repr=False, compare=False
    )
    is_plain: bool = field(init=False, repr=False, compare=False)
    _sample_below: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        plain = self.sample is None and self.rate_limit is None
        object.__setattr__(self, "is_plain", plain and self.aggregate is None)
        below = sample_threshold(self.sample) if self.sample is not None else 0
        object.__setattr__(self, "_sample_below", below)

    def build(
        self,
        record: Record,
        timestamp: datetime,
        uuid: str = "",
        issues: list[Issue] | None = None,
    ) -> Event | None:
        """
        Build the event this rule emits for a record it matches; None when a value
        failed with ``on_error: skip``. Failed values are added to ``issues``.
        """
        line = record.line
        uuid = uuid or event_uuid(line.source, line.file_id, line.offset, self.name)
        failed: list[Failed] = []
        properties = self._properties(record, failed)
        if self.geoip is not None:
            properties[GEOIP_PROPERTY] = not self.geoip
        distinct_id: str | None = None
        personless = True
        if self.distinct_id is not None:
            value = self.distinct_id(record)
            counted = type(value) is Failed
            value = settle(value, failed)
            distinct_id, personless = self.id_policy.settle(value, failed, counted)
        for extra in self.extras:
            extra(record, properties, personless, failed)
        identity = self.identity
        if identity is not None and distinct_id is not None:
            identity.complete(record, distinct_id, properties, failed)
        if failed and self._settle(failed, issues):
            return None
        if distinct_id is None:
            distinct_id = uuid
        if personless:
            properties[PERSONLESS_PROPERTY] = False
        # Positional: keywords double the cost of building an Event.
        return Event(
            uuid,
            self.event,
            distinct_id,
            timestamp,
            properties,
            self.name,
            line.source,
            line.offset,
        )

    def _properties(self, record: Record, failed: list[Failed]) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        for name, value_of in self.properties:
            value = value_of(record)
            if value is MISSING:
                continue
            if type(value) is Failed:
                failed.append(value)
                value = value.fallback
                if value is MISSING:
                    continue
            properties[name] = value
        return properties

    def _settle(self, failed: list[Failed], issues: list[Issue] | None) -> bool:
        """Record the failed values; whether one of them skips the event."""
        skip = any(value.skip for value in failed)
        if issues is not None:
            issues.extend(
                Issue(self.name, value.where, value.reason, value.detail)
                for value in failed
            )
            if skip:
                issues.append(Issue(self.name, "event", "skipped"))
        return skip

    def emit(
        self,
        record: Record,
        timestamp: datetime,
        state: RuleState | None,
        events: list[Event],
    ) -> None:
        """Append what a matched record yields, given sample, rate_limit, aggregate."""
        if self.aggregate is not None:
            if state is not None:
                events.extend(state.aggregate(self, record, timestamp))
            return
        line = record.line
        uuid = event_uuid(line.source, line.file_id, line.offset, self.name)
        if not self.is_sampled_in(uuid):
            if state is not None:
                state.sampled_out[self.name] += 1
            return
        if state is not None and not state.admit(self, record, timestamp):
            return
        event = self.build(record, timestamp, uuid, state.issues if state else None)
        if event is not None:
            events.append(event)

    def skips_failed_time(self, found: Failed) -> bool:
        """
        Whether a record whose time failed gives this rule no event: as its own
        ``timestamp_on_error`` says, else as its source's (``found.skip``).
        """
        if self.timestamp_on_error is None:
            return found.skip
        return self.timestamp_on_error == "skip"

    def is_sampled_in(self, uuid: str) -> bool:
        """Whether ``sample`` keeps the event with this uuid (always without one)."""
        return self.sample is None or is_sampled_in(uuid, self._sample_below)

    def summarize(
        self, window: Window, issues: list[Issue] | None = None
    ) -> Event | None:
        """
        The summary event of an aggregate rule's closed window (None: skipped).

        Values (distinct_id, properties, set, groups) come from the window's first
        record; the counted properties win over properties of the same name.
        """
        uuid = aggregate_uuid(self.source, self.name, window.start_us, window.keys)
        event = self.build(window.first, from_us(window.start_us), uuid, issues)
        if event is None:
            return None
        counted = window.properties()
        return replace(event, properties={**event.properties, **counted})


def _judged(
    rules: Sequence[CompiledRule], fields: Mapping[str, Any], issues: list[Issue]
) -> list[CompiledRule]:
    """The rules that accept the fields; those the fields leave undecided, noted."""
    matched = []
    for rule in rules:
        if rule.matches(fields):
            matched.append(rule)
        elif rule.doubt is not None:
            issue = rule.doubt(fields)
            if issue is not None:
                issues.append(issue)
    return matched


def settle_failed_time(
    found: Failed, rules: Sequence[CompiledRule], issues: list[Issue] | None
) -> list[CompiledRule]:
    """
    The rules, of those that matched a record whose time failed, that still emit
    (at the record's read time), each as ``skips_failed_time`` decides; the failure
    is recorded for every rule, and ``event: skipped`` for each that does not emit.
    """
    kept = []
    for rule in rules:
        skips = rule.skips_failed_time(found)
        if issues is not None:
            issues.append(Issue(rule.name, found.where, found.reason))
            if skips:
                issues.append(Issue(rule.name, "event", "skipped"))
        if not skips:
            kept.append(rule)
    return kept


@dataclass(frozen=True, slots=True)
class ExpectedEvent:
    """
    One event a rule-file test expects.

    ``properties`` must match on the keys listed, or on the whole map when
    ``exact``; ``distinct_id`` and ``timestamp`` are checked when given.
    """

    event: str
    distinct_id: str | None = None
    properties: Mapping[str, Any] | None = None
    exact: bool = False
    timestamp: datetime | None = None


@dataclass(frozen=True, slots=True)
class RuleCase:
    """
    One entry of a rule file's ``tests:``, validated at load (``bridge.rules.cases``);
    ``read_at`` is when its lines were read (None: when the runner says).
    """

    file: str
    line: int
    col: int
    name: str
    source: str
    lines: tuple[str, ...]
    expect: tuple[ExpectedEvent, ...]
    read_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RuleSet:
    """
    Every source and rule of a set of rule files, compiled; immutable.

    ``digest`` is the sha256 of the files' names and texts (the "rules hash");
    ``files`` the display names of the rule files it was compiled from.
    """

    sources: tuple[SourceDef, ...] = ()
    rules: tuple[CompiledRule, ...] = ()
    files: tuple[str, ...] = ()
    warnings: tuple[Problem, ...] = ()
    digest: str = ""
    cases: tuple[RuleCase, ...] = ()
    _plan: Mapping[str, tuple[TimestampFn, tuple[CompiledRule, ...], bool]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        # Per source, its time extractor, its rules in file order, and whether one
        # of them may be undecided: apply() then does one dict lookup per record.
        plan = {}
        for source in self.sources:
            rules = tuple(rule for rule in self.rules if rule.source == source.name)
            doubts = any(rule.doubt is not None for rule in rules)
            plan[source.name] = (source.timestamp_of, rules, doubts)
        object.__setattr__(self, "_plan", MappingProxyType(plan))

    def source(self, name: str) -> SourceDef | None:
        """Return the source called ``name``, or None."""
        for source in self.sources:
            if source.name == name:
                return source
        return None

    def rule(self, name: str) -> CompiledRule | None:
        """Return the rule called ``name``, or None."""
        for rule in self.rules:
            if rule.name == name:
                return rule
        return None

    def matching(
        self, source: str, issues: list[Issue] | None = None
    ) -> Callable[[Mapping[str, Any]], tuple[CompiledRule, ...]]:
        """
        A function giving the rules of ``source`` whose conditions accept a record's
        fields, in file order (for ``emit``); the rules a record's fields leave
        undecided are recorded in ``issues`` (when given).

        Fields no rule accepts yield no event, so a caller may skip building their
        record; fields some rule accepts may still yield none (sample, rate_limit,
        an aggregation).
        """
        plan = self._plan.get(source)
        rules = plan[1] if plan is not None else ()
        if plan is not None and plan[2] and issues is not None:
            noted = issues
            return lambda fields: tuple(_judged(rules, fields, noted))
        if len(rules) == 1:
            (rule,) = rules
            test, hit = rule.matches, rules
            return lambda fields: hit if test(fields) else ()
        return lambda fields: tuple(rule for rule in rules if rule.matches(fields))

    def apply(self, record: Record, state: RuleState | None = None) -> list[Event]:
        """
        Return the events the record's source's rules emit for it, in file order.

        With ``state``, rate limits apply and aggregate rules count the record (and
        emit the summaries of windows its timestamp closes); without, neither.
        """
        plan = self._plan.get(record.line.source)
        if plan is None:
            return []
        fields = record.fields
        if plan[2] and state is not None:
            return self.emit(record, _judged(plan[1], fields, state.issues), state)
        return self.emit(
            record, [rule for rule in plan[1] if rule.matches(fields)], state
        )

    def emit(
        self,
        record: Record,
        rules: Sequence[CompiledRule],
        state: RuleState | None = None,
    ) -> list[Event]:
        """``apply`` for a record that ``rules`` (from ``matching``) accept."""
        events: list[Event] = []
        if not rules:
            return events
        issues = state.issues if state is not None else None
        timestamp = self._plan[record.line.source][0](record)
        if isinstance(timestamp, Failed):
            rules = settle_failed_time(timestamp, rules, issues)
            timestamp = record.read_at
        elif issues is not None and timestamp - record.read_at > FUTURE_LIMIT:
            issues.extend(Issue(rule.name, "timestamp", "future") for rule in rules)
        for rule in rules:
            if rule.is_plain:
                event = rule.build(record, timestamp, "", issues)
                if event is not None:
                    events.append(event)
            else:
                rule.emit(record, timestamp, state, events)
        return events

    def flush(self, state: RuleState, *, now: datetime | None) -> list[Event]:
        """
        Emit and forget the aggregate windows that are due.

        Due: a window whose end plus grace is at or before ``now`` and whose last
        line was read at least the grace before ``now`` (a backlog being read does
        not close the windows it is still filling). ``now=None`` flushes every
        window: the end of a replay or of ``run --once``.
        """
        return state.flush(now)
