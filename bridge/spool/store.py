"""The state database: spooled events, file checkpoints, dead letters. All SQL lives here.

One SQLite file, ``state.db``, in the state directory.

Invariants:

- A chunk's events and its file's new checkpoint are written in ONE transaction
  (``commit_chunk``): after a crash at any instant either both are there or neither is,
  so a line is never lost between the file and the spool and never spooled twice.
- Events leave ``events`` only through ``delete`` (after PostHog answered 2xx) or
  ``quarantine`` (moved to ``deadletters`` in the same transaction): nothing is dropped.
- Ids grow monotonically (AUTOINCREMENT never reuses one), so "oldest first" is id order.
- ``spool_totals`` is kept by triggers inside the transactions that change ``events``,
  so ``stats()`` is one-row reads, exact, and readable by ``logbridge status``.

Durability: WAL with ``synchronous=FULL``. With NORMAL a committed transaction survives a
process crash but can be rolled back by a power loss; a checkpoint could then go back to
an offset whose file logrotate has since deleted, and those lines would be gone. FULL
fsyncs the WAL at each commit; commits are per chunk of lines and per batch, not per
line, so the cost is a few fsyncs a second at most.

A connection belongs to one thread. ``Store`` is synchronous and not thread-safe;
``AsyncStore`` is the daemon's handle, running every call on one dedicated thread.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from bridge.errors import StoreError
from bridge.model import Checkpoint

__all__ = [
    "DB_NAME",
    "SCHEMA_VERSION",
    "AsyncStore",
    "DeadLetter",
    "SpoolStats",
    "SpooledEvent",
    "Store",
]

T = TypeVar("T")

DB_NAME = "state.db"
SCHEMA_VERSION = 1
# How long a statement waits for another connection's lock (``logbridge status``
# reading while the daemon writes) before failing.
BUSY_TIMEOUT_MS = 5000

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
        updated_at REAL NOT NULL
    )
    """,
    """
    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        uuid TEXT NOT NULL,
        body BLOB NOT NULL,
        bytes INTEGER NOT NULL,
        rule TEXT NOT NULL,
        created_at REAL NOT NULL
    )
    """,
    # ``rule`` is kept so that a retried dead letter goes back exactly as it was.
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
    """
    CREATE TABLE spool_totals (
        id INTEGER PRIMARY KEY CHECK (id = 0),
        events INTEGER NOT NULL,
        bytes INTEGER NOT NULL
    )
    """,
    "INSERT INTO spool_totals (id, events, bytes) VALUES (0, 0, 0)",
    """
    CREATE TRIGGER events_added AFTER INSERT ON events BEGIN
        UPDATE spool_totals SET events = events + 1, bytes = bytes + NEW.bytes
        WHERE id = 0;
    END
    """,
    """
    CREATE TRIGGER events_removed AFTER DELETE ON events BEGIN
        UPDATE spool_totals SET events = events - 1, bytes = bytes - OLD.bytes
        WHERE id = 0;
    END
    """,
    f"PRAGMA user_version = {SCHEMA_VERSION}",
)


@dataclass(frozen=True, slots=True)
class SpooledEvent:
    """One spooled event: its row id, uuid, wire body and spool time (Unix seconds)."""

    id: int
    uuid: str
    body: bytes
    created_at: float


@dataclass(frozen=True, slots=True)
class SpoolStats:
    """
    The spool's size.

    ``oldest_created_at`` is the spool time of the event next in line (lowest id);
    ``None`` when the spool is empty.
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

    @classmethod
    def open(cls, state_dir: Path) -> Store:
        """
        Open (creating them if needed) the state directory and its database.

        ``is_new`` tells whether this call created the database, i.e. first start.

        Raises:
            StoreError: the directory or database cannot be created, opened or read.
        """
        try:
            # Spooled events may carry personal data: keep the directory private.
            state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            msg = f"{state_dir}: cannot create the state directory: {exc.strerror}"
            raise StoreError(msg) from None
        path = state_dir / DB_NAME
        conn = _connect(path, str(path))
        try:
            version = _prepare(conn)
        except sqlite3.Error as exc:
            conn.close()
            msg = f"{path}: cannot open the state database: {exc}"
            raise StoreError(msg) from None
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
            msg = f"{path}: cannot read the state database: {exc}"
            raise StoreError(msg) from None
        _check_version(conn, path, version)
        return cls(conn, path, is_new=False, readonly=True)

    # -- checkpoints -------------------------------------------------------------------

    def load_checkpoints(self) -> list[Checkpoint]:
        """Every file's checkpoint, ordered by file id."""
        with self._reading("load checkpoints"):
            rows = self._conn.execute(
                'SELECT file_id, source, path, dev, ino, "offset", size'
                " FROM checkpoints ORDER BY file_id"
            ).fetchall()
        return [Checkpoint(*row) for row in rows]

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
    ) -> None:
        """
        ``commit_chunk`` for several chunks in ONE transaction: one fsync, not one each.
        """
        with self._transaction("commit a chunk") as conn:
            conn.executemany(
                "INSERT INTO events (uuid, body, bytes, rule, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    (uuid, body, len(body), rule, now)
                    for events, _ in chunks
                    for uuid, body, rule in events
                ),
            )
            conn.executemany(
                "INSERT INTO checkpoints"
                ' (file_id, source, path, dev, ino, "offset", size, updated_at)'
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (file_id) DO UPDATE SET source = excluded.source,"
                " path = excluded.path, dev = excluded.dev, ino = excluded.ino,"
                ' "offset" = excluded."offset", size = excluded.size,'
                " updated_at = excluded.updated_at",
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
                    )
                    for _, cp in chunks
                    if cp is not None
                ),
            )

    def forget_checkpoint(self, file_id: str) -> None:
        """Drop a file's checkpoint (the file is gone for good)."""
        with self._transaction("forget a checkpoint") as conn:
            conn.execute("DELETE FROM checkpoints WHERE file_id = ?", (file_id,))

    # -- the spool ---------------------------------------------------------------------

    def stats(self) -> SpoolStats:
        """The spool's size; a few index lookups, cheap enough to call per chunk."""
        with self._reading("read spool statistics"):
            events, size = self._conn.execute(
                "SELECT events, bytes FROM spool_totals WHERE id = 0"
            ).fetchone()
            head = self._conn.execute(
                "SELECT created_at FROM events ORDER BY id LIMIT 1"
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

    def fetch_oldest(self, max_events: int, max_bytes: int) -> list[SpooledEvent]:
        """
        The longest run of oldest events within ``max_events`` and ``max_bytes`` of body.

        At least one event when the spool is not empty, even if it alone exceeds
        ``max_bytes``, so an oversized event cannot block the spool.
        """
        taken: list[SpooledEvent] = []
        total = 0
        with self._reading("fetch spooled events"):
            cursor = self._conn.execute(
                "SELECT id, uuid, body, created_at FROM events ORDER BY id LIMIT ?",
                (max(max_events, 1),),
            )
            # Rows are pulled one at a time so a byte limit reached early stops reading.
            for row in cursor:
                event = SpooledEvent(*row)
                total += len(event.body)
                if taken and total > max_bytes:
                    break
                taken.append(event)
            cursor.close()
        return taken

    def delete(self, ids: Sequence[int]) -> None:
        """Remove delivered events."""
        if not ids:
            return
        low, high = min(ids), max(ids)
        with self._transaction("delete delivered events") as conn:
            (between,) = conn.execute(
                "SELECT count(*) FROM events WHERE id BETWEEN ? AND ?", (low, high)
            ).fetchone()
            if between == len(set(ids)):
                # A whole batch is a run of consecutive rows: one statement, not one
                # per event.
                conn.execute("DELETE FROM events WHERE id BETWEEN ? AND ?", (low, high))
            else:
                conn.executemany("DELETE FROM events WHERE id = ?", ((i,) for i in ids))

    def quarantine(
        self,
        events: Sequence[SpooledEvent],
        *,
        status: int | None,
        response: str,
        reason: str,
        now: float,
    ) -> None:
        """Move events from the spool to the dead letters, in one transaction."""
        ids = [(event.id,) for event in events]
        with self._transaction("quarantine events") as conn:
            conn.executemany(
                "INSERT INTO deadletters"
                " (uuid, body, rule, status, response, reason, created_at)"
                " SELECT uuid, body, rule, ?, ?, ?, ? FROM events WHERE id = ?",
                ((status, response, reason, now, i) for (i,) in ids),
            )
            conn.executemany("DELETE FROM events WHERE id = ?", ids)

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
            rows = [(i,) for i in self._deadletter_ids(conn, ids)]
            moved = conn.executemany(
                "INSERT INTO events (uuid, body, bytes, rule, created_at)"
                " SELECT uuid, body, length(body), rule, created_at"
                " FROM deadletters WHERE id = ?",
                rows,
            ).rowcount
            conn.executemany("DELETE FROM deadletters WHERE id = ?", rows)
        return moved

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
    def _transaction(self, action: str) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE takes the write lock up front, so a reader never makes a commit
        # fail half-way with SQLITE_BUSY on lock upgrade.
        with self._reading(action):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            finally:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")

    @contextmanager
    def _reading(self, action: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            msg = f"{self.path}: cannot {action}: {exc}"
            raise StoreError(msg) from None


def _connect(path: Path, target: str) -> sqlite3.Connection:
    try:
        # isolation_level=None: transactions are begun and ended here, explicitly.
        conn = sqlite3.connect(
            target, isolation_level=None, uri=target.startswith("file:")
        )
    except sqlite3.Error as exc:
        msg = f"{path}: cannot open the state database: {exc}"
        raise StoreError(msg) from None
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return conn


def _prepare(conn: sqlite3.Connection) -> int:
    """Set the durability pragmas, create the schema if missing; return the old version."""
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
        conn.execute("COMMIT")
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    return version


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


class AsyncStore:
    """
    The daemon's handle on the store: every call runs on ONE dedicated thread.

    The ``Store`` itself is created on that thread, because an SQLite connection belongs
    to the thread that opened it. Calls run one at a time, in the order made.
    """

    def __init__(self, store_factory: Callable[[], Store]) -> None:
        """Remember how to open the store; nothing happens until ``open``."""
        self._factory = store_factory
        self._executor: ThreadPoolExecutor | None = None
        self._store: Store | None = None

    @property
    def is_new(self) -> bool:
        """True when opening created the database (first start)."""
        return self._opened().is_new

    async def open(self) -> None:
        """
        Start the store thread and open the store on it.

        Raises:
            StoreError: from the factory.
        """
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")
        try:
            loop = asyncio.get_running_loop()
            self._store = await loop.run_in_executor(executor, self._factory)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        self._executor = executor

    async def call(self, fn: Callable[[Store], T]) -> T:
        """Run ``fn(store)`` on the store thread and return its result."""
        store = self._opened()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, store)

    async def close(self) -> None:
        """Close the store on its thread and let the thread end; idempotent."""
        if self._store is None or self._executor is None:
            return
        store, executor = self._store, self._executor
        self._store = self._executor = None
        try:
            await asyncio.get_running_loop().run_in_executor(executor, store.close)
        finally:
            executor.shutdown(wait=False)

    def _opened(self) -> Store:
        if self._store is None:
            msg = "the store is not open"
            raise RuntimeError(msg)
        return self._store

    # -- thin wrappers -----------------------------------------------------------------

    async def load_checkpoints(self) -> list[Checkpoint]:
        """See ``Store.load_checkpoints``."""
        return await self.call(Store.load_checkpoints)

    async def commit_chunk(
        self,
        events: Sequence[tuple[str, bytes, str]],
        checkpoint: Checkpoint | None,
        now: float,
    ) -> None:
        """See ``Store.commit_chunk``."""
        await self.call(lambda s: s.commit_chunk(events, checkpoint, now))

    async def stats(self) -> SpoolStats:
        """See ``Store.stats``."""
        return await self.call(Store.stats)

    async def fetch_oldest(self, max_events: int, max_bytes: int) -> list[SpooledEvent]:
        """See ``Store.fetch_oldest``."""
        return await self.call(lambda s: s.fetch_oldest(max_events, max_bytes))

    async def delete(self, ids: Sequence[int]) -> None:
        """See ``Store.delete``."""
        await self.call(lambda s: s.delete(ids))

    async def quarantine(
        self,
        events: Sequence[SpooledEvent],
        *,
        status: int | None,
        response: str,
        reason: str,
        now: float,
    ) -> None:
        """See ``Store.quarantine``."""
        await self.call(
            lambda s: s.quarantine(
                events, status=status, response=response, reason=reason, now=now
            )
        )

    async def set_meta(self, key: str, value: str) -> None:
        """See ``Store.set_meta``."""
        await self.call(lambda s: s.set_meta(key, value))

    async def get_meta(self, key: str) -> str | None:
        """See ``Store.get_meta``."""
        return await self.call(lambda s: s.get_meta(key))
