"""Shape checks shared by every part of the rule-file schema, and the problem collector.

Invariants:

- A check reports through a ``Reporter`` and returns None (or False) instead of
  raising, so compilation keeps going and every problem of every file is reported.
- A problem points at the offending node: an unknown key at the key, a bad value at
  the value, a missing key at the mapping that lacks it.
- Messages follow STYLE.md §6: lowercase, no trailing period, "expected X, got Y",
  values shown by ``show`` (repr, cut); hints are either "did you mean 'x'?" or
  "hint: ...".
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from bridge.errors import Problem, Severity
from bridge.yamlnodes import (
    Key,
    Map,
    Node,
    Scalar,
    Seq,
    child_path,
    describe,
    show,
    to_plain,
)

__all__ = [
    "Item",
    "Reporter",
    "Site",
    "check_keys",
    "choice",
    "did_you_mean",
    "expect_list",
    "expect_map",
    "expect_str",
    "node_digest",
    "one_of",
    "unique_name",
]


class Reporter:
    """Collects the problems of one rule file, each at a node's position."""

    __slots__ = ("file", "problems")

    def __init__(self, file: str, problems: Iterable[Problem] = ()) -> None:
        self.file = file
        self.problems: list[Problem] = list(problems)

    def error(
        self, at: Node | Key | Site, path: str, message: str, hint: str = ""
    ) -> None:
        """Report an error located at ``at``."""
        self._add(at, path, message, hint, "error")

    def warning(
        self, at: Node | Key | Site, path: str, message: str, hint: str = ""
    ) -> None:
        """Report a warning located at ``at``."""
        self._add(at, path, message, hint, "warning")

    def _add(
        self,
        at: Node | Key | Site,
        path: str,
        message: str,
        hint: str,
        severity: Severity,
    ) -> None:
        problem = Problem(self.file, at.line, at.col, path, message, hint, severity)
        self.problems.append(problem)

    @property
    def has_errors(self) -> bool:
        """Whether any error (not warning) was reported so far."""
        return any(p.severity == "error" for p in self.problems)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return the hint "did you mean 'x'?" for the closest choice, or ""."""
    matches = difflib.get_close_matches(word, list(choices), n=1)
    return f"did you mean {matches[0]!r}?" if matches else ""


def one_of(choices: Iterable[str]) -> str:
    """Render known choices for "expected one of ..." messages."""
    return ", ".join(sorted(choices))


def expect_map(rep: Reporter, node: Node, path: str) -> Map | None:
    """Return the node if it is a mapping; report and return None otherwise."""
    if isinstance(node, Map):
        return node
    rep.error(node, path, f"expected a mapping, got {describe(node)}")
    return None


def expect_list(
    rep: Reporter, node: Node, path: str, what: str = "a list"
) -> Seq | None:
    """Return the node if it is a list; report and return None otherwise."""
    if isinstance(node, Seq):
        return node
    rep.error(node, path, f"expected {what}, got {describe(node)}")
    return None


def expect_str(
    rep: Reporter, node: Node, path: str, what: str = "a non-empty string"
) -> str | None:
    """Return the node's text if it is a non-empty string; report otherwise."""
    if isinstance(node, Scalar) and isinstance(node.value, str) and node.value:
        return node.value
    hint = ""
    if isinstance(node, Scalar) and not isinstance(node.value, str | None):
        text = show(node.value) if isinstance(node.value, bool) else str(node.value)
        hint = f"hint: quote it to make it a string: '{text}'"
    rep.error(node, path, f"expected {what}, got {describe(node)}", hint)
    return None


def check_keys(
    rep: Reporter,
    mapping: Map,
    path: str,
    known: Collection[str],
    required: Iterable[str] = (),
) -> bool:
    """
    Report unknown keys (with a did-you-mean hint) and missing required keys.

    Returns:
        True when every key is known and every required key is present.
    """
    ok = True
    for key, _ in mapping.entries:
        if key.text not in known:
            message = f"unknown key {show(key.text)}; expected one of {one_of(known)}"
            rep.error(key, path, message, did_you_mean(key.text, known))
            ok = False
    for name in required:
        if mapping.get(name) is None:
            rep.error(mapping, path, f"missing required key {name!r}")
            ok = False
    return ok


@dataclass(frozen=True, slots=True)
class Item:
    """One entry of a top-level list, with the reporter of its file."""

    rep: Reporter
    node: Node
    path: str


@dataclass(frozen=True, slots=True)
class Site:
    """Where a name was defined, to point a duplicate or a warning back at it."""

    rep: Reporter
    path: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.rep.file}:{self.line}:{self.col}"


def unique_name(
    rep: Reporter,
    mapping: Map,
    path: str,
    pattern: re.Pattern[str],
    kind: str,
    sites: dict[str, Site],
) -> str | None:
    """Check a name's shape and uniqueness; register it at its site."""
    node = mapping.get("name")
    if node is None:
        return None
    where = child_path(path, "name")
    name = expect_str(rep, node, where, f"a {kind} name")
    if name is None:
        return None
    if not pattern.fullmatch(name):
        allowed = "lowercase letters" if kind == "source" else "letters"
        message = (
            f"expected a {kind} name of {allowed}, digits, '_', '.' and '-' "
            f"starting with a letter or digit, got {show(name)}"
        )
        rep.error(node, where, message)
        return None
    first = sites.get(name)
    if first is not None:
        rep.error(
            node, where, f"duplicate {kind} name {name!r}", f"first defined at {first}"
        )
        return None
    sites[name] = Site(rep, where, node.line, node.col)
    return name


def choice(
    rep: Reporter,
    mapping: Map,
    path: str,
    key: str,
    choices: Sequence[str],
    default: str,
) -> str | None:
    """Read the optional key ``key`` whose value must be one of ``choices``."""
    node = mapping.get(key)
    if node is None:
        return default
    where = child_path(path, key)
    value = expect_str(rep, node, where, f"one of {one_of(choices)}")
    if value is None or value in choices:
        return value
    message = f"unknown {key} {show(value)}; expected one of {one_of(choices)}"
    rep.error(node, where, message, did_you_mean(value, choices))
    return None


def node_digest(node: Node) -> str:
    """sha256 of a node's plain data: changes exactly when its definition does."""
    # repr() of plain data is deterministic and, unlike JSON, takes any integer.
    return hashlib.sha256(repr(to_plain(node)).encode()).hexdigest()
