"""A rule's optional features → what ``CompiledRule`` carries for them.

- ``set``, ``set_once``, ``groups`` (``bridge.rules.identity.properties``) and ``exception``
  (``bridge.rules.errortracking.exceptions``) become *extras*: functions that add ``$set``,
  ``$set_once``, ``$groups`` or ``$exception_list`` to the event being built;
- ``sample``, ``rate_limit`` (``bridge.rules.volume.limits``) and ``aggregate``
  (``bridge.rules.volume.aggregate``) become ``Limits``: whether and how often a matched
  record yields an event.

Invariants: like the rest of compilation, every problem is reported and compiling
goes on; ``aggregate`` cannot be combined with ``exception``, ``sample`` or
``rate_limit`` (a summary is neither an exception nor one line's event); person
properties on a rule without distinct_id are warned about, as PostHog drops them.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.rules.errortracking.exceptions import compile_exception
from bridge.rules.identity.properties import compile_groups, compile_person_properties
from bridge.rules.schema import Reporter
from bridge.rules.values.forms import Extra, ValueScope
from bridge.rules.volume.aggregate import Aggregate, compile_aggregate
from bridge.rules.volume.limits import RateLimit, compile_rate_limit, compile_sample
from bridge.yamlnodes import Map, child_path

__all__ = ["Limits", "compile_extras", "compile_limits"]

# Keys that make no sense on a rule that emits summaries instead of events.
_NOT_WITH_AGGREGATE = ("exception", "rate_limit", "sample")
_PERSON_KEYS = (("set", "$set"), ("set_once", "$set_once"))


@dataclass(frozen=True, slots=True)
class Limits:
    """A rule's sample rate, rate limit and aggregation (each None when absent)."""

    sample: float | None
    rate_limit: RateLimit | None
    aggregate: Aggregate | None


def compile_extras(
    rep: Reporter, mapping: Map, path: str, scope: ValueScope
) -> tuple[Extra, ...] | None:
    """Compile set, set_once, groups and exception into property adders."""
    personless = mapping.get("distinct_id") is None
    compiled: list[Extra | None] = []
    for key, prop in _PERSON_KEYS:
        node = mapping.get(key)
        if node is None:
            continue
        where = child_path(path, key)
        extra = compile_person_properties(rep, node, where, scope, prop)
        if extra is not None and personless:
            hint = "hint: PostHog ignores person properties of personless events"
            rep.warning(node, where, f"{key} has no effect without distinct_id", hint)
        compiled.append(extra)
    node = mapping.get("groups")
    if node is not None:
        compiled.append(compile_groups(rep, node, child_path(path, "groups"), scope))
    node = mapping.get("exception")
    if node is not None:
        where = child_path(path, "exception")
        compiled.append(compile_exception(rep, node, where, scope))
    extras = tuple(extra for extra in compiled if extra is not None)
    return extras if len(extras) == len(compiled) else None


def compile_limits(
    rep: Reporter, mapping: Map, path: str, scope: ValueScope
) -> Limits | None:
    """Compile sample, rate_limit and aggregate."""
    ok = True
    sample = None
    node = mapping.get("sample")
    if node is not None:
        ok, sample = compile_sample(rep, node, child_path(path, "sample"))
    rate_limit = None
    node = mapping.get("rate_limit")
    if node is not None:
        rate_limit = compile_rate_limit(
            rep, node, child_path(path, "rate_limit"), scope
        )
        ok = ok and rate_limit is not None
    aggregate = None
    node = mapping.get("aggregate")
    if node is not None:
        aggregate = compile_aggregate(rep, node, child_path(path, "aggregate"), scope)
        ok = ok and aggregate is not None
        for key in _NOT_WITH_AGGREGATE:
            other = mapping.get(key)
            if other is not None:
                message = f"{key} cannot be combined with aggregate"
                hint = "hint: an aggregate rule emits one summary per window"
                rep.error(other, child_path(path, key), message, hint)
                ok = False
    return Limits(sample, rate_limit, aggregate) if ok else None
