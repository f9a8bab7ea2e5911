"""Opening a schema version 1 state database converts its spool to segments."""

from __future__ import annotations

import dataclasses
import re
import sqlite3
from dataclasses import astuple
from pathlib import Path

import pytest

from bridge.errors import StoreError
from bridge.model import Checkpoint
from bridge.spool import store as store_module
from bridge.spool.store import DeadLetter, SpoolStats, Store

NOW = 1_767_225_600.0

# The version 1 schema, as bridge/spool/store.py created it: one row per event in
# ``events``, and triggers keeping ``spool_totals``.
V1_SCHEMA = (
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
    "PRAGMA user_version = 1",
)

CHECKPOINT = Checkpoint("f1", "shop", "/var/log/shop.log", 64769, 1234, 300, 310)
# A migrated checkpoint does not know where reading its file began.
MIGRATED = dataclasses.replace(CHECKPOINT, origin=-1)


def exactly(message: str) -> str:
    """A ``match=`` pattern for the whole message."""
    return f"^{re.escape(message)}$"


def event(n: int) -> tuple[str, bytes, str, float]:
    """Version 1 event ``n``: uuid, body, rule, spool time (later for higher n)."""
    body = b'{"event":"order_paid","n":%d,"pad":"%s"}' % (n, b"x" * (n % 7))
    return f"uuid-{n}", body, f"rule-{n % 3}", NOW + n // 4


def make_v1(
    state_dir: Path, events: list[tuple[str, bytes, str, float]], *, delete: int = 0
) -> None:
    """A version 1 database as the old daemon left it: ``delete`` events were sent."""
    state_dir.mkdir(exist_ok=True)
    conn = sqlite3.connect(state_dir / "state.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    for statement in V1_SCHEMA:
        conn.execute(statement)
    conn.executemany(
        "INSERT INTO events (uuid, body, bytes, rule, created_at)"
        " VALUES (?, ?, ?, ?, ?)",
        ((u, b, len(b), r, t) for u, b, r, t in events),
    )
    conn.execute(
        "DELETE FROM events WHERE id IN (SELECT id FROM events ORDER BY id LIMIT ?)",
        (delete,),
    )
    conn.execute(
        "INSERT INTO checkpoints VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (*astuple(CHECKPOINT)[:7], NOW),
    )
    conn.execute(
        "INSERT INTO deadletters"
        " (uuid, body, rule, status, response, reason, created_at)"
        " VALUES ('dead-1', ?, 'rule-d', 400, 'no', 'rejected', ?)",
        (b"{}", NOW),
    )
    conn.execute("INSERT INTO meta VALUES ('last_send_error', 'boom')")
    conn.close()


def test_a_version_1_spool_comes_out_in_order_with_exact_totals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small segments, so that the conversion makes several.
    monkeypatch.setattr(store_module, "MAX_SEGMENT_EVENTS", 4)
    events = [event(n) for n in range(11)]
    make_v1(tmp_path, events, delete=1)

    store = Store.open(tmp_path)
    stats = store.stats()
    fetched = store.fetch_oldest(100, 10**9)

    assert not store.is_new
    assert [(e.uuid, e.body, e.rule) for e in fetched] == [
        (u, b, r) for u, b, r, _ in events[1:]
    ]
    assert [e.id for e in fetched] == sorted(e.id for e in fetched)
    assert stats == SpoolStats(
        events=10,
        bytes=sum(len(b) for _, b, _, _ in events[1:]),
        # The oldest pending event was spooled at NOW (event 0 was sent).
        oldest_created_at=NOW,
        deadletters=1,
    )
    # Each segment is due from its oldest event.
    assert [e.created_at for e in fetched] == [NOW] * 4 + [NOW + 1] * 4 + [NOW + 2] * 2
    assert store.load_checkpoints() == [MIGRATED]
    assert store.list_deadletters() == [
        DeadLetter(1, "dead-1", b"{}", "rule-d", 400, "no", "rejected", NOW)
    ]
    assert store.get_meta("last_send_error") == "boom"
    store.close()


def test_the_conversion_leaves_a_version_4_schema_without_the_old_table(
    tmp_path: Path,
) -> None:
    make_v1(tmp_path, [event(n) for n in range(3)])

    Store.open(tmp_path).close()

    conn = sqlite3.connect(tmp_path / "state.db")
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    names = {
        name
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%'"
        )
    }
    totals = conn.execute("SELECT events, bytes FROM spool_totals").fetchone()
    conn.close()
    assert version == 4
    assert "events" not in names
    assert not {"events_added", "events_removed"} & names
    assert {"segments", "segment_data", "spool_totals"} <= names
    assert totals == (3, sum(len(event(n)[1]) for n in range(3)))


def test_the_converted_spool_is_delivered_and_settled_like_a_new_one(
    tmp_path: Path,
) -> None:
    make_v1(tmp_path, [event(n) for n in range(5)])
    store = Store.open(tmp_path)
    first, second, *rest = store.fetch_oldest(100, 10**9)

    store.quarantine([second], status=400, response="", reason="r", now=NOW)
    store.delete([first.id, *(e.id for e in rest)])
    store.commit_chunk([("new", b"{}", "r")], None, NOW + 60)

    assert [e.uuid for e in store.fetch_oldest(100, 10**9)] == ["new"]
    assert store.stats() == SpoolStats(
        events=1, bytes=2, oldest_created_at=NOW + 60, deadletters=2
    )
    store.close()


def test_an_empty_version_1_spool_converts_to_an_empty_one(tmp_path: Path) -> None:
    make_v1(tmp_path, [])

    store = Store.open(tmp_path)

    assert store.stats() == SpoolStats(
        events=0, bytes=0, oldest_created_at=None, deadletters=1
    )
    assert store.fetch_oldest(10, 100) == []
    store.close()


def test_a_version_1_event_that_cannot_be_converted_leaves_the_database_as_it_was(
    tmp_path: Path,
) -> None:
    make_v1(tmp_path, [event(0), ("u", b'{"a":\n1}', "r", NOW)])

    message = (
        f"{tmp_path / 'state.db'}: cannot open the state database:"
        " an event body contains a newline"
    )
    with pytest.raises(StoreError, match=exactly(message)):
        Store.open(tmp_path)

    conn = sqlite3.connect(tmp_path / "state.db")
    assert conn.execute("PRAGMA user_version").fetchone() == (1,)
    assert conn.execute("SELECT count(*) FROM events").fetchone() == (2,)
    conn.close()


def test_reading_a_version_1_database_asks_for_the_daemon_to_convert_it(
    tmp_path: Path,
) -> None:
    make_v1(tmp_path, [event(0)])

    message = (
        f"{tmp_path / 'state.db'}: schema version 1 is older than this logbridge uses"
        " (4) (start the daemon once to convert it)"
    )
    with pytest.raises(StoreError, match=exactly(message)):
        Store.open_readonly(tmp_path)


@pytest.mark.slow
def test_a_big_version_1_spool_is_cut_into_segments_of_10_000(tmp_path: Path) -> None:
    make_v1(tmp_path, [event(n) for n in range(10_001)])

    store = Store.open(tmp_path)
    sizes = [n for (n,) in store._conn.execute("SELECT events FROM segments")]
    fetched = store.fetch_oldest(20_000, 10**9)

    assert sizes == [10_000, 1]
    assert [e.uuid for e in fetched] == [f"uuid-{n}" for n in range(10_001)]
    store.close()


def test_a_version_2_database_gets_head_digests_and_keeps_its_checkpoints(
    tmp_path: Path,
) -> None:
    make_v1(tmp_path, [event(0)])
    conn = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    store_module._migrate_v1(conn)
    conn.execute("PRAGMA user_version = 2")
    conn.execute("COMMIT")
    conn.close()

    store = Store.open(tmp_path)
    checkpoints = store.load_checkpoints()
    later = Checkpoint("f2", "app", "/b", 8, 9, 10, 10, 12, "ab", gone=True)
    store.commit_chunk([], later, NOW)
    reloaded = store.load_checkpoints()
    store.close()

    assert checkpoints == [MIGRATED]
    assert reloaded == [MIGRATED, later]
