"""Parsers: the text of one log line (or multi-line record) → its fields, or a failure.

Pure zone: this package imports only the stdlib (no os, io, pathlib, time, asyncio,
socket or sqlite3), ``bridge.model``, ``bridge.errors``, ``re2`` and ``orjson``; it
reads no clock, opens no file and logs nothing. A parser never raises for any line.

Formats (``FORMATS``, the names a source's ``format`` may take):

- ``json``, ``logfmt`` and the container formats ``docker`` and ``cri`` take no
  options: ``PARSERS`` maps them to their parser.
- ``regex`` is built from the source's patterns by ``build_regex_parser``.
- ``query`` (a URL's query string) is for ``parse:`` layers, not for whole lines.

A source carries its built parser (``SourceDef.parser``), so the hot path is one
call whatever the format; ``record_parser`` wraps it for multi-line sources. Lines
that must be joined before they are parsed (a multi-line record, the parts of a long
container line) go through an ``Assembler``, one per file.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Protocol

from bridge.model import Line
from bridge.parse.containers import (
    CRI,
    DOCKER,
    PartialAssembler,
    parse_cri,
    parse_docker,
)
from bridge.parse.failure import ParseFailure, Parser
from bridge.parse.jsonl import BlockScan, parse_json, scan_json_block
from bridge.parse.logfmt import parse_logfmt
from bridge.parse.multiline import (
    MultilineAssembler,
    MultilineSpec,
    record_parser,
)
from bridge.parse.query import parse_query
from bridge.parse.regex import build_regex_parser

__all__ = [
    "CONTAINER_FORMATS",
    "CRI",
    "DOCKER",
    "FORMATS",
    "PARSERS",
    "Assembler",
    "BlockScan",
    "MultilineAssembler",
    "MultilineSpec",
    "ParseFailure",
    "Parser",
    "PartialAssembler",
    "build_regex_parser",
    "parse_cri",
    "parse_docker",
    "parse_json",
    "parse_logfmt",
    "parse_query",
    "record_parser",
    "scan_json_block",
]

PARSERS: Mapping[str, Parser] = MappingProxyType(
    {
        "json": parse_json,
        "logfmt": parse_logfmt,
        "docker": parse_docker,
        "cri": parse_cri,
    }
)
FORMATS = (*PARSERS, "regex")
CONTAINER_FORMATS = MappingProxyType({"docker": DOCKER, "cri": CRI})


class Assembler(Protocol):
    """Joins the lines of one file into the lines a parser reads (pure; time given)."""

    too_long: int

    def feed(self, line: Line, now: float) -> list[Line]:
        """Add the next line; return the lines it completed, in order."""
        ...

    def flush(self, now: float, *, force: bool = False) -> list[Line]:
        """Close what waited long enough (everything with ``force``)."""
        ...

    def pending_offset(self) -> int | None:
        """The offset of the oldest line held back, or None."""
        ...
