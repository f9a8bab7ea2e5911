"""The daemon's handle on the store (bridge.spool.asyncstore.AsyncStore)."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest

from bridge.errors import StoreError
from bridge.model import Checkpoint
from bridge.spool.asyncstore import AsyncStore
from bridge.spool.store import SpoolStats, Store

NOW = 1_767_225_600.0
CHECKPOINT = Checkpoint("f1", "shop", "/var/log/shop.log", 1, 2, 30, 40)


def exactly(message: str) -> str:
    """A ``match=`` pattern for the whole message."""
    return f"^{re.escape(message)}$"


@pytest.mark.anyio
async def test_every_call_runs_on_the_one_thread_that_opened_the_store(
    tmp_path: Path,
) -> None:
    threads: list[int] = []

    def factory() -> Store:
        threads.append(threading.get_ident())
        return Store.open(tmp_path)

    store = AsyncStore(factory)
    await store.open()
    for _ in range(3):
        threads.append(await store.call(lambda _: threading.get_ident()))
    await store.close()

    assert len(set(threads)) == 1
    assert threads[0] != threading.get_ident()


@pytest.mark.anyio
async def test_wrappers_reach_the_store(tmp_path: Path) -> None:
    store = AsyncStore(lambda: Store.open(tmp_path))
    await store.open()

    rows = [("u1", b"{}", "r"), ("u2", b"[]", "r")]
    await store.call(lambda s: s.commit_chunk(rows, CHECKPOINT, NOW))
    first, second = await store.fetch_oldest(10, 100)
    await store.delete([first.id])
    await store.quarantine(
        [second], status=400, response="no", reason="rejected", now=NOW
    )
    await store.set_meta("k", "v")
    seen = (
        await store.call(lambda s: s.is_new),
        await store.call(Store.load_checkpoints),
        await store.stats(),
        await store.call(lambda s: s.get_meta("k")),
    )
    await store.close()

    assert seen == (
        True,
        [CHECKPOINT],
        SpoolStats(events=0, bytes=0, oldest_created_at=None, deadletters=1),
        "v",
    )


@pytest.mark.anyio
async def test_open_passes_on_the_store_error(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("a file")
    store = AsyncStore(lambda: Store.open(tmp_path / "state"))

    message = f"{tmp_path / 'state'}: cannot create the state directory: File exists"
    with pytest.raises(StoreError, match=exactly(message)):
        await store.open()


@pytest.mark.anyio
async def test_calls_before_open_or_after_close_are_refused(tmp_path: Path) -> None:
    store = AsyncStore(lambda: Store.open(tmp_path))
    await store.open()
    await store.close()
    await store.close()

    with pytest.raises(RuntimeError, match=exactly("the store is not open")):
        await store.stats()
