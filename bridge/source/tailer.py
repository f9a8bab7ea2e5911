"""Tail the sources' files: complete lines, each read once, from where each file was left.

Theory of operation. ``scan()`` globs every source, stats what it finds and reconciles it
with the files it tracks, matching them by device and inode: a tracked file met at a
new path was renamed; a tracked file not met was renamed out of the patterns or
deleted, and keeps being drained through its open descriptor; an inode not tracked is
opened, fingerprinted and given an identity (``file_id``, see ``identity.py``).
``read()`` then reads, round robin, at most ``chunk_bytes`` from every open file and
returns a ``Chunk`` per file that advanced. The daemon stores a chunk's checkpoint with
its events; the tailer never touches the database.

Invariants:

- A file is known by its identity, never by its path. Stored checkpoints are matched
  by fingerprint plus device and inode first; a checkpoint whose file is not found
  goes to a file with the same fingerprint that is at least as long (the file was
  copied or moved while we were stopped: the checkpoint follows the identity). Either
  way the file must begin with the bytes the checkpoint was taken of (its head, up to
  ``HEAD_CHECK_BYTES``), so a new file that shares only a header with an old one is
  read whole. The checkpoint of a file seen deleted is reported ``gone`` once it is
  drained (a chunk with no lines) and is never given to another file.
- A checkpoint offset is always just past a ``\\n``, never inside a line.
- A file written and rotated away between two scans is not lost: when a followed file
  is found renamed, the logrotate-named copies of the path it left that were renamed
  since the previous scan and that no checkpoint knows are read whole.
- A new file with the same first line as a live file, and the same first bytes up to
  ``COPY_CHECK_BYTES``, is a copy being made (copytruncate into the pattern): it is
  left alone until it differs or the original is truncated, and then it takes over
  the original's checkpoint instead of being read again.
- A file is truncated when its size drops below the read position or its first line
  changes; its identity is released (for its copy) and the inode is read again from 0
  as a new file, under a new id.
- A scan whose globbing was cut short (``discover``'s entry budget, or a stop) does
  not take a tracked file it did not meet for renamed or deleted: one still at its
  last path is followed there.
- Descriptors are bounded: a file at its end and idle for ``idle_close_seconds`` is
  closed, keeping its state while still matched (reopened when it changes), dropped
  (``file_closed``) otherwise; a deleted file is dropped as soon as it is drained.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bridge.model import Checkpoint, Line
from bridge.source.discover import (
    GlobLimit,
    SourceSpec,
    find_files,
    group_sources,
)
from bridge.source.identity import Identities
from bridge.source.linebuffer import Cut, LineBuffer
from bridge.source.tracked import (
    Candidate,
    TrackedFile,
    decode_lines,
    find_inode,
    last_line_end,
    open_candidate,
    rotated_copies_since,
)

__all__ = ["COPY_CHECK_BYTES", "Chunk", "FileState", "Notice", "NoticeKind", "Tailer"]

# How many first bytes of a new file are compared with a live file that has the same
# first line, to tell a copy (copytruncate into the pattern) from a different file.
COPY_CHECK_BYTES = 64 * 1024
# A file's ctime comes from the kernel's coarse clock, which lags the wall clock by up
# to a tick (4 ms at 250 Hz, 10 ms at 100 Hz): a copy whose ctime is this much before
# a scan began may still have been renamed after it.
MISSED_ROTATION_SLACK_NS = 50_000_000

NoticeKind = Literal[
    "file_added",
    "file_rotated",
    "file_truncated",
    "file_removed",
    "file_closed",
    "file_unreadable",
]


class Chunk:
    """
    The complete lines of one file read in one go, and where that leaves the file.

    ``lines`` (and ``invalid_utf8``, the lines decoded with U+FFFD replacements) are
    decoded on first use. When no line was too long, ``block`` holds the lines' bytes
    as read, starting at offset ``start``: a prefilter can search it and decode only
    the lines it wants (``line_at``); ``block`` is empty otherwise.
    """

    __slots__ = ("_cut", "_invalid", "_lines", "checkpoint", "mtime_ns", "too_long")

    def __init__(self, checkpoint: Checkpoint, cut: Cut, mtime_ns: int = 0) -> None:
        # offset: just past the last consumed byte.
        self.checkpoint = checkpoint
        # When the file was last modified (0: unknown).
        self.mtime_ns = mtime_ns
        # Over-long lines skipped in this chunk.
        self.too_long = cut.too_long
        self._cut = cut
        self._lines: tuple[Line, ...] | None = None
        self._invalid = 0

    @property
    def lines(self) -> tuple[Line, ...]:
        """The chunk's lines, decoded."""
        if self._lines is None:
            self._lines, self._invalid = decode_lines(
                self.checkpoint.source, self.checkpoint.file_id, self._cut
            )
        return self._lines

    @property
    def invalid_utf8(self) -> int:
        """Lines decoded with replacement characters."""
        _ = self.lines
        return self._invalid

    @property
    def block(self) -> bytes:
        """The lines' bytes as read (each ending in ``\\n``), or b"" (see class doc)."""
        return self._cut.block

    @property
    def start(self) -> int:
        """The file offset of ``block``'s first byte."""
        return self._cut.start

    def lines_for(self, source: str) -> tuple[Line, ...]:
        """The chunk's lines as lines of ``source`` (one of the file's source group)."""
        lines = self.lines
        if source == self.checkpoint.source:
            return lines
        return tuple(Line(source, x.file_id, x.offset, x.text) for x in lines)

    def line_at(self, begin: int, text: str, source: str) -> Line:
        """The Line of ``source`` whose text starts at ``begin`` in ``block``."""
        cp = self.checkpoint
        return Line(source, cp.file_id, self._cut.start + begin, text)

    def __repr__(self) -> str:
        return f"Chunk({self.checkpoint!r}, too_long={self.too_long})"


@dataclass(frozen=True, slots=True)
class Notice:
    """Something the daemon should log or count."""

    kind: NoticeKind
    path: str
    file_id: str
    offset: int


@dataclass(frozen=True, slots=True)
class FileState:
    """Where one tracked file stands, for status and lag metrics."""

    path: str
    file_id: str
    offset: int
    size: int
    source: str


_Seen = tuple[str, str, os.stat_result]


class Tailer:
    """
    Follows the files of the sources across renames, truncations and deletions.
    """

    def __init__(  # noqa: PLR0913 (the daemon passes settings one by one)
        self,
        sources: Sequence[SourceSpec],
        checkpoints: Iterable[Checkpoint],
        *,
        first_start: bool,
        chunk_bytes: int = 1 << 20,
        max_line_bytes: int = 1 << 20,
        idle_close_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """
        Args:
            checkpoints: as stored by the daemon; matched to files by identity.
            first_start: the state database is new: files present at the first scan
                start where their source's ``start_at`` says; otherwise files with no
                checkpoint are read from 0.
        """
        self._sources = tuple(sources)
        self._chunk_bytes = chunk_bytes
        self._max_line_bytes = max_line_bytes
        self._idle_close_seconds = idle_close_seconds
        self._clock = clock
        self._ids = Identities(checkpoints)
        # Tracked files in round-robin order: a file read is moved to the back.
        self._files: dict[str, TrackedFile] = {}
        # Sources whose next scan is their first: start_at applies to what it finds.
        self._fresh = {spec.name for spec in sources} if first_start else set()
        self._unreadable: set[str] = set()
        self._notices: list[Notice] = []
        # Final checkpoints of deleted files, handed out by the next read().
        self._gone: list[Checkpoint] = []
        # The bounds each pattern's walk reached at the last scan, and those to report.
        self._limits: dict[str, frozenset[str]] = {}
        self._new_limits: list[GlobLimit] = []
        # Wall time (ns) when the last scan began; None before the first.
        self._last_scan_ns: int | None = None
        # Paths whose tracked file was found rotated away by this scan.
        self._rotated_from: list[tuple[str, str]] = []

    # -- public -------------------------------------------------------------------------

    def set_sources(self, sources: Sequence[SourceSpec]) -> None:
        """
        Replace the sources (after a rules reload), from the next scan on.

        A source name not seen before starts like a first start: its ``start_at``
        applies to the files present at its first scan. Files no source matches any
        more are drained and closed like files renamed away.
        """
        known = {spec.name for spec in self._sources}
        self._fresh |= {spec.name for spec in sources} - known
        self._sources = tuple(sources)

    def scan(self, stop: threading.Event | None = None) -> None:
        """
        Glob all sources; follow renames, truncations, deletions; open new files.

        Once ``stop`` is set (from another thread), the globbing ends at once; files
        tracked but not met by a glob cut short stay where they were.
        """
        began_ns = time.time_ns()
        discovery = find_files(self._sources, stop=stop)
        if not discovery.interrupted:
            self._report_limits(discovery.limits)
        if discovery.complete:
            self._unreadable &= discovery.files.keys()
        seen = _regular_files(discovery.files)
        fresh, self._fresh = self._fresh, set()
        now = self._clock()
        for file in list(self._files.values()):
            hit = seen.pop((file.dev, file.ino), None)
            if hit is None and not discovery.complete:
                hit = _still_there(file)
            if hit is None:
                self._follow_unreachable(file, now)
            elif not self._follow(file, hit, now):
                # Truncated: met again below as a new file.
                seen[file.dev, file.ino] = hit
        new = self._open_new(seen.values())
        self._bind(new, fresh)
        if self._last_scan_ns is not None:
            # A file new at a path may have had predecessors there that lived and
            # were rotated since the last scan, none of them followed.
            self._rotated_from.extend((cand.path, cand.source) for cand in new)
        self._adopt_missed_generations(now)
        if not discovery.interrupted:
            self._last_scan_ns = began_ns

    def read(self, max_bytes: int | None = None) -> list[Chunk]:
        """
        Read what is available, at most ``chunk_bytes`` per file, round robin; stop
        once ``max_bytes`` have been read (the files read last then go first next time).

        Returns one chunk per file that advanced, also over skipped lines only, or
        whose checkpoint changed otherwise (new file, new path).
        """
        chunks = [Chunk(checkpoint, Cut((), 0)) for checkpoint in self._gone]
        self._gone = []
        taken = 0
        for file in list(self._files.values()):
            if max_bytes is not None and taken >= max_bytes:
                break
            del self._files[file.file_id]
            self._files[file.file_id] = file
            before = file.buffer.position
            chunk = self._read_file(file)
            taken += max(file.buffer.position - before, 0)
            if chunk is not None:
                chunks.append(chunk)
        return chunks

    def has_backlog(self) -> bool:
        """Return True if some file had unread bytes after the last read."""
        return bool(self._gone) or any(
            file.dirty or (file.fd is not None and not file.is_at_end)
            for file in self._files.values()
        )

    def drain_notices(self) -> list[Notice]:
        """Return the notices since the last call, oldest first."""
        notices, self._notices = self._notices, []
        return notices

    def drain_glob_limits(self) -> list[GlobLimit]:
        """
        Return the patterns whose walk reached a bound, since the last call.

        A pattern is reported again only when the bounds it reaches change, not on
        every scan.
        """
        limits, self._new_limits = self._new_limits, []
        return limits

    def file_states(self) -> list[FileState]:
        """Return where every tracked file stands."""
        return [
            FileState(f.path, f.file_id, f.buffer.consumed, f.size, f.source)
            for f in self._files.values()
        ]

    def unfinished_lines(self) -> list[FileState]:
        """
        The files that end, as last seen, in bytes without a ``\\n``: a line still
        being written, or one that will never end. Its bytes are unread
        (``size - offset``).
        """
        return [
            FileState(f.path, f.file_id, f.buffer.consumed, f.size, f.source)
            for f in self._files.values()
            if f.size > f.buffer.consumed
        ]

    def close(self) -> None:
        """Close every open descriptor."""
        for file in self._files.values():
            file.close()

    # -- following tracked files ----------------------------------------------------------

    def _follow(self, file: TrackedFile, hit: _Seen, now: float) -> bool:
        """Update a file met by a scan; return False if it was truncated (released)."""
        path, source, st = hit
        if path != file.path:
            file.path = path
            file.dirty = True
            self._notice("file_rotated", file)
        if source != file.source:
            # A reload changed which sources match the file: it keeps its place.
            file.source = source
            file.dirty = True
        file.reachable = True
        key = (st.st_size, st.st_mtime_ns)
        if key != file.stat_key:
            file.stat_key = key
            file.size = st.st_size
            file.changed_at = now
            if file.fd is None:
                self._reopen(file)
            if file.is_replaced():
                self._release(file)
                return False
        elif file.fd is not None and self._is_idle(file, now):
            # Still matched: keep its state and reopen it when it changes.
            file.close()
        return True

    def _follow_unreachable(self, file: TrackedFile, now: float) -> None:
        """Drain a file renamed out of the patterns or deleted; drop it once done."""
        matched_path = file.path
        if file.fd is None and not self._reopen_renamed(file):
            self._drop(file)
            return
        assert file.fd is not None  # noqa: S101 (reopened above)
        st = os.fstat(file.fd)
        if st.st_size != file.size:
            file.size = st.st_size
            file.changed_at = now
        if st.st_nlink == 0 and not file.removed:
            file.removed = True
            self._notice("file_removed", file)
        elif file.reachable and not file.removed:
            self._notice("file_rotated", file)
            self._rotated_from.append((matched_path, file.source))
        if file.reachable:
            # The application may write a last line or two into a renamed file
            # before it reopens its log: give it idle_close_seconds from now.
            file.changed_at = now
            file.reachable = False
        if file.is_at_end and (file.removed or self._is_idle(file, now)):
            self._drop(file)

    def _is_idle(self, file: TrackedFile, now: float) -> bool:
        idle_for = now - file.changed_at
        return file.is_at_end and idle_for >= self._idle_close_seconds

    def _reopen(self, file: TrackedFile) -> None:
        try:
            file.reopen()
        except OSError:
            self._unreadable_path(file.path)

    def _reopen_renamed(self, file: TrackedFile) -> bool:
        """Find a closed (idle) file renamed in its directory, and open it there."""
        path = find_inode(str(Path(file.path).parent), file.dev, file.ino)
        if path is None:
            return False
        file.path = path
        file.dirty = True
        try:
            return file.reopen()
        except OSError:
            return False

    def _release(self, file: TrackedFile) -> None:
        """Forget a truncated file's identity; its copy may take the checkpoint."""
        self._notice("file_truncated", file)
        file.close()
        del self._files[file.file_id]
        self._ids.release(file.checkpoint())

    def _drop(self, file: TrackedFile) -> None:
        file.close()
        del self._files[file.file_id]
        if file.removed:
            # Deleted: its id stays used, and its checkpoint is stored as gone.
            self._gone.append(file.checkpoint())
        else:
            # Kept as if loaded from the database: if the file comes back (a
            # directory unmounted for a while, a source removed and added again),
            # it resumes.
            self._ids.keep(file.checkpoint())
        self._notice("file_closed", file)

    # -- new files --------------------------------------------------------------------------

    def _open_new(self, seen: Iterable[_Seen]) -> list[Candidate]:
        """Open the files met by a scan that no tracked file is."""
        candidates = []
        for path, source, _ in seen:
            try:
                cand = open_candidate(path, source)
            except OSError:
                self._unreadable_path(path)
                continue
            self._unreadable.discard(path)
            if cand is not None:
                candidates.append(cand)
        return candidates

    def _adopt_missed_generations(self, now: float) -> None:
        """
        Read the rotated copies of a file that lived and was rotated between scans.

        When a followed file is found renamed away, or a new file is found at a path,
        that path may have held further files in the meantime, each written and
        rotated before a scan could see it (a burst of rotations, a scan delayed by
        load, a file still empty at the scan before). Such a copy is a
        logrotate-named sibling of that path (``bridge.source.rotated``), plain,
        renamed (its ctime) since the previous scan began, and neither followed nor
        known by a checkpoint. It is read whole, under a new id, then dropped like
        any file renamed out of the patterns. Copies that were there before the
        daemon's first scan are history, left to ``logbridge backfill``.
        """
        rotated, self._rotated_from = self._rotated_from, []
        if self._last_scan_ns is None or not rotated:
            return
        since_ns = self._last_scan_ns - MISSED_ROTATION_SLACK_NS
        followed = {(f.dev, f.ino) for f in self._files.values()}
        missed: list[Candidate] = []
        for path, source in dict.fromkeys(rotated):
            for copy, st in rotated_copies_since(path, since_ns):
                if (st.st_dev, st.st_ino) in followed:
                    continue
                try:
                    cand = open_candidate(copy, source)
                except OSError:
                    self._unreadable_path(copy)
                    continue
                if cand is None:
                    continue
                known = self._ids.stored_for_inode(cand.fingerprint, cand.dev, cand.ino)
                if known is not None:
                    os.close(cand.fd)
                    continue
                followed.add((cand.dev, cand.ino))
                missed.append(cand)
        for cand in missed:
            file = self._track_new(cand, set())
            # Already out of the patterns: drained, then dropped once idle.
            file.reachable = False
            file.changed_at = now

    def _bind(self, candidates: list[Candidate], fresh: set[str]) -> None:
        """Give every candidate an identity and a start offset, or leave it for later."""
        # Exact matches first, so that a file that kept its inode keeps its checkpoint
        # even when a file sharing its first line is met before it.
        rest: list[Candidate] = []
        for cand in candidates:
            stored = self._ids.stored_for_inode(cand.fingerprint, cand.dev, cand.ino)
            if stored is None:
                rest.append(cand)
            elif cand.size >= stored.offset and cand.continues(stored):
                self._track(cand, stored.file_id, stored.offset, resumed=stored)
            else:
                # Truncated or rewritten while we were not running, or a new file on
                # the inode of a deleted one.
                self._ids.forget_stored(stored.file_id)
                notice = Notice(
                    "file_truncated", cand.path, stored.file_id, stored.offset
                )
                self._notices.append(notice)
                rest.append(cand)
        live: dict[str, list[TrackedFile]] = {}
        for file in self._files.values():
            live.setdefault(file.fingerprint, []).append(file)
        for cand in rest:
            same_first_line = live.setdefault(cand.fingerprint, [])
            if _is_copy(cand, same_first_line):
                os.close(cand.fd)
            else:
                same_first_line.append(self._track_new(cand, fresh))

    def _track_new(self, cand: Candidate, fresh: set[str]) -> TrackedFile:
        """Track a file no stored checkpoint names exactly."""
        orphan = self._ids.orphan_for(
            cand.fingerprint, cand.dev, cand.ino, cand.size, cand.continues
        )
        if orphan is not None:
            checkpoint, offset = orphan
            return self._track(cand, checkpoint.file_id, offset, resumed=checkpoint)
        file_id = self._ids.new_id(cand.fingerprint, cand.dev, cand.ino)
        offset, skipping = 0, False
        first = group_sources(cand.source)[0]
        if first in fresh and self._start_at(first) == "end":
            offset, skipping = last_line_end(cand.fd, cand.size, self._max_line_bytes)
        return self._track(cand, file_id, offset, skipping=skipping, origin=offset)

    def _track(
        self,
        cand: Candidate,
        file_id: str,
        offset: int,
        *,
        skipping: bool = False,
        resumed: Checkpoint | None = None,
        origin: int = 0,
    ) -> TrackedFile:
        buffer = LineBuffer(
            offset, max_line_bytes=self._max_line_bytes, skipping=skipping
        )
        file = TrackedFile(
            file_id=file_id,
            fingerprint=cand.fingerprint,
            source=cand.source,
            path=cand.path,
            dev=cand.dev,
            ino=cand.ino,
            fd=cand.fd,
            buffer=buffer,
            size=cand.size,
            stat_key=(cand.size, cand.mtime_ns),
            changed_at=self._clock(),
            mtime_ns=cand.mtime_ns,
            origin=resumed.origin if resumed is not None else origin,
        )
        file.update_head()
        file.dirty = resumed is None or _place(resumed) != _place(file.checkpoint())
        self._files[file_id] = file
        self._ids.claim(file_id)
        self._notice("file_added", file)
        return file

    def _start_at(self, source: str) -> str:
        return next(s.start_at for s in self._sources if s.name == source)

    # -- reading ----------------------------------------------------------------------------

    def _read_file(self, file: TrackedFile) -> Chunk | None:
        before = file.buffer.consumed
        try:
            data = file.next_bytes(self._chunk_bytes)
        except OSError:
            self._unreadable_path(file.path)
            file.close()
            # Makes the next scan try to reopen it.
            file.stat_key = (-1, -1)
            data = b""
        if data is None:
            self._release(file)
            return None
        cut = Cut((), 0)
        if data:
            file.changed_at = self._clock()
            cut = file.buffer.feed(data)
            file.update_head()
        if file.buffer.consumed == before and not file.dirty:
            return None
        file.dirty = False
        return Chunk(file.checkpoint(), cut, file.mtime_ns)

    # -- notices ----------------------------------------------------------------------------

    def _notice(self, kind: NoticeKind, file: TrackedFile) -> None:
        self._notices.append(
            Notice(kind, file.path, file.file_id, file.buffer.consumed)
        )

    def _report_limits(self, limits: Sequence[GlobLimit]) -> None:
        current = {limit.pattern: limit.reasons for limit in limits}
        self._new_limits.extend(
            limit
            for limit in limits
            if self._limits.get(limit.pattern) != limit.reasons
        )
        self._limits = current

    def _unreadable_path(self, path: str) -> None:
        # Once per path until it has been opened again, not on every scan.
        if path not in self._unreadable:
            self._unreadable.add(path)
            self._notices.append(Notice("file_unreadable", path, "", 0))


def _regular_files(found: dict[str, str]) -> dict[tuple[int, int], _Seen]:
    """The regular files among the paths found, by device and inode (first path wins)."""
    seen: dict[tuple[int, int], _Seen] = {}
    for path, source in found.items():
        try:
            st = Path(path).stat()
        except OSError:
            continue
        # Never open a FIFO or a device a pattern happens to match: reads block.
        if stat.S_ISREG(st.st_mode):
            seen.setdefault((st.st_dev, st.st_ino), (path, source, st))
    return seen


def _still_there(file: TrackedFile) -> _Seen | None:
    """The file at its last known path, if it is still there."""
    try:
        st = Path(file.path).stat()
    except OSError:
        return None
    if (st.st_dev, st.st_ino) != (file.dev, file.ino) or not stat.S_ISREG(st.st_mode):
        return None
    return file.path, file.source, st


def _is_copy(cand: Candidate, same_first_line: list[TrackedFile]) -> bool:
    """True if ``cand`` starts with the same bytes as a live file (a copy of it)."""
    for file in same_first_line:
        size = min(cand.size, file.size, COPY_CHECK_BYTES)
        head = file.head(size)
        if head is not None and cand.head(size) == head:
            return True
    return False


def _place(cp: Checkpoint) -> tuple[str, str, int, int, int, int]:
    """What a stored checkpoint must repeat for a file to need no new one."""
    return (cp.source, cp.path, cp.dev, cp.ino, cp.offset, cp.head_bytes)
