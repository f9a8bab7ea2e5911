"""The state database (bridge.spool.store.Store), on real files in tmp_path."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest

from bridge.errors import StoreError
from bridge.model import Checkpoint
from bridge.sink.batcher import take_batch
from bridge.spool.store import DeadLetter, SpooledEvent, SpoolStats, Store

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
    return [(e.uuid, e.body) for e in store.fetch_oldest(10_000, 10**9)]


# -- opening -------------------------------------------------------------------------


def test_open_creates_the_directory_and_a_new_database(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "a" / "state")
    store.close()

    assert store.is_new
    assert (tmp_path / "a" / "state" / "state.db").is_file()
    assert (tmp_path / "a" / "state").stat().st_mode & 0o777 == 0o700


def test_open_uses_wal_and_records_the_schema_version(tmp_path: Path) -> None:
    Store.open(tmp_path).close()

    conn = sqlite3.connect(tmp_path / "state.db")
    modes = (
        conn.execute("PRAGMA journal_mode").fetchone()[0],
        conn.execute("PRAGMA user_version").fetchone()[0],
    )
    conn.close()

    assert modes == ("wal", 1)


def test_commits_are_fsynced_for_power_loss(store: Store) -> None:
    # WAL + NORMAL could lose a committed checkpoint to a power cut (see the module
    # docstring); FULL is 2.
    (level,) = store._conn.execute("PRAGMA synchronous").fetchone()

    assert level == 2


def test_open_reports_a_database_path_that_cannot_be_opened(tmp_path: Path) -> None:
    (tmp_path / "state.db").mkdir()

    message = (
        f"{tmp_path / 'state.db'}: cannot open the state database:"
        " unable to open database file"
    )
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
        " supports (1) (upgrade logbridge or use another state_dir)"
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
    conn.execute("PRAGMA user_version = 2")
    conn.close()

    message = (
        f"{tmp_path / 'state.db'}: schema version 2 is newer than this logbridge"
        " supports (1) (upgrade logbridge or use another state_dir)"
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


def test_commit_chunk_is_all_or_nothing(store: Store) -> None:
    store.commit_chunk(rows(1), checkpoint(offset=10), NOW)
    # A NULL uuid in the middle violates a constraint after the first row went in.
    broken = [("a", b"1", "r"), cast(tuple[str, bytes, str], (None, b"2", "r"))]
    broken.append(("c", b"3", "r"))

    message = (
        f"{store.path}: cannot commit a chunk: NOT NULL constraint failed: events.uuid"
    )
    with pytest.raises(StoreError, match=exactly(message)):
        store.commit_chunk(broken, checkpoint(offset=99), NOW)

    assert spooled(store) == [("e0", b"x")]
    assert store.load_checkpoints() == [checkpoint(offset=10)]
    assert store.stats() == SpoolStats(
        events=1, bytes=1, oldest_created_at=NOW, deadletters=0
    )


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


def test_forget_checkpoint_removes_only_that_file(store: Store) -> None:
    store.commit_chunk([], checkpoint("a"), NOW)
    store.commit_chunk([], checkpoint("b"), NOW)

    store.forget_checkpoint("a")

    assert store.load_checkpoints() == [checkpoint("b")]


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

    assert event == SpooledEvent(id=event.id, uuid="u", body=b"{}", created_at=NOW)


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
