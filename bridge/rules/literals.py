"""Literals a raw line must contain for a rule to match: the prefilter's knowledge.

A source whose every rule requires one of a few literal strings lets the pipeline skip
most lines without parsing them: a line that contains none of the literals cannot
match any rule. This module derives those literals from the condition trees at load.

Why it is safe: in a line without a backslash, every string value the parsers produce
(JSON, logfmt, regex) is a verbatim slice of the line, because only an escape sequence
can make a decoded value differ from its raw bytes. So if a value contains a literal,
the raw line contains it too, unless the line has a backslash; the pipeline therefore
always parses lines that contain a backslash. Equality with a string that reads as a
number is never used (a JSON number may be written ``1.5e1`` and still equal "15.0").

Invariants: ``None`` means "no literal can be required" (the line must be parsed);
a tuple is a set of alternatives, at least one of which any matching line contains.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bridge.rules.conditions import Check, Cond, FieldCond
from bridge.rules.ruleset import CompiledRule

__all__ = ["ESCAPE", "required_literals", "source_literals"]

# Lines holding this byte are always parsed: an escape may hide a literal.
ESCAPE = b"\\"


def source_literals(rules: Sequence[CompiledRule]) -> tuple[bytes, ...] | None:
    """
    Alternatives one of which every line matching any of ``rules`` contains, as UTF-8;
    None when some rule could match a line without any literal.
    """
    if not rules:
        return None
    alternatives: set[str] = set()
    for rule in rules:
        found = required_literals(rule.condition) if rule.condition else None
        if found is None:
            return None
        alternatives.update(found)
    return tuple(sorted(literal.encode() for literal in alternatives))


def required_literals(cond: Cond) -> frozenset[str] | None:
    """Alternatives a line satisfying ``cond`` must contain one of, or None."""
    if isinstance(cond, FieldCond):
        return _best(_check_literals(check) for check in cond.checks)
    if cond.kind == "all":
        return _best(required_literals(child) for child in cond.children)
    if cond.kind == "any":
        union: set[str] = set()
        for child in cond.children:
            found = required_literals(child)
            if found is None:
                return None
            union.update(found)
        return frozenset(union) if union else None
    return None  # "not": a line may match by lacking something


def _check_literals(check: Check) -> frozenset[str] | None:
    op, operand = check.op, check.operand
    if op == "eq":
        return _literal_set([operand])
    if op == "in" and isinstance(operand, list | tuple):
        return _literal_set(operand)
    if op in ("contains", "startswith", "endswith") and isinstance(operand, str):
        return frozenset([operand]) if operand else None
    return None


def _literal_set(values: Iterable[object]) -> frozenset[str] | None:
    found = set()
    for value in values:
        if not isinstance(value, str) or not value or _reads_as_number(value):
            return None
        found.add(value)
    return frozenset(found) if found else None


def _reads_as_number(text: str) -> bool:
    # Equality with a number compares texts (coercions.equals): "true"/"false" match
    # JSON booleans written the same way, but a float has many spellings.
    try:
        float(text)
    except ValueError:
        return False
    return True


def _best(options: Iterable[frozenset[str] | None]) -> frozenset[str] | None:
    """Of several requirements that all hold, the most selective one."""
    best: frozenset[str] | None = None
    for option in options:
        if option is None:
            continue
        if best is None or _selectivity(option) > _selectivity(best):
            best = option
    return best


def _selectivity(option: frozenset[str]) -> tuple[int, int]:
    # Fewer alternatives first, then longer ones: a long literal is rarer in a line.
    return (-len(option), min(len(literal) for literal in option))
