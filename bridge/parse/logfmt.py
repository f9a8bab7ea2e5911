"""The ``logfmt`` parser: ``key=value key2="quoted \\"value\\"" bare_key key3=``.

Invariants:

- ``parse_logfmt`` never raises, whatever the text.
- Values stay strings (the rules' ``type:`` converts them); a bare key is ``True``;
  ``key=`` is the empty string; a repeated key keeps its last value.
- Pairs are separated by spaces or tabs (a trailing ``\\r`` of a CRLF line is one
  too). A key is any run of characters other than those, ``=`` and ``"``.
- A quoted value ends at the first unescaped ``"``; inside it ``\\"``, ``\\\\``,
  ``\\n``, ``\\t``, ``\\r`` and ``\\uXXXX`` are unescaped, and any other backslash is
  kept as written. An unquoted value runs to the next separator and is kept as
  written, backslashes included: structlog's ``LogfmtRenderer`` writes a Windows
  path unquoted and unescaped, which is far more common than a newline in a value
  without spaces (which structlog writes as ``\\n`` too, so the two look alike).
- Malformed input is a failure, never a guess: an unterminated quote, a quote or
  ``=`` where a key should start, or text glued to a closing quote gives
  ``ParseFailure("invalid_logfmt")`` with the 1-based column, never the line text.
- An empty line has no fields (the reader skips blank lines before parsing, and
  strips a byte-order mark from the start of a file only).
"""

from __future__ import annotations

import re
from typing import Any

from bridge.parse.failure import ParseFailure

__all__ = ["parse_logfmt"]

_SEPARATORS = " \t\r"
_SEPARATOR = re.compile(r"[ \t\r]")
_KEY = re.compile(r'[^ \t\r="]+')
# The body of a quoted value and its closing quote; the unrolled loop
# (Friedl's "normal* (special normal*)*") stays linear even when unterminated.
_QUOTED = re.compile(r'([^"\\]*(?:\\.[^"\\]*)*)"', re.DOTALL)
# The fast path: one pair and the separators after it, or nothing on anything
# malformed (the lookahead and (?!") make a bad quote fail instead of backtrack).
_PAIR = re.compile(
    r'([^ \t\r="]+)'
    r'(?:="([^"\\]*(?:\\.[^"\\]*)*)"(?=[ \t\r]|\Z)|=(?!")([^ \t\r]*))?'
    r"[ \t\r]*",
    re.DOTALL,
)
_ESCAPE = re.compile(r"\\(u[0-9A-Fa-f]{4}|.)", re.DOTALL)
_SIMPLE_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r"}
_REPLACEMENT = "\ufffd"


def parse_logfmt(text: str) -> dict[str, Any] | ParseFailure:
    """
    Return the fields of a logfmt line, or why it is not one.
    """
    fields: dict[str, Any] = {}
    end = len(text)
    pos = _skip_separators(text, 0)
    match = _PAIR.match
    while pos < end:
        pair = match(text, pos)
        if pair is None:
            # Rare: let the step-by-step reading say what is wrong, and where.
            return _parse_stepwise(text)
        key, quoted, unquoted = pair.groups()
        if quoted is not None:
            fields[key] = _ESCAPE.sub(_unescape, quoted) if "\\" in quoted else quoted
        else:
            fields[key] = True if unquoted is None else unquoted
        pos = pair.end()
    return fields


def _parse_stepwise(text: str) -> dict[str, Any] | ParseFailure:
    """The reference reading, one token at a time; parse_logfmt agrees with it."""
    fields: dict[str, Any] = {}
    end = len(text)
    pos = _skip_separators(text, 0)
    while pos < end:
        key_match = _KEY.match(text, pos)
        if key_match is None:
            # Only '=' or '"' can stand where a key should start.
            return _failure(f"expected a key, got {text[pos]!r}", pos)
        key = key_match.group()
        pos = key_match.end()
        if pos == end or text[pos] in _SEPARATORS:
            fields[key] = True
        elif text[pos] == '"':
            return _failure("unexpected '\"' in a key", pos)
        elif pos + 1 < end and text[pos + 1] == '"':
            quoted = _QUOTED.match(text, pos + 2)
            if quoted is None:
                return _failure("unterminated quoted value", pos + 1)
            body = quoted.group(1)
            fields[key] = _ESCAPE.sub(_unescape, body) if "\\" in body else body
            pos = quoted.end()
            if pos < end and text[pos] not in _SEPARATORS:
                return _failure("expected a space after the closing quote", pos)
        else:
            separator = _SEPARATOR.search(text, pos + 1)
            stop = end if separator is None else separator.start()
            fields[key] = text[pos + 1 : stop]
            pos = stop
        pos = _skip_separators(text, pos)
    return fields


def _skip_separators(text: str, pos: int) -> int:
    # Pairs are mostly one space apart: a loop beats a regex call here.
    while pos < len(text) and text[pos] in _SEPARATORS:
        pos += 1
    return pos


def _unescape(match: re.Match[str]) -> str:
    escaped = match.group(1)
    if len(escaped) == 1:
        return _SIMPLE_ESCAPES.get(escaped, match.group())
    code = int(escaped[1:], 16)
    # A lone surrogate could never be encoded as JSON when the event is spooled.
    return _REPLACEMENT if 0xD800 <= code <= 0xDFFF else chr(code)


def _failure(what: str, index: int) -> ParseFailure:
    return ParseFailure("invalid_logfmt", f"{what} at column {index + 1}")
