"""The ``regex`` parser: RE2 patterns whose named groups become string fields.

Invariants:

- Every pattern is compiled once, at load, by RE2: matching takes time linear in
  the line, so neither a pattern nor a line can make the daemon hang.
- A source's patterns are tried in order and the first that matches wins; a line
  none of them matches is ``ParseFailure("no_pattern_matched")``.
- Patterns search the line (add ``^`` to anchor them). The named groups that took
  part in the match become string fields; an optional group that did not is
  absent. A pattern without a named group, or with a name used twice (RE2 would
  quietly keep only the first group of that name), is refused at load.
- A trailing ``\\r`` is not part of the line (the reader strips a byte-order mark
  from the start of a file; anywhere else it is text like any other).
- The parser never raises and never returns a lone surrogate.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import re2

from bridge.parse.failure import ParseFailure

__all__ = [
    "build_regex_parser",
    "compile_re2",
    "duplicate_group_name",
    "is_search_match",
]

# What opens a named group in RE2's syntax: (?P<name> and (?<name>; escapes and
# character classes are skipped so that \(?P<x> or [(?P<x>] do not count.
_GROUP_SYNTAX = re.compile(r"\\.|\[\^?\]?(?:\\.|[^\]\\])*\]|\(\?P?<([^>]*)>", re.DOTALL)


def compile_re2(text: str) -> re2._Regexp[str] | str:
    """
    Compile an RE2 pattern.

    Returns:
        The compiled pattern, or RE2's reason for refusing it.
    """
    options = re2.Options()
    # RE2 would also print the error to stderr; the caller reports it instead.
    options.log_errors = False
    try:
        return re2.compile(text, options)
    except re2.error as exc:
        return exc.args[0].decode(errors="replace") if exc.args else "invalid pattern"
    except UnicodeEncodeError:
        # A YAML escape such as "\ud800" yields a lone surrogate, which has no UTF-8.
        return "invalid UTF-8"


def duplicate_group_name(text: str) -> str | None:
    """Return a group name the pattern uses twice, which RE2 accepts silently."""
    seen: set[str] = set()
    for found in _GROUP_SYNTAX.finditer(text):
        name = found.group(1)
        if name in seen:
            return name
        if name is not None:
            seen.add(name)
    return None


def build_regex_parser(
    patterns: Sequence[re2._Regexp[str]],
) -> Callable[[str], dict[str, Any] | ParseFailure]:
    """Return the parser trying ``patterns`` in order; the first match wins."""
    plan = tuple(
        (regex.search, sorted(regex.groupindex.items(), key=lambda item: item[1]))
        for regex in patterns
    )
    count = len(plan)
    detail = f"the line matched none of the {count} pattern{'s' * (count != 1)}"

    def parse_regex(text: str) -> dict[str, Any] | ParseFailure:
        if text.endswith("\r"):
            text = text[:-1]
        # RE2 works on UTF-8: matching bytes and slicing them by the byte offsets
        # it returns skips the wrapper's costly offset translation for str input.
        # surrogatepass/replace: no input raises and no lone surrogate comes out.
        data = text.encode("utf-8", "surrogatepass")
        for search, names in plan:
            found = search(data)
            if found is None:
                continue
            fields: dict[str, Any] = {}
            for name, index in names:
                start, stop = found.span(index)
                if start >= 0:
                    fields[name] = data[start:stop].decode("utf-8", "replace")
            return fields
        return ParseFailure("no_pattern_matched", detail)

    return parse_regex


def is_search_match(regex: re2._Regexp[str]) -> Callable[[str], bool]:
    """Return a predicate: does ``regex`` match somewhere in the line."""
    search = regex.search

    def matches(text: str) -> bool:
        return search(text.encode("utf-8", "surrogatepass")) is not None

    return matches
