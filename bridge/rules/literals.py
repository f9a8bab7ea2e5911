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

Numeric thresholds: in a JSON line, ``duration_ms: {gt: 1000}`` (or ``gte``, with a
bound of at least 1) can only hold where the key ``"duration_ms"`` is followed by
something other than a number plainly below the bound: a minus sign, or fewer digits
than the bound's integer part, or as many with a smaller first digit. The key is
written verbatim in any line without a backslash, so a ``Threshold`` needle (a regular
expression over the raw bytes) selects every line that may match, whatever the key's
nesting or repetition: each occurrence that is not plainly below makes the line a
candidate. Strings, booleans, arrays and exponents are never "plainly below". A
duration bound (``took: {gt: 1s}``) gives no threshold: its field may be text.

Fields made by a source's ``parse:`` layers (``bridge.rules.layers``): their values
come from a field's text, so they are in the raw line as written when the layer's
format keeps values verbatim (JSON, logfmt, regex) and the line holds no backslash;
a query string is decoded, so conditions on what it makes require no literal. No
threshold is ever derived for them: their keys are not written ``"key":`` in the line.

Invariants: ``None`` means "no literal can be required" (the line must be parsed);
a tuple is a set of alternatives, at least one of which any matching line contains.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bridge.rules.conditions import Check, Cond, FieldCond
from bridge.rules.fieldpaths import Segment, parse_field_path
from bridge.rules.layers import Layer
from bridge.rules.ruleset import CompiledRule

__all__ = ["ESCAPE", "Needle", "Threshold", "required_literals", "source_literals"]

# Lines holding this byte are always parsed: an escape may hide a literal.
ESCAPE = b"\\"
# Where a JSON value ends: what may follow a number in a valid object.
_VALUE_END = rb"[,}\] \t\r]"
_JSON_SPACE = rb"[ \t\r]*"


@dataclass(frozen=True, slots=True)
class Threshold:
    """``key`` above ``bound`` (``gt``, or ``gte`` when ``inclusive``) in a JSON line."""

    key: str
    bound: float
    inclusive: bool

    def pattern(self) -> re.Pattern[bytes]:
        """Matches each occurrence of the key whose value is not plainly below."""
        whole = math.floor(self.bound)  # at least 1
        digits = str(whole)
        below = ["-"]  # a negative number: below any bound of 1 or more
        if len(digits) > 1:
            below.append(
                f"[0-9]{{1,{len(digits) - 1}}}(?:\\.[0-9]+)?{_VALUE_END.decode()}"
            )
        lowest = "0" if len(digits) == 1 else "1"  # JSON writes no leading zero
        if digits[0] > lowest:
            first = f"[{lowest}-{int(digits[0]) - 1}]"
            rest = f"[0-9]{{{len(digits) - 1}}}" if len(digits) > 1 else ""
            below.append(f"{first}{rest}(?:\\.[0-9]+)?{_VALUE_END.decode()}")
        key = re.escape(self.key.encode())
        plainly_below = "|".join(below).encode()
        return re.compile(
            b'"'
            + key
            + b'"'
            + _JSON_SPACE
            + b":"
            + _JSON_SPACE
            + b"(?!"
            + plainly_below
            + b")"
        )


# A needle: a literal, or a threshold (JSON sources only).
Needle = str | Threshold


@dataclass(frozen=True, slots=True)
class _Layered:
    """The fields ``parse:`` layers make: where they go, and whether verbatim."""

    targets: tuple[tuple[tuple[Segment, ...], bool], ...] = ()

    def of(self, path: str) -> tuple[bool, bool]:
        """(made by a layer, verbatim) for a condition's field path."""
        segments = parse_field_path(path)
        if isinstance(segments, str):
            return True, False
        keys = [key for key, _ in segments]
        verbatim = True
        layered = False
        for into, is_verbatim in self.targets:
            if keys[: len(into)] == [key for key, _ in into]:
                layered = True
                verbatim = verbatim and is_verbatim
        return layered, verbatim


def source_literals(
    rules: Sequence[CompiledRule],
    *,
    json: bool = False,
    layers: Sequence[Layer] = (),
) -> tuple[bytes | re.Pattern[bytes], ...] | None:
    """
    Alternatives one of which every line matching any of ``rules`` contains (UTF-8
    literals, and with ``json`` the patterns of thresholds); None when some rule
    could match a line without any. ``layers`` are the source's ``parse:`` layers.
    """
    if not rules:
        return None
    layered = _Layered(tuple((layer.into, layer.verbatim) for layer in layers))
    alternatives: set[Needle] = set()
    for rule in rules:
        found = (
            required_literals(rule.condition, json=json, layered=layered)
            if rule.condition
            else None
        )
        if found is None:
            return None
        alternatives.update(found)
    literals = sorted(n.encode() for n in alternatives if isinstance(n, str))
    thresholds = sorted(
        (n for n in alternatives if isinstance(n, Threshold)),
        key=lambda n: (n.key, n.bound, n.inclusive),
    )
    return (*literals, *(threshold.pattern() for threshold in thresholds))


def required_literals(
    cond: Cond, *, json: bool = False, layered: _Layered | None = None
) -> frozenset[Needle] | None:
    """Alternatives a line satisfying ``cond`` must contain one of, or None."""
    layered = layered or _Layered()
    if isinstance(cond, FieldCond):
        made, verbatim = layered.of(cond.path)
        if made and not verbatim:
            return None
        return _best(
            _check_literals(cond, check, json=json and not made)
            for check in cond.checks
        )
    if cond.kind == "all":
        return _best(
            required_literals(child, json=json, layered=layered)
            for child in cond.children
        )
    if cond.kind == "any":
        union: set[Needle] = set()
        for child in cond.children:
            found = required_literals(child, json=json, layered=layered)
            if found is None:
                return None
            union.update(found)
        return frozenset(union) if union else None
    return None  # "not": a line may match by lacking something


def _check_literals(
    cond: FieldCond, check: Check, *, json: bool
) -> frozenset[Needle] | None:
    op, operand = check.op, check.operand
    if op == "eq":
        return _literal_set([operand])
    if op == "in" and isinstance(operand, list | tuple):
        return _literal_set(operand)
    if op in ("contains", "startswith", "endswith") and isinstance(operand, str):
        return frozenset([operand]) if operand else None
    if op in ("gt", "gte") and json and check.unreadable is None:
        # A number bound; a duration bound ("1s") may hold for text and any number.
        return _threshold(cond.path, operand, inclusive=op == "gte")
    return None


def _threshold(path: str, bound: float, *, inclusive: bool) -> frozenset[Needle] | None:
    segments = parse_field_path(path)
    if isinstance(segments, str) or not math.isfinite(bound) or bound < 1:
        return None
    key, index = segments[-1]
    if index is not None or any(c in key for c in '"\\') or not key.isprintable():
        # A list index has no key in the line; a quote, backslash or control
        # character would be escaped in it.
        return None
    return frozenset([Threshold(key, bound, inclusive)])


def _literal_set(values: Iterable[object]) -> frozenset[str] | None:
    found = set()
    for value in values:
        if not isinstance(value, str) or not value or _reads_as_number(value):
            return None
        found.add(value)
    return frozenset(found) if found else None


def _reads_as_number(text: str) -> bool:
    # Equality with a number compares texts (values.types.equals): "true"/"false" match
    # JSON booleans written the same way, but a float has many spellings.
    try:
        float(text)
    except ValueError:
        return False
    return True


def _best(options: Iterable[frozenset[Needle] | None]) -> frozenset[Needle] | None:
    """Of several requirements that all hold, the most selective one."""
    best: frozenset[Needle] | None = None
    for option in options:
        if option is None:
            continue
        if best is None or _selectivity(option) > _selectivity(best):
            best = option
    return best


def _selectivity(option: frozenset[Needle]) -> tuple[bool, int, int]:
    # Literals before thresholds (a literal is found without a regular expression);
    # then fewer alternatives, then longer ones: a long literal is rarer in a line.
    texts = [needle for needle in option if isinstance(needle, str)]
    shortest = min((len(text) for text in texts), default=0)
    return (len(texts) == len(option), -len(option), shortest)
