"""The ``sources:`` entries of rule files → ``SourceDef`` values.

Invariants: a source name is unique across all files and registered even when the
rest of its entry is invalid, so rules that use it get no second, misleading error;
paths are kept as written: the daemon resolves relative globs against the config
file's folder, and ``bridge.source`` expands them. Every pattern (a regex source's
``pattern``/``patterns``, a ``multiline`` boundary) is compiled here, once, by RE2;
the source carries its built parser, so parsing a line is one call.

Entry shape::

    name, paths, start_at, timestamp
    format: json | logfmt | regex | docker | cri
    pattern: RE2 | patterns: [RE2, ...]     # regex only, exactly one of the two
    multiline: {start: RE2 | continuation: RE2, max_lines, flush_seconds, rest_field}
    parse: [{field, format, into, on_error, pattern | patterns}, ...]  # layers.py

Lines that must be joined before parsing get an assembler per file: a multi-line
record's lines (``multiline``), or the parts of a long container line (``docker``,
``cri``); the two do not combine.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable

import re2

from bridge.parse import (
    CONTAINER_FORMATS,
    FORMATS,
    PARSERS,
    Assembler,
    MultilineAssembler,
    MultilineSpec,
    Parser,
    PartialAssembler,
    record_parser,
)
from bridge.parse.containers import CONTAINER_FIELDS
from bridge.parse.jsonl import DEFAULT_MAX_DEPTH, parse_json
from bridge.parse.multiline import DEFAULT_FLUSH_SECONDS, DEFAULT_MAX_LINES
from bridge.parse.regex import (
    build_regex_parser,
    compile_re2,
    duplicate_group_name,
    is_search_match,
)
from bridge.rules.layers import Layer, Refiner, compile_layers
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
from bridge.yamlnodes import (
    Key,
    Map,
    Node,
    Scalar,
    child_path,
    describe,
    item_path,
    show,
)

__all__ = ["compile_sources"]

_SOURCE_KEYS = (
    "format",
    "multiline",
    "name",
    "parse",
    "paths",
    "pattern",
    "patterns",
    "start_at",
    "timestamp",
)
_MULTILINE_KEYS = ("continuation", "flush_seconds", "max_lines", "rest_field", "start")
_START_AT = ("beginning", "end")
_SOURCE_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]*")


def compile_sources(
    items: list[Item], *, max_depth: int = DEFAULT_MAX_DEPTH
) -> tuple[list[SourceDef], dict[str, Site]]:
    """
    Compile sources; also return every validly named source with its site.
    ``max_depth`` bounds the nesting of JSON lines and of JSON layers.
    """
    sources: list[SourceDef] = []
    sites: dict[str, Site] = {}
    for item in items:
        source = _compile_source(item, sites, max_depth)
        if source is not None:
            sources.append(source)
    return sources, sites


def _compile_source(
    item: Item, sites: dict[str, Site], max_depth: int
) -> SourceDef | None:
    rep, path = item.rep, item.path
    mapping = expect_map(rep, item.node, path)
    if mapping is None:
        return None
    required = ("name", "paths")
    keys_ok = check_keys(rep, mapping, path, _SOURCE_KEYS, required=required)
    name = unique_name(rep, mapping, path, _SOURCE_NAME, "source", sites)
    paths = _compile_paths(rep, mapping.get("paths"), child_path(path, "paths"))
    fmt = choice(rep, mapping, path, "format", FORMATS, "json")
    start_at = choice(rep, mapping, path, "start_at", _START_AT, "end")
    parsing = _compile_parser(rep, mapping, path, fmt)
    multiline_ok, multiline = _compile_joining(rep, mapping, path, fmt)
    timestamp_node = mapping.get("timestamp")
    timestamp_of: TimestampFn | None = read_time
    if timestamp_node is not None:
        where = child_path(path, "timestamp")
        timestamp_of = compile_timestamp(rep, timestamp_node, where)
    layers_ok, layers = _compile_source_layers(rep, mapping, path, max_depth)
    if (
        not (keys_ok and multiline_ok and layers_ok)
        or name is None
        or paths is None
        or fmt is None
        or start_at is None
        or parsing is None
        or timestamp_of is None
    ):
        return None
    parser, fields = _record_parsing(fmt, parsing, multiline, layers, max_depth)
    return SourceDef(
        name=name,
        paths=paths,
        format=fmt,
        start_at="beginning" if start_at == "beginning" else "end",
        digest=node_digest(mapping),
        parser=parser,
        timestamp_of=timestamp_of,
        fields=fields,
        multiline=multiline,
        joins=_joins(fmt, multiline),
        layers=layers[0] if layers else (),
        refine=layers[1] if layers else None,
        max_depth=max_depth,
    )


def _compile_joining(
    rep: Reporter, mapping: Map, path: str, fmt: str | None
) -> tuple[bool, MultilineSpec | None]:
    """Whether ``multiline`` is valid (and allowed with the format), and its spec."""
    node = mapping.get("multiline")
    if node is None:
        return True, None
    where = child_path(path, "multiline")
    multiline = _compile_multiline(rep, node, where)
    if fmt in CONTAINER_FORMATS:
        message = f"multiline cannot be combined with format {fmt!r}"
        hint = "hint: the parts of a long container line are joined already"
        rep.error(node, where, message, hint)
        return False, None
    return multiline is not None, multiline


def _compile_source_layers(
    rep: Reporter, mapping: Map, path: str, max_depth: int
) -> tuple[bool, tuple[tuple[Layer, ...], Refiner] | None]:
    """Whether ``parse`` is valid, and its layers and refiner (None: none)."""
    node = mapping.get("parse")
    if node is None:
        return True, None
    where = child_path(path, "parse")
    layers = compile_layers(rep, node, where, _regex_layer_parser, max_depth=max_depth)
    return layers is not None, layers


def _record_parsing(
    fmt: str,
    parsing: tuple[Parser, frozenset[str] | None],
    multiline: MultilineSpec | None,
    layers: tuple[tuple[Layer, ...], Refiner] | None,
    max_depth: int,
) -> tuple[Parser, frozenset[str] | None]:
    """The parser of a record, and the fields it may produce (None: any)."""
    parser, fields = parsing
    if fmt == "json":
        parser = functools.partial(parse_json, max_depth=max_depth)
    if multiline is not None:
        # A JSON record may be one object printed over several lines; logfmt and
        # regex describe a line, so they read the record's first line.
        parser = record_parser(
            parser, whole_first=fmt == "json", rest_field=multiline.rest_field
        )
        if fields is not None and multiline.rest_field is not None:
            fields |= {multiline.rest_field}
    if fields is not None and layers is not None:
        fields |= {layer.into[0][0] for layer in layers[0]}
    return parser, fields


def _joins(fmt: str, multiline: MultilineSpec | None) -> Callable[[], Assembler] | None:
    """How a file's lines are joined before they are parsed, if they are."""
    if multiline is not None:
        return functools.partial(MultilineAssembler, multiline)
    container = CONTAINER_FORMATS.get(fmt)
    if container is not None:
        return functools.partial(PartialAssembler, container)
    return None


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


def _compile_parser(
    rep: Reporter, mapping: Map, path: str, fmt: str | None
) -> tuple[Parser, frozenset[str] | None] | None:
    """The source's parser and the fields it can produce (None: any)."""
    entries = _entries(mapping, ("pattern", "patterns"))
    if fmt != "regex":
        for key, _ in entries if fmt is not None else ():
            # A typo in format is reported once, by choice(), not here again.
            message = f"{key.text!r} applies only to format 'regex'"
            hint = "hint: add format: regex"
            rep.error(key, child_path(path, key.text), message, hint)
        if fmt is None or entries:
            return None
        fields = CONTAINER_FIELDS if fmt in CONTAINER_FORMATS else None
        return PARSERS[fmt], fields
    return _regex_parser(rep, mapping, path, entries)


def _regex_layer_parser(rep: Reporter, mapping: Map, path: str) -> Parser | None:
    """The parser of a ``parse:`` layer of format regex."""
    parsing = _regex_parser(
        rep, mapping, path, _entries(mapping, ("pattern", "patterns"))
    )
    return None if parsing is None else parsing[0]


def _regex_parser(
    rep: Reporter, mapping: Map, path: str, entries: list[tuple[Key, Node]]
) -> tuple[Parser, frozenset[str] | None] | None:
    if len(entries) != 1:
        if entries:
            second = entries[1][0]
            message = "expected 'pattern' or 'patterns', got both"
            rep.error(second, child_path(path, second.text), message)
        else:
            message = "missing required key 'pattern' (or 'patterns')"
            rep.error(mapping, path, message, "hint: format 'regex' needs a pattern")
        return None
    key, node = entries[0]
    regexes = _compile_patterns(rep, node, child_path(path, key.text), key.text)
    if regexes is None:
        return None
    fields = frozenset(name for regex in regexes for name in regex.groupindex)
    return build_regex_parser(regexes), fields


def _entries(mapping: Map, names: tuple[str, ...]) -> list[tuple[Key, Node]]:
    return [(key, value) for key, value in mapping.entries if key.text in names]


def _compile_patterns(
    rep: Reporter, node: Node, path: str, key: str
) -> list[re2._Regexp[str]] | None:
    if key == "pattern":
        items: list[tuple[Node, str]] = [(node, path)]
    else:
        what = "a non-empty list of RE2 patterns"
        seq = expect_list(rep, node, path, what)
        if seq is None:
            return None
        if not seq.items:
            rep.error(seq, path, f"expected {what}, got an empty list")
            return None
        items = [(item, item_path(path, i)) for i, item in enumerate(seq.items)]
    regexes = [_compile_named(rep, item, where) for item, where in items]
    compiled = [regex for regex in regexes if regex is not None]
    return compiled if len(compiled) == len(regexes) else None


def _compile_named(rep: Reporter, node: Node, path: str) -> re2._Regexp[str] | None:
    regex = _compile_re2(rep, node, path)
    if regex is None:
        return None
    text = regex.pattern
    if not regex.groupindex:
        hint = "hint: name what to capture, as in (?P<status>\\d+)"
        rep.error(node, path, f"pattern {show(text)} has no named group", hint)
        return None
    twice = duplicate_group_name(text)
    if twice is not None:
        message = f"group name {twice!r} is used twice in {show(text)}"
        hint = "hint: RE2 keeps only the first; list alternatives under 'patterns'"
        rep.error(node, path, message, hint)
        return None
    return regex


def _compile_re2(rep: Reporter, node: Node, path: str) -> re2._Regexp[str] | None:
    text = expect_str(rep, node, path, "an RE2 pattern")
    if text is None:
        return None
    regex = compile_re2(text)
    if isinstance(regex, str):
        rep.error(node, path, f"RE2 cannot compile {show(text)}: {regex}")
        return None
    return regex


def _compile_multiline(rep: Reporter, node: Node, path: str) -> MultilineSpec | None:
    mapping = expect_map(rep, node, path)
    if mapping is None:
        return None
    ok = check_keys(rep, mapping, path, _MULTILINE_KEYS)
    entries = _entries(mapping, ("start", "continuation"))
    regex = None
    if len(entries) == 1:
        key, pattern_node = entries[0]
        regex = _compile_re2(rep, pattern_node, child_path(path, key.text))
    elif entries:
        second = entries[1][0]
        message = "expected 'start' or 'continuation', got both"
        rep.error(second, child_path(path, second.text), message)
    else:
        rep.error(mapping, path, "missing required key 'start' (or 'continuation')")
    max_lines = _positive(rep, mapping, path, "max_lines", whole=True)
    flush_seconds = _positive(rep, mapping, path, "flush_seconds", whole=False)
    rest_node = mapping.get("rest_field")
    rest_field = None
    if rest_node is not None:
        where = child_path(path, "rest_field")
        rest_field = expect_str(rep, rest_node, where, "a field name")
    if (
        not ok
        or regex is None
        or max_lines is None
        or flush_seconds is None
        or (rest_node is not None and rest_field is None)
    ):
        return None
    return MultilineSpec(
        mode="start" if entries[0][0].text == "start" else "continuation",
        pattern=regex.pattern,
        matches=is_search_match(regex),
        max_lines=int(max_lines),
        flush_seconds=float(flush_seconds),
        rest_field=rest_field,
    )


def _positive(
    rep: Reporter, mapping: Map, path: str, key: str, *, whole: bool
) -> float | None:
    """Read an optional positive number (an integer if ``whole``), or its default."""
    node = mapping.get(key)
    if node is None:
        return DEFAULT_MAX_LINES if whole else DEFAULT_FLUSH_SECONDS
    value = node.value if isinstance(node, Scalar) else None
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and (isinstance(value, int) or not whole)
        and math.isfinite(value)
        and value > 0
    ):
        return value
    what = "a positive integer" if whole else "a positive number of seconds"
    rep.error(node, child_path(path, key), f"expected {what}, got {describe(node)}")
    return None
