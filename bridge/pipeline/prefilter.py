"""The prefilter: the lines of a block worth parsing, found without parsing them.

A source's rules name literals one of which a line must hold to match (and, for
JSON, number thresholds as byte patterns: ``bridge.rules.literals``). A block of
valid UTF-8 is searched for them with ``bytes.find`` and compiled patterns, in C;
only the lines found are parsed. A source whose lines may join into records
(``multiline``) or whose rules name no literal is never prefiltered.

Invariant: a line the prefilter skips can match no rule of the source: the
literals are derived from every rule's conditions, and a line holding an escape
(``\\``) is always kept, since its text may spell a literal differently.
"""

from __future__ import annotations

import re

from bridge.model import Line
from bridge.rules import RuleSet
from bridge.rules.literals import ESCAPE, source_literals
from bridge.source import Chunk

__all__ = [
    "Needles",
    "candidate_spans",
    "candidates_of",
    "is_utf8",
    "literals_by_source",
]

Needles = tuple[bytes | re.Pattern[bytes], ...]


def literals_by_source(ruleset: RuleSet) -> dict[str, Needles]:
    """
    Per source, the literals (and, for JSON, threshold patterns) one of which a line
    must hold to be worth parsing.
    """
    found = {}
    for source in ruleset.sources:
        if source.joins is not None:
            continue  # every line may belong to a record that matches
        rules = [rule for rule in ruleset.rules if rule.source == source.name]
        literals = source_literals(
            rules, json=source.format == "json", layers=source.layers
        )
        if literals is not None:
            found[source.name] = (*literals, ESCAPE)
    return found


def is_utf8(block: bytes) -> bool:
    try:
        block.decode()
    except UnicodeDecodeError:
        return False
    return True


def candidate_spans(block: bytes, needles: Needles) -> list[tuple[int, bytes]]:
    """
    The lines of the block that contain one of ``needles``, in order, with their
    offsets in it; ``\\n`` and one ``\\r`` cut.
    """
    starts: set[int] = set()
    find, rfind = block.find, block.rfind
    for needle in needles:
        if not isinstance(needle, bytes):
            starts.update(
                rfind(b"\n", 0, m.start()) + 1 for m in needle.finditer(block)
            )
            continue
        at = find(needle)
        while at >= 0:
            starts.add(rfind(b"\n", 0, at) + 1)
            # The block ends with a newline, so there is one after every match.
            at = find(needle, find(b"\n", at) + 1)
    spans = []
    for begin in sorted(starts):
        end = find(b"\n", begin)
        if block[end - 1 : end] == b"\r":
            end -= 1
        spans.append((begin, block[begin:end]))
    return spans


def candidates_of(chunk: Chunk, needles: Needles, source: str) -> list[Line]:
    """The lines of the chunk's block (valid UTF-8) holding one of ``needles``."""
    return [
        chunk.line_at(begin, raw.decode(), source)
        for begin, raw in candidate_spans(chunk.block, needles)
    ]
