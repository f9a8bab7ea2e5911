"""The named groups of a rule's ``regex`` conditions, usable in its values.

::

    when:
      message: {regex: 'Failed password for (?:invalid user )?(?P<user>\\S+) from (?P<ip>\\S+)'}
    properties:
      user: {match: user}              # or in a template: "{$match.user}"
      ip: {match: ip}

Only conditions that hold whenever the rule matches provide captures: the entries
of ``when`` itself and of nested ``all:`` lists, not those under ``any:`` or
``not:`` (which of their regexes matched, if any, is not known). A group name is
defined once per rule.

Invariants: patterns are compiled at load (RE2); a capture is read by searching the
field again, only for records the rule matched, so lines that no rule wants cost
nothing more; a group that took no part in the match gives ``NO_MATCH``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import re2

from bridge.model import Record
from bridge.rules.conditions import FieldCond, GroupCond
from bridge.rules.fieldpaths import Getter
from bridge.rules.schema import Reporter
from bridge.rules.values.failures import NO_MATCH
from bridge.yamlnodes import Key

__all__ = ["Capture", "capture_getter", "collect_captures"]


@dataclass(frozen=True, slots=True)
class Capture:
    """One named group of one regex condition: where to search and what."""

    field: str
    get: Getter
    regex: re2._Regexp[str]
    group: str


def collect_captures(
    rep: Reporter, condition: GroupCond | None
) -> Mapping[str, Capture]:
    """The named groups the rule's always-holding regex conditions define."""
    found: dict[str, Capture] = {}
    if condition is not None:
        _collect(rep, condition, found)
    return found


def _collect(rep: Reporter, cond: GroupCond, found: dict[str, Capture]) -> None:
    if cond.kind != "all":
        return
    for child in cond.children:
        if isinstance(child, GroupCond):
            _collect(rep, child, found)
            continue
        for check in child.checks:
            if check.op == "regex":
                _add(rep, child, re2.compile(check.operand), found)


def _add(
    rep: Reporter,
    cond: FieldCond,
    regex: re2._Regexp[str],
    found: dict[str, Capture],
) -> None:
    for group in regex.groupindex:
        first = found.get(group)
        if first is not None:
            message = (
                f"group {group!r} is captured by two conditions "
                f"({first.field!r} and {cond.path!r})"
            )
            hint = "hint: name the groups apart"
            rep.error(Key(cond.path, cond.line, cond.col), cond.where, message, hint)
            continue
        found[group] = Capture(cond.path, cond.get, regex, group)


def capture_getter(capture: Capture) -> Callable[[Record], Any]:
    """The value of a capture for a record: the group's text, or ``NO_MATCH``."""
    get, search, group = capture.get, capture.regex.search, capture.group

    def captured(record: Record) -> Any:
        value = get(record.fields)
        if not isinstance(value, str):
            return NO_MATCH
        found = search(value)
        if found is None:
            return NO_MATCH
        text: str | None = found.group(group)
        return NO_MATCH if text is None else text

    return captured
