"""``logbridge backfill`` as a subprocess, on real rotated and gzip'd files."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tests.e2e.conftest import Workspace
from tests.e2e.helpers import (
    LogWriter,
    expected_uuid,
    is_order,
    order_line,
    order_rules,
)
from tests.fakeposthog import FakePostHog


def _text(numbers: range) -> bytes:
    return "".join(order_line(n) + "\n" for n in numbers).encode()


def _history(workspace: Workspace, per_file: int, files: int = 4) -> LogWriter:
    """
    logrotate's leftovers, oldest first: app.log.N.gz ... app.log.2.gz, app.log.1
    (delaycompress), then app.log with the newest lines (its writer is returned).
    """
    logs = workspace.logs
    for age in range(files - 1, 0, -1):
        first = (files - 1 - age) * per_file
        data = _text(range(first, first + per_file))
        if age == 1:
            (logs / "app.log.1").write_bytes(data)
        else:
            (logs / f"app.log.{age}.gz").write_bytes(gzip.compress(data))
    live = LogWriter(logs / "app.log")
    live.append(range((files - 1) * per_file, files * per_file))
    return live


def _backfill(
    workspace: Workspace, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _command(workspace, *args),
        capture_output=True,
        text=True,
        env=workspace.env,
        cwd=workspace.root,
        timeout=timeout,
        check=False,
    )


def _command(workspace: Workspace, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "bridge",
        "backfill",
        "-c",
        str(workspace.root / "bridge.yaml"),
        "--log-format",
        "json",
        *args,
    ]


def _orders(posthog: FakePostHog) -> list[int]:
    """The order numbers PostHog keeps, one per event of its deduplicated view."""
    return sorted(e.properties["n"] for e in posthog.events(name="pedido_procesado"))


def _progress(stderr: str) -> list[dict[str, Any]]:
    return [
        line
        for line in (
            json.loads(text) for text in stderr.splitlines() if text.startswith("{")
        )
        if "files_done" in line
    ]


def test_the_history_goes_out_once_with_the_daemons_uuids_and_json_progress(
    workspace: Workspace, posthog: FakePostHog
) -> None:
    workspace.write_rules(order_rules(pattern="app.log", start_at="end"))
    live = _history(workspace, per_file=300)
    lines = 4 * 300
    first_run = workspace.run_once()
    live.append(range(lines, lines + 30))  # read by the daemon, not the backfill
    second_run = workspace.run_once()

    result = _backfill(workspace, "--workers", "2")

    assert first_run.returncode == second_run.returncode == 0
    assert result.returncode == 0, result.stderr
    expected = [n for n in range(lines + 30) if is_order(n)]
    assert _orders(posthog) == expected
    assert posthog.duplicate_deliveries() == 0
    # The lines the daemon skipped (start_at: end) carry the uuids it gives them.
    app_log = live.file_id()
    skipped = [w for w in live.written if w.n < lines and is_order(w.n)]
    assert all(posthog.events(uuid=expected_uuid(app_log, w.offset)) for w in skipped)
    # Old events go to the historical lane.
    assert all(e.historical_migration for e in posthog.events(name="pedido_procesado"))
    progress = _progress(result.stderr)
    assert progress[-1]["done"] is True
    assert progress[-1]["files"] == progress[-1]["files_done"] == 4
    assert progress[-1]["events"] == len(expected) - 20  # 30 live lines: 20 orders
    assert "backfill: 4 of 4 parts of files read" in result.stderr


def test_a_second_backfill_sends_nothing_again(
    workspace: Workspace, posthog: FakePostHog
) -> None:
    workspace.write_rules(order_rules(pattern="app.log", start_at="end"))
    _history(workspace, per_file=200)
    workspace.run_once()
    first = _backfill(workspace, "--workers", "1")
    delivered = len(posthog.deliveries)

    again = _backfill(workspace, "--workers", "1")

    assert first.returncode == again.returncode == 0, again.stderr
    assert len(posthog.deliveries) == delivered
    assert "(4 read by an earlier run)" in again.stderr


def test_without_the_daemons_state_it_says_what_to_do(workspace: Workspace) -> None:
    workspace.write_rules(order_rules(pattern="app.log", start_at="end"))
    _history(workspace, per_file=10)

    result = _backfill(workspace)

    assert result.returncode == 1
    assert "start the daemon once first" in result.stderr
    assert "--no-daemon" in result.stderr


def test_a_backfill_killed_midway_resumes_and_sends_each_event_once(
    workspace: Workspace, posthog: FakePostHog
) -> None:
    workspace.write_rules(order_rules(pattern="app.log", start_at="end"))
    _history(workspace, per_file=20_000, files=6)
    lines = 6 * 20_000
    workspace.run_once()
    posthog.set_latency(0.2)  # slow delivery: events wait in the spool
    proc = subprocess.Popen(
        _command(workspace, "--workers", "2", "--progress", "json"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=workspace.env,
        cwd=workspace.root,
    )
    assert proc.stderr is not None
    for text in proc.stderr:
        if '"files_done"' in text and json.loads(text)["events"] > 0:
            break
    workers = _children(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    proc.stderr.close()
    posthog.set_latency(0)

    assert workers, "the backfill had no worker processes"
    assert _all_gone(workers, 15), "workers outlived the killed backfill"
    result = _backfill(workspace, "--workers", "2", timeout=300)

    assert result.returncode == 0, result.stderr[-3000:]
    orders = _orders(posthog)
    assert orders == [n for n in range(lines) if is_order(n)]
    assert len(posthog.unique_uuids()) == len(orders)


def test_a_backfill_beside_the_running_daemon_doubles_nothing(
    workspace: Workspace, posthog: FakePostHog
) -> None:
    workspace.write_rules(order_rules(pattern="app.log", start_at="end"))
    live = _history(workspace, per_file=3_000)
    lines = 4 * 3_000
    proc = workspace.start_ready()
    done = threading.Event()

    def write() -> None:
        n = lines
        while not done.is_set():
            live.append(range(n, n + 20))
            n += 20
            time.sleep(0.02)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        result = _backfill(workspace, "--workers", "2")
    finally:
        done.set()
        writer.join()
    written = max(w.n for w in live.written) + 1
    expected = [n for n in range(written) if is_order(n)]
    arrived = posthog.wait_for(lambda p: len(_orders(p)) >= len(expected), 30)
    code = workspace.stop(proc)

    assert result.returncode == 0, result.stderr
    assert arrived, workspace.output()[-2000:]
    assert code == 0
    assert _orders(posthog) == expected
    assert posthog.duplicate_deliveries() == 0


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def _all_gone(pids: list[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = []
        for pid in pids:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                continue
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            if state != "Z":
                alive.append(pid)
        if not alive:
            return True
        time.sleep(0.1)
    return False
