"""A rule's ``aggregate:`` → one summary event per time window and group.

Shape::

    aggregate:
      window_seconds: 60              # ≥ 1; windows aligned to the Unix epoch
      group_by: [fields.cache, {region: fields.geo.region}]   # optional
      count: hits                     # property holding the number of records
      sum: {bytes: fields.size}       # property: field, for sum, min, max, avg
      min: {...}
      max: {...}
      avg: {...}

A group key becomes a property named after the last segment of its path, or as
given with ``{name: path}``; an absent key is a group of its own, sent without
that property. A numeric field (or numeric string) counts towards sum, min, max
and avg; anything else is skipped there (the record still counts). A window with
no number for min, max or avg leaves that property out; sum is then 0.

Invariants:

- Window membership is by event time: a record belongs to the window holding its
  timestamp, whenever it is read.
- The summary's uuid is a UUIDv5 of (source, rule, window start, group key values)
  and its timestamp the window start: replaying the same lines gives the same
  events, and a resend after a crash collapses in PostHog.
- The compiled ``Aggregate`` is immutable; the running totals are mutable and live
  in ``bridge.rules.volume.windows.OpenWindows``, owned by ``bridge.rules.state.RuleState``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from bridge.rules.fieldpaths import Getter, compile_getter, parse_field_path
from bridge.rules.schema import (
    Reporter,
    check_keys,
    expect_list,
    expect_map,
    expect_str,
    node_digest,
    one_of,
)
from bridge.rules.values.forms import ValueScope
from bridge.yamlnodes import (
    Key,
    Map,
    Node,
    Scalar,
    child_path,
    describe,
    item_path,
)

__all__ = ["METRICS", "Aggregate", "Metric", "compile_aggregate"]

Metric = Literal["avg", "max", "min", "sum"]
METRICS: tuple[Metric, ...] = ("sum", "min", "max", "avg")

_KEYS = ("avg", "count", "group_by", "max", "min", "sum", "window_seconds")
_SECOND_US = 1_000_000


@dataclass(frozen=True, slots=True)
class Aggregate:
    """A compiled ``aggregate``: window length, group keys and metrics."""

    window_us: int
    grace_us: int
    group_by: tuple[tuple[str, Getter], ...] = field(compare=False)
    count: str | None
    metrics: tuple[tuple[Metric, str, Getter], ...] = field(compare=False)
    digest: str


def compile_aggregate(
    rep: Reporter, node: Node, path: str, scope: ValueScope
) -> Aggregate | None:
    """Compile an ``aggregate`` mapping; None after reporting what is wrong."""
    mapping = expect_map(rep, node, path)
    if mapping is None:
        return None
    ok = check_keys(rep, mapping, path, _KEYS, required=("window_seconds",))
    seconds = _window_seconds(rep, mapping.get("window_seconds"), path)
    names: dict[str, Node | Key] = {}
    group_by = _group_by(rep, mapping.get("group_by"), path, scope, names)
    count = _count(rep, mapping.get("count"), path, names)
    metrics: list[tuple[Metric, str, Getter]] = []
    for metric in METRICS:
        compiled = _metric(rep, mapping.get(metric), child_path(path, metric), scope)
        ok = ok and compiled is not None
        for key, get in compiled or ():
            where = child_path(child_path(path, metric), key.text)
            ok = _claim(rep, names, key.text, key, where) and ok
            metrics.append((metric, key.text, get))
    if ok and count is None and not metrics and mapping.get("count") is None:
        message = f"expected at least one of {one_of(('count', *METRICS))}"
        rep.error(mapping, path, message)
        ok = False
    if not ok or seconds is None or group_by is None or count is False:
        return None
    window_us = round(seconds * _SECOND_US)
    # Lines arrive a little out of order; wait a tenth of the window, at least 1 s.
    grace_us = max(window_us // 10, _SECOND_US)
    return Aggregate(
        window_us,
        grace_us,
        group_by,
        count,
        tuple(metrics),
        node_digest(mapping),
    )


def _window_seconds(rep: Reporter, node: Node | None, path: str) -> float | None:
    if node is None:
        return None
    value = node.value if isinstance(node, Scalar) else None
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and 1 <= value < math.inf
    ):
        return float(value)
    message = f"expected a number of seconds of at least 1, got {describe(node)}"
    rep.error(node, child_path(path, "window_seconds"), message)
    return None


def _claim(
    rep: Reporter, names: dict[str, Node | Key], name: str, at: Node | Key, path: str
) -> bool:
    """Register a property name of the summary; report it if already taken."""
    first = names.get(name)
    if first is not None:
        hint = f"first used at line {first.line}, column {first.col}"
        rep.error(at, path, f"duplicate property name {name!r}", hint)
        return False
    names[name] = at
    return True


def _path_getter(
    rep: Reporter, node: Node, path: str, scope: ValueScope
) -> tuple[str, Getter] | None:
    """Return a field path's last segment and its getter."""
    text = expect_str(rep, node, path, "a field path")
    if text is None:
        return None
    segments = parse_field_path(text)
    if isinstance(segments, str):
        rep.error(node, path, segments)
        return None
    scope.note(text, segments, node, path)
    return segments[-1][0], compile_getter(segments)


def _group_by(
    rep: Reporter,
    node: Node | None,
    path: str,
    scope: ValueScope,
    names: dict[str, Node | Key],
) -> tuple[tuple[str, Getter], ...] | None:
    if node is None:
        return ()
    where = child_path(path, "group_by")
    seq = expect_list(rep, node, where, "a list of field paths")
    if seq is None:
        return None
    keys: list[tuple[str, Getter]] = []
    ok = True
    for i, item in enumerate(seq.items):
        item_where = item_path(where, i)
        value_node = item
        name: str | None = None
        if isinstance(item, Map) and len(item.entries) == 1:
            ((key, value_node),) = item.entries
            name = key.text
        compiled = _path_getter(rep, value_node, item_where, scope)
        if compiled is None:
            ok = False
            continue
        name = name or compiled[0]
        ok = _claim(rep, names, name, item, item_where) and ok
        keys.append((name, compiled[1]))
    return tuple(keys) if ok else None


def _count(
    rep: Reporter, node: Node | None, path: str, names: dict[str, Node | Key]
) -> str | Literal[False] | None:
    """The count's property name, None without count, False after an error."""
    if node is None:
        return None
    where = child_path(path, "count")
    name = expect_str(rep, node, where, "a property name")
    if name is None or not _claim(rep, names, name, node, where):
        return False
    return name


def _metric(
    rep: Reporter, node: Node | None, path: str, scope: ValueScope
) -> list[tuple[Key, Getter]] | None:
    if node is None:
        return []
    mapping = expect_map(rep, node, path)
    if mapping is None:
        return None
    compiled: list[tuple[Key, Getter]] = []
    ok = True
    for key, value in mapping.entries:
        where = child_path(path, key.text)
        getter = _path_getter(rep, value, where, scope)
        if getter is None:
            ok = False
        else:
            compiled.append((key, getter[1]))
    return compiled if ok else None
