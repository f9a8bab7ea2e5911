"""The rules core: rule files → a frozen ``RuleSet`` that maps records to events.

Pure zone (flask's sansio idea, applied to rules): this package imports only the
stdlib (no os, io, pathlib, time, asyncio, socket or sqlite3), ``bridge.model``,
``bridge.errors``, ``bridge.parse``, ``bridge.yamlnodes`` (the YAML reader it shares
with the configuration file; no module here imports ``yaml``), ``re2`` and
``orjson``. It reads no clock, opens no file, logs nothing and keeps no
module-level mutable state: the same files always compile to the same RuleSet, and
the same record always yields the same events. What rules must remember between
records (rate-limit buckets, aggregation windows) lives in a ``RuleState`` the
caller owns. ``tests/test_architecture.py`` enforces the import and call rules.

Theory of operation: ``compile_rules`` parses every file into positioned nodes
(``bridge.yamlnodes``), checks them with breadcrumbs (``schema``, ``compiler``), and
turns conditions and values into plain closures (``conditions``, the ``values``
subpackage, ``persons``, ``exceptions``, ``limits``, ``aggregate``,
``timestamps``); ``RuleSet.apply`` (``ruleset``) only calls them. ``cases`` runs
the rule files' tests, ``explain`` says why a line does or does not match, and
``render`` turns both into text.
"""

from __future__ import annotations

from bridge.rules.cases import CaseResult, run_cases
from bridge.rules.compiler import compile_rules
from bridge.rules.explain import Explanation, explain
from bridge.rules.fieldpaths import MISSING
from bridge.rules.render import render_case_results, render_explanation
from bridge.rules.ruleset import (
    PERSONLESS_PROPERTY,
    CompiledRule,
    ExpectedEvent,
    RuleCase,
    RuleSet,
    SourceDef,
)
from bridge.rules.state import RuleState

__all__ = [
    "MISSING",
    "PERSONLESS_PROPERTY",
    "CaseResult",
    "CompiledRule",
    "ExpectedEvent",
    "Explanation",
    "RuleCase",
    "RuleSet",
    "RuleState",
    "SourceDef",
    "compile_rules",
    "explain",
    "render_case_results",
    "render_explanation",
    "run_cases",
]
