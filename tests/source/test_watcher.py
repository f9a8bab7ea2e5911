"""The watcher on real directories: wake-ups on change, on timeout, and for new dirs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bridge.source import watch_changes

pytestmark = pytest.mark.anyio


async def _next_wake(wakes: AsyncIterator[None], within: float) -> float:
    """Wait for the next wake-up; return how long it took."""
    started = time.monotonic()
    await asyncio.wait_for(anext(wakes), within)
    return time.monotonic() - started


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
