"""The state database (bridge.spool.store.Store), on real files in tmp_path."""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import pytest

from bridge.errors import StoreCorrupt, StoreError
from bridge.model import Checkpoint
from bridge.spool import store as store_module
from bridge.spool.store import (
    DamagedSegment,
    DeadLetter,
    SpooledEvent,
    SpoolStats,
    Store,
    set_aside,
    set_aside_databases,
)
from tests.sink.oracle import take_batch

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def exactly(message: str) -> str:
    """A ``match=`` pattern for the whole message."""
    return f"^{re.escape(message)}$"


def checkpoint(file_id: str = "f1", offset: int = 100) -> Checkpoint:
    return Checkpoint(
        file_id=file_id,
        source="shop",
        path=f"/var/log/{file_id}.log",
        dev=64769,
        ino=1234,
        offset=offset,
        size=offset + 10,
    )


def rows(*sizes: int, prefix: str = "e") -> list[tuple[str, bytes, str]]:
    return [(f"{prefix}{i}", b"x" * size, "rule-a") for i, size in enumerate(sizes)]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(tmp_path / "state")
    yield opened
    opened.close()


def spooled(store: Store) -> list[tuple[str, bytes]]:
    return [(e.uuid, e.body) for e in store.fetch_oldest(10**6, 10**12)]


def assert_totals_exact(store: Store) -> None:
    """``stats()`` agrees with what is really pending, counted three ways."""
    pending = store.fetch_oldest(10**6, 10**12)
    stats = store.stats()
    assert (stats.events, stats.bytes) == (
        len(pending),
        sum(len(e.body) for e in pending),
    )
    assert stats.oldest_created_at == (pending[0].created_at if pending else None)
    # Straight from the tables: each segment's pending events are those from ``done``
    # on, minus the ones settled out of order.
    counted = 0
    for events, done, settled in store._conn.execute(
        "SELECT events, done, settled FROM segments"
    ):
        assert 0 <= done < events
        out_of_order = [int(i) for i in settled.split(",")] if settled else []
        assert all(done < i < events for i in out_of_order)
        counted += events - done - len(out_of_order)
    assert counted == stats.events
    # Only a segment quarantined for damaged pages may leave its events behind.
    assert store._conn.execute(
        "SELECT count(*) FROM segment_data WHERE id NOT IN (SELECT id FROM segments)"
        " AND id NOT IN (SELECT id FROM damaged_segments)"
    ).fetchone() == (0,)


# -- opening -------------------------------------------------------------------------


def test_open_creates_the_directory_and_a_new_database(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "a" / "state")
    store.close()

    assert store.is_new
    assert (tmp_path / "a" / "state" / "state.db").is_file()
    assert (tmp_path / "a" / "state").stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o000], ids=["022", "002", "000"])
def test_the_database_and_its_wal_files_are_private_whatever_the_umask(
    tmp_path: Path, umask: int
) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    old = os.umask(umask)
    try:
        store = Store.open(state)
        store.commit_chunk(rows(3), checkpoint(), NOW)
        modes = {
            path.name: path.stat().st_mode & 0o777 for path in sorted(state.iterdir())
        }
        store.close()
    finally:
        os.umask(old)

    assert modes == {"state.db": 0o600, "state.db-shm": 0o600, "state.db-wal": 0o600}


def test_opening_makes_a_database_created_readable_by_others_private(
    tmp_path: Path,
) -> None:
    Store.open(tmp_path).close()
    for path in tmp_path.iterdir():
        path.chmod(0o644)

    Store.open(tmp_path).close()

    assert {path.stat().st_mode & 0o777 for path in tmp_path.iterdir()} == {0o600}


def test_open_uses_wal_and_records_the_schema_version(tmp_path: Path) -> None:
    Store.open(tmp_path).close()

    conn = sqlite3.connect(tmp_path / "state.db")
    modes = (
        conn.execute("PRAGMA journal_mode").fetchone()[0],
        conn.execute("PRAGMA user_version").fetchone()[0],
    )
    conn.close()

    assert modes == ("wal", 4)


def test_commits_are_fsynced_for_power_loss(store: Store) -> None:
    # WAL + NORMAL could lose a committed checkpoint to a power cut (see the module
    # docstring); FULL is 2.
    (level,) = store._conn.execute("PRAGMA synchronous").fetchone()

    assert level == 2


def test_open_reports_a_database_path_that_cannot_be_opened(tmp_path: Path) -> None:
    (tmp_path / "state.db").mkdir()

    message = f"{tmp_path / 'state.db'}: cannot open the state database: Is a directory"
    with pytest.raises(StoreError, match=exactly(message)):
        Store.open(tmp_path)


def test_reopening_is_not_new_and_keeps_everything(tmp_path: Path) -> None:
    first = Store.open(tmp_path)
    first.commit_chunk(rows(3, 4), checkpoint(offset=42), NOW)
    first.quarantine(
        first.fetch_oldest(1, 100),
        status=400,
        response="no",
        reason="rejected",
        now=NOW,
    )
    first.set_meta("last_send_error", "boom")
    first.close()

    second = Store.open(tmp_path)

    assert not second.is_new
    assert second.load_checkpoints() == [checkpoint(offset=42)]
    assert spooled(second) == [("e1", b"xxxx")]
    assert [d.uuid for d in second.list_deadletters()] == ["e0"]
    assert second.get_meta("last_send_error") == "boom"
    assert second.stats() == SpoolStats(
        events=1, bytes=4, oldest_created_at=NOW, deadletters=1
    )
    second.close()


def test_open_reports_a_state_dir_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("not a directory")

    message = f"{tmp_path / 'state'}: cannot create the state directory: File exists"
    with pytest.raises(StoreError, match=exactly(message)):
        Store.open(tmp_path / "state")


def test_open_reports_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    (tmp_path / "state.db").write_bytes(b"this is not sqlite, just text" * 100)

    message = (
        f"{tmp_path / 'state.db'}: cannot open the state database:"
        " file is not a database"
    )
    with pytest.raises(StoreError, match=exactly(message)):
        Store.open(tmp_path)


def test_open_reports_a_database_from_a_newer_logbridge(tmp_path: Path) -> None:
    Store.open(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "state.db")
    conn.execute("PRAGMA user_version = 7")
    conn.close()

    message = (
        f"{tmp_path / 'state.db'}: schema version 7 is newer than this logbridge"
        " supports (4) (upgrade logbridge or use another state_dir)"
    )
    with pytest.raises(StoreError, match=exactly(message)):
        Store.open(tmp_path)


# -- reading while the daemon writes -------------------------------------------------


def test_open_readonly_reads_while_the_writer_is_open(store: Store) -> None:
    store.commit_chunk(rows(5), checkpoint(), NOW)

    reader = Store.open_readonly(store.path.parent)

    assert reader.stats() == SpoolStats(
        events=1, bytes=5, oldest_created_at=NOW, deadletters=0
    )
    assert reader.load_checkpoints() == [checkpoint()]
    assert not reader.is_new
    reader.close()


def test_open_readonly_refuses_to_write(store: Store) -> None:
    reader = Store.open_readonly(store.path.parent)

    message = f"{store.path}: cannot write meta: attempt to write a readonly database"
    with pytest.raises(StoreError, match=exactly(message)):
        reader.set_meta("k", "v")
    reader.close()


def test_open_readonly_reports_a_missing_database(tmp_path: Path) -> None:
    message = (
        f"{tmp_path / 'state.db'}: no state database"
        " (has the daemon run with this state_dir?)"
    )
    with pytest.raises(StoreError, match=exactly(message)):
        Store.open_readonly(tmp_path)


def test_open_readonly_reports_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    (tmp_path / "state.db").write_bytes(b"garbage" * 200)

    message = (
        f"{tmp_path / 'state.db'}: cannot read the state database:"
        " file is not a database"
    )
    with pytest.raises(StoreError, match=exactly(message)):
        Store.open_readonly(tmp_path)


def test_open_readonly_reports_a_database_from_a_newer_logbridge(
    tmp_path: Path,
) -> None:
    Store.open(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "state.db")
    conn.execute("PRAGMA user_version = 5")
    conn.close()

    message = (
        f"{tmp_path / 'state.db'}: schema version 5 is newer than this logbridge"
        " supports (4) (upgrade logbridge or use another state_dir)"
    )
    with pytest.raises(StoreError, match=exactly(message)):
        Store.open_readonly(tmp_path)


# -- chunks and checkpoints ----------------------------------------------------------


def test_commit_chunk_spools_events_and_stores_the_checkpoint(store: Store) -> None:
    store.commit_chunk(rows(1, 2), checkpoint(offset=10), NOW)

    assert spooled(store) == [("e0", b"x"), ("e1", b"xx")]
    assert store.load_checkpoints() == [checkpoint(offset=10)]


def test_commit_chunk_moves_an_existing_checkpoint_forward(store: Store) -> None:
    store.commit_chunk(rows(1), checkpoint(offset=10), NOW)

    store.commit_chunk(rows(1, prefix="n"), checkpoint(offset=20), NOW + 1)

    assert store.load_checkpoints() == [checkpoint(offset=20)]


def test_commit_chunk_without_checkpoint_only_spools(store: Store) -> None:
    store.commit_chunk(rows(3), None, NOW)

    assert store.load_checkpoints() == []
    assert spooled(store) == [("e0", b"xxx")]


def test_commit_chunks_is_all_or_nothing(store: Store) -> None:
    store.commit_chunk(rows(1), checkpoint(offset=10), NOW)
    # A NULL path in the second checkpoint violates a constraint after the segment and
    # the first checkpoint went in.
    broken = replace(checkpoint("f2"), path=cast(str, None))

    message = (
        f"{store.path}: cannot commit a chunk:"
        " NOT NULL constraint failed: checkpoints.path"
    )
    with pytest.raises(StoreError, match=exactly(message)):
        store.commit_chunks(
            [(rows(2, 3, prefix="n"), checkpoint(offset=99)), (rows(4), broken)], NOW
        )

    assert spooled(store) == [("e0", b"x")]
    assert store.load_checkpoints() == [checkpoint(offset=10)]
    assert store.stats() == SpoolStats(
        events=1, bytes=1, oldest_created_at=NOW, deadletters=0
    )
    assert_totals_exact(store)


@pytest.mark.parametrize(
    ("row", "field"),
    [
        (("u", b'{"a":1}\n', "r"), "body"),
        (("u\n", b"{}", "r"), "uuid"),
        (("u", b"{}", "r\n"), "rule"),
    ],
    ids=["body", "uuid", "rule"],
)
def test_commit_chunk_refuses_a_newline_in_a_field(
    store: Store, row: tuple[str, bytes, str], field: str
) -> None:
    # Fields are newline-joined in a segment: one newline would shift every event.
    message = (
        f"{store.path}: cannot commit a chunk: an event {field} contains a newline"
    )
    with pytest.raises(StoreError, match=exactly(message)):
        store.commit_chunk([("a", b"{}", "r"), row], checkpoint(), NOW)

    assert spooled(store) == []
    assert store.load_checkpoints() == []
    assert_totals_exact(store)


def test_commit_chunk_rolls_back_on_any_exception(store: Store) -> None:
    # A body that is not bytes fails in Python, half-way through the rows.
    broken = [("a", b"1", "r"), cast(tuple[str, bytes, str], ("b", None, "r"))]

    with pytest.raises(TypeError):
        store.commit_chunk(broken, checkpoint(offset=99), NOW)

    assert spooled(store) == []
    assert store.load_checkpoints() == []
    store.commit_chunk(rows(1), None, NOW)
    assert spooled(store) == [("e0", b"x")]


def test_load_checkpoints_orders_by_file_id(store: Store) -> None:
    store.commit_chunk([], checkpoint("b"), NOW)
    store.commit_chunk([], checkpoint("a"), NOW)

    assert [c.file_id for c in store.load_checkpoints()] == ["a", "b"]


# -- the spool -----------------------------------------------------------------------


def test_stats_of_an_empty_spool(store: Store) -> None:
    assert store.stats() == SpoolStats(
        events=0, bytes=0, oldest_created_at=None, deadletters=0
    )


def test_stats_follow_inserts_deletes_and_quarantine(store: Store) -> None:
    store.commit_chunk(rows(10, 20), None, NOW)
    store.commit_chunk(rows(30, prefix="n"), None, NOW + 5)
    first, second, _ = store.fetch_oldest(10, 1000)

    store.delete([first.id])
    store.quarantine([second], status=400, response="", reason="rejected", now=NOW)

    assert store.stats() == SpoolStats(
        events=1, bytes=30, oldest_created_at=NOW + 5, deadletters=1
    )


@pytest.mark.parametrize(
    ("sizes", "max_events", "max_bytes", "expected"),
    [
        ([], 10, 100, []),
        ([10, 10, 10], 2, 100, ["e0", "e1"]),
        ([10, 10, 10], 10, 25, ["e0", "e1"]),
        ([10, 10, 10], 10, 30, ["e0", "e1", "e2"]),
        ([50, 1, 1], 10, 20, ["e0"]),
        ([1, 50, 1], 10, 20, ["e0"]),
        ([5], 0, 100, ["e0"]),
    ],
    ids=[
        "empty",
        "count-limit",
        "byte-limit",
        "exactly-at-byte-limit",
        "oversized-first-alone",
        "oversized-second-waits",
        "at-least-one",
    ],
)
def test_fetch_oldest_takes_the_longest_prefix_within_limits(
    store: Store,
    sizes: list[int],
    max_events: int,
    max_bytes: int,
    expected: list[str],
) -> None:
    store.commit_chunk(rows(*sizes), None, NOW)
    everything = store.fetch_oldest(1000, 10**9)

    fetched = store.fetch_oldest(max_events, max_bytes)

    assert [e.uuid for e in fetched] == expected
    assert fetched == take_batch(everything, max_events, max_bytes)


def test_fetch_oldest_returns_ids_bodies_and_spool_times(store: Store) -> None:
    store.commit_chunk([("u", b"{}", "r")], None, NOW)

    (event,) = store.fetch_oldest(1, 100)

    assert event == SpooledEvent(
        id=event.id, uuid="u", body=b"{}", rule="r", created_at=NOW
    )


def test_delete_removes_only_the_given_events(store: Store) -> None:
    store.commit_chunk(rows(1, 2, 3), None, NOW)
    first, _, third = store.fetch_oldest(10, 100)

    store.delete([first.id, third.id])

    assert spooled(store) == [("e1", b"xx")]


def test_ids_keep_growing_after_the_newest_is_deleted(store: Store) -> None:
    store.commit_chunk(rows(1), None, NOW)
    (old,) = store.fetch_oldest(1, 100)
    store.delete([old.id])

    store.commit_chunk(rows(1, prefix="n"), None, NOW)

    assert store.fetch_oldest(1, 100)[0].id > old.id


# -- segments ------------------------------------------------------------------------


def segment_rows(store: Store) -> list[tuple[int, int, int, str | None]]:
    """``(id, events, done, settled)`` of every segment."""
    return store._conn.execute(
        "SELECT id, events, done, settled FROM segments ORDER BY id"
    ).fetchall()


def test_commit_chunks_writes_one_segment_per_call_with_events(store: Store) -> None:
    store.commit_chunks(
        [(rows(1, 2), checkpoint("a")), (rows(3), checkpoint("b"))], NOW
    )
    store.commit_chunks([([], checkpoint("a", offset=200))], NOW)

    assert [(events, done) for _, events, done, _ in segment_rows(store)] == [(3, 0)]
    assert spooled(store) == [("e0", b"x"), ("e1", b"xx"), ("e0", b"xxx")]
    assert_totals_exact(store)


def test_ids_are_the_segment_and_the_index_and_grow(store: Store) -> None:
    store.commit_chunk(rows(1, 1), None, NOW)
    store.commit_chunk(rows(1), None, NOW)
    (first, _), (second, _) = [(r[0], r[1]) for r in segment_rows(store)]

    ids = [e.id for e in store.fetch_oldest(10, 100)]

    assert ids == [first << 32, (first << 32) | 1, second << 32]
    assert ids == sorted(ids)


def test_a_segment_is_fetched_over_several_batches(store: Store) -> None:
    store.commit_chunk(rows(*[1] * 10), None, NOW)
    seen: list[str] = []

    while batch := store.fetch_oldest(3, 100):
        # Fetching again before settling hands out the same events.
        assert store.fetch_oldest(3, 100) == batch
        store.delete([e.id for e in batch])
        seen += [e.uuid for e in batch]
        assert_totals_exact(store)

    assert seen == [f"e{i}" for i in range(10)]
    assert segment_rows(store) == []


def test_progress_is_read_from_the_database_not_the_cache(tmp_path: Path) -> None:
    first = Store.open(tmp_path)
    first.commit_chunk(rows(1, 2, 3), None, NOW)
    head = first.fetch_oldest(1, 100)
    first.delete([e.id for e in head])
    first.close()
    # A second connection on the same file (another process, or a restart).
    second = Store.open(tmp_path)

    assert spooled(second) == [("e1", b"xx"), ("e2", b"xxx")]
    second.close()


def test_a_reader_sees_segments_another_connection_adds(store: Store) -> None:
    store.commit_chunk(rows(1), None, NOW)
    store.quarantine(
        store.fetch_oldest(10, 100), status=400, response="", reason="r", now=NOW
    )
    store.commit_chunk(rows(2, prefix="n"), None, NOW)
    assert spooled(store) == [("n0", b"xx")]
    # ``logbridge deadletter retry`` runs beside the daemon.
    cli = Store.open(store.path.parent)
    cli.retry_deadletters()
    cli.close()

    assert spooled(store) == [("n0", b"xx"), ("e0", b"x")]
    assert_totals_exact(store)


def test_an_event_quarantined_from_the_middle_of_a_batch(store: Store) -> None:
    store.commit_chunk(rows(1, 2, 300, 4, 5), None, NOW)
    batch = store.fetch_oldest(10, 1000)

    # The sink quarantines an oversized event before it sends the rest.
    store.quarantine(
        [batch[2]], status=None, response="", reason="event too large", now=NOW
    )

    assert segment_rows(store)[0][2:] == (0, "2")
    assert [e.uuid for e in store.fetch_oldest(10, 1000)] == ["e0", "e1", "e3", "e4"]
    assert_totals_exact(store)

    store.delete([e.id for e in batch if e.uuid != "e2"])

    assert segment_rows(store) == []
    assert [d.uuid for d in store.list_deadletters()] == ["e2"]
    assert store.stats() == SpoolStats(
        events=0, bytes=0, oldest_created_at=None, deadletters=1
    )
    assert_totals_exact(store)


def test_out_of_order_settling_moves_done_over_every_settled_event(
    store: Store,
) -> None:
    store.commit_chunk(rows(*[1] * 6), None, NOW)
    e = store.fetch_oldest(10, 100)

    store.delete([e[4].id, e[2].id])
    assert segment_rows(store)[0][2:] == (0, "2,4")
    store.delete([e[0].id, e[1].id])
    assert segment_rows(store)[0][2:] == (3, "4")
    store.delete([e[3].id])
    assert segment_rows(store)[0][2:] == (5, None)

    assert spooled(store) == [("e5", b"x")]
    assert_totals_exact(store)


def test_delete_is_idempotent_and_ignores_unknown_ids(store: Store) -> None:
    store.commit_chunk(rows(1, 2, 3), None, NOW)
    store.commit_chunk(rows(4, prefix="n"), None, NOW)
    first, second, third, fourth = store.fetch_oldest(10, 100)
    store.delete([first.id, third.id, fourth.id])
    before = (store.stats(), segment_rows(store))

    store.delete([first.id, third.id, first.id])  # again, and twice in one call
    store.delete([fourth.id])  # its segment is gone
    store.delete([second.id | 7, 999 << 32, -1])  # past the segment, unknown, absurd

    assert (store.stats(), segment_rows(store)) == before
    assert before[0] == SpoolStats(
        events=1, bytes=2, oldest_created_at=NOW, deadletters=0
    )
    assert spooled(store) == [("e1", b"xx")]
    assert_totals_exact(store)


def test_quarantine_ignores_settled_events(store: Store) -> None:
    store.commit_chunk(rows(1, 2), None, NOW)
    first, second = store.fetch_oldest(10, 100)
    store.delete([first.id])

    store.quarantine([first, second], status=400, response="", reason="r", now=NOW)
    store.quarantine([second], status=400, response="", reason="r", now=NOW)

    assert [d.uuid for d in store.list_deadletters()] == ["e1"]
    assert_totals_exact(store)


def test_quarantine_stores_the_events_as_spooled(store: Store) -> None:
    store.commit_chunk([("u1", b"{}", "rule-x")], None, NOW)
    (stored,) = store.fetch_oldest(1, 100)
    # What the sink hands back may be a copy; the store's own bytes are what count.
    handed = stored._replace(body=b"not this", rule="nor this")

    store.quarantine([handed], status=400, response="", reason="r", now=NOW)

    (letter,) = store.list_deadletters()
    assert (letter.uuid, letter.body, letter.rule) == ("u1", b"{}", "rule-x")


def test_totals_stay_exact_through_a_mixed_run(store: Store) -> None:
    store.commit_chunk(rows(5, 6, 7), checkpoint(), NOW)
    assert_totals_exact(store)
    store.commit_chunks([(rows(8, prefix="n"), None), (rows(9, prefix="m"), None)], NOW)
    assert_totals_exact(store)
    batch = store.fetch_oldest(2, 1000)
    store.delete([batch[1].id])
    assert_totals_exact(store)
    store.quarantine(batch[:1], status=400, response="", reason="r", now=NOW + 1)
    assert_totals_exact(store)
    store.retry_deadletters()
    assert_totals_exact(store)
    store.delete([e.id for e in store.fetch_oldest(100, 10_000)])
    assert_totals_exact(store)

    assert store.stats() == SpoolStats(
        events=0, bytes=0, oldest_created_at=None, deadletters=0
    )
    assert segment_rows(store) == []


def json_rows(prefix: str, count: int, pad: int = 10) -> list[tuple[str, bytes, str]]:
    """Rows whose bodies are events carrying their own uuid, as the daemon spools."""
    return [
        (
            f"{prefix}-{i}",
            b'{"event":"e","uuid":"%s-%d","pad":"%s"}'
            % (prefix.encode(), i, b"y" * pad),
            "rule-a",
        )
        for i in range(count)
    ]


def test_a_segment_that_no_longer_splits_into_its_events_is_quarantined(
    store: Store,
) -> None:
    store.commit_chunk(json_rows("a", 3), None, NOW)
    store.commit_chunk(json_rows("b", 2), None, NOW + 1)
    (first, _, _, _), _ = segment_rows(store)
    store._conn.execute("UPDATE segment_data SET uuids = 'x' WHERE id = ?", (first,))
    told: list[DamagedSegment] = []
    store.on_damaged = told.append

    fetched = store.fetch_oldest(10, 10**6)

    assert [e.uuid for e in fetched] == ["b-0", "b-1"]
    (damaged,) = store.list_damaged()
    assert told == [damaged]
    assert (damaged.id, damaged.events, damaged.salvaged) == (first, 3, 3)
    assert damaged.error == "segment columns do not hold 3 events each"
    letters = store.list_deadletters()
    assert [(d.uuid, d.rule, d.status) for d in letters] == [
        ("a-0", "", None),
        ("a-1", "", None),
        ("a-2", "", None),
    ]
    assert {d.reason for d in letters} == {
        f"damaged segment {first}: segment columns do not hold 3 events each"
    }
    assert_totals_exact(store)


def test_a_damaged_page_quarantines_its_segment_and_the_rest_is_read(
    tmp_path: Path,
) -> None:
    first = Store.open(tmp_path)
    for prefix in ("a", "b", "c"):
        first.commit_chunk(json_rows(prefix, 60, pad=500), None, NOW)
    first.close()
    # Zero the page that holds the middle of segment b's events.
    db = tmp_path / "state.db"
    data = bytearray(db.read_bytes())
    page = data.index(b'"uuid":"b-30"') // store_module.PAGE_SIZE
    data[page * store_module.PAGE_SIZE : (page + 1) * store_module.PAGE_SIZE] = bytes(
        store_module.PAGE_SIZE
    )
    db.write_bytes(bytes(data))
    store = Store.open(tmp_path)

    delivered = []
    while batch := store.fetch_oldest(25, 10**6):
        delivered += [e.uuid for e in batch]
        store.delete([e.id for e in batch])
    store.commit_chunk(json_rows("d", 2), None, NOW)

    assert delivered == [f"a-{i}" for i in range(60)] + [f"c-{i}" for i in range(60)]
    (damaged,) = store.list_damaged()
    assert (damaged.events, damaged.error) == (60, "database disk image is malformed")
    salvaged = [d.uuid for d in store.list_deadletters()]
    assert salvaged == [f"b-{i}" for i in range(damaged.salvaged)]
    assert [e.uuid for e in store.fetch_oldest(10, 10**6)] == ["d-0", "d-1"]
    assert_totals_exact(store)
    store.close()


def test_a_read_only_store_reports_a_damaged_segment(store: Store) -> None:
    store.commit_chunk(rows(1, 2), None, NOW)
    store._conn.execute("UPDATE segment_data SET bodies = x'31'")
    ((segment_id, *_),) = segment_rows(store)
    reader = Store.open_readonly(store.path.parent)

    message = (
        f"{store.path}: segment {segment_id} is damaged:"
        " segment columns do not hold 2 events each"
    )
    with pytest.raises(StoreCorrupt, match=exactly(message)):
        reader.fetch_oldest(10, 100)
    reader.close()


@pytest.mark.parametrize(
    ("damage", "error"),
    [
        (lambda data: bytes(100) + data[100:], "file is not a database"),
        (lambda data: data[: len(data) // 2], "database disk image is malformed"),
    ],
    ids=["wiped-header", "truncated"],
)
def test_a_database_damaged_beyond_its_spool_is_reported_corrupt(
    tmp_path: Path, damage, error: str
) -> None:
    first = Store.open(tmp_path)
    for prefix in ("a", "b", "c"):
        first.commit_chunk(json_rows(prefix, 60, pad=500), checkpoint(), NOW)
    first.close()
    db = tmp_path / "state.db"
    db.write_bytes(damage(db.read_bytes()))

    message = f"{db}: cannot open the state database: {error}"
    with pytest.raises(StoreCorrupt, match=exactly(message)):
        Store.open(tmp_path)


def test_set_aside_renames_the_database_and_its_wal_and_keeps_them(
    tmp_path: Path,
) -> None:
    store = Store.open(tmp_path)
    store.commit_chunk(rows(3), checkpoint(), NOW)
    wal = (tmp_path / "state.db-wal").read_bytes()
    at = datetime(2026, 12, 1, 8, 30, 5, tzinfo=UTC)

    first = set_aside(tmp_path, at)
    store.close()
    Store.open(tmp_path).close()
    second = set_aside(tmp_path, at)

    assert first == tmp_path / "state.db.damaged-20261201T083005Z"
    assert second == tmp_path / "state.db.damaged-20261201T083005Z-2"
    assert Path(f"{first}-wal").read_bytes()[:32] == wal[:32]
    assert set_aside_databases(tmp_path) == [first, second]
    assert not (tmp_path / "state.db").exists()


# -- dead letters --------------------------------------------------------------------


def test_quarantine_moves_events_with_the_answer(store: Store) -> None:
    store.commit_chunk(rows(1, 2), None, NOW)
    first, _ = store.fetch_oldest(10, 100)

    store.quarantine(
        [first], status=400, response="bad distinct_id", reason="rejected", now=NOW + 9
    )

    assert spooled(store) == [("e1", b"xx")]
    assert store.list_deadletters() == [
        DeadLetter(
            id=1,
            uuid="e0",
            body=b"x",
            rule="rule-a",
            status=400,
            response="bad distinct_id",
            reason="rejected",
            created_at=NOW + 9,
        )
    ]


def test_list_deadletters_is_oldest_first_and_limited(store: Store) -> None:
    store.commit_chunk(rows(1, 1, 1), None, NOW)
    store.quarantine(
        store.fetch_oldest(10, 100), status=None, response="", reason="r", now=NOW
    )

    assert [d.uuid for d in store.list_deadletters(limit=2)] == ["e0", "e1"]


def test_retry_deadletters_moves_all_back_to_the_end_of_the_spool(
    store: Store,
) -> None:
    store.commit_chunk(rows(1, 2), None, NOW)
    store.quarantine(
        store.fetch_oldest(1, 100), status=400, response="", reason="r", now=NOW + 1
    )
    store.commit_chunk(rows(3, prefix="n"), None, NOW + 2)

    moved = store.retry_deadletters()

    assert moved == 1
    assert spooled(store) == [("e1", b"xx"), ("n0", b"xxx"), ("e0", b"x")]
    assert store.list_deadletters() == []
    assert store.stats() == SpoolStats(
        events=3, bytes=6, oldest_created_at=NOW, deadletters=0
    )


def test_retry_deadletters_by_id_ignores_unknown_ids(store: Store) -> None:
    store.commit_chunk(rows(1, 1), None, NOW)
    store.quarantine(
        store.fetch_oldest(10, 100), status=400, response="", reason="r", now=NOW
    )
    first, second = store.list_deadletters()

    moved = store.retry_deadletters([second.id, 999])

    assert moved == 1
    assert spooled(store) == [("e1", b"x")]
    assert store.list_deadletters() == [first]


def test_retried_letters_are_one_segment_due_from_their_oldest_quarantine(
    store: Store,
) -> None:
    store.commit_chunk(rows(1, 2, 3), None, NOW)
    a, b, c = store.fetch_oldest(10, 100)
    store.quarantine([b], status=400, response="", reason="r", now=NOW + 20)
    store.quarantine([a, c], status=400, response="", reason="r", now=NOW + 10)

    moved = store.retry_deadletters()

    # Letters go back in dead-letter order, i.e. the order they were quarantined in.
    assert moved == 3
    assert spooled(store) == [("e1", b"xx"), ("e0", b"x"), ("e2", b"xxx")]
    assert [events for _, events, _, _ in segment_rows(store)] == [3]
    assert [e.rule for e in store.fetch_oldest(10, 100)] == ["rule-a"] * 3
    assert store.stats() == SpoolStats(
        events=3, bytes=6, oldest_created_at=NOW + 10, deadletters=0
    )
    assert_totals_exact(store)


def test_many_retried_letters_are_cut_into_segments(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "MAX_SEGMENT_EVENTS", 2)
    store.commit_chunk(rows(1, 2, 3, 4, 5), None, NOW)
    store.quarantine(
        store.fetch_oldest(10, 100), status=400, response="", reason="r", now=NOW
    )

    moved = store.retry_deadletters()

    assert moved == 5
    assert [events for _, events, _, _ in segment_rows(store)] == [2, 2, 1]
    assert [u for u, _ in spooled(store)] == ["e0", "e1", "e2", "e3", "e4"]
    assert_totals_exact(store)


def test_drop_deadletters_by_id_and_all(store: Store) -> None:
    store.commit_chunk(rows(1, 1, 1), None, NOW)
    store.quarantine(
        store.fetch_oldest(10, 100), status=400, response="", reason="r", now=NOW
    )
    first = store.list_deadletters()[0]

    dropped = (store.drop_deadletters([first.id]), store.drop_deadletters())

    assert dropped == (1, 2)
    assert store.list_deadletters() == []
    assert store.stats().deadletters == 0


# -- meta ----------------------------------------------------------------------------


def test_meta_is_missing_then_set_then_overwritten(store: Store) -> None:
    seen = [store.get_meta("k")]
    store.set_meta("k", "one")
    seen.append(store.get_meta("k"))
    store.set_meta("k", "two")
    seen.append(store.get_meta("k"))

    assert seen == [None, "one", "two"]


def test_events_that_can_never_be_sent_go_to_the_dead_letters_with_their_chunk(
    store: Store,
) -> None:
    checkpoint = Checkpoint("f", "app", "/a.log", 1, 2, 40, 40)

    store.commit_chunks(
        [([("u1", b'{"n":1}', "r")], checkpoint)],
        1000.0,
        deadletters=[("u2", b'{"n":2}', "r", "unencodable: too deep")],
    )

    (letter,) = store.list_deadletters()
    assert (letter.uuid, letter.rule, letter.status, letter.reason) == (
        "u2",
        "r",
        None,
        "unencodable: too deep",
    )
    assert store.stats().events == 1
    assert store.load_checkpoints() == [checkpoint]
