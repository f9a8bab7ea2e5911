"""Parsers: the text of one log line → its fields, or a ``ParseFailure``.

Pure zone: this package imports only the stdlib (no os, io, pathlib, time, asyncio,
socket or sqlite3), ``bridge.model``, ``bridge.errors``, ``re2`` and ``orjson``; it
reads no clock, opens no file and logs nothing. A parser never raises for any line.

``PARSERS`` maps a source's ``format`` name to its parser; the rule-file schema lists
its keys as the known formats, so registering a parser here is all a new format needs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from bridge.parse.failure import ParseFailure
from bridge.parse.jsonl import parse_json

__all__ = ["PARSERS", "ParseFailure", "Parser", "parse_json"]

Parser = Callable[[str], dict[str, Any] | ParseFailure]

PARSERS: Mapping[str, Parser] = MappingProxyType({"json": parse_json})
