"""Values handed from one pipeline stage to the next; none is changed once built.

``Line``, ``Record`` and ``Event`` are built once per matched line, so they are plain
slotted dataclasses: a frozen one costs about three times as much to construct.

``Line`` (tail) → ``Record`` (parse) → ``Event`` (rules) → spooled row → batch (sink).

Invariant: an event's ``uuid`` depends only on where its line sits (source, file
identity, byte offset) and on the rule that produced it, so reading the same line
again after a crash, or re-sending a batch, yields the same uuid, and PostHog's
storage collapses the copies.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

__all__ = [
    "EVENT_NAMESPACE",
    "JSON_OPTIONS",
    "BigInt",
    "Checkpoint",
    "Event",
    "Line",
    "Record",
    "event_uuid",
    "exact_int",
    "json_default",
]

# Fixed and project-owned: changing it would change every uuid and defeat dedup.
EVENT_NAMESPACE = uuid.UUID("6f1c2a54-3b8e-5d47-9a0e-1c0b6d7e2f40")


class BigInt(int):
    """
    An integer beyond the 64 bits JSON encoders take natively.

    Parsers and conversions give this type to such integers (a 30-digit order id),
    so that they stay exact: ``bridge.spool.rows`` writes them as JSON integers,
    digit for digit, never as a rounded float or a string.
    """

    __slots__ = ()


# The integers orjson writes natively (its README: 64-bit integers).
JSON_INT_MIN = -(2**63)
JSON_INT_MAX = 2**64 - 1


def exact_int(number: int) -> int:
    """``number`` as is, or as a ``BigInt`` beyond what JSON encoders take natively."""
    if JSON_INT_MIN <= number <= JSON_INT_MAX:
        return number
    return BigInt(number)


# orjson options and hook that write a ``BigInt`` digit for digit: subclasses of
# the built-in types reach the hook (OPT_PASSTHROUGH_SUBCLASS), which gives a BigInt
# as a raw JSON fragment and any other subclass as its base type.
JSON_OPTIONS = orjson.OPT_PASSTHROUGH_SUBCLASS


def json_default(value: Any) -> Any:
    """The orjson ``default`` hook of ``JSON_OPTIONS``; TypeError for other types."""
    if isinstance(value, BigInt):
        return orjson.Fragment(str(int(value)).encode())
    if isinstance(value, str):
        return str(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, int):  # bool has no subclasses: an int subclass
        return int(value)
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        return list(value)
    msg = f"Type is not JSON serializable: {type(value).__name__}"
    raise TypeError(msg)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """
    How far one log file has been consumed.

    ``offset`` is the byte just after the last consumed line terminator, never inside
    a line.
    ``size`` is the file's size when it was last read, kept to report lag.
    ``head_bytes`` and ``head_hash`` say how the file began (the digest of its first
    ``head_bytes`` bytes, ``bridge.source.fingerprint``): only a file that begins the
    same way may continue this checkpoint. ``gone``: the file was deleted; its id stays
    taken (a new file must never reuse it) but nothing continues it.
    ``origin`` is where reading this file began: 0 when it was read from its first
    byte, the end it had when ``start_at: end`` skipped what it held, -1 when unknown
    (a checkpoint stored before origins were kept). ``logbridge backfill`` reads what
    lies before it.
    """

    file_id: str
    source: str
    path: str
    dev: int
    ino: int
    offset: int
    size: int
    head_bytes: int = 0
    head_hash: str = ""
    gone: bool = False
    origin: int = 0


@dataclass(slots=True)
class Line:
    """One complete line of a log file, without its line terminator."""

    source: str
    file_id: str
    offset: int
    text: str


@dataclass(slots=True)
class Record:
    """
    A parsed line: the fields of the line and when it was read; ``file_time`` is when
    its file was last modified, as far as the reader knows (None: unknown).
    """

    line: Line
    fields: Mapping[str, Any]
    read_at: datetime
    file_time: datetime | None = None


@dataclass(slots=True)
class Event:
    """
    A business event ready to be spooled and sent to PostHog; ``offset`` is where
    the line it came from starts in its file (-1: no line, such as the daemon's own).
    """

    uuid: str
    name: str
    distinct_id: str
    timestamp: datetime
    properties: Mapping[str, Any]
    rule: str
    source: str
    offset: int = -1


_NAMESPACE_BYTES = EVENT_NAMESPACE.bytes
# The RFC 9562 variant keeps the top two bits of the 17th hex digit at 0b10.
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def event_uuid(source: str, file_id: str, offset: int, rule: str) -> str:
    """
    Return the uuid of the event ``rule`` makes from the line at ``offset``.

    The UUIDv5 of RFC 9562 (what ``uuid.uuid5`` computes), built from the SHA-1 digest
    directly: it runs once per event, and the ``UUID`` object costs three times more.
    """
    name = f"{source}\n{file_id}\n{offset}\n{rule}".encode()
    h = hashlib.sha1(_NAMESPACE_BYTES + name).hexdigest()  # noqa: S324
    # Version 5 replaces the 13th hex digit; the variant bits the 17th.
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"
