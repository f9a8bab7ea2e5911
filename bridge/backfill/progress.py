"""How far a backfill is: a live display on a terminal, JSON lines otherwise.

On a terminal (standard error), rich draws one bar: parts of files done of all,
bytes read of all (on disk: compressed bytes for gzip files), lines a second, events
made and sent, and the time left at the current rate. Elsewhere (a pipe, the
journal) one JSON object a line goes to standard error every ``JSON_EVERY_SECONDS``
and at the end::

    {"files_done": 3, "files": 8, "bytes": 91226112, "bytes_total": 2401239040,
     "lines": 3000000, "lines_per_s": 412345.6, "events": 300000, "sent": 254000,
     "eta_s": 22.1, "done": false}

``eta_s`` is null until a rate is known. Nothing here touches the backfill itself: it
is told the totals as they change (``Tally``) and shows them.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from typing import IO, Protocol

import orjson

__all__ = [
    "JSON_EVERY_SECONDS",
    "JsonProgress",
    "ProgressView",
    "RichProgress",
    "Tally",
]

JSON_EVERY_SECONDS = 2.0


@dataclass(slots=True)
class Tally:
    """The backfill's totals so far."""

    files: int = 0
    files_done: int = 0
    bytes_total: int = 0
    bytes: int = 0
    lines: int = 0
    events: int = 0
    sent: int = 0


class ProgressView(Protocol):
    """Shows a ``Tally``; ``now`` is monotonic seconds."""

    def show(self, tally: Tally, now: float) -> None: ...

    def close(self, tally: Tally, now: float) -> None: ...


def _rates(tally: Tally, started: float, now: float) -> tuple[float, float | None]:
    """Lines a second, and the seconds left at the byte rate so far (None: unknown)."""
    elapsed = max(now - started, 1e-9)
    left = max(tally.bytes_total - tally.bytes, 0)
    rate = tally.bytes / elapsed
    eta = left / rate if tally.bytes and rate > 0 else None
    return tally.lines / elapsed, eta


class JsonProgress:
    """One JSON line every few seconds, and one at the end."""

    def __init__(self, started: float, out: IO[str] | None = None) -> None:
        self._out = out or sys.stderr
        self._started = started
        self._last: float | None = None

    def show(self, tally: Tally, now: float) -> None:
        if self._last is not None and now - self._last < JSON_EVERY_SECONDS:
            return
        self._write(tally, now, done=False)

    def close(self, tally: Tally, now: float) -> None:
        self._write(tally, now, done=True)

    def _write(self, tally: Tally, now: float, *, done: bool) -> None:
        self._last = now
        lines_per_s, eta = _rates(tally, self._started, now)
        line = {
            **asdict(tally),
            "lines_per_s": round(lines_per_s, 1),
            "eta_s": None if eta is None else round(eta, 1),
            "done": done,
        }
        self._out.write(orjson.dumps(line).decode() + "\n")
        self._out.flush()


class RichProgress:
    """A bar on the terminal, redrawn by rich a few times a second."""

    def __init__(self, started: float) -> None:
        from rich.console import Console  # noqa: PLC0415 - only on a terminal
        from rich.progress import (  # noqa: PLC0415
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
        )

        self._started = started
        self._progress = Progress(
            TextColumn("[bold]backfill[/]"),
            BarColumn(),
            DownloadColumn(),
            TextColumn("{task.fields[files]}"),
            TextColumn("{task.fields[rate]}"),
            TextColumn("{task.fields[events]}"),
            TextColumn("{task.fields[eta]}"),
            console=Console(stderr=True),
            transient=False,
        )
        self._task = self._progress.add_task(
            "backfill", total=None, files="", rate="", events="", eta=""
        )
        self._progress.start()

    def show(self, tally: Tally, now: float) -> None:
        lines_per_s, eta = _rates(tally, self._started, now)
        self._progress.update(
            self._task,
            total=tally.bytes_total or None,
            completed=tally.bytes,
            files=f"{tally.files_done}/{tally.files} files",
            rate=f"{lines_per_s:,.0f} lines/s",
            events=f"{tally.events:,} events, {tally.sent:,} sent",
            eta="" if eta is None else f"{_clock(eta)} left",
        )

    def close(self, tally: Tally, now: float) -> None:
        self.show(tally, now)
        self._progress.stop()


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"
