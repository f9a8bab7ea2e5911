"""A source's ``parse:`` list: fields of a record parsed again, in layers.

::

    sources:
      - name: api
        format: docker                 # {"log": "{\\"level\\":\\"info\\",...}\\n", ...}
        parse:
          - field: log                 # the text to parse
            format: json               # json | logfmt | regex (pattern:) | query
          - field: log.msg             # layers apply in order: a later one may read
            format: logfmt             # what an earlier one made
            into: summary              # where the result goes (default: the field)
            on_error: keep             # keep (default) | skip
            when: {log.msg: {contains: "="}}   # only for the lines this holds for

A layer replaces its field's text with what its parser makes of it (or puts that at
``into``), so rules address ``log.level`` like any field. A field that is absent or
null is left alone, as is one already structured (a JSON object needs no parsing
again). A text that does not parse stays as it is and is counted
(``parse_errors{reason="log: invalid_json"}``); with ``on_error: skip`` the whole line
is a parse error instead. A layer with ``when`` (the condition language of a rule's
``when``, judged on the fields as the layers before it left them) applies only to the
lines whose fields satisfy it: the others keep their fields as they are, and nothing
is counted for them, since the layer was not meant for them. A ``when`` a value leaves
undecided (a duration bound over text that is no duration) is a failure of the layer
(``log: when.took not_duration``): whether it was meant for the line is not known.

Invariants: every path, pattern and format is checked at load; ``refine`` never
raises, mutates the record's fields in place (they belong to the record) and returns
what failed; ``layers`` tells the prefilter which fields hold values that are not
verbatim slices of the raw line (``bridge.rules.literals``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from bridge.parse import ParseFailure, Parser, parse_json, parse_logfmt, parse_query
from bridge.parse.jsonl import DEFAULT_MAX_DEPTH
from bridge.rules.conditions import Judge, Undecided, compile_when_tree, judge_of
from bridge.rules.fieldpaths import (
    MISSING,
    Getter,
    Segment,
    compile_getter,
    parse_field_path,
)
from bridge.rules.schema import (
    Reporter,
    check_keys,
    choice,
    expect_list,
    expect_map,
    expect_str,
)
from bridge.yamlnodes import Map, child_path, item_path

__all__ = ["LAYER_FORMATS", "Layer", "Refiner", "compile_layers"]

# What a refiner returns: the failures ("field: reason") and whether one of them
# makes the line a parse error (on_error: skip).
Refiner = Callable[[dict[str, Any]], tuple[tuple[str, ...], bool]]
# Formats whose values are slices of the text they parse, character for character,
# unless the text holds a backslash (which always makes the prefilter parse a line);
# query strings are decoded (%20, +), so their values are not.
_VERBATIM = frozenset({"json", "logfmt", "regex"})
_KEYS = ("field", "format", "into", "on_error", "pattern", "patterns", "when")
_CLEAN: tuple[tuple[str, ...], bool] = ((), False)

PatternsCompiler = Callable[[Reporter, Map, str], "Parser | None"]


@dataclass(frozen=True, slots=True)
class Layer:
    """
    One compiled layer: what it reads, where it writes, and how; ``applies`` tests
    the fields of a line it is meant for (None: every line).
    """

    label: str
    field: tuple[Segment, ...]
    into: tuple[Segment, ...]
    format: str
    skip: bool
    applies: Judge | None = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def verbatim(self) -> bool:
        """Whether the values it makes are verbatim slices of the raw line."""
        return self.format in _VERBATIM


LAYER_FORMATS: Mapping[str, Parser | None] = MappingProxyType(
    {"json": parse_json, "logfmt": parse_logfmt, "query": parse_query, "regex": None}
)


def compile_layers(
    rep: Reporter,
    node: Any,
    path: str,
    compile_patterns: PatternsCompiler,
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> tuple[tuple[Layer, ...], Refiner] | None:
    """
    Compile a ``parse`` list; ``compile_patterns`` builds a regex layer's parser from
    its mapping (the source's own ``pattern``/``patterns`` rules).

    Returns:
        The layers and the function applying them, or None after reporting.
    """
    seq = expect_list(rep, node, path, "a list of fields to parse")
    if seq is None:
        return None
    compiled: list[tuple[Layer, Parser]] = []
    ok = True
    for i, item in enumerate(seq.items):
        layer = _compile_layer(rep, item, item_path(path, i), compile_patterns)
        if layer is None:
            ok = False
        elif layer[0].format == "json":
            compiled.append(
                (layer[0], functools.partial(parse_json, max_depth=max_depth))
            )
        else:
            compiled.append(layer)
    if not ok:
        return None
    return tuple(layer for layer, _ in compiled), _refiner(compiled)


def _compile_layer(
    rep: Reporter, node: Any, path: str, compile_patterns: PatternsCompiler
) -> tuple[Layer, Parser] | None:
    mapping = expect_map(rep, node, path)
    if mapping is None:
        return None
    ok = check_keys(rep, mapping, path, _KEYS, required=("field", "format"))
    field = _path(rep, mapping, path, "field")
    into = _path(rep, mapping, path, "into") if mapping.get("into") else field
    fmt = choice(rep, mapping, path, "format", tuple(LAYER_FORMATS), "json")
    on_error = choice(rep, mapping, path, "on_error", ("keep", "skip"), "keep")
    parser = LAYER_FORMATS.get(fmt or "")
    patterns = [key.text for key, _ in mapping.entries if key.text in _PATTERN_KEYS]
    if fmt == "regex":
        parser = compile_patterns(rep, mapping, path)
    elif patterns and fmt is not None:
        message = f"{patterns[0]!r} applies only to format 'regex'"
        rep.error(mapping, child_path(path, patterns[0]), message)
        ok = False
    when_ok, applies = _applies(rep, mapping, path)
    if not ok or field is None or into is None or fmt is None or on_error is None:
        return None
    if parser is None or not when_ok:
        return None
    label = expect_str(rep, mapping.get("field") or mapping, path) or ""
    layer = Layer(label, field, into, fmt, skip=on_error == "skip", applies=applies)
    return layer, parser


def _applies(rep: Reporter, mapping: Map, path: str) -> tuple[bool, Judge | None]:
    """
    Whether a layer's ``when`` is valid, and its verdict on a line's fields (None:
    no ``when``); an undecided one names its condition below the layer's ``when``.
    """
    node = mapping.get("when")
    if node is None:
        return True, None
    tree = compile_when_tree(rep, node, child_path(path, "when"))
    if tree is None:
        return False, None
    judge = judge_of(tree)

    def applies(fields: Any) -> bool | Undecided:
        verdict = judge(fields)
        if isinstance(verdict, Undecided):
            where = verdict.where_in(path)
            return Undecided(verdict.cond, f"{where} {verdict.reason}")
        return verdict

    return True, applies


_PATTERN_KEYS = ("pattern", "patterns")


def _path(
    rep: Reporter, mapping: Map, path: str, key: str
) -> tuple[Segment, ...] | None:
    node = mapping.get(key)
    if node is None:
        return None
    where = child_path(path, key)
    text = expect_str(rep, node, where, "a field path")
    if text is None:
        return None
    segments = parse_field_path(text)
    if isinstance(segments, str):
        rep.error(node, where, segments)
        return None
    return segments


def _refiner(compiled: list[tuple[Layer, Parser]]) -> Refiner:
    plan = tuple(
        (layer, compile_getter(layer.field), parser) for layer, parser in compiled
    )

    def refine(fields: dict[str, Any]) -> tuple[tuple[str, ...], bool]:
        failed: tuple[str, ...] = ()
        for layer, get, parse in plan:
            reason = _apply_layer(layer, get, parse, fields)
            if reason:
                failed += (f"{layer.label}: {reason}",)
                if layer.skip:
                    # The line is a parse error: its last failure says why.
                    return failed, True
        return (failed, False) if failed else _CLEAN

    return refine


def _apply_layer(
    layer: Layer, get: Getter, parse: Parser, fields: dict[str, Any]
) -> str:
    """Apply one layer to a line's fields; the reason it failed, or "" if it did not."""
    if layer.applies is not None:
        verdict = layer.applies(fields)
        if isinstance(verdict, Undecided):
            return verdict.reason  # meant for the line or not: that is not known
        if not verdict:
            return ""  # a line the layer is not meant for
    text = get(fields)
    if text is MISSING or not isinstance(text, str):
        return ""  # absent, null, or structured already
    parsed = parse(text)
    if isinstance(parsed, ParseFailure):
        return parsed.reason
    return "" if _put(fields, layer.into, parsed) else "no_place_for_it"


def _put(fields: dict[str, Any], into: tuple[Segment, ...], value: Any) -> bool:
    """Set the path ``into`` to ``value``, making mappings on the way; False if a
    step of the way is neither a mapping nor a list with that index."""
    target: Any = fields
    for key, index in into[:-1]:
        if isinstance(target, dict):
            nested = target.get(key)
            if not isinstance(nested, dict | list):
                nested = target[key] = {}
            target = nested
        elif isinstance(target, list) and index is not None and index < len(target):
            target = target[index]
        else:
            return False
    key, index = into[-1]
    if isinstance(target, dict):
        target[key] = value
        return True
    if isinstance(target, list) and index is not None and index < len(target):
        target[index] = value
        return True
    return False
