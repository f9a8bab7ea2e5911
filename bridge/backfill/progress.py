"""How far a backfill is: a live display on a terminal, JSON lines otherwise.

On a terminal (standard error), tqdm draws one bar: parts of files done of all,
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
    "BarProgress",
    "JsonProgress",
    "ProgressView",
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


class BarProgress:
    """A bar on the terminal, drawn by tqdm."""

    def __init__(self, started: float) -> None:
        # Imported here: the daemon never draws a bar, and should not load it.
        from tqdm import tqdm  # noqa: PLC0415

        self._started = started
        self._bar = tqdm(
            desc="backfill",
            total=None,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            file=sys.stderr,
            dynamic_ncols=True,
            # Redrawn by show(), a few times a second, not on every update.
            mininterval=0,
        )

    def show(self, tally: Tally, now: float) -> None:
        # tqdm shows the bytes' rate and the time left itself.
        lines_per_s, _ = _rates(tally, self._started, now)
        bar = self._bar
        bar.total = tally.bytes_total or None
        bar.n = tally.bytes
        bar.set_postfix_str(
            f"{tally.files_done}/{tally.files} files, {lines_per_s:,.0f} lines/s, "
            f"{tally.events:,} events, {tally.sent:,} sent",
            refresh=False,
        )
        bar.refresh()

    def close(self, tally: Tally, now: float) -> None:
        self.show(tally, now)
        self._bar.close()
