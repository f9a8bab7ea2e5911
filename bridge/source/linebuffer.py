"""Cut complete lines out of the byte chunks read from one file (no I/O).

Invariants:

- Only complete lines come out: a line is the bytes before a ``\\n``, the ``\\n``
  excluded and one trailing ``\\r`` stripped, with the file offset of its first byte.
- ``consumed`` is the offset just past the last ``\\n`` handed out or skipped; it never
  points inside a line, so it is always a safe checkpoint.
- A line longer than ``max_line_bytes`` (before its ``\\n``) is skipped and counted when
  its ``\\n`` arrives. Its bytes are dropped as they come, never buffered, so memory
  stays bounded by ``max_line_bytes`` plus one chunk.
- How the bytes are split into chunks changes nothing in what comes out.
"""

from __future__ import annotations

__all__ = ["Cut", "LineBuffer", "split_block"]


class Cut:
    """
    The complete lines one chunk finished, and how many over-long lines it skipped.

    When no line of the chunk was too long, the lines stay one contiguous ``block`` of
    bytes starting at offset ``start`` (each line ending in ``\n``) and are only cut
    into ``lines`` when someone asks: most lines of a busy log never need to be, when a
    prefilter can tell from the block that no rule wants them.
    """

    __slots__ = ("_lines", "block", "start", "too_long")

    def __init__(
        self,
        lines: tuple[tuple[int, bytes], ...] | None = (),
        too_long: int = 0,
        *,
        block: bytes = b"",
        start: int = 0,
    ) -> None:
        self._lines = lines
        self.too_long = too_long
        self.block = block
        self.start = start

    @property
    def lines(self) -> tuple[tuple[int, bytes], ...]:
        """Each complete line kept, with its offset; ``\n`` and one ``\r`` stripped."""
        if self._lines is None:
            self._lines = split_block(self.block, self.start)
        return self._lines

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Cut):
            return NotImplemented
        return (self.lines, self.too_long) == (other.lines, other.too_long)

    def __hash__(self) -> int:
        return hash((self.lines, self.too_long))

    def __repr__(self) -> str:
        return f"Cut({self.lines!r}, {self.too_long!r})"


def split_block(block: bytes, start: int) -> tuple[tuple[int, bytes], ...]:
    """Cut a block of complete lines into (offset, line) pairs."""
    parts = block.split(b"\n")
    parts.pop()  # the block ends with a newline: nothing after it
    lines = []
    offset = start
    for part in parts:
        lines.append((offset, part[:-1] if part.endswith(b"\r") else part))
        offset += len(part) + 1
    return tuple(lines)


_NOTHING = Cut((), 0)


def _lines_fit(data: bytes, end: int, limit: int) -> bool:
    """
    Whether no line of ``data[:end]`` (which ends with a newline) is longer than
    ``limit``, in a few searches of ``limit`` bytes each rather than one per line.
    """
    at = 0
    while end - at > limit + 1:
        # The last newline within limit + 1 bytes ends lines that all fit.
        newline = data.rfind(b"\n", at, at + limit + 1)
        if newline < 0:
            return False
        at = newline + 1
    return True


class LineBuffer:
    """
    Cuts the bytes of one file, fed in order from ``offset``, into lines.
    """

    __slots__ = ("_consumed", "_max_line_bytes", "_partial", "_position", "_skipping")

    def __init__(
        self, offset: int = 0, *, max_line_bytes: int, skipping: bool = False
    ) -> None:
        """
        Start at ``offset``, which must be the start of a line, or, with ``skipping``,
        a place inside an over-long line whose rest is to be skipped.
        """
        self._consumed = offset
        self._position = offset
        self._max_line_bytes = max_line_bytes
        self._partial = b""
        self._skipping = skipping

    @property
    def consumed(self) -> int:
        """Offset just past the last line handed out or skipped: the checkpoint."""
        return self._consumed

    @property
    def position(self) -> int:
        """Offset of the next byte to feed."""
        return self._position

    def rewind(self) -> None:
        """Forget the partial line: the next byte to feed is at ``consumed`` again."""
        self._position = self._consumed
        self._partial = b""
        self._skipping = False

    def feed(self, data: bytes) -> Cut:
        """Take the next bytes of the file; return the lines they complete."""
        if not data:
            return _NOTHING
        self._position += len(data)
        too_long = 0
        if self._skipping:
            end = data.find(b"\n")
            if end < 0:
                return _NOTHING
            self._skipping = False
            too_long = 1
            data = data[end + 1 :]
            self._consumed = self._position - len(data)
        if self._partial:
            data = self._partial + data
            self._partial = b""
        limit = self._max_line_bytes
        end = data.rfind(b"\n") + 1
        start = self._consumed
        if end and _lines_fit(data, end, limit):
            # No line here is too long: keep the lines as one block (see Cut).
            self._consumed = start + end
            self._keep_rest(data[end:])
            return Cut(None, too_long, block=data[:end], start=start)
        parts = data.split(b"\n")
        self._keep_rest(parts.pop())
        lines: list[tuple[int, bytes]] = []
        offset = start
        for part in parts:
            if len(part) > limit:
                too_long += 1
            else:
                lines.append((offset, part[:-1] if part.endswith(b"\r") else part))
            offset += len(part) + 1
        self._consumed = offset
        if not lines and not too_long:
            return _NOTHING
        return Cut(tuple(lines), too_long)

    def _keep_rest(self, rest: bytes) -> None:
        """Hold the start of the next line, or skip it if it is already too long."""
        if len(rest) > self._max_line_bytes:
            # Drop what we have of an over-long line now rather than hold up to the
            # whole line in memory (Fluent Bit buffers it and then gives up on the file).
            self._skipping = True
        else:
            self._partial = rest
