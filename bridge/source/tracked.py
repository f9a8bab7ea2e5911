"""One file the tailer follows, and the reads it needs: descriptors, heads, tails.

Mechanism only; when to open, close, release or drop a file is decided in
``tailer.py``.

Invariants:

- A ``TrackedFile`` with a descriptor reads at ``buffer.position``; without one, its
  buffer is rewound to ``buffer.consumed``, so a partial line is read again whole.
- Every descriptor is opened read-only and close-on-exec, on a regular file.
- ``first_bytes`` holds the file's first bytes as far as read (at most ``HEAD_CHECK_BYTES``):
  a file that no longer begins with them was replaced, even if its first line is the
  same (a shared header), and is read again from 0 under a new identity.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from bridge.model import Checkpoint, Line
from bridge.source.fingerprint import (
    FINGERPRINT_BYTES,
    HEAD_CHECK_BYTES,
    file_fingerprint,
    head_digest,
)
from bridge.source.linebuffer import Cut, LineBuffer
from bridge.source.rotated import rotation_of

__all__ = [
    "Candidate",
    "TrackedFile",
    "decode_lines",
    "find_inode",
    "last_line_end",
    "open_candidate",
]

# O_NONBLOCK: a path swapped for a FIFO after the scan's stat must not block the open
# (it changes nothing for regular files).
_OPEN_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK
_BOM = "\ufeff"
# Block size for finding the last line end when a source starts at the end of a file.
_TAIL_BLOCK_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Candidate:
    """An inode no tracked file holds, opened and fingerprinted by a scan."""

    path: str
    source: str
    fd: int
    dev: int
    ino: int
    size: int
    mtime_ns: int
    fingerprint: str

    def head(self, size: int) -> bytes:
        """Return the first ``size`` bytes."""
        return os.pread(self.fd, size, 0)

    def continues(self, checkpoint: Checkpoint) -> bool:
        """True if this file begins as the checkpoint's file did (see fingerprint.py)."""
        if checkpoint.head_bytes > self.size:
            return False
        return head_digest(self.head(checkpoint.head_bytes)) == checkpoint.head_hash


@dataclass(slots=True, eq=False)
class TrackedFile:
    """A file with an identity: where it is, how far it was read, its descriptor."""

    file_id: str
    fingerprint: str
    source: str
    path: str
    dev: int
    ino: int
    fd: int | None
    buffer: LineBuffer
    size: int
    # (size, mtime_ns) when a scan last stat'ed it: a change means "look again".
    stat_key: tuple[int, int]
    # Monotonic time of the last growth or read: idle files get closed.
    changed_at: float
    reachable: bool = True
    removed: bool = False
    # The checkpoint changed without a read (new file, new path): report it.
    dirty: bool = False
    # The first bytes read so far, up to HEAD_CHECK_BYTES, and their digest.
    first_bytes: bytes = b""
    first_hash: str = ""
    # When the file was last modified, as of the last read (for year-less times).
    mtime_ns: int = 0
    # Where reading it began (Checkpoint.origin).
    origin: int = 0

    def checkpoint(self) -> Checkpoint:
        """Return where the file stands, to be stored with the events read from it."""
        return Checkpoint(
            file_id=self.file_id,
            source=self.source,
            path=self.path,
            dev=self.dev,
            ino=self.ino,
            offset=self.buffer.consumed,
            size=self.size,
            head_bytes=len(self.first_bytes),
            head_hash=self.first_hash,
            gone=self.removed,
            origin=self.origin,
        )

    def update_head(self) -> None:
        """Extend ``first_bytes`` to what has been read, up to the maximum."""
        wanted = min(self.buffer.consumed, HEAD_CHECK_BYTES)
        if wanted > len(self.first_bytes) and self.fd is not None:
            self.first_bytes = os.pread(self.fd, wanted, 0)
            self.first_hash = head_digest(self.first_bytes)

    @property
    def is_at_end(self) -> bool:
        """True when every byte of the file as last seen has been read."""
        return self.buffer.position >= self.size

    def reopen(self) -> bool:
        """
        Open the file again at its path; False if the path now holds another inode.

        Raises:
            OSError: the file cannot be opened.
        """
        fd = os.open(self.path, _OPEN_FLAGS)
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != (self.dev, self.ino):
            os.close(fd)
            return False
        self.fd = fd
        return True

    def close(self) -> None:
        """Close the descriptor; the file keeps its place."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
            self.buffer.rewind()

    def is_replaced(self) -> bool:
        """True if the file was truncated, or rewritten from new first bytes."""
        if self.size < self.buffer.position:
            return True
        if self.fd is None:
            return False
        try:
            return not self._begins_the_same()
        except OSError:
            return False

    def _begins_the_same(self) -> bool:
        """Whether the open file still has its first line and the head read so far."""
        assert self.fd is not None  # noqa: S101 (callers check)
        start = os.pread(self.fd, max(len(self.first_bytes), FINGERPRINT_BYTES), 0)
        return (
            start.startswith(self.first_bytes)
            and file_fingerprint(start) == self.fingerprint
        )

    def head(self, size: int) -> bytes | None:
        """Return the first ``size`` bytes, or None if they cannot be read."""
        if self.fd is not None:
            return os.pread(self.fd, size, 0)
        try:
            fd = os.open(self.path, _OPEN_FLAGS)
        except OSError:
            return None
        try:
            st = os.fstat(fd)
            same = (st.st_dev, st.st_ino) == (self.dev, self.ino)
            return os.pread(fd, size, 0) if same else None
        finally:
            os.close(fd)

    def next_bytes(self, chunk_bytes: int) -> bytes | None:
        """
        Return up to ``chunk_bytes`` unread bytes; None if the file was replaced.

        Raises:
            OSError: the file cannot be read.
        """
        if self.fd is None:
            return b""
        st = os.fstat(self.fd)
        self.size, self.mtime_ns = st.st_size, st.st_mtime_ns
        wanted = min(chunk_bytes, self.size - self.buffer.position)
        if wanted <= 0:
            return None if wanted < 0 else b""
        # Checked on every read, not only on scans: a file truncated and written past
        # our position between two scans would otherwise be read from mid-line.
        if not self._begins_the_same():
            return None
        return os.pread(self.fd, wanted, self.buffer.position)


def open_candidate(path: str, source: str) -> Candidate | None:
    """
    Open and fingerprint the file at ``path``.

    Returns:
        None if it vanished or has no complete first line yet (nothing to read; it is
        looked at again on the next scan).

    Raises:
        OSError: the file exists but cannot be opened (permissions).
    """
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        return None
    try:
        st = os.fstat(fd)
        regular = stat.S_ISREG(st.st_mode)
        fingerprint = (
            file_fingerprint(os.pread(fd, FINGERPRINT_BYTES, 0)) if regular else None
        )
    except OSError:
        os.close(fd)
        return None
    if fingerprint is None:
        os.close(fd)
        return None
    return Candidate(
        path=path,
        source=source,
        fd=fd,
        dev=st.st_dev,
        ino=st.st_ino,
        size=st.st_size,
        mtime_ns=st.st_mtime_ns,
        fingerprint=fingerprint,
    )


def rotated_copies_since(path: str, since_ns: int) -> list[tuple[str, os.stat_result]]:
    """
    The plain rotated copies of ``path`` in its directory (``app.log.1``,
    ``app.log-20261201``) whose inode changed (a rename) at or after ``since_ns``.
    """
    directory, name = os.path.split(path)
    found = []
    try:
        with os.scandir(directory or os.curdir) as entries:
            for entry in entries:
                rotation = rotation_of(entry.name, name)
                if rotation is None or rotation.is_live or rotation.compression:
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISREG(st.st_mode) and st.st_ctime_ns >= since_ns:
                    found.append((entry.path, st))
    except OSError:
        return []
    return sorted(found)


def find_inode(directory: str, dev: int, ino: int) -> str | None:
    """Return the path of the file with this device and inode in ``directory``."""
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                if (
                    entry.inode() == ino
                    and entry.stat(follow_symlinks=False).st_dev == dev
                ):
                    return entry.path
    except OSError:
        return None
    return None


def last_line_end(fd: int, size: int, max_line_bytes: int) -> tuple[int, bool]:
    """
    Return where reading starts when a source starts at the end of a file.

    That is just past the last ``\\n``, and False. If the last line is already
    over-long, the end of the file and True: skip the rest of that line.
    """
    floor = max(0, size - max_line_bytes - 1)
    end = size
    while end > floor:
        start = max(floor, end - _TAIL_BLOCK_BYTES)
        newline = os.pread(fd, end - start, start).rfind(b"\n")
        if newline >= 0:
            return start + newline + 1, False
        end = start
    return (0, False) if floor == 0 else (size, True)


def decode_lines(source: str, file_id: str, cut: Cut) -> tuple[tuple[Line, ...], int]:
    """
    Return the cut's lines as text, and how many held invalid UTF-8 (replaced).
    """
    lines: list[Line] = []
    invalid = 0
    for offset, raw in cut.lines:
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            text = raw.decode(errors="replace")
            invalid += 1
        if offset == 0 and text.startswith(_BOM):
            # A byte-order mark starts a file, not a line: elsewhere it is text.
            text = text[1:]
        lines.append(Line(source, file_id, offset, text))
    return tuple(lines), invalid
