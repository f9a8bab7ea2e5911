"""The backfill's progress views: JSON lines off a terminal, a bar on one (a real pty)."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import struct
import sys
import termios

import orjson
import pytest

from bridge.backfill.progress import (
    JSON_EVERY_SECONDS,
    BarProgress,
    JsonProgress,
    Tally,
)


def _tally(**changes: int) -> Tally:
    tally = Tally(files=8, files_done=3, bytes_total=4_000, bytes=1_000, lines=300)
    for name, value in changes.items():
        setattr(tally, name, value)
    return tally


def test_json_lines_come_every_few_seconds_and_once_at_the_end() -> None:
    out = io.StringIO()
    view = JsonProgress(started=0.0, out=out)

    view.show(_tally(), 1.0)
    view.show(_tally(bytes=2_000), 1.0 + JSON_EVERY_SECONDS / 2)  # too soon
    view.show(_tally(bytes=3_000), 1.0 + JSON_EVERY_SECONDS)
    view.close(_tally(bytes=4_000, files_done=8), 10.0)

    lines = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert [line["bytes"] for line in lines] == [1_000, 3_000, 4_000]
    assert [line["done"] for line in lines] == [False, False, True]
    assert lines[0]["lines_per_s"] == 300.0
    assert lines[0]["eta_s"] == 3.0  # 3,000 bytes left at 1,000 a second
    assert lines[-1]["files_done"] == 8


def test_the_bar_on_a_terminal_shows_files_rate_and_events(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 200, 0, 0))
    with os.fdopen(follower, "w") as terminal:
        monkeypatch.setattr(sys, "stderr", terminal)
        view = BarProgress(started=0.0)
        view.show(_tally(events=30, sent=20), 1.0)
        view.close(_tally(bytes=4_000, files_done=8, events=40, sent=40), 2.0)
        terminal.flush()
    drawn = _read_all(leader).decode().replace("\r", "\n")
    os.close(leader)

    last = [line for line in drawn.splitlines() if line.strip()][-1]
    assert "100%" in last
    assert "8/8 files" in last
    assert "40 events, 40 sent" in last
    assert "3/8 files" in drawn


def _read_all(leader: int) -> bytes:
    """Everything written to a pty whose other end is closed: one read may return
    only part of it; the end shows as EIO on Linux."""
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)
