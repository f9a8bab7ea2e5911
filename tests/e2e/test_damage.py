"""A damaged state database: a damaged spool segment is quarantined and the rest is
sent; a database that cannot be opened is set aside and the files are read again.
Real damage: pages of the database file overwritten, the file cut, its header wiped."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Workspace
from tests.e2e.helpers import LogWriter, expected_uuid, is_order, order_rules
from tests.fakeposthog import FakePostHog, Fault

PAGE_SIZE = 16384


def _cli(workspace: Workspace, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bridge", *args, "-c", "bridge.yaml"],
        capture_output=True,
        text=True,
        env=workspace.env,
        cwd=workspace.root,
        check=False,
        timeout=30,
    )


def _status(workspace: Workspace) -> dict[str, Any]:
    result = _cli(workspace, "status", "--json")
    assert result.returncode == 0, result.stderr
    status: dict[str, Any] = json.loads(result.stdout)
    return status


def _uuids(writer: LogWriter, ns: range) -> set[str]:
    file_id = writer.file_id()
    return {
        expected_uuid(file_id, w.offset)
        for w in writer.written
        if w.n in ns and is_order(w.n)
    }


def _spooled(workspace: Workspace) -> int:
    # Closed at once: a connection left open would keep the daemon's last close from
    # copying the WAL back into the file the tests then damage.
    with contextlib.closing(sqlite3.connect(workspace.state_db)) as db:
        ((events,),) = db.execute("SELECT events FROM spool_totals").fetchall()
    return int(events)


def _damage(workspace: Workspace, damage: Callable[[bytes], bytes]) -> None:
    assert not Path(f"{workspace.state_db}-wal").exists()
    workspace.state_db.write_bytes(damage(workspace.state_db.read_bytes()))


def _spool_in_segments(
    workspace: Workspace, writer: LogWriter, batches: list[range]
) -> None:
    """Append each batch once the previous one is spooled: one segment each."""
    expected = 0
    for batch in batches:
        writer.append(batch)
        expected += sum(1 for n in batch if is_order(n))
        deadline = time.monotonic() + 10
        while _spooled(workspace) < expected and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _spooled(workspace) == expected, workspace.output()[-2000:]


def _log_events(workspace: Workspace, name: str) -> list[dict[str, Any]]:
    return [e for e in workspace.log_events() if e["event"] == name]


def test_a_damaged_segment_is_quarantined_and_the_intact_events_are_sent(
    workspace: Workspace, posthog: FakePostHog
) -> None:
    workspace.write_rules(order_rules())
    writer = LogWriter(workspace.logs / "app.log")
    writer.append(range(1))
    posthog.set_outage(Fault(status=503))
    first = workspace.start_ready()
    batches = [range(1, 301), range(301, 601), range(601, 901)]
    _spool_in_segments(workspace, writer, batches)
    assert workspace.stop(first) == 0
    # Zero the page holding the middle of the second segment's events.
    marker = b'"order_id":"o-450"'

    def zero_page(data: bytes) -> bytes:
        start = data.index(marker) // PAGE_SIZE * PAGE_SIZE
        return data[:start] + bytes(PAGE_SIZE) + data[start + PAGE_SIZE :]

    _damage(workspace, zero_page)
    posthog.set_outage(None)

    second = workspace.start_ready()
    intact = _uuids(writer, batches[0]) | _uuids(writer, batches[2])
    arrived = posthog.wait_for(lambda p: intact <= p.unique_uuids(), 20)
    status = _status(workspace)
    retried = _cli(workspace, "deadletter", "retry", "--all")
    (quarantined,) = _log_events(workspace, "segment_quarantined")
    salvaged = quarantined["salvaged"]
    recovered = posthog.wait_for(
        lambda p: len(p.unique_uuids() & _uuids(writer, batches[1])) == salvaged, 20
    )
    code = workspace.stop(second)

    assert arrived, workspace.output()[-3000:]
    assert code == 0
    assert "Traceback" not in workspace.output()
    assert quarantined["events"] == len(_uuids(writer, batches[1]))
    assert 0 < salvaged < quarantined["events"]
    (damaged,) = status["damaged_segments"]
    assert (damaged["events"], damaged["salvaged"]) == (quarantined["events"], salvaged)
    assert status["deadletters"] == salvaged
    assert status["spool"]["events"] == 0
    assert retried.returncode == 0, retried.stderr
    assert recovered, workspace.output()[-3000:]
    assert posthog.unique_uuids() <= intact | _uuids(writer, batches[1])
    assert posthog.duplicate_deliveries() == 0


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: 3 * PAGE_SIZE],
        lambda data: bytes(100) + data[100:],
    ],
    ids=["truncated", "wiped-header"],
)
def test_a_database_that_cannot_be_opened_is_set_aside_and_nothing_is_lost(
    workspace: Workspace, posthog: FakePostHog, damage
) -> None:
    workspace.write_rules(order_rules())
    writer = LogWriter(workspace.logs / "app.log")
    writer.append(range(1))
    first = workspace.start_ready()
    writer.append(range(1, 300))
    assert posthog.wait_for(
        lambda p: _uuids(writer, range(1, 300)) <= p.unique_uuids(), 15
    )
    posthog.set_outage(Fault(status=503))
    _spool_in_segments(workspace, writer, [range(300, 600), range(600, 900)])
    assert workspace.stop(first) == 0
    _damage(workspace, damage)
    posthog.set_outage(None)
    before = _cli(workspace, "status", "--json")

    second = workspace.start_ready()
    # Read again from the beginning: line 0 too, which start_at: end had skipped.
    everything = _uuids(writer, range(900))
    arrived = posthog.wait_for(lambda p: everything <= p.unique_uuids(), 20)
    status = _status(workspace)
    code = workspace.stop(second)

    assert before.returncode == 1
    assert before.stderr.startswith(f"logbridge: {workspace.state_db}: cannot read")
    assert before.stderr.endswith("(the daemon sets it aside at its next start)\n")
    assert arrived, workspace.output()[-3000:]
    assert code == 0
    assert posthog.unique_uuids() == everything
    (aside,) = _log_events(workspace, "database_set_aside")
    assert status["set_aside"] == [aside["path"]]
    assert aside["path"].startswith(str(workspace.state_db) + ".damaged-")
