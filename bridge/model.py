"""Immutable values handed from one pipeline stage to the next.

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

__all__ = ["EVENT_NAMESPACE", "Checkpoint", "Event", "Line", "Record", "event_uuid"]

# Fixed and project-owned: changing it would change every uuid and defeat dedup.
EVENT_NAMESPACE = uuid.UUID("6f1c2a54-3b8e-5d47-9a0e-1c0b6d7e2f40")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """
    How far one log file has been consumed.

    ``offset`` is the byte just after the last consumed line terminator, never inside
    a line.
    ``size`` is the file's size when it was last read, kept to report lag.
    """

    file_id: str
    source: str
    path: str
    dev: int
    ino: int
    offset: int
    size: int


@dataclass(frozen=True, slots=True)
class Line:
    """One complete line of a log file, without its line terminator."""

    source: str
    file_id: str
    offset: int
    text: str


@dataclass(frozen=True, slots=True)
class Record:
    """A parsed line: the fields of the line and when it was read."""

    line: Line
    fields: Mapping[str, Any]
    read_at: datetime


@dataclass(frozen=True, slots=True)
class Event:
    """A business event ready to be spooled and sent to PostHog."""

    uuid: str
    name: str
    distinct_id: str
    timestamp: datetime
    properties: Mapping[str, Any]
    rule: str
    source: str


_NAMESPACE_BYTES = EVENT_NAMESPACE.bytes


def event_uuid(source: str, file_id: str, offset: int, rule: str) -> str:
    """
    Return the uuid of the event ``rule`` makes from the line at ``offset``.

    The UUIDv5 of RFC 9562 (what ``uuid.uuid5`` computes), built from the SHA-1 digest
    directly: it runs once per event, and the ``UUID`` object costs three times more.
    """
    name = f"{source}\n{file_id}\n{offset}\n{rule}".encode()
    raw = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name).digest()[:16])  # noqa: S324
    raw[6] = (raw[6] & 0x0F) | 0x50  # version 5
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 9562 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
