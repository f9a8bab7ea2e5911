"""What ``logbridge status`` prints about the state's health (bridge.status), pure."""

from __future__ import annotations

import pytest

from bridge.spool.store import DamagedSegment, SpoolStats
from bridge.status import DiskReport, build_status, render_status

MIB = 1024 * 1024
EMPTY = SpoolStats(events=0, bytes=0, oldest_created_at=None, deadletters=0)


def _lines(**facts) -> list[str]:
    report = build_status(
        state_db="/var/lib/logbridge/state.db",
        files=[],
        spool=EMPTY,
        last_send_error=None,
        rules_status=None,
        now=100.0,
        **{"damaged": [], "set_aside": [], "files_gone": 0, **facts},
    )
    return render_status(report).splitlines()


@pytest.mark.parametrize(
    ("free", "line"),
    [
        (900 * MIB, "disk:           900.0 MiB free (reading pauses below 32.0 MiB)"),
        (
            3 * MIB,
            "disk:           3.0 MiB free, below the 32.0 MiB kept free:"
            " FULL, reading paused",
        ),
    ],
    ids=["room", "full"],
)
def test_the_disk_line_says_whether_reading_is_paused(free: int, line: str) -> None:
    lines = _lines(disk=DiskReport(free_bytes=free, headroom_bytes=32 * MIB))

    assert line in lines


def test_damaged_segments_and_set_aside_databases_are_reported() -> None:
    damaged = [
        DamagedSegment(2, 200, 5000, 63, "database disk image is malformed", 1.0, 2.0),
        DamagedSegment(7, 10, 900, 10, "segment columns do not hold 10 events", 3, 4),
    ]
    aside = "/var/lib/logbridge/state.db.damaged-20261201T083005Z"

    lines = _lines(
        disk=DiskReport(free_bytes=900 * MIB, headroom_bytes=32 * MIB),
        damaged=damaged,
        set_aside=[aside],
    )

    assert lines[5:7] == [
        "damaged:        2 spool segment(s) quarantined, 210 events; 73 recognisable,"
        " in the dead letters (logbridge deadletter retry)",
        f"set aside:      {aside} (damaged; a new database took over)",
    ]


def test_files_gone_are_counted_not_listed() -> None:
    lines = _lines(
        files_gone=2, disk=DiskReport(free_bytes=900 * MIB, headroom_bytes=32 * MIB)
    )

    assert "(2 files read before are gone)" in lines
