"""Which literals a rule's conditions require of a raw line (the prefilter's input)."""

from __future__ import annotations

import pytest

from bridge.rules import compile_rules
from bridge.rules.literals import source_literals

HEAD = "sources:\n  - {name: s, paths: [x]}\nrules:\n  - name: r\n    source: s\n    event: e\n"


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("{event: order_processed}", (b"order_processed",)),
        ("{event: order_processed, level: {in: [INFO, WARN]}}", (b"order_processed",)),
        ("{level: {in: [INFO, WARN]}}", (b"INFO", b"WARN")),
        ("{msg: {contains: timeout}}", (b"timeout",)),
        ("{msg: {startswith: GET}, status: 500}", (b"GET",)),
        ("{any: [{a: x1}, {b: {endswith: y2}}]}", (b"x1", b"y2")),
        ("{any: [{a: x1}, {b: {gt: 3}}]}", None),
        ("{status: '200'}", None),  # a number may be spelled many ways
        ("{amount: {gt: 0}}", None),
        ("{a: {ne: x}}", None),
        ("{not: {a: x}}", None),
        ("{a: {regex: 'x+'}}", None),
        ("{a: {exists: true}}", None),
        ("{a: ''}", None),
        ("{a: true}", None),
    ],
    ids=[
        "eq",
        "and-picks-one",
        "in",
        "contains",
        "startswith-and-number",
        "any-union",
        "any-with-numeric",
        "numeric-string",
        "gt",
        "ne",
        "not",
        "regex",
        "exists",
        "empty",
        "bool",
    ],
)
def test_required_literals(when: str, expected: tuple[bytes, ...] | None) -> None:
    ruleset = compile_rules([("r.yaml", HEAD + f"    when: {when}\n")])

    assert source_literals(ruleset.rules) == expected


def test_a_rule_without_when_needs_no_literal() -> None:
    ruleset = compile_rules([("r.yaml", HEAD)])

    assert source_literals(ruleset.rules) is None


def test_no_rules_need_no_literal() -> None:
    assert source_literals(()) is None
