"""The state filesystem fills up: reading pauses, nothing is lost or doubled, and
the daemon neither crashes nor crash-loops. A real full filesystem: a small tmpfs
mounted over the state directory."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Workspace
from tests.e2e.helpers import LogWriter, expected_uuid, is_order, order_rules
from tests.fakeposthog import FakePostHog

FILESYSTEM_BYTES = 48 * 1024 * 1024


def _write_config(workspace: Workspace) -> None:
    """Reads of 64 KiB: the daemon's headroom (WAL pages waiting for a checkpoint,
    plus two reads) is then near 17 MB, well inside the filesystem."""
    config = workspace.write_config()
    text = config.read_text().replace("read:\n", "read:\n  chunk_bytes: 65536\n")
    config.write_text(text)


@pytest.fixture
def small_state_fs(workspace: Workspace) -> Iterator[Path]:
    """The workspace's state directory on its own small filesystem."""
    state = workspace.state_db.parent
    mounted = subprocess.run(
        [
            "mount",
            "-t",
            "tmpfs",
            "-o",
            f"size={FILESYSTEM_BYTES},mode=0700",
            "tmpfs",
            str(state),
        ],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    yield state
    # Lazy: the daemon may still be running; the workspace kills it afterwards.
    subprocess.run(["umount", "-l", str(state)], check=True)


def _fill(directory: Path, leave: int = 0) -> Path:
    """Take the filesystem's free space but ``leave`` bytes; every last byte for 0."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        if leave:
            fs = os.statvfs(directory)
            os.posix_fallocate(fd, 0, fs.f_bavail * fs.f_frsize - leave)
        else:
            for size in (65536, 4096, 1):
                while _wrote(fd, size):
                    pass
    finally:
        os.close(fd)
    return filler


def _wrote(fd: int, size: int) -> bool:
    try:
        os.write(fd, b"\0" * size)
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        return False
    return True


def _status(workspace: Workspace) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "bridge", "status", "-c", "bridge.yaml", "--json"],
        capture_output=True,
        env=workspace.env,
        cwd=workspace.root,
        check=True,
        timeout=30,
    )
    status: dict[str, Any] = json.loads(result.stdout)
    return status


def _events(workspace: Workspace, name: str) -> list[dict[str, object]]:
    return [e for e in workspace.log_events() if e["event"] == name]


def _wait_for_log(workspace: Workspace, name: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _events(workspace, name):
            return True
        time.sleep(0.05)
    return False


def _expected(writer: LogWriter, first: int) -> set[str]:
    return {
        expected_uuid(writer.file_id(), w.offset)
        for w in writer.written
        if w.n >= first and is_order(w.n)
    }


def test_a_disk_running_out_of_room_pauses_reading_until_space_returns(
    workspace: Workspace, posthog: FakePostHog, small_state_fs: Path
) -> None:
    _write_config(workspace)
    workspace.write_rules(order_rules())
    writer = LogWriter(workspace.logs / "app.log")
    writer.append(range(1))
    proc = workspace.start_ready()
    writer.append(range(1, 30))
    assert posthog.wait_for(lambda p: _expected(writer, 1) <= p.unique_uuids(), 15)

    filler = _fill(small_state_fs, leave=4 * 1024 * 1024)
    writer.append(range(30, 300))
    paused = _wait_for_log(workspace, "disk_full", 10)
    time.sleep(1.0)
    delivered_while_full = len(posthog.unique_uuids())
    alive_while_full = proc.poll() is None
    status_while_full = _status(workspace)
    filler.unlink()
    arrived = posthog.wait_for(lambda p: _expected(writer, 1) <= p.unique_uuids(), 20)
    code = workspace.stop(proc)

    assert alive_while_full, workspace.output()[-3000:]
    assert paused, workspace.output()[-3000:]
    assert status_while_full["disk"]["full"]
    assert delivered_while_full == len(_expected(writer, 1) - _expected(writer, 30))
    assert arrived, workspace.output()[-3000:]
    assert code == 0
    assert _events(workspace, "disk_space_returned")
    assert len(posthog.dedup_view()) == len(_expected(writer, 1))
    assert posthog.duplicate_deliveries() == 0


def test_a_start_on_a_full_disk_waits_for_room_instead_of_crashing(
    workspace: Workspace, posthog: FakePostHog, small_state_fs: Path
) -> None:
    _write_config(workspace)
    workspace.write_rules(order_rules())
    writer = LogWriter(workspace.logs / "app.log")
    writer.append(range(1))
    assert workspace.stop(workspace.start_ready()) == 0
    filler = _fill(small_state_fs)

    proc = workspace.start()
    writer.append(range(1, 30))
    waiting = _wait_for_log(workspace, "disk_full", 10)
    time.sleep(3.0)
    alive = proc.poll() is None
    filler.unlink()
    arrived = posthog.wait_for(lambda p: _expected(writer, 1) <= p.unique_uuids(), 20)
    code = workspace.stop(proc)

    assert alive, workspace.output()[-3000:]
    assert waiting, workspace.output()[-3000:]
    assert arrived, workspace.output()[-3000:]
    assert code == 0
    assert "Traceback" not in workspace.output()
    assert posthog.duplicate_deliveries() == 0


def test_a_stop_while_waiting_for_room_to_start_exits_at_once(
    workspace: Workspace, small_state_fs: Path
) -> None:
    _write_config(workspace)
    workspace.write_rules(order_rules())
    assert workspace.stop(workspace.start_ready()) == 0
    _fill(small_state_fs)
    proc = workspace.start()
    assert _wait_for_log(workspace, "disk_full", 10), workspace.output()

    started = time.monotonic()
    code = workspace.stop(proc, timeout=10)

    assert code == 0
    assert time.monotonic() - started < 5
