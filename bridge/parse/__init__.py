"""Parsers: the text of one log line (or multi-line record) → its fields, or a failure.

Pure zone: this package imports only the stdlib (no os, io, pathlib, time, asyncio,
socket or sqlite3), ``bridge.model``, ``bridge.errors``, ``re2`` and ``orjson``; it
reads no clock, opens no file and logs nothing. A parser never raises for any line.

Formats (``FORMATS``, the names a source's ``format`` may take):

- ``json`` and ``logfmt`` take no options: ``PARSERS`` maps them to their parser.
- ``regex`` is built from the source's patterns by ``build_regex_parser``.

A source carries its built parser (``SourceDef.parser``), so the hot path is one
call whatever the format; ``record_parser`` wraps it for multi-line sources.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from bridge.parse.failure import ParseFailure, Parser
from bridge.parse.jsonl import BlockScan, parse_json, scan_json_block
from bridge.parse.logfmt import parse_logfmt
from bridge.parse.multiline import (
    MultilineAssembler,
    MultilineSpec,
    record_parser,
)
from bridge.parse.regex import build_regex_parser

__all__ = [
    "FORMATS",
    "PARSERS",
    "BlockScan",
    "MultilineAssembler",
    "MultilineSpec",
    "ParseFailure",
    "Parser",
    "build_regex_parser",
    "parse_json",
    "parse_logfmt",
    "record_parser",
    "scan_json_block",
]

PARSERS: Mapping[str, Parser] = MappingProxyType(
    {"json": parse_json, "logfmt": parse_logfmt}
)
FORMATS = (*PARSERS, "regex")
