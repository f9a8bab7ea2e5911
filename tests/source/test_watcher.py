"""
The watcher on real directories: wake-ups on change, on timeout, and for new dirs;
whether a batch held more than appended data; its thread ends with the iterator.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bridge.source import watch_changes

pytestmark = pytest.mark.anyio


async def _next_wake(wakes: AsyncIterator[bool], within: float) -> float:
    """Wait for the next wake-up; return how long it took."""
    started = time.monotonic()
    await asyncio.wait_for(anext(wakes), within)
    return time.monotonic() - started


def _watch_threads() -> int:
    return sum(thread.name == "watch" for thread in threading.enumerate())


async def _watch_threads_become(count: int) -> bool:
    """Wait up to two seconds for ``count`` watch threads (they stop within STEP_MS)."""
    for _ in range(100):
        if _watch_threads() == count:
            return True
        await asyncio.sleep(0.02)
    return False


async def _after(seconds: float, action) -> None:
    await asyncio.sleep(seconds)
    action()


async def test_a_file_written_in_a_watched_dir_wakes_the_watcher(tmp_path: Path):
    stop = asyncio.Event()
    wakes = watch_changes({str(tmp_path)}, stop, rescan_seconds=30)
    writer = asyncio.create_task(
        _after(0.1, lambda: (tmp_path / "app.log").write_text("line\n"))
    )

    took = await _next_wake(wakes, within=2)
    stop.set()
    await writer

    assert took < 2
    assert [wake async for wake in wakes] == []


async def test_without_events_the_watcher_wakes_after_rescan_seconds(tmp_path: Path):
    stop = asyncio.Event()
    wakes = watch_changes({str(tmp_path)}, stop, rescan_seconds=0.2)

    took = await _next_wake(wakes, within=2)
    stop.set()

    assert 0.15 <= took < 1
    assert [wake async for wake in wakes] == []


async def test_a_dir_that_does_not_exist_yet_is_watched_through_its_parent(
    tmp_path: Path,
):
    stop = asyncio.Event()
    missing = tmp_path / "later" / "logs"
    wakes = watch_changes({str(missing)}, stop, rescan_seconds=30)
    maker = asyncio.create_task(_after(0.1, lambda: missing.mkdir(parents=True)))

    await _next_wake(wakes, within=2)
    await maker
    writer = asyncio.create_task(
        _after(0.1, lambda: (missing / "app.log").write_text("line\n"))
    )
    took = await _next_wake(wakes, within=2)
    stop.set()
    await writer

    assert took < 2
    assert [wake async for wake in wakes] == []


async def test_a_dir_under_no_existing_dir_but_the_root_still_gets_rescans():
    stop = asyncio.Event()
    wakes = watch_changes({"/no-such-dir-for-logbridge/logs"}, stop, rescan_seconds=0.2)

    took = await _next_wake(wakes, within=2)
    stop.set()

    assert 0.15 <= took < 1
    assert [wake async for wake in wakes] == []


async def test_appending_is_told_apart_from_creating_and_renaming(tmp_path: Path):
    log = tmp_path / "app.log"
    log.write_text("first\n")
    stop = asyncio.Event()
    wakes = watch_changes({str(tmp_path)}, stop, rescan_seconds=30)
    first = asyncio.ensure_future(anext(wakes))  # the watch starts with the iteration
    await asyncio.sleep(0.3)

    with log.open("a") as out:
        out.write("appended\n")
    appended = await asyncio.wait_for(first, 2)
    log.rename(tmp_path / "app.log.1")
    renamed = await asyncio.wait_for(anext(wakes), 2)
    (tmp_path / "app.log").write_text("new\n")
    created = await asyncio.wait_for(anext(wakes), 2)
    stop.set()

    assert (appended, renamed, created) == (False, True, True)
    assert [wake async for wake in wakes] == []


async def test_a_rescan_wake_up_counts_as_structural(tmp_path: Path):
    stop = asyncio.Event()
    wakes = watch_changes({str(tmp_path)}, stop, rescan_seconds=0.2)

    structural = await asyncio.wait_for(anext(wakes), 2)
    stop.set()

    assert structural is True
    assert [wake async for wake in wakes] == []


async def test_closing_the_iterator_ends_its_watch_thread(tmp_path: Path):
    # Earlier tests' watch threads end within their step (up to 250 ms here).
    await _watch_threads_become(0)
    before = _watch_threads()
    stop = asyncio.Event()
    wakes = watch_changes({str(tmp_path)}, stop, rescan_seconds=0.2)
    await asyncio.wait_for(anext(wakes), 2)
    assert _watch_threads() == before + 1

    await wakes.aclose()

    assert await _watch_threads_become(before)
    assert not stop.is_set()  # closing the watch is not a stop of the daemon


async def test_an_armed_watch_signals_appends_once_per_arming(tmp_path: Path):
    log = tmp_path / "app.log"
    log.write_text("first\n")
    armed = threading.Event()
    armed.set()
    stop = asyncio.Event()
    wakes = watch_changes({str(tmp_path)}, stop, rescan_seconds=30, armed=armed)
    first = asyncio.ensure_future(anext(wakes))
    await asyncio.sleep(0.3)

    with log.open("a") as out:
        out.write("appended\n")
    assert await asyncio.wait_for(first, 2) is False
    assert not armed.is_set()
    # Disarmed: appends alone wake no one, however many.
    second = asyncio.ensure_future(anext(wakes))
    for _ in range(5):
        with log.open("a") as out:
            out.write("more\n")
        await asyncio.sleep(0.1)
    assert not second.done()
    # Armed again (the reader begins a round), the next append is signalled.
    armed.set()
    with log.open("a") as out:
        out.write("after arming\n")
    assert await asyncio.wait_for(second, 2) is False
    stop.set()
    assert [wake async for wake in wakes] == []


async def test_an_unarmed_watch_still_signals_files_that_come_and_go(tmp_path: Path):
    armed = threading.Event()  # never armed
    stop = asyncio.Event()
    wakes = watch_changes({str(tmp_path)}, stop, rescan_seconds=30, armed=armed)
    first = asyncio.ensure_future(anext(wakes))
    await asyncio.sleep(0.3)

    (tmp_path / "app.log").write_text("new\n")
    created = await asyncio.wait_for(first, 2)
    stop.set()

    assert created is True
    assert [wake async for wake in wakes] == []


async def test_a_longer_step_still_wakes_on_a_change(tmp_path: Path):
    stop = asyncio.Event()
    wakes = watch_changes({str(tmp_path)}, stop, rescan_seconds=30, step_ms=250)
    writer = asyncio.create_task(
        _after(0.1, lambda: (tmp_path / "app.log").write_text("line\n"))
    )

    took = await _next_wake(wakes, within=3)
    stop.set()
    await writer

    assert took < 3
    assert [wake async for wake in wakes] == []
