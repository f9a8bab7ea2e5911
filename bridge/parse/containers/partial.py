"""Joining the parts of a long container line back into one line.

A ``ContainerFormat`` says, of one raw line, which stream it belongs to, whether it
is a part to be continued, and its text; and makes one raw line of the format from
the first part and the texts of all parts, so the format's parser reads the joined
line like any other.

Invariants (those of ``bridge.parse.multiline.MultilineAssembler``, whose interface
this shares):

- Pure: time is passed in. Every line fed comes out in exactly one line, in order
  of completion; a joined line keeps the offset (and so the uuids) of its first
  part. A line that is not a part, or not of the format at all, comes out as fed:
  the parser then reads it, or counts it.
- Parts of different streams may interleave: each stream is joined on its own.
- A join is closed when its last part comes, when it holds ``max_bytes`` of text
  (counted in ``too_long``), or when it has waited ``flush_seconds`` for its next
  part (a container that died mid-line).
- ``pending_offset()`` is the offset of the oldest part held back: the daemon keeps
  the file's checkpoint from passing it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bridge.model import Line

__all__ = [
    "DEFAULT_FLUSH_SECONDS",
    "DEFAULT_MAX_BYTES",
    "ContainerFormat",
    "Part",
    "PartialAssembler",
]

# Docker splits at 16 KiB; a megabyte is a line of 64 parts, beyond any real log line.
DEFAULT_MAX_BYTES = 1024 * 1024
# A runtime writes the parts of one line at once: two idle seconds mean no more come.
DEFAULT_FLUSH_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class Part:
    """What a format reads in one raw line: its stream, whether more follows, its text."""

    stream: str
    partial: bool
    text: str


@dataclass(frozen=True, slots=True)
class ContainerFormat:
    """How one container format splits and joins lines."""

    name: str
    # The part a raw line holds, or None when it is not a line of the format.
    split: Callable[[str], Part | None] = field(repr=False)
    # One raw line of the format, from the first part's raw line and all the texts.
    join: Callable[[str, list[str]], str] = field(repr=False)


@dataclass(slots=True)
class _Pending:
    first: Line
    texts: list[str]
    size: int
    since: float


class PartialAssembler:
    """Joins the parts of the lines of one file, fed in order; one per file."""

    __slots__ = ("_flush_seconds", "_format", "_max_bytes", "_pending", "too_long")

    def __init__(
        self,
        fmt: ContainerFormat,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        flush_seconds: float = DEFAULT_FLUSH_SECONDS,
    ) -> None:
        self._format = fmt
        self._max_bytes = max_bytes
        self._flush_seconds = flush_seconds
        self._pending: dict[str, _Pending] = {}
        self.too_long = 0

    def feed(self, line: Line, now: float) -> list[Line]:
        """Add the next raw line; return the lines it completed, in order."""
        done = self.flush(now)
        part = self._format.split(line.text)
        if part is None:
            done.append(line)
            return done
        pending = self._pending.get(part.stream)
        if pending is None:
            if not part.partial:
                done.append(line)
                return done
            pending = self._pending[part.stream] = _Pending(line, [], 0, now)
        pending.texts.append(part.text)
        pending.size += len(part.text)
        pending.since = now
        if not part.partial:
            done.append(self._close(part.stream))
        elif pending.size >= self._max_bytes:
            self.too_long += 1
            done.append(self._close(part.stream))
        return done

    def flush(self, now: float, *, force: bool = False) -> list[Line]:
        """Close the joins that waited ``flush_seconds`` for a part (all with force)."""
        due = [
            stream
            for stream, pending in self._pending.items()
            if force or now - pending.since >= self._flush_seconds
        ]
        closed = [self._close(stream) for stream in due]
        closed.sort(key=lambda line: line.offset)
        return closed

    def pending_offset(self) -> int | None:
        """The offset of the oldest part held back, or None."""
        if not self._pending:
            return None
        return min(pending.first.offset for pending in self._pending.values())

    def _close(self, stream: str) -> Line:
        pending = self._pending.pop(stream)
        first = pending.first
        text = self._format.join(first.text, pending.texts)
        return Line(first.source, first.file_id, first.offset, text)
