"""The state database: spooled events, file checkpoints, dead letters. All SQL lives here.

One SQLite file, ``state.db``, in the state directory.

The spool is made of segments (``bridge.spool.segments``): each ``commit_chunks`` call
that spools events adds ONE segment holding all of them, newline-joined. A row of
``segments`` says how many of its leading events are settled (``done``) plus the rare
ones settled out of order (``settled``); the events themselves are in ``segment_data``,
under the same id, and never change. Spooling, fetching and settling thus cost a few
statements per batch, not one or more per event.

Invariants:

- A chunk's events and its file's new checkpoint are written in ONE transaction
  (``commit_chunk``): after a crash at any instant either both are there or neither is,
  so a line is never lost between the file and the spool and never spooled twice.
- An event leaves the spool only through ``delete`` (after PostHog answered 2xx) or
  ``quarantine`` (copied to ``deadletters`` in the same transaction): nothing is
  dropped. Settling is idempotent: an unknown or already settled id changes nothing. A
  segment row is deleted once every one of its events is settled, never before.
- Segment ids grow monotonically (AUTOINCREMENT never reuses one) and an event's id is
  ``(segment_id << 32) | index``, so "oldest first" is id order.
- A segment's events never change once written (only ``done``/``settled`` do), so a
  decoded segment may be cached by id; progress is always read from the database.
- ``spool_totals`` (events and body bytes still pending) is updated explicitly in the
  same transactions that spool or settle events, so ``stats()`` is one-row reads,
  exact, and readable by ``logbridge status``. (Exact but for a damaged segment that
  was partly sent: its pending bytes are then estimated; they are exact again once the
  spool is empty.)
- A segment whose events cannot be read back (a damaged page, columns that no longer
  split into its events) is quarantined the moment it is met: its row leaves
  ``segments`` for ``damaged_segments``, the events still recognisable in it go to the
  dead letters (``logbridge deadletter retry`` sends them), and the spool goes on with
  the next segment. A damaged database that cannot be opened at all is set aside
  whole (``set_aside``) by the daemon, never here.

Durability: WAL with ``synchronous=FULL``. With NORMAL a committed transaction survives a
process crash but can be rolled back by a power loss; a checkpoint could then go back to
an offset whose file logrotate has since deleted, and those lines would be gone. FULL
fsyncs the WAL at each commit of chunks; commits are per chunk of lines, not per line,
so the cost is a few fsyncs a second at most. Settling delivered events is committed
without an fsync (the next commit carries it to disk): a power loss may undo it, and
those events are then sent again, with the same uuids.

Schema version 1 kept one row per event in ``events``; opening such a database
converts it to segments in one transaction (``_migrate_v1``). Version 2 had no head
digests and no ``gone`` flag in ``checkpoints``; they are added when it is opened
(``_migrate_v2``), empty: such checkpoints match as before, by first line alone.

A connection belongs to one thread. ``Store`` is synchronous and not thread-safe;
``bridge.spool.asyncstore.AsyncStore`` is the daemon's handle, running every call on
one dedicated thread. This module imports no asyncio: ``logbridge status`` and
``deadletter`` open the store without it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import repeat
from pathlib import Path
from typing import NamedTuple, TypeVar

from bridge.errors import StoreCorrupt, StoreError, StoreFull
from bridge.model import Checkpoint
from bridge.spool.segments import (
    INDEX_BITS,
    DecodedSegment,
    EncodedSegment,
    decode_segment,
    encode_columns,
    encode_rows,
    fit_bytes,
    format_settled,
    group_ids,
    parse_settled,
    pick,
    salvage_events,
    settle,
)

__all__ = [
    "DB_NAME",
    "LAST_SEND_ERROR",
    "RULES_STATUS",
    "SCHEMA_VERSION",
    "DamagedSegment",
    "DeadLetter",
    "SpoolStats",
    "SpooledEvent",
    "Store",
    "disk_headroom",
    "filesystem_free",
    "lock_state_dir",
    "set_aside",
    "set_aside_databases",
]

T = TypeVar("T")

DB_NAME = "state.db"
SCHEMA_VERSION = 4
# How long a statement waits for another connection's lock (``logbridge status``
# reading while the daemon writes) before failing.
BUSY_TIMEOUT_MS = 5000
# Segments hold tens or hundreds of KiB: with 16 KiB pages (SQLite's default is 4) one
# is a quarter as many pages to write, fsync and free (about 15% less CPU per event
# spooled and sent); small transactions write a few 16 KiB pages instead of 4 KiB ones.
PAGE_SIZE = 16384
# SQLite copies the WAL into the database once it holds this many pages (the default
# wal_autocheckpoint): new pages among them need room a second time, in the database.
WAL_CHECKPOINT_PAGES = 1000
# Meta keys: what the daemon leaves for ``logbridge status`` to show.
# The last failure of a send (already redacted).
LAST_SEND_ERROR = "last_send_error"
# The rule set in use, or the reload that was refused and why.
RULES_STATUS = "rules_status"
# SQLite's result codes for "no room": sqlite3.h.
SQLITE_FULL = 13
SQLITE_IOERR_SHMSIZE = 4874
SQLITE_CORRUPT = 11
SQLITE_NOTADB = 26
# A database that cannot be used is renamed to this name plus a UTC time.
SET_ASIDE_INFIX = ".damaged-"
# Segments written by the migration and by ``retry_deadletters`` hold at most this
# many events, so that no segment is too big to decode at once.
MAX_SEGMENT_EVENTS = 10_000

# A segment's progress is kept apart from its events because SQLite rewrites a row
# whole, blob and all, when an UPDATE changes its size (as ``done`` going from 0 to 310
# does): in one table, every batch would write its segment again.
_SEGMENT_TABLES = (
    # A fully settled segment is deleted, hence done < events.
    """
    CREATE TABLE segments (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        events INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        done INTEGER NOT NULL DEFAULT 0,
        settled TEXT,
        created_at REAL NOT NULL,
        CHECK (0 <= done AND done < events)
    )
    """,
    # The events, newline-joined (bridge.spool.segments); written once, never changed.
    # ``rules`` is kept so that a dead letter records its rule and goes back as it was.
    """
    CREATE TABLE segment_data (
        id INTEGER PRIMARY KEY,
        bodies BLOB NOT NULL,
        uuids TEXT NOT NULL,
        rules TEXT NOT NULL
    )
    """,
)

# Segments quarantined because their events could not be read back: ``events`` still
# pending then, ``salvaged`` of them moved to the dead letters. The segment's
# ``segment_data`` row stays when its pages are too damaged to be freed.
_DAMAGED_TABLE = """
    CREATE TABLE IF NOT EXISTS damaged_segments (
        id INTEGER PRIMARY KEY,
        events INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        salvaged INTEGER NOT NULL,
        error TEXT NOT NULL,
        created_at REAL NOT NULL,
        quarantined_at REAL NOT NULL
    )
    """

_SCHEMA = (
    """
    CREATE TABLE checkpoints (
        file_id TEXT PRIMARY KEY,
        source TEXT NOT NULL,
        path TEXT NOT NULL,
        dev INTEGER NOT NULL,
        ino INTEGER NOT NULL,
        "offset" INTEGER NOT NULL,
        size INTEGER NOT NULL,
        updated_at REAL NOT NULL,
        head_bytes INTEGER NOT NULL DEFAULT 0,
        head_hash TEXT NOT NULL DEFAULT '',
        gone INTEGER NOT NULL DEFAULT 0,
        origin INTEGER NOT NULL DEFAULT 0
    )
    """,
    *_SEGMENT_TABLES,
    """
    CREATE TABLE deadletters (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        uuid TEXT NOT NULL,
        body BLOB NOT NULL,
        rule TEXT NOT NULL,
        status INTEGER,
        response TEXT NOT NULL,
        reason TEXT NOT NULL,
        created_at REAL NOT NULL
    )
    """,
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    # Also created when missing in a database of this version (``_prepare``).
    _DAMAGED_TABLE,
    # What is still pending: unsettled events and their body bytes.
    """
    CREATE TABLE spool_totals (
        id INTEGER PRIMARY KEY CHECK (id = 0),
        events INTEGER NOT NULL,
        bytes INTEGER NOT NULL
    )
    """,
    "INSERT INTO spool_totals (id, events, bytes) VALUES (0, 0, 0)",
    f"PRAGMA user_version = {SCHEMA_VERSION}",
)

_ADD_TOTALS = (
    "UPDATE spool_totals SET events = events + ?, bytes = bytes + ? WHERE id = 0"
)
_ZERO_TOTALS_WHEN_EMPTY = (
    "UPDATE spool_totals SET events = 0, bytes = 0"
    " WHERE id = 0 AND bytes != 0 AND NOT EXISTS (SELECT 1 FROM segments)"
)


class SpooledEvent(NamedTuple):
    """
    One spooled event: its id, uuid, wire body, rule and spool time (Unix seconds).

    ``id`` is ``(segment id << 32) | index in the segment``: ids order events oldest
    first. A named tuple rather than a frozen dataclass: a fetch builds thousands, and
    a tuple is built at C speed (``_new_event``).
    """

    id: int
    uuid: str
    body: bytes
    rule: str
    created_at: float


def disk_headroom(read_bytes: int) -> int:
    """
    The room kept free for the database, given the bytes one read may bring.

    WAL pages waiting to be copied into the database, plus one read's events twice
    (in the WAL, then in the database). A database whose WAL cannot be copied back
    cannot even delete delivered events, so reading pauses before the disk is full,
    not once it is.
    """
    return WAL_CHECKPOINT_PAGES * PAGE_SIZE + 2 * read_bytes


@dataclass(frozen=True, slots=True)
class SpoolStats:
    """
    The spool's size.

    ``oldest_created_at`` is the spool time of the segment holding the event next in
    line; ``None`` when the spool is empty.
    """

    events: int
    bytes: int
    oldest_created_at: float | None
    deadletters: int


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An event PostHog refused for good, with its answer; ``created_at`` = quarantine."""

    id: int
    uuid: str
    body: bytes
    rule: str
    status: int | None
    response: str
    reason: str
    created_at: float


@dataclass(frozen=True, slots=True)
class DamagedSegment:
    """
    A segment quarantined because its events could not be read back.

    ``events``: how many were still to be sent; ``salvaged``: how many of them went
    to the dead letters, recognisable; the rest are lost to the spool (their lines
    are in the log files, before the stored positions).
    """

    id: int
    events: int
    bytes: int
    salvaged: int
    error: str
    created_at: float
    quarantined_at: float


class _Damaged(Exception):
    """A segment's events cannot be read back; caught in ``_despite_damage``."""

    def __init__(self, segment_id: int, error: str) -> None:
        super().__init__(segment_id, error)
        self.segment_id = segment_id
        self.error = error


class Store:
    """The state database, on one connection, used from one thread."""

    def __init__(
        self, conn: sqlite3.Connection, path: Path, *, is_new: bool, readonly: bool
    ) -> None:
        """Wrap an open connection; use ``open`` or ``open_readonly`` instead."""
        self._conn = conn
        self.path = path
        self.is_new = is_new
        self.readonly = readonly
        # Decoded segments touched by the last ``fetch_oldest``, by id: the next fetch
        # and the settling of a fetched batch do not read and split them again.
        self._decoded: dict[int, DecodedSegment] = {}
        # Told of each segment quarantined (on the store's thread).
        self.on_damaged: Callable[[DamagedSegment], None] | None = None

    @classmethod
    def open(cls, state_dir: Path) -> Store:
        """
        Open (creating them if needed) the state directory and its database.

        ``is_new`` tells whether this call created the database, i.e. first start. A
        database of an older schema version is converted first.

        Raises:
            StoreFull: there is no room to open or create it.
            StoreCorrupt: it is damaged (the daemon sets it aside).
            StoreError: the directory or database cannot be created, opened or read.
        """
        try:
            # Spooled events may carry personal data: keep the directory private.
            state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            msg = f"{state_dir}: cannot create the state directory: {exc.strerror}"
            raise StoreError(msg) from None
        path = state_dir / DB_NAME
        _make_private(path)
        conn = _connect(path, str(path))
        try:
            version = _prepare(conn)
        except (sqlite3.Error, ValueError) as exc:
            # ValueError: a version 1 event that cannot be put in a segment.
            conn.close()
            what = f"{path}: cannot open the state database"
            raise _store_error(what, exc) from None
        _check_version(conn, path, version)
        return cls(conn, path, is_new=version == 0, readonly=False)

    @classmethod
    def open_readonly(cls, state_dir: Path) -> Store:
        """
        Open the database for reading while the daemon may be writing it.

        Raises:
            StoreError: there is no database, or it cannot be read.
        """
        path = state_dir / DB_NAME
        if not path.is_file():
            msg = f"{path}: no state database (has the daemon run with this state_dir?)"
            raise StoreError(msg)
        conn = _connect(path, f"{path.resolve().as_uri()}?mode=ro")
        try:
            conn.execute("PRAGMA query_only = ON")
            version = _user_version(conn)
        except sqlite3.Error as exc:
            conn.close()
            what = f"{path}: cannot read the state database"
            raise _store_error(what, exc) from None
        _check_version(conn, path, version)
        if 0 < version < SCHEMA_VERSION:
            conn.close()
            msg = (
                f"{path}: schema version {version} is older than this logbridge uses"
                f" ({SCHEMA_VERSION}) (start the daemon once to convert it)"
            )
            raise StoreError(msg)
        return cls(conn, path, is_new=False, readonly=True)

    # -- checkpoints -------------------------------------------------------------------

    def load_checkpoints(self) -> list[Checkpoint]:
        """Every file's checkpoint, those of deleted files too, ordered by file id."""
        with self._reading("load checkpoints"):
            rows = self._conn.execute(
                'SELECT file_id, source, path, dev, ino, "offset", size,'
                " head_bytes, head_hash, gone, origin FROM checkpoints ORDER BY file_id"
            ).fetchall()
        return [
            Checkpoint(
                file_id=row[0],
                source=row[1],
                path=row[2],
                dev=row[3],
                ino=row[4],
                offset=row[5],
                size=row[6],
                head_bytes=row[7],
                head_hash=row[8],
                gone=bool(row[9]),
                origin=row[10],
            )
            for row in rows
        ]

    def commit_chunk(
        self,
        events: Sequence[tuple[str, bytes, str]],
        checkpoint: Checkpoint | None,
        now: float,
    ) -> None:
        """
        Spool ``(uuid, body, rule)`` rows and store the file's new checkpoint, atomically.

        ``now`` is the spool time in Unix seconds.
        """
        self.commit_chunks([(events, checkpoint)], now)

    def commit_chunks(
        self,
        chunks: Sequence[tuple[Sequence[tuple[str, bytes, str]], Checkpoint | None]],
        now: float,
        *,
        deadletters: Sequence[tuple[str, bytes, str, str]] = (),
    ) -> None:
        """
        ``commit_chunk`` for several chunks in ONE transaction: one fsync, not one each.

        Their events become one segment, in order. ``deadletters`` (uuid, body, rule,
        reason) are events the chunks made that can never be sent (JSON cannot hold
        them): they go straight to the dead letters, in the same transaction.

        Raises:
            StoreError: the database refused the transaction, or a field holds a
                newline (nothing was written).
            TypeError: a field is of the wrong type (nothing was written).
        """
        rows = [row for events, _ in chunks for row in events]
        # Encoded before the transaction: a bad row fails before anything is written.
        try:
            segment = encode_rows(rows) if rows else None
        except ValueError as exc:
            msg = f"{self.path}: cannot commit a chunk: {exc}"
            raise StoreError(msg) from None
        with self._transaction("commit a chunk") as conn:
            if segment is not None:
                _insert_segment(conn, segment, now)
            conn.executemany(
                "INSERT INTO deadletters"
                " (uuid, body, rule, status, response, reason, created_at)"
                " VALUES (?, ?, ?, NULL, '', ?, ?)",
                ((*letter, now) for letter in deadletters),
            )
            conn.executemany(
                "INSERT INTO checkpoints"
                ' (file_id, source, path, dev, ino, "offset", size, updated_at,'
                " head_bytes, head_hash, gone, origin)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (file_id) DO UPDATE SET source = excluded.source,"
                " path = excluded.path, dev = excluded.dev, ino = excluded.ino,"
                ' "offset" = excluded."offset", size = excluded.size,'
                " updated_at = excluded.updated_at, head_bytes = excluded.head_bytes,"
                " head_hash = excluded.head_hash, gone = excluded.gone,"
                " origin = excluded.origin",
                (
                    (
                        cp.file_id,
                        cp.source,
                        cp.path,
                        cp.dev,
                        cp.ino,
                        cp.offset,
                        cp.size,
                        now,
                        cp.head_bytes,
                        cp.head_hash,
                        cp.gone,
                        cp.origin,
                    )
                    for _, cp in chunks
                    if cp is not None
                ),
            )

    # -- the spool ---------------------------------------------------------------------

    def stats(self) -> SpoolStats:
        """The spool's size; a few index lookups, cheap enough to call per chunk."""
        with self._reading("read spool statistics"):
            events, size = self._conn.execute(
                "SELECT events, bytes FROM spool_totals WHERE id = 0"
            ).fetchone()
            # Every segment row holds at least one pending event.
            head = self._conn.execute(
                "SELECT created_at FROM segments ORDER BY id LIMIT 1"
            ).fetchone()
            (deadletters,) = self._conn.execute(
                "SELECT count(*) FROM deadletters"
            ).fetchone()
        return SpoolStats(
            events=events,
            bytes=size,
            oldest_created_at=None if head is None else head[0],
            deadletters=deadletters,
        )

    def room(self) -> int:
        """
        Bytes the database can still grow by: free space on its filesystem (for this
        user) plus its own free pages, which deleted events leave for new ones.
        """
        with self._reading("measure free space"):
            (pages,) = self._conn.execute("PRAGMA freelist_count").fetchone()
            (page_size,) = self._conn.execute("PRAGMA page_size").fetchone()
        return filesystem_free(self.path.parent) + int(pages * page_size)

    def can_write(self) -> bool:
        """Whether a small write transaction commits now (False: no room for it)."""
        try:
            with self._transaction("write a probe") as conn:
                conn.execute("UPDATE spool_totals SET events = events WHERE id = 0")
        except StoreFull:
            return False
        return True

    def fetch_oldest(self, max_events: int, max_bytes: int) -> list[SpooledEvent]:
        """
        The longest run of oldest events within ``max_events`` and ``max_bytes`` of body.

        At least one event when the spool is not empty, even if it alone exceeds
        ``max_bytes``, so an oversized event cannot block the spool. Events settled out
        of order are skipped; a damaged segment met on the way is quarantined.
        """
        return self._despite_damage(lambda: self._fetch_oldest(max_events, max_bytes))

    def _fetch_oldest(self, max_events: int, max_bytes: int) -> list[SpooledEvent]:
        taken: list[SpooledEvent] = []
        room = max(max_events, 1)
        budget = max_bytes
        decoded: dict[int, DecodedSegment] = {}
        with (
            self._reading("fetch spooled events"),
            contextlib.closing(
                self._conn.execute(
                    "SELECT id, events, done, settled, created_at"
                    " FROM segments ORDER BY id"
                )
            ) as cursor,
        ):
            # Segments are pulled one at a time so that a full batch stops reading.
            for segment_id, count, done, settled, created_at in cursor:
                segment = decoded[segment_id] = self._segment(segment_id, count)
                pending: Sequence[int] = range(done, count)
                if settled:
                    skip = parse_settled(settled)
                    pending = [i for i in pending if i not in skip]
                pending = pending[: room - len(taken)]
                fit, budget = fit_bytes(
                    pick(segment.bodies, pending), budget, first=not taken
                )
                base = segment_id << INDEX_BITS
                taken.extend(
                    map(
                        _new_event,
                        zip(
                            map(base.__or__, pending[:fit]),
                            pick(segment.uuids, pending),
                            pick(segment.bodies, pending),
                            pick(segment.rules, pending),
                            repeat(created_at),
                        ),
                    )
                )
                if fit < len(pending) or len(taken) >= room:
                    break
        # Only what this fetch read stays cached: the batch's segments, for settling
        # it, and the last one, for the next fetch.
        self._decoded = decoded
        return taken

    def delete(self, ids: Sequence[int]) -> None:
        """Settle delivered events; unknown or already settled ids are ignored."""
        if not ids:
            return
        self._despite_damage(lambda: self._delete(ids))

    def _delete(self, ids: Sequence[int]) -> None:
        # Not durable: a delete a power loss undoes only makes the events go again,
        # and PostHog keeps one copy per uuid; an fsync per batch would cost more.
        with self._transaction("delete delivered events", durable=False) as conn:
            self._settle(conn, ids)

    def quarantine(
        self,
        events: Sequence[SpooledEvent],
        *,
        status: int | None,
        response: str,
        reason: str,
        now: float,
    ) -> None:
        """
        Move events from the spool to the dead letters, in one transaction.

        Events already settled (or unknown) are ignored, so none is quarantined twice.
        The letters hold the events as stored.
        """
        if not events:
            return
        self._despite_damage(
            lambda: self._quarantine(events, status, response, reason, now)
        )

    def _quarantine(
        self,
        events: Sequence[SpooledEvent],
        status: int | None,
        response: str,
        reason: str,
        now: float,
    ) -> None:
        with self._transaction("quarantine events") as conn:
            stored: dict[int, tuple[str, bytes, str]] = {}
            for segment_id, segment, newly in self._settle(
                conn, [event.id for event in events]
            ):
                base = segment_id << INDEX_BITS
                for i in newly:
                    stored[base | i] = (
                        segment.uuids[i],
                        segment.bodies[i],
                        segment.rules[i],
                    )
            letters = [
                (*stored.pop(event.id), status, response, reason, now)
                for event in events
                if event.id in stored
            ]
            conn.executemany(
                "INSERT INTO deadletters"
                " (uuid, body, rule, status, response, reason, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                letters,
            )

    def _settle(
        self, conn: sqlite3.Connection, ids: Iterable[int]
    ) -> list[tuple[int, DecodedSegment, Sequence[int]]]:
        """
        Mark events settled and update the totals, inside the caller's transaction.

        Returns ``(segment_id, segment, indexes)`` for the events this call settled. A
        segment whose events are all settled is deleted.
        """
        result: list[tuple[int, DecodedSegment, Sequence[int]]] = []
        events = freed = 0
        for segment_id, indexes in group_ids(ids):
            row = conn.execute(
                "SELECT events, done, settled FROM segments WHERE id = ?",
                (segment_id,),
            ).fetchone()
            if row is None:
                continue  # unknown, or every event of it already settled
            count, done, settled = row
            progress = settle(count, done, parse_settled(settled), indexes)
            if not progress.newly:
                continue
            segment = self._segment(segment_id, count)
            events += len(progress.newly)
            freed += sum(map(len, pick(segment.bodies, progress.newly)))
            if progress.done == count:
                conn.execute("DELETE FROM segments WHERE id = ?", (segment_id,))
                conn.execute("DELETE FROM segment_data WHERE id = ?", (segment_id,))
                self._decoded.pop(segment_id, None)
            else:
                conn.execute(
                    "UPDATE segments SET done = ?, settled = ? WHERE id = ?",
                    (progress.done, format_settled(progress.settled), segment_id),
                )
            result.append((segment_id, segment, progress.newly))
        if events:
            conn.execute(_ADD_TOTALS, (-events, -freed))
            # Exact again once the spool is empty (see the module doc on damage).
            conn.execute(_ZERO_TOTALS_WHEN_EMPTY)
        return result

    def _segment(self, segment_id: int, count: int) -> DecodedSegment:
        """A segment's events, from the cache or read and split."""
        segment = self._decoded.get(segment_id)
        if segment is not None:
            return segment
        try:
            row = self._conn.execute(
                "SELECT bodies, uuids, rules FROM segment_data WHERE id = ?",
                (segment_id,),
            ).fetchone()
            if row is None:
                msg = "its events are missing"
                raise ValueError(msg)
            bodies, uuids, rules = row
            return decode_segment(bodies, uuids, rules, count)
        except sqlite3.DatabaseError as exc:
            if not _is_corrupt(exc):
                raise
            raise _Damaged(segment_id, str(exc)) from None
        except (ValueError, TypeError, AttributeError) as exc:
            # TypeError, AttributeError: a column of the wrong type, as a damaged
            # record may read.
            raise _Damaged(segment_id, str(exc)) from None

    # -- damaged segments --------------------------------------------------------------

    def _despite_damage(self, action: Callable[[], T]) -> T:
        """
        Run ``action``; when it meets a damaged segment, quarantine that segment and
        run it again (each time one segment fewer: this ends).

        Raises:
            StoreCorrupt: a damaged segment in a read-only store, or a segment
                that cannot even be moved out of the way.
        """
        while True:
            try:
                return action()
            except _Damaged as damaged:
                if self.readonly:
                    msg = (
                        f"{self.path}: segment {damaged.segment_id} is damaged:"
                        f" {damaged.error}"
                    )
                    raise StoreCorrupt(msg) from None
                self._quarantine_segment(damaged.segment_id, damaged.error)

    def _quarantine_segment(self, segment_id: int, error: str) -> None:
        """Move a damaged segment out of the spool; salvage what is recognisable."""
        now = time.time()
        with self._transaction("quarantine a damaged segment") as conn:
            row = conn.execute(
                "SELECT events, done, settled, bytes, created_at FROM segments"
                " WHERE id = ?",
                (segment_id,),
            ).fetchone()
            if row is None:
                return
            count, done, settled_text, size, created_at = row
            settled = parse_settled(settled_text)
            pending = count - done - len(settled)
            columns = [
                _read_partly(conn, column, segment_id)
                for column in ("bodies", "uuids", "rules")
            ]
            (bodies, _), (uuids, _), (rules, _) = columns
            letters = salvage_events(
                bodies, uuids, rules, count, settled.union(range(done))
            )
            reason = f"damaged segment {segment_id}: {error}"
            conn.executemany(
                "INSERT INTO deadletters"
                " (uuid, body, rule, status, response, reason, created_at)"
                " VALUES (?, ?, ?, NULL, '', ?, ?)",
                [(uuid, body, rule, reason, now) for uuid, body, rule in letters],
            )
            conn.execute("DELETE FROM segments WHERE id = ?", (segment_id,))
            if all(whole for _, whole in columns):
                conn.execute("DELETE FROM segment_data WHERE id = ?", (segment_id,))
            # Else its pages are damaged: freeing them would follow a broken chain
            # (and SQLite refuses any write after that), so they stay, unused.
            damaged = DamagedSegment(
                segment_id, pending, size, len(letters), error, created_at, now
            )
            conn.execute(
                "INSERT OR REPLACE INTO damaged_segments"
                " (id, events, bytes, salvaged, error, created_at, quarantined_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (segment_id, pending, size, len(letters), error, created_at, now),
            )
            # Its pending bytes, exact only if none of it was settled yet.
            pending_bytes = size if pending == count else size * pending // count
            conn.execute(_ADD_TOTALS, (-pending, -pending_bytes))
            conn.execute(_ZERO_TOTALS_WHEN_EMPTY)
        self._decoded.pop(segment_id, None)
        if self.on_damaged is not None:
            self.on_damaged(damaged)

    def list_damaged(self) -> list[DamagedSegment]:
        """The quarantined segments, oldest first (none in a database from before)."""
        with self._reading("list damaged segments"):
            exists = self._conn.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'damaged_segments'"
            ).fetchone()
            if exists is None:
                return []
            rows = self._conn.execute(
                "SELECT id, events, bytes, salvaged, error, created_at, quarantined_at"
                " FROM damaged_segments ORDER BY id"
            ).fetchall()
        return [DamagedSegment(*row) for row in rows]

    # -- dead letters ------------------------------------------------------------------

    def list_deadletters(self, limit: int = 100) -> list[DeadLetter]:
        """The oldest dead letters first."""
        with self._reading("list dead letters"):
            rows = self._conn.execute(
                "SELECT id, uuid, body, rule, status, response, reason, created_at"
                " FROM deadletters ORDER BY id LIMIT ?",
                (limit,),
            ).fetchall()
        return [DeadLetter(*row) for row in rows]

    def retry_deadletters(self, ids: Sequence[int] | None = None) -> int:
        """
        Move dead letters (all when ``ids`` is None) back to the end of the spool.

        Returns the number moved; unknown ids are ignored.
        """
        with self._transaction("retry dead letters") as conn:
            letters = [
                row
                for i in self._deadletter_ids(conn, ids)
                for row in conn.execute(
                    "SELECT id, uuid, body, rule, created_at FROM deadletters"
                    " WHERE id = ?",
                    (i,),
                )
            ]
            for start in range(0, len(letters), MAX_SEGMENT_EVENTS):
                part = letters[start : start + MAX_SEGMENT_EVENTS]
                _, uuids, bodies, rules, created = zip(*part, strict=True)
                # Each letter went back with its quarantine time as spool time; a
                # segment has one, the oldest, so the sink sends it without waiting.
                _insert_segment(
                    conn, encode_columns(bodies, uuids, rules), min(created)
                )
            conn.executemany(
                "DELETE FROM deadletters WHERE id = ?", ((row[0],) for row in letters)
            )
        return len(letters)

    def drop_deadletters(self, ids: Sequence[int] | None = None) -> int:
        """Delete dead letters (all when ``ids`` is None); returns the number deleted."""
        with self._transaction("drop dead letters") as conn:
            return conn.executemany(
                "DELETE FROM deadletters WHERE id = ?",
                ((i,) for i in self._deadletter_ids(conn, ids)),
            ).rowcount

    @staticmethod
    def _deadletter_ids(
        conn: sqlite3.Connection, ids: Sequence[int] | None
    ) -> list[int]:
        if ids is None:
            return [
                i for (i,) in conn.execute("SELECT id FROM deadletters ORDER BY id")
            ]
        return sorted(set(ids))

    # -- meta --------------------------------------------------------------------------

    def set_meta(self, key: str, value: str) -> None:
        """Remember a small value (e.g. ``last_send_error``)."""
        with self._transaction("write meta") as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def get_meta(self, key: str) -> str | None:
        """A value stored by ``set_meta``, or None."""
        with self._reading("read meta"):
            row = self._conn.execute(
                "SELECT value FROM meta WHERE key = ?", (key,)
            ).fetchone()
        return None if row is None else str(row[0])

    def close(self) -> None:
        """Close the connection; the store is unusable afterwards."""
        self._conn.close()

    # -- plumbing ----------------------------------------------------------------------

    @contextmanager
    def _transaction(
        self, action: str, *, durable: bool = True
    ) -> Iterator[sqlite3.Connection]:
        """
        One write transaction. Not ``durable``: committed without waiting for the disk
        (the next durable commit, or a checkpoint, makes it durable); for changes a
        power loss may undo harmlessly, such as settling delivered events, which
        would then be sent again under the same uuids.
        """
        # IMMEDIATE takes the write lock up front, so a reader never makes a commit
        # fail half-way with SQLITE_BUSY on lock upgrade.
        with self._reading(action):
            if not durable:
                self._conn.execute("PRAGMA synchronous = NORMAL")
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self._conn
                    self._conn.execute("COMMIT")
                finally:
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
            finally:
                if not durable:
                    self._conn.execute("PRAGMA synchronous = FULL")

    @contextmanager
    def _reading(self, action: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            what = f"{self.path}: cannot {action}"
            raise _store_error(what, exc) from None


# ``SpooledEvent(*fields)`` without a Python-level ``__new__`` per event.
_new_event = functools.partial(tuple.__new__, SpooledEvent)


def _insert_segment(
    conn: sqlite3.Connection, segment: EncodedSegment, created_at: float
) -> None:
    """Add a segment at the end of the spool, and its events to the totals."""
    segment_id = conn.execute(
        "INSERT INTO segments (events, bytes, created_at) VALUES (?, ?, ?)",
        (segment.events, segment.bytes, created_at),
    ).lastrowid
    conn.execute(
        "INSERT INTO segment_data (id, bodies, uuids, rules) VALUES (?, ?, ?, ?)",
        (segment_id, segment.bodies, segment.uuids, segment.rules),
    )
    conn.execute(_ADD_TOTALS, (segment.events, segment.bytes))


def _make_private(path: Path) -> None:
    """
    Create the database file (if missing) readable by its owner only, and tighten
    one created otherwise.

    Spooled events may carry personal data, and a state directory made by someone
    else (systemd's ``StateDirectory=`` is 0755 by default) does not protect them.
    SQLite creates a database 0644 less the umask, and its ``-wal`` and ``-shm``
    files with the database's mode: created here first, they are all 0600.

    Raises:
        StoreError: the file cannot be created or its mode changed.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.fchmod(fd, 0o600)
        finally:
            os.close(fd)
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.chmod(f"{path}{suffix}", 0o600)  # noqa: PTH101 (str path)
    except OSError as exc:
        msg = f"{path}: cannot open the state database: {exc.strerror}"
        if exc.errno in {errno.ENOSPC, errno.EDQUOT}:
            raise StoreFull(msg) from None
        raise StoreError(msg) from None


def _connect(path: Path, target: str) -> sqlite3.Connection:
    try:
        # isolation_level=None: transactions are begun and ended here, explicitly.
        conn = sqlite3.connect(
            target, isolation_level=None, uri=target.startswith("file:")
        )
    except sqlite3.Error as exc:
        what = f"{path}: cannot open the state database"
        raise _store_error(what, exc) from None
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return conn


def _store_error(what: str, exc: Exception) -> StoreError:
    """
    ``what: why`` as a ``StoreFull`` when there is no room to write, else a StoreError.

    SQLite answers SQLITE_FULL when a write meets ENOSPC (or its max_page_count), and
    SQLITE_IOERR_SHMSIZE when it cannot size its shared-memory file, which on opening
    a WAL database on a full filesystem is the first thing to fail.
    """
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and (
        code & 0xFF == SQLITE_FULL or code == SQLITE_IOERR_SHMSIZE
    ):
        if code == SQLITE_IOERR_SHMSIZE:
            return StoreFull(f"{what}: {exc} (no room for its -shm file)")
        return StoreFull(f"{what}: {exc}")
    if _is_corrupt(exc):
        return StoreCorrupt(f"{what}: {exc}")
    return StoreError(f"{what}: {exc}")


def _is_corrupt(exc: Exception) -> bool:
    """SQLITE_CORRUPT (a damaged page) or SQLITE_NOTADB (a damaged header)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in {SQLITE_CORRUPT, SQLITE_NOTADB}


def _read_partly(
    conn: sqlite3.Connection, column: str, segment_id: int
) -> tuple[bytes, bool]:
    """
    As much of a damaged segment's column as can still be read, from its start, and
    whether that is all of it.
    """
    parts: list[bytes] = []
    try:
        with conn.blobopen("segment_data", column, segment_id, readonly=True) as blob:
            # Small reads: the read that meets a damaged page fails whole.
            while chunk := blob.read(4096):
                parts.append(chunk)
    except sqlite3.DatabaseError:
        return b"".join(parts), False
    return b"".join(parts), True


def filesystem_free(directory: Path) -> int:
    """
    Bytes free for this user on the filesystem of ``directory`` (or, until it exists,
    of its nearest existing parent).

    Raises:
        StoreError: it cannot be measured.
    """
    while not directory.exists() and directory != directory.parent:
        directory = directory.parent
    try:
        fs = os.statvfs(directory)
    except OSError as exc:
        msg = f"{directory}: cannot measure free space: {exc.strerror}"
        raise StoreError(msg) from None
    return int(fs.f_bavail * fs.f_frsize)


def set_aside(state_dir: Path, now: datetime) -> Path:
    """
    Rename a state database that cannot be used out of the way, with its WAL.

    It is kept for an operator (``sqlite3 … .recover`` may save its dead letters);
    the next ``Store.open`` creates a new one. Returns the new path.

    Raises:
        StoreError: it cannot be renamed.
    """
    path = state_dir / DB_NAME
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = state_dir / f"{DB_NAME}{SET_ASIDE_INFIX}{stamp}"
    suffix = 1
    while target.exists():
        suffix += 1
        target = state_dir / f"{DB_NAME}{SET_ASIDE_INFIX}{stamp}-{suffix}"
    try:
        path.rename(target)
        # The WAL belongs to the database and goes with it; the -shm is rebuilt.
        wal = Path(f"{path}-wal")
        if wal.exists():
            wal.rename(f"{target}-wal")
        Path(f"{path}-shm").unlink(missing_ok=True)
    except OSError as exc:
        msg = f"{path}: cannot set the damaged state database aside: {exc.strerror}"
        raise StoreError(msg) from None
    return target


def set_aside_databases(state_dir: Path) -> list[Path]:
    """The databases set aside in ``state_dir``, oldest first."""
    return sorted(
        path
        for path in state_dir.glob(f"{DB_NAME}{SET_ASIDE_INFIX}*")
        if not path.name.endswith(("-wal", "-shm"))
    )


def _prepare(conn: sqlite3.Connection) -> int:
    """Set the durability pragmas, create the schema if missing; return the old version."""
    # Only takes effect when this creates the database: an existing one keeps its size.
    conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Read inside the write lock: two processes starting at once must not both
        # create the schema.
        version = _user_version(conn)
        if version == 0:
            for statement in _SCHEMA:
                conn.execute(statement)
        elif version == 1:
            _migrate_v1(conn)
            _migrate_v2(conn)
            _migrate_v3(conn)
        elif version == 2:
            _migrate_v2(conn)
            _migrate_v3(conn)
        elif version == 3:
            _migrate_v3(conn)
        if version > 0:
            conn.execute(_DAMAGED_TABLE)
        conn.execute("COMMIT")
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    return version


def _migrate_v1(conn: sqlite3.Connection) -> None:
    """
    Convert a version 1 spool (one ``events`` row per event) to segments, in place.

    Runs inside ``_prepare``'s transaction: a crash leaves the version 1 database as it
    was. Events keep their order; a segment's spool time is that of its oldest event.
    """
    for statement in _SEGMENT_TABLES:
        conn.execute(statement)
    cursor = conn.execute("SELECT uuid, body, rule, created_at FROM events ORDER BY id")
    while rows := cursor.fetchmany(MAX_SEGMENT_EVENTS):
        uuids, bodies, rules, created = zip(*rows, strict=True)
        _insert_segment(conn, encode_columns(bodies, uuids, rules), min(created))
    cursor.close()
    conn.execute("DROP TRIGGER IF EXISTS events_added")
    conn.execute("DROP TRIGGER IF EXISTS events_removed")
    conn.execute("DROP TABLE events")
    # Recomputed rather than trusted: version 1's triggers kept them, this makes sure.
    conn.execute(
        "UPDATE spool_totals SET"
        " events = (SELECT coalesce(sum(events), 0) FROM segments),"
        " bytes = (SELECT coalesce(sum(bytes), 0) FROM segments)"
        " WHERE id = 0"
    )


def _migrate_v2(conn: sqlite3.Connection) -> None:
    """Add the head digest and the ``gone`` flag to the checkpoints (version 3)."""
    conn.execute(
        "ALTER TABLE checkpoints ADD COLUMN head_bytes INTEGER NOT NULL DEFAULT 0"
    )
    conn.execute(
        "ALTER TABLE checkpoints ADD COLUMN head_hash TEXT NOT NULL DEFAULT ''"
    )
    conn.execute("ALTER TABLE checkpoints ADD COLUMN gone INTEGER NOT NULL DEFAULT 0")


def _migrate_v3(conn: sqlite3.Connection) -> None:
    """
    Add where reading each file began (version 4): unknown (-1) for the files
    already there, so that a backfill reads them from their first byte (again: the
    same uuids, which PostHog keeps once) rather than miss what lies before.
    """
    conn.execute(
        "ALTER TABLE checkpoints ADD COLUMN origin INTEGER NOT NULL DEFAULT -1"
    )
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _user_version(conn: sqlite3.Connection) -> int:
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    return int(version)


def _check_version(conn: sqlite3.Connection, path: Path, version: int) -> None:
    if version > SCHEMA_VERSION:
        conn.close()
        msg = (
            f"{path}: schema version {version} is newer than this logbridge supports"
            f" ({SCHEMA_VERSION}) (upgrade logbridge or use another state_dir)"
        )
        raise StoreError(msg)


@contextlib.contextmanager
def lock_state_dir(state_dir: Path) -> Iterator[None]:
    """
    Hold a lock on a state directory while the block runs (the daemon's lifetime, a
    backfill's).

    Two processes on one spool would both send every event; PostHog would deduplicate
    them, but the operator would pay twice and the counts in the logs would lie. The
    lock is taken on the directory itself: a lock file could be deleted while the
    daemon runs, and the next daemon would lock a new one (the directory cannot go
    while the database is in it, and a renamed one takes its database along).
    """
    try:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(state_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        msg = f"{state_dir}: cannot use the state directory: {exc.strerror}"
        raise StoreError(msg) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            msg = f"{state_dir}: another logbridge is already running with this state directory"
            raise StoreError(msg) from None
        yield
    finally:
        os.close(fd)
