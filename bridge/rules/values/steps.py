"""Steps: an ordered list of small operations applied to a value before its type.

::

    steps:
      - extract: 'user (?P<user>\\S+) from'    # the named group of an RE2 pattern
      - replace: {pattern: '\\.\\d+$', with: ''}  # every match; \\1 or \\g<name> in with
      - trim                                  # or trim: '"[]' (those characters)
      - lower                                 # upper
      - split: {by: ',', index: -1}           # by: omitted splits on white space
      - query: utm_source                     # a URL (or query string) parameter
      - basename                              # /var/www/app.js?v=2 → app.js
      - extension                             # app.tar.gz → gz
      - key                                   # {"GET": {...}} → GET
      - json                                  # any value → its JSON text
      - multiply: 100                         # divide, add, subtract, round
                                              # (bridge.rules.values.arithmetic)

A step takes the value the previous one gave. Text steps read a number or a
boolean as its JSON text and pass null on unchanged; on a list or a mapping they
fail (``not_text``). A step that finds nothing (no match, no such parameter, an
index past the end, no extension) gives ``NO_MATCH``, which the following steps
pass on: the value then becomes its ``default``, or null.

Invariants: every pattern is compiled by RE2 once, at load, and every group
reference of ``replace`` checked then; a step never raises; a failure is a
``Failed`` whose ``on_error`` is resolved by ``forms``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import orjson
import re2

from bridge.model import JSON_OPTIONS, exact_int, json_default
from bridge.parse.query import parse_query
from bridge.rules.fieldpaths import MISSING
from bridge.rules.patterns import compile_pattern
from bridge.rules.schema import (
    Reporter,
    check_keys,
    did_you_mean,
    expect_list,
    expect_map,
    expect_str,
    one_of,
)
from bridge.rules.values.arithmetic import ARITHMETIC_STEPS
from bridge.rules.values.failures import NO_MATCH, Failed
from bridge.rules.values.types import render_text
from bridge.yamlnodes import Map, Node, Scalar, child_path, item_path, show

__all__ = [
    "STEP_NAMES",
    "Step",
    "compile_extract",
    "compile_steps",
    "exact_ints",
    "json_text",
]

StepFn = Callable[[Any], Any]
_Compiler = Callable[[Reporter, Node | None, str], StepFn | None]

# orjson writes no deeper than this (its README: 254 levels of recursion).
_MAX_DEPTH = 254
# A group reference in replace's ``with``: \1 … \99, or \g<name> / \g<1>.
_GROUP_REF = re.compile(r"\\(?:([0-9]{1,2})|g<([^>]*)>)|\\(.)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Step:
    """One compiled step: its name as written (for ``explain``) and its function."""

    name: str
    apply: StepFn


def compile_steps(rep: Reporter, node: Node, path: str) -> tuple[Step, ...] | None:
    """
    Compile a ``steps`` list.

    Returns:
        The steps in order, or None after reporting what is wrong.
    """
    seq = expect_list(rep, node, path, "a list of steps")
    if seq is None:
        return None
    steps: list[Step] = []
    ok = True
    for i, item in enumerate(seq.items):
        where = item_path(path, i)
        step = _compile_step(rep, item, where)
        if step is None:
            ok = False
        else:
            steps.append(step)
    return tuple(steps) if ok else None


def compile_extract(rep: Reporter, node: Node, path: str) -> Step | None:
    """Compile the ``extract`` shorthand of a value (one step)."""
    fn = _compile_extract(rep, node, path)
    return None if fn is None else Step("extract", fn)


def json_text(value: Any) -> str:
    """
    A value's JSON text: integers of any size exact, strings quoted.

    Raises:
        TypeError: the value holds something JSON has no form for, or is nested
            deeper than orjson writes (254 levels).
    """
    option = orjson.OPT_NON_STR_KEYS | JSON_OPTIONS
    try:
        return orjson.dumps(value, option=option, default=json_default).decode()
    except orjson.JSONEncodeError as exc:
        if "64-bit" not in str(exc):
            raise
    # A plain int beyond 64 bits (one no parser made): written exactly all the same.
    return orjson.dumps(
        exact_ints(value, 0), option=option, default=json_default
    ).decode()


def exact_ints(value: Any, depth: int = 0) -> Any:
    """``value`` with every integer beyond 64 bits made a ``BigInt``."""
    if depth > _MAX_DEPTH:
        msg = "nested too deeply"
        raise TypeError(msg)
    if isinstance(value, int) and not isinstance(value, bool):
        return exact_int(value)
    if isinstance(value, dict):
        return {key: exact_ints(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [exact_ints(item, depth + 1) for item in value]
    return value


def _compile_step(rep: Reporter, node: Node, path: str) -> Step | None:
    if isinstance(node, Scalar) and isinstance(node.value, str):
        name, argument = node.value, None
    elif isinstance(node, Map) and len(node.entries) == 1:
        ((key, argument),) = node.entries
        name = key.text
        path = child_path(path, name)
    else:
        message = "expected a step name or a mapping of one step"
        rep.error(node, path, message, f"hint: steps are {one_of(STEP_NAMES)}")
        return None
    compile_step = _STEPS.get(name)
    if compile_step is None:
        message = f"unknown step {show(name)}; expected one of {one_of(STEP_NAMES)}"
        rep.error(node, path, message, did_you_mean(name, STEP_NAMES))
        return None
    fn = compile_step(rep, argument if argument is not None else None, path)
    if fn is None and argument is None and name in _NEEDS_ARGUMENT:
        rep.error(node, path, f"step {name!r} needs an argument", _HINTS[name])
    return None if fn is None else Step(name, fn)


# -- text in, text out -------------------------------------------------------------------


def _text_step(transform: Callable[[str], Any]) -> StepFn:
    """A step on text: numbers and booleans as JSON text; null and NO_MATCH pass."""

    def step(value: Any) -> Any:
        if type(value) is str:
            return transform(value)
        if value is None or value is NO_MATCH:
            return value
        if isinstance(value, dict | list):
            return Failed("not_text", MISSING)
        text = render_text(value)
        return transform(text) if isinstance(text, str) else Failed("not_text", MISSING)

    return step


def _no_argument(name: str, transform: Callable[[str], Any]) -> _Compiler:
    def compile_step(rep: Reporter, node: Node | None, path: str) -> StepFn | None:
        if node is not None:
            rep.error(node, path, f"step {name!r} takes no argument")
            return None
        return _text_step(transform)

    return compile_step


def _compile_extract(rep: Reporter, node: Node | None, path: str) -> StepFn | None:
    if node is None:
        return None
    group_node: Node | None = None
    pattern_node: Node = node
    if isinstance(node, Map):
        if not check_keys(rep, node, path, ("group", "pattern"), required=("pattern",)):
            return None
        pattern_node = node.get("pattern") or node
        group_node = node.get("group")
    regex = compile_pattern(rep, pattern_node, path, "an RE2 pattern")
    if regex is None:
        return None
    group = _extract_group(rep, regex, group_node, pattern_node, path)
    if group is None:
        return None
    search = regex.search

    def extract(text: str) -> Any:
        found = search(text)
        if found is None:
            return NO_MATCH
        # An optional group that took no part in the match is None (the stubs
        # say str).
        value: str | None = found.group(group)
        return NO_MATCH if value is None else value

    return _text_step(extract)


def _extract_group(
    rep: Reporter,
    regex: re2._Regexp[str],
    node: Node | None,
    pattern_node: Node,
    path: str,
) -> str | int | None:
    """Which group ``extract`` keeps: the one named, the only named one, or all."""
    names = list(regex.groupindex)
    if node is not None:
        where = child_path(path, "group")
        name = expect_str(rep, node, where, "a group name")
        if name is not None and name not in names:
            message = f"pattern {show(regex.pattern)} has no group {name!r}"
            rep.error(node, where, message, did_you_mean(name, names))
            return None
        return name
    if len(names) > 1:
        message = f"pattern {show(regex.pattern)} has several named groups"
        hint = "hint: say which with {pattern: ..., group: name}"
        rep.error(pattern_node, path, message, hint)
        return None
    return names[0] if names else 0


def _compile_replace(rep: Reporter, node: Node | None, path: str) -> StepFn | None:
    if node is None:
        return None
    mapping = expect_map(rep, node, path)
    if mapping is None or not check_keys(
        rep, mapping, path, ("pattern", "with"), required=("pattern",)
    ):
        return None
    pattern_node = mapping.get("pattern")
    assert pattern_node is not None  # noqa: S101 (required above)
    regex = compile_pattern(rep, pattern_node, child_path(path, "pattern"))
    replacement = _replacement(
        rep, regex, mapping.get("with"), child_path(path, "with")
    )
    if regex is None or replacement is None:
        return None
    sub = regex.sub
    return _text_step(lambda text: sub(replacement, text))


def _replacement(
    rep: Reporter, regex: re2._Regexp[str] | None, node: Node | None, path: str
) -> str | None:
    """The text of ``with`` ("" when absent), its group references checked."""
    if node is None:
        return ""
    value = node.value if isinstance(node, Scalar) else None
    if not isinstance(value, str):
        rep.error(node, path, "expected a string for 'with'")
        return None
    if regex is None:
        return value
    for number, name, other in _GROUP_REF.findall(value):
        if other:
            continue
        if name and not name.isdigit():
            if name not in regex.groupindex:
                message = f"'with' refers to \\g<{name}>, which the pattern lacks"
                rep.error(node, path, message, did_you_mean(name, regex.groupindex))
                return None
            continue
        index = int(number or name)
        if index > regex.groups:
            message = f"'with' refers to group {index}; the pattern has {regex.groups}"
            rep.error(node, path, message)
            return None
    return value


def _compile_trim(rep: Reporter, node: Node | None, path: str) -> StepFn | None:
    if node is None:
        return _text_step(str.strip)
    chars = expect_str(rep, node, path, "the characters to trim")
    if chars is None:
        return None
    return _text_step(lambda text: text.strip(chars))


def _compile_split(rep: Reporter, node: Node | None, path: str) -> StepFn | None:
    if node is None:
        return None
    mapping = expect_map(rep, node, path)
    if mapping is None:
        return None
    if not check_keys(rep, mapping, path, ("by", "index"), required=("index",)):
        return None
    index_node = mapping.get("index")
    assert index_node is not None  # noqa: S101 (required above)
    index = index_node.value if isinstance(index_node, Scalar) else None
    if not isinstance(index, int) or isinstance(index, bool):
        message = "expected an integer for 'index' (negative counts from the end)"
        rep.error(index_node, child_path(path, "index"), message)
        return None
    by: str | None = None
    by_node = mapping.get("by")
    if by_node is not None:
        by = expect_str(rep, by_node, child_path(path, "by"), "a non-empty separator")
        if by is None:
            return None

    def split(text: str) -> Any:
        parts = text.split(by)
        try:
            return parts[index]
        except IndexError:
            return NO_MATCH

    return _text_step(split)


def _compile_query(rep: Reporter, node: Node | None, path: str) -> StepFn | None:
    if node is None:
        return None
    name = expect_str(rep, node, path, "a parameter name")
    if name is None:
        return None

    def query(text: str) -> Any:
        params = parse_query(text)
        # Any text is a query string: parse_query never gives a ParseFailure.
        return params.get(name, NO_MATCH) if isinstance(params, dict) else NO_MATCH

    return _text_step(query)


def _basename(text: str) -> Any:
    path = text.partition("?")[0].partition("#")[0].rstrip("/\\")
    name = path.replace("\\", "/").rpartition("/")[2]
    return name if name else NO_MATCH


def _extension(text: str) -> Any:
    name = _basename(text)
    if name is NO_MATCH:
        return NO_MATCH
    stem, dot, extension = str(name).rpartition(".")
    # A dot file (.bashrc) has a name, not an extension.
    return extension if dot and stem and extension else NO_MATCH


def _compile_key(rep: Reporter, node: Node | None, path: str) -> StepFn | None:
    if node is not None:
        rep.error(node, path, "step 'key' takes no argument")
        return None

    def key(value: Any) -> Any:
        if value is None or value is NO_MATCH:
            return value
        if isinstance(value, dict) and len(value) == 1:
            return next(iter(value))
        return Failed("not_a_single_key_object", MISSING)

    return key


def _compile_json(rep: Reporter, node: Node | None, path: str) -> StepFn | None:
    if node is not None:
        rep.error(node, path, "step 'json' takes no argument")
        return None

    def encode(value: Any) -> Any:
        if value is NO_MATCH:
            return value
        try:
            return json_text(value)
        except TypeError:
            return Failed("not_encodable", MISSING)

    return encode


_STEPS: Mapping[str, _Compiler] = MappingProxyType(
    {
        "basename": _no_argument("basename", _basename),
        "extension": _no_argument("extension", _extension),
        "extract": _compile_extract,
        "json": _compile_json,
        "key": _compile_key,
        "lower": _no_argument("lower", str.lower),
        "query": _compile_query,
        "replace": _compile_replace,
        "split": _compile_split,
        "trim": _compile_trim,
        "upper": _no_argument("upper", str.upper),
        **ARITHMETIC_STEPS,
    }
)
STEP_NAMES = tuple(sorted(_STEPS))
_NEEDS_ARGUMENT = frozenset(
    {"add", "divide", "extract", "multiply", "query", "replace", "split", "subtract"}
)
_HINTS = {
    "add": "hint: add: 1",
    "divide": "hint: divide: 100",
    "multiply": "hint: multiply: 100",
    "subtract": "hint: subtract: 1",
    "extract": "hint: extract: '(?P<name>...)'",
    "query": "hint: query: utm_source",
    "replace": "hint: replace: {pattern: '...', with: '...'}",
    "split": "hint: split: {by: ',', index: 0}",
}
