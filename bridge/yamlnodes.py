"""YAML text → a tree of positioned nodes, for the rule files and the configuration
file alike; the only module that imports PyYAML.

Pure, as ``bridge.rules`` is (``tests/test_architecture.py`` checks it with them), but
outside that package: ``bridge.settings`` reads the configuration with it, and
importing it must not import the rules compiler.

Invariants:

- Every node carries the 1-based line and column where it starts; PyYAML's 0-based
  marks are converted here and nowhere else.
- A file holds at most one YAML document; an empty file is no document at all.
- Mapping keys are unique: PyYAML silently keeps the last of two equal keys
  (yaml/pyyaml#165), so duplicates are reported here with both positions.
- Merge keys (``<<: *anchor``) are expanded; keys written in the mapping itself win.
- Scalars resolve with YAML 1.2 core-schema rules, not PyYAML's YAML 1.1 ones: only
  true/false are booleans (``NO``, ``on`` and ``yes`` stay strings), and ``1:30`` and
  ``2025-01-01`` stay strings. Rule files compare log fields to these values, where
  YAML 1.1's surprises would silently never match.
- Plain values only: any tag beyond str, int, float, bool, null, seq and map is an
  error, so nothing a rule file says can construct an object.
- Bounded: aliases may repeat at most ``MAX_ALIAS_VALUES`` values in all, and values
  nest at most ``MAX_NESTING`` levels, both counted as if every alias were written
  out. Composing stops at the alias or value that goes beyond, so an alias bomb (a
  few hundred bytes that expand to billions of values) is refused before anything
  walks it, and a deep document before it exhausts Python's recursion limit.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from bridge.errors import Problem

__all__ = [
    "MAX_ALIAS_VALUES",
    "MAX_NESTING",
    "MAX_SHOWN_CHARS",
    "Key",
    "Map",
    "Node",
    "Scalar",
    "ScalarValue",
    "Seq",
    "child_path",
    "describe",
    "item_path",
    "parse_document",
    "show",
    "to_plain",
]

ScalarValue = str | int | float | bool | None

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_MERGE = "tag:yaml.org,2002:merge"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_YAML_TAG_PREFIX = "tag:yaml.org,2002:"

# The YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution).
_BOOL_RE = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT_RE = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT_RE = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_NULL_RE = re.compile(r"^(?:~|null|Null|NULL|)$")
_MERGE_RE = re.compile(r"^<<$")
_SCALAR_RES = {_BOOL: _BOOL_RE, _INT: _INT_RE, _FLOAT: _FLOAT_RE, _NULL: _NULL_RE}

# Values quoted in messages are cut to about this many characters (STYLE.md §6).
MAX_SHOWN_CHARS = 60
# What aliases may add to a file, counted as if written out: anchors shared by a few
# hundred rules take a few thousand values, and this many are checked in well under a
# second. The nine-level "billion laughs" file expands to 9**9 (387 million) strings:
# checking it took 33 s and 2.9 GB before a MemoryError.
MAX_ALIAS_VALUES = 10_000
# Rule files nest about a dozen levels. Composing and checking recurse once or a few
# times per level, and Python stops at 1000 frames (sys.getrecursionlimit()).
MAX_NESTING = 64


_Resolvers = dict[Any, list[tuple[str, re.Pattern[str]]]]


class _Refused(Exception):
    """A document composing beyond the bounds: where, and why."""

    def __init__(self, mark: Any, path: str, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.mark, self.path, self.message, self.hint = mark, path, message, hint


class _CoreLoader(yaml.SafeLoader):
    """
    SafeLoader whose plain scalars resolve like YAML 1.2's core schema, and which
    refuses, while composing, aliases that repeat too much and values nested too deep.
    """

    # Our own table, filled below; the class is configured once, at import.
    yaml_implicit_resolvers: _Resolvers = {}  # noqa: RUF012 - PyYAML's own API

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        # Per composed node (by id, the tree keeps them alive): how many values it
        # stands for and how many levels it spans, with its aliases written out.
        self._extent: dict[int, tuple[int, int]] = {}
        self._alias_values = 0
        # The breadcrumb of each node being composed, the innermost last.
        self._paths: list[str] = []

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        is_alias = self.check_event(AliasEvent)
        mark = self.current_event.start_mark  # the event check_event peeked at
        path = self._path_in(parent, index)
        level = len(self._paths) + 1
        if level > MAX_NESTING:
            message = f"values nest more than {MAX_NESTING} levels deep"
            raise _Refused(mark, path, message)
        self._paths.append(path)
        node = super().compose_node(parent, index)
        self._paths.pop()
        if not is_alias:
            self._extent[id(node)] = self._measure(node)
            return node
        # An alias of its own anchor is not measured yet; the converter reports it.
        values, levels = self._extent.get(id(node), (1, 1))
        self._alias_values += values
        if self._alias_values > MAX_ALIAS_VALUES:
            message = f"aliases repeat more than {MAX_ALIAS_VALUES} values in all"
            hint = "hint: alias smaller values, or fewer times"
            raise _Refused(mark, path, message, hint)
        if level - 1 + levels > MAX_NESTING:
            message = f"values nest more than {MAX_NESTING} levels deep"
            hint = "hint: counted with the alias written out"
            raise _Refused(mark, path, message, hint)
        return node

    def _path_in(self, parent: yaml.Node | None, index: Any) -> str:
        if parent is None:
            return ""
        if isinstance(parent, SequenceNode):
            return item_path(self._paths[-1], index)
        # A mapping's key (index None) is located at the mapping.
        if isinstance(index, ScalarNode):
            return child_path(self._paths[-1], index.value)
        return self._paths[-1]

    def _measure(self, node: yaml.Node | None) -> tuple[int, int]:
        if isinstance(node, SequenceNode):
            children = node.value
        elif isinstance(node, MappingNode):
            children = [part for pair in node.value for part in pair]
        else:
            return 1, 1
        extents = [self._extent.get(id(child), (1, 1)) for child in children]
        values = 1 + sum(v for v, _ in extents)
        levels = 1 + max((n for _, n in extents), default=0)
        return values, levels


_CoreLoader.add_implicit_resolver(_BOOL, _BOOL_RE, list("tTfF"))
_CoreLoader.add_implicit_resolver(_INT, _INT_RE, list("-+0123456789"))
_CoreLoader.add_implicit_resolver(_FLOAT, _FLOAT_RE, list("-+0123456789."))
_CoreLoader.add_implicit_resolver(_NULL, _NULL_RE, ["~", "n", "N", ""])
_CoreLoader.add_implicit_resolver(_MERGE, _MERGE_RE, ["<"])


@dataclass(frozen=True, slots=True)
class Scalar:
    """A plain value: string, integer, float, boolean or null."""

    value: ScalarValue
    line: int
    col: int


@dataclass(frozen=True, slots=True)
class Key:
    """A mapping key, always read as its text (``on:`` is the key 'on', not True)."""

    text: str
    line: int
    col: int


@dataclass(frozen=True, slots=True)
class Seq:
    """A list."""

    items: tuple[Node, ...]
    line: int
    col: int


@dataclass(frozen=True, slots=True)
class Map:
    """A mapping with unique keys, in file order."""

    entries: tuple[tuple[Key, Node], ...]
    line: int
    col: int

    def get(self, name: str) -> Node | None:
        """Return the value under key ``name``, or None when there is none."""
        for key, value in self.entries:
            if key.text == name:
                return value
        return None


Node = Scalar | Seq | Map


def child_path(parent: str, key: str) -> str:
    """Breadcrumb of the value under ``key`` of the mapping at ``parent``."""
    return f"{parent}.{key}" if parent else key


def item_path(parent: str, index: int) -> str:
    """Breadcrumb of item ``index`` of the list at ``parent``."""
    return f"{parent}[{index}]"


def show(value: Any) -> str:
    """Render a value for an error message: repr(), cut to about 60 characters."""
    if value is None or isinstance(value, bool):
        # Messages speak YAML: null and true, not None and True.
        return "null" if value is None else str(value).lower()
    text = repr(value)
    if len(text) <= MAX_SHOWN_CHARS:
        return text
    return text[: MAX_SHOWN_CHARS - 3] + "..."


def describe(node: Node) -> str:
    """Say what a node is, for "expected X, got Y" messages."""
    if isinstance(node, Map):
        return "a mapping"
    if isinstance(node, Seq):
        return "a list"
    return show(node.value)


def to_plain(node: Node) -> Any:
    """Return the node as plain Python data: dicts, lists and scalars."""
    if isinstance(node, Scalar):
        return node.value
    if isinstance(node, Seq):
        return [to_plain(item) for item in node.items]
    return {key.text: to_plain(value) for key, value in node.entries}


def _as_written(text: str, _path: str) -> str:
    return show(text)


def parse_document(
    file: str, text: str, *, quote: Callable[[str, str], str] = _as_written
) -> tuple[Node | None, list[Problem]]:
    """
    Compose the one YAML document of a file into nodes.

    Args:
        quote: how a message shows a scalar's text or a tag, given its breadcrumb
            (by default ``show``); the configuration file's hides secrets.

    Returns:
        The root node (None for a file with no document or on a syntax error) and
        the problems found.
    """
    try:
        documents = list(yaml.compose_all(text, Loader=_CoreLoader))
    except _Refused as exc:
        line, col = exc.mark.line + 1, exc.mark.column + 1
        return None, [Problem(file, line, col, exc.path, exc.message, exc.hint)]
    except yaml.MarkedYAMLError as exc:
        return None, [_syntax_problem(file, exc)]
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        col = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        message = f"invalid YAML: unacceptable character #x{exc.character:04x}"
        hint = str(exc.reason)
        return None, [Problem(file, line, col, "", message, hint)]
    if not documents:
        return None, []
    converter = _Converter(file, quote)
    root = converter.convert(documents[0], "")
    if len(documents) > 1:
        mark = documents[1].start_mark
        converter.problem(
            mark,
            "",
            "expected one YAML document, got more than one",
            "hint: split the documents into separate files",
        )
    return root, converter.problems


def _syntax_problem(file: str, exc: yaml.MarkedYAMLError) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    hint = ""
    if exc.context and exc.context_mark and exc.context_mark is not mark:
        hint = f"{exc.context} at line {exc.context_mark.line + 1}"
    return Problem(file, line, col, "", f"invalid YAML: {exc.problem}", hint)


def _short_tag(tag: str) -> str:
    if tag.startswith(_YAML_TAG_PREFIX):
        return "!!" + tag.removeprefix(_YAML_TAG_PREFIX)
    return tag


class _Converter:
    """Turns PyYAML nodes into ours, collecting problems for one file."""

    def __init__(self, file: str, quote: Callable[[str, str], str]) -> None:
        self.file = file
        self.quote = quote
        self.problems: list[Problem] = []
        # Aliases share a PyYAML node: convert it once, so its problems are reported
        # once and an alias of an anchor does not repeat the work.
        self._done: dict[int, Node] = {}
        self._active: set[int] = set()

    def problem(self, mark: Any, path: str, message: str, hint: str = "") -> None:
        line, col = mark.line + 1, mark.column + 1
        self.problems.append(Problem(self.file, line, col, path, message, hint))

    def convert(self, node: yaml.Node, path: str) -> Node:
        ident = id(node)
        if ident in self._done:
            return self._done[ident]
        line, col = node.start_mark.line + 1, node.start_mark.column + 1
        if ident in self._active:
            self.problem(node.start_mark, path, "an alias refers to its own anchor")
            return Scalar(None, line, col)
        self._active.add(ident)
        result: Node
        if isinstance(node, ScalarNode):
            result = self._scalar(node, path)
        elif isinstance(node, SequenceNode):
            self._check_tag(node, _SEQ, path)
            items = (
                self.convert(item, item_path(path, i))
                for i, item in enumerate(node.value)
            )
            result = Seq(tuple(items), line, col)
        else:
            # Composing yields only these three node classes.
            mapping = cast(MappingNode, node)
            self._check_tag(mapping, _MAP, path)
            result = Map(self._entries(mapping, path), line, col)
        self._active.discard(ident)
        self._done[ident] = result
        return result

    def _check_tag(self, node: yaml.Node, expected: str, path: str) -> None:
        if node.tag != expected:
            tag = self.quote(_short_tag(node.tag), path)
            self.problem(node.start_mark, path, f"unsupported YAML tag {tag}")

    def _scalar(self, node: ScalarNode, path: str) -> Scalar:
        line, col = node.start_mark.line + 1, node.start_mark.column + 1
        text: str = node.value
        tag: str = node.tag
        if tag in (_STR, _MERGE):
            return Scalar(text, line, col)
        pattern = _SCALAR_RES.get(tag)
        if pattern is None:
            message = f"unsupported YAML tag {self.quote(_short_tag(tag), path)}"
            self.problem(node.start_mark, path, message)
            return Scalar(text, line, col)
        try:
            # A match of the pattern converts, except an integer longer than
            # Python's 4300-digit limit for int(), which raises ValueError.
            if pattern.match(text):
                return Scalar(_scalar_value(tag, text), line, col)
        except ValueError:
            pass
        message = f"cannot read {self.quote(text, path)} as {_short_tag(tag)}"
        self.problem(node.start_mark, path, message)
        return Scalar(text, line, col)

    def _entries(self, node: MappingNode, path: str) -> tuple[tuple[Key, Node], ...]:
        own: dict[str, tuple[Key, Node]] = {}
        merged: dict[str, tuple[Key, Node]] = {}
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode) and key_node.tag == _MERGE:
                for entry in self._merge_sources(value_node, child_path(path, "<<")):
                    merged.setdefault(entry[0].text, entry)
                continue
            if not isinstance(key_node, ScalarNode):
                kind = "a list" if isinstance(key_node, SequenceNode) else "a mapping"
                message = f"expected a string key, got {kind}"
                self.problem(key_node.start_mark, path, message)
                continue
            mark = key_node.start_mark
            key = Key(key_node.value, mark.line + 1, mark.column + 1)
            first = own.get(key.text)
            if first is not None:
                message = f"duplicate key {key.text!r}"
                hint = f"first defined at line {first[0].line}"
                self.problem(mark, path, message, hint)
                continue
            own[key.text] = (key, self.convert(value_node, child_path(path, key.text)))
        entries = [entry for name, entry in merged.items() if name not in own]
        return (*entries, *own.values())

    def _merge_sources(self, node: yaml.Node, path: str) -> list[tuple[Key, Node]]:
        converted = self.convert(node, path)
        sources = converted.items if isinstance(converted, Seq) else (converted,)
        entries: list[tuple[Key, Node]] = []
        for source in sources:
            if isinstance(source, Map):
                entries.extend(source.entries)
            else:
                message = "expected a mapping or a list of mappings to merge"
                self.problem(node.start_mark, path, message)
        return entries


def _scalar_value(tag: str, text: str) -> ScalarValue:
    if tag == _BOOL:
        return text.lower() == "true"
    if tag == _NULL:
        return None
    if tag == _INT:
        # int() refuses a leading 0 with base 0, and YAML 1.2 reads 007 as 7.
        base = {"0o": 8, "0x": 16}.get(text[:2], 10)
        return int(text, base)
    lowered = text.lower()
    if lowered.endswith(".nan"):
        return math.nan
    if lowered.endswith(".inf"):
        return -math.inf if text.startswith("-") else math.inf
    return float(text)
