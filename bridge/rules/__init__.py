"""The rules core: rule files → a frozen ``RuleSet`` that maps records to events.

Pure zone (flask's sansio idea, applied to rules): this package imports only the
stdlib (no os, io, pathlib, time, asyncio, socket or sqlite3), ``bridge.model``,
``bridge.errors``, ``bridge.parse``, ``re2``, ``orjson``, and ``yaml`` in
``yamlnodes`` alone. It reads no clock, opens no file, logs nothing and keeps no
module-level mutable state: the same files always compile to the same RuleSet, and
the same record always yields the same events. ``tests/test_architecture.py``
enforces the import and call rules.

Theory of operation: ``compile_rules`` parses every file into positioned nodes
(``yamlnodes``), checks them with breadcrumbs (``schema``, ``compiler``), and turns
conditions and values into plain closures (``conditions``, ``mappings``,
``timestamps``); ``RuleSet.apply`` (``ruleset``) only calls them.
"""

from __future__ import annotations

from bridge.rules.compiler import compile_rules
from bridge.rules.fieldpaths import MISSING
from bridge.rules.ruleset import (
    PERSONLESS_PROPERTY,
    CompiledRule,
    RuleCase,
    RuleSet,
    SourceDef,
)

__all__ = [
    "MISSING",
    "PERSONLESS_PROPERTY",
    "CompiledRule",
    "RuleCase",
    "RuleSet",
    "SourceDef",
    "compile_rules",
]
