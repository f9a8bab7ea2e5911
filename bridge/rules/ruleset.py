"""The compiled rules: immutable values the daemon applies to every record.

Invariants:

- ``RuleSet.apply`` runs the rules of the record's source in file order; a record
  may match several rules, and each emits its own event.
- An event's uuid is ``event_uuid(source, file_id, offset, rule name)``: re-reading a
  line yields the same uuid, so PostHog collapses the copies (DESIGN.md).
- A rule without a distinct_id, or whose distinct_id comes out missing or null,
  emits a personless event: distinct_id = the event's uuid and
  ``$process_person_profile: false`` (reference/posthog-capture.md §8).
- Nothing here raises for any record content, and nothing is validated or compiled
  per line: every decision was made in ``bridge.rules.compiler``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Literal

from bridge.errors import Problem
from bridge.model import Event, Record, event_uuid
from bridge.parse import ParseFailure, Parser
from bridge.rules.coercions import render_text
from bridge.rules.conditions import Predicate
from bridge.rules.fieldpaths import MISSING
from bridge.rules.mappings import ValueFn
from bridge.rules.timestamps import TimestampFn

__all__ = ["PERSONLESS_PROPERTY", "CompiledRule", "RuleCase", "RuleSet", "SourceDef"]

# PostHog skips person processing for events that carry this property set to false.
PERSONLESS_PROPERTY = "$process_person_profile"

StartAt = Literal["end", "beginning"]


@dataclass(frozen=True, slots=True)
class SourceDef:
    """
    A source of log lines: which files, how their lines parse, where time comes from.

    ``digest`` changes exactly when the source's definition in the rule file changes,
    so a reload can tell changed sources from unchanged ones.
    """

    name: str
    paths: tuple[str, ...]
    format: str
    start_at: StartAt
    digest: str
    parser: Parser = field(repr=False, compare=False)
    timestamp_of: TimestampFn = field(repr=False, compare=False)

    def parse(self, text: str) -> dict[str, Any] | ParseFailure:
        """Parse one line with the source's parser; never raises."""
        return self.parser(text)


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """
    One rule: its condition, its event name and how its values are computed.

    ``digest`` changes exactly when the rule's definition changes (see SourceDef).
    """

    name: str
    source: str
    event: str
    digest: str
    matches: Predicate = field(repr=False, compare=False)
    distinct_id: ValueFn | None = field(repr=False, compare=False)
    properties: tuple[tuple[str, ValueFn], ...] = field(repr=False, compare=False)

    def build(self, record: Record, timestamp: datetime) -> Event:
        """Build the event this rule emits for a record it matches."""
        line = record.line
        uuid = event_uuid(line.source, line.file_id, line.offset, self.name)
        properties: dict[str, Any] = {}
        for name, value_of in self.properties:
            value = value_of(record)
            if value is not MISSING:
                properties[name] = value
        distinct_id = _distinct_id(self.distinct_id, record)
        if distinct_id is None:
            distinct_id = uuid
            properties[PERSONLESS_PROPERTY] = False
        return Event(
            uuid=uuid,
            name=self.event,
            distinct_id=distinct_id,
            timestamp=timestamp,
            properties=properties,
            rule=self.name,
            source=line.source,
        )


def _distinct_id(value_of: ValueFn | None, record: Record) -> str | None:
    if value_of is None:
        return None
    value = value_of(record)
    if value is None:
        # PostHog reads a null distinct_id as absent (reference §2); the string
        # "null" would merge every such line into one person.
        return None
    text = render_text(value)
    return text if isinstance(text, str) else None


@dataclass(frozen=True, slots=True)
class RuleCase:
    """One entry of a rule file's ``tests:``, kept as plain data for later runs."""

    file: str
    line: int
    col: int
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class RuleSet:
    """
    Every source and rule of a set of rule files, compiled; immutable.

    ``digest`` is the sha256 of the files' names and texts (the "rules hash").
    """

    sources: tuple[SourceDef, ...] = ()
    rules: tuple[CompiledRule, ...] = ()
    warnings: tuple[Problem, ...] = ()
    digest: str = ""
    cases: tuple[RuleCase, ...] = ()
    _plan: Mapping[
        str, tuple[Callable[[Record], datetime], tuple[CompiledRule, ...]]
    ] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Per source, its time extractor and its rules in file order: apply() then
        # does one dict lookup per record.
        plan = {
            source.name: (
                source.timestamp_of,
                tuple(rule for rule in self.rules if rule.source == source.name),
            )
            for source in self.sources
        }
        object.__setattr__(self, "_plan", MappingProxyType(plan))

    def source(self, name: str) -> SourceDef | None:
        """Return the source called ``name``, or None."""
        for source in self.sources:
            if source.name == name:
                return source
        return None

    def apply(self, record: Record) -> list[Event]:
        """
        Return the events the record's source's rules emit for it, in file order.
        """
        plan = self._plan.get(record.line.source)
        if plan is None:
            return []
        timestamp_of, rules = plan
        fields = record.fields
        events: list[Event] = []
        timestamp: datetime | None = None
        for rule in rules:
            if rule.matches(fields):
                if timestamp is None:
                    timestamp = timestamp_of(record)
                events.append(rule.build(record, timestamp))
        return events
