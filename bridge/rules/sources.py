"""The ``sources:`` entries of rule files → ``SourceDef`` values.

Invariants: a source name is unique across all files and registered even when the
rest of its entry is invalid, so rules that use it get no second, misleading error;
paths are kept as written: the daemon resolves relative globs against the config
file's folder, and ``bridge.source`` expands them.
"""

from __future__ import annotations

import re

from bridge.parse import PARSERS
from bridge.rules.ruleset import SourceDef
from bridge.rules.schema import (
    Item,
    Reporter,
    Site,
    check_keys,
    choice,
    expect_list,
    expect_map,
    expect_str,
    node_digest,
    unique_name,
)
from bridge.rules.timestamps import TimestampFn, compile_timestamp, read_time
from bridge.rules.yamlnodes import Node, Scalar, child_path, item_path

__all__ = ["compile_sources"]

_SOURCE_KEYS = ("format", "name", "paths", "start_at", "timestamp")
_START_AT = ("beginning", "end")
_SOURCE_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]*")


def compile_sources(items: list[Item]) -> tuple[list[SourceDef], dict[str, Site]]:
    """Compile sources; also return every validly named source with its site."""
    sources: list[SourceDef] = []
    sites: dict[str, Site] = {}
    for item in items:
        source = _compile_source(item, sites)
        if source is not None:
            sources.append(source)
    return sources, sites


def _compile_source(item: Item, sites: dict[str, Site]) -> SourceDef | None:
    rep, path = item.rep, item.path
    mapping = expect_map(rep, item.node, path)
    if mapping is None:
        return None
    required = ("name", "paths")
    keys_ok = check_keys(rep, mapping, path, _SOURCE_KEYS, required=required)
    name = unique_name(rep, mapping, path, _SOURCE_NAME, "source", sites)
    paths = _compile_paths(rep, mapping.get("paths"), child_path(path, "paths"))
    fmt = choice(rep, mapping, path, "format", tuple(PARSERS), "json")
    start_at = choice(rep, mapping, path, "start_at", _START_AT, "end")
    timestamp_node = mapping.get("timestamp")
    timestamp_of: TimestampFn | None = read_time
    if timestamp_node is not None:
        where = child_path(path, "timestamp")
        timestamp_of = compile_timestamp(rep, timestamp_node, where)
    if (
        not keys_ok
        or name is None
        or paths is None
        or fmt is None
        or start_at is None
        or timestamp_of is None
    ):
        return None
    return SourceDef(
        name=name,
        paths=paths,
        format=fmt,
        start_at="beginning" if start_at == "beginning" else "end",
        digest=node_digest(mapping),
        parser=PARSERS[fmt],
        timestamp_of=timestamp_of,
    )


def _compile_paths(
    rep: Reporter, node: Node | None, path: str
) -> tuple[str, ...] | None:
    if node is None:
        return None
    what = "a glob or a non-empty list of globs"
    if isinstance(node, Scalar):
        nodes: tuple[Node, ...] = (node,)
        where = [path]
    else:
        seq = expect_list(rep, node, path, what)
        if seq is None:
            return None
        if not seq.items:
            rep.error(seq, path, f"expected {what}, got an empty list")
            return None
        nodes = seq.items
        where = [item_path(path, i) for i in range(len(nodes))]
    globs: list[str] = []
    for item, item_where in zip(nodes, where, strict=True):
        glob = expect_str(rep, item, item_where, "a non-empty glob")
        if glob is not None:
            globs.append(glob)
    return tuple(globs) if len(globs) == len(nodes) else None
