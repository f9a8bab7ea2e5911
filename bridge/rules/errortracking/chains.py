"""Exception chains: a trace that holds several exceptions → one item per exception.

A real trace names its exceptions, and often more than one:

- Python: tracebacks joined by "During handling of the above exception, another
  exception occurred:" or "The above exception was the direct cause of the
  following exception:", each ending in its ``Type: message`` line; the last one is
  the exception finally raised;
- Java and Kotlin: a header ``com.acme.PaymentException: charge failed``, its
  ``at`` frames, then ``Caused by: java.net.SocketTimeoutException: Read timed out``
  with its own frames (and ``... 12 more``), the header being the exception raised;
- Node: a header ``TypeError: x is not a function`` over its ``at`` frames.

``parse_chain`` gives them outermost first (the exception raised, then its causes),
the order PostHog's SDKs send an ``$exception_list`` in (reference/posthog-capture.md
§9, posthog-python's exception_utils). A trace in which no exception is named (a Go
panic, bare frames) gives an empty list: the rule's own ``type`` and ``value`` then
describe its one exception.

Invariants: pure, never raises; every exception has a non-empty type and at least
one frame (``bridge.rules.errortracking.traces.parse_frames``); at most ``MAX_CHAIN`` exceptions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bridge.rules.errortracking.traces import parse_frames

__all__ = ["MAX_CHAIN", "TracedException", "parse_chain"]

# posthog-python stops following __cause__/__context__ after a few levels too; a chain
# longer than this is a loop or a log's own noise.
MAX_CHAIN = 10

_PYTHON_START = "Traceback (most recent call last):"
_PYTHON_LINKS = (
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
)
# "KeyError: 'x'", "app.errors.PaymentError: declined", "StopIteration".
_PYTHON_EXCEPTION = re.compile(r"(?P<type>[A-Za-z_][\w.]*)(?::\s?(?P<value>.*))?")
# "com.acme.PaymentException: charge failed", "java.lang.IllegalStateException".
_JAVA_HEADER = re.compile(
    r"(?:Caused by: )?(?P<type>[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+)"
    r"(?::\s?(?P<value>.*))?"
)
_CAUSED_BY = "Caused by: "
# "TypeError: x is not a function", "Error", "RangeError [ERR_OUT_OF_RANGE]: ...".
_NODE_HEADER = re.compile(r"(?P<type>[A-Z]\w*(?: \[[A-Z_]+\])?)(?::\s?(?P<value>.*))?")
_AT = re.compile(r"\s+at \S")


@dataclass(frozen=True, slots=True)
class TracedException:
    """One exception of a trace: its type, its message, its frames."""

    type: str
    value: str
    frames: list[dict[str, Any]]


def parse_chain(text: str) -> list[TracedException]:
    """The exceptions a trace names, outermost first; [] when it names none."""
    if _PYTHON_START in text:
        return _python_chain(text)[:MAX_CHAIN]
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None or not any(_AT.match(line) for line in lines):
        return []
    if _JAVA_HEADER.fullmatch(lines[first].strip()):
        return _java_chain(lines[first:])[:MAX_CHAIN]
    header = _NODE_HEADER.fullmatch(lines[first].strip())
    if header is None:
        return []
    rest = "\n".join(lines[first + 1 :])
    return [_traced(header, parse_frames(rest))]


def _python_chain(text: str) -> list[TracedException]:
    pattern = "|".join(re.escape(link) for link in _PYTHON_LINKS)
    chain: list[TracedException] = []
    for part in re.split(pattern, text):
        if _PYTHON_START not in part:
            continue
        block = part[part.index(_PYTHON_START) :]
        traced = _python_exception(block)
        if traced is not None:
            chain.append(traced)
    chain.reverse()  # the last traceback is the exception finally raised
    return chain


def _python_exception(block: str) -> TracedException | None:
    """
    One traceback's exception: the first unindented line after its frames.

    A message may span lines (SQLAlchemy adds ``[SQL: ...]``, a ``ValueError`` may
    quote a multi-line input): the lines after the exception's own belong to it.
    """
    lines = block.splitlines()
    for i, line in enumerate(lines[1:], start=1):
        if not line or line[0].isspace():
            continue
        found = _PYTHON_EXCEPTION.fullmatch(line.strip())
        if found is None:
            continue
        value = "\n".join([found["value"] or "", *lines[i + 1 :]]).strip()
        frames = parse_frames("\n".join(lines[:i]))
        return TracedException(found["type"], value, frames)
    return None


def _java_chain(lines: list[str]) -> list[TracedException]:
    chain: list[TracedException] = []
    header: re.Match[str] | None = None
    body: list[str] = []
    for line in lines:
        stripped = line.strip()
        if header is None or stripped.startswith(_CAUSED_BY):
            found = _JAVA_HEADER.fullmatch(stripped)
            if found is not None:
                if header is not None:
                    chain.append(_traced(header, parse_frames("\n".join(body))))
                header, body = found, []
                continue
        body.append(line)
    if header is not None:
        chain.append(_traced(header, parse_frames("\n".join(body))))
    return chain


def _traced(header: re.Match[str], frames: list[dict[str, Any]]) -> TracedException:
    return TracedException(header["type"], (header["value"] or "").strip(), frames)
