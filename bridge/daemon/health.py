"""What the daemon tells the outside about itself: metrics, readiness, systemd status.

Everything here is derived from the pipeline's counters (a published copy of
``PipelineStats``), the sink's state and the spool's totals; nothing counts twice.
The counters themselves are read by the metrics' collector at each scrape
(``Metrics.counts``); this module only hands it the latest copies, sets the gauges,
and says which failed values are due a log line.
"""

from __future__ import annotations

import collections
from collections import Counter
from collections.abc import Iterable
from dataclasses import replace

from bridge.daemon.metrics import Counts, Metrics, Readiness, evaluate_readiness
from bridge.pipeline import PipelineStats
from bridge.settings import Settings
from bridge.sink.posthog import Sink
from bridge.source import FileState, Notice
from bridge.spool.store import SpoolStats

__all__ = ["Health"]

# How far back the events-per-minute figure of the status line looks.
RATE_WINDOW_SECONDS = 60.0
# A value that keeps failing gets one log line per rule and reason this often, with
# the count since the last one: counted always, never a flood of lines.
ISSUE_LOG_SECONDS = 60.0


class Health:
    """The daemon's health as seen by /metrics, /readyz, STATUS= and the watchdog."""

    def __init__(self, settings: Settings, metrics: Metrics | None) -> None:
        self.settings = settings
        self.metrics = metrics
        self.started = False
        self.rules_ok = True
        self.rules_error: str | None = None
        self.rules_hash = ""
        # On clock.monotonic(): the last time the reader went round its loop.
        self.reader_tick = 0.0
        # (rule, "where: reason") → (count when last logged, monotonic time then).
        self._issues_logged: dict[tuple[str, str], tuple[int, float]] = {}
        self._rates: collections.deque[tuple[float, int]] = collections.deque()
        self._files: list[FileState] = []
        self._spool = SpoolStats(
            events=0, bytes=0, oldest_created_at=None, deadletters=0
        )

    # -- inputs ------------------------------------------------------------------------

    def rules_loaded(self, digest: str) -> None:
        """A rule set was compiled and is now active."""
        self.rules_ok = True
        self.rules_error = None
        self.rules_hash = digest
        if self.metrics is not None:
            self.metrics.set_rules_hash(digest[:12])

    def rules_rejected(self, error: str) -> None:
        """A reload failed; the previous rules keep running."""
        self.rules_ok = False
        self.rules_error = error

    def reload_counted(self, *, ok: bool) -> None:
        """Count a reload attempt."""
        if self.metrics is not None:
            self.metrics.reloads.labels("success" if ok else "failure").inc()

    def notices(self, notices: Iterable[Notice]) -> None:
        """Count rotations and truncations; forget the lag of closed files."""
        if self.metrics is None:
            return
        for notice in notices:
            if notice.kind == "file_rotated":
                self.metrics.rotations.inc()
            elif notice.kind == "file_truncated":
                self.metrics.truncations.inc()
            elif notice.kind in ("file_closed", "file_removed"):
                self.metrics.forget_file(notice.path)

    def files_seen(self, files: list[FileState]) -> None:
        """The tailer's latest view of its files."""
        self._files = files

    def spool_seen(self, spool: SpoolStats) -> None:
        """The spool's latest totals."""
        self._spool = spool

    # -- outputs -----------------------------------------------------------------------

    def publish(self, stats: PipelineStats, sink: Sink, now_wall: float) -> None:
        """Bring every metric up to date; ``stats`` is a published copy."""
        events_total = stats.events.total()
        self._rates.append((now_wall, events_total))
        while self._rates and now_wall - self._rates[0][0] > RATE_WINDOW_SECONDS:
            self._rates.popleft()
        if self.metrics is None:
            return
        counters = sink.counters
        self.metrics.counts = Counts(
            pipeline=stats,
            sink=replace(counters, retries=Counter(counters.retries)),
        )
        self.metrics.sink_halted.set(1 if sink.halted else 0)
        self._publish_gauges(self.metrics, now_wall)

    def issues_due(
        self, stats: PipelineStats, now_monotonic: float, *, final: bool = False
    ) -> list[tuple[str, str, int]]:
        """
        The failed values to log now: (rule, "where: reason", count since the last
        line), at most one per rule and reason every ``ISSUE_LOG_SECONDS``; ``final``
        (at a stop): all that were not logged yet.
        """
        due = []
        for key, total in stats.issues.items():
            logged, at = self._issues_logged.get(key, (0, -ISSUE_LOG_SECONDS))
            if total > logged and (final or now_monotonic - at >= ISSUE_LOG_SECONDS):
                due.append((*key, total - logged))
                self._issues_logged[key] = (total, now_monotonic)
        return due

    def _publish_gauges(self, m: Metrics, now_wall: float) -> None:
        spool = self._spool
        m.spool_events.set(spool.events)
        m.spool_bytes.set(spool.bytes)
        oldest = spool.oldest_created_at
        m.spool_oldest_age_seconds.set(max(0.0, now_wall - oldest) if oldest else 0.0)
        m.files_open.set(len(self._files))
        for state in self._files:
            m.file_lag_bytes.labels(state.path).set(max(0, state.size - state.offset))

    def events_per_minute(self) -> float:
        """Events produced over the last minute (or since start, if shorter)."""
        if len(self._rates) < 2:
            return 0.0
        (t0, n0), (t1, n1) = self._rates[0], self._rates[-1]
        return (n1 - n0) * 60.0 / (t1 - t0) if t1 > t0 else 0.0

    def status_line(self, sink: Sink) -> str:
        """The one-line summary for systemd's STATUS=."""
        error = "none"
        if sink.halted:
            error = "PostHog refused the API key"
        elif not self.rules_ok:
            error = "rule reload rejected, old rules kept"
        elif sink.last_error:
            error = sink.last_error
        return (
            f"{len(self._files)} files, {self.events_per_minute():.0f} events/min, "
            f"spool {self._spool.events}, dead letters {self._spool.deadletters}, "
            f"last error: {error}"
        )

    def readiness(self, sink: Sink, now_monotonic: float) -> Readiness:
        """What /readyz answers."""
        readiness = evaluate_readiness(
            started=self.started,
            sink_halted=sink.halted,
            rules_ok=self.rules_ok,
            sink_failing_since=sink.failing_since,
            now=now_monotonic,
            failing_threshold_seconds=self.settings.metrics.sink_failing_seconds,
        )
        details = {
            **readiness.details,
            "rules_hash": self.rules_hash[:12],
            "spool_events": self._spool.events,
            "files": len(self._files),
        }
        if self.rules_error:
            details["rules_error"] = self.rules_error
        if sink.last_error:
            details["last_send_error"] = sink.last_error
        return replace(readiness, details=details)

    def is_progressing(self, sink: Sink, now_monotonic: float, limit: float) -> bool:
        """
        Whether the pipeline moves: the watchdog is fed only while this holds.

        The reader must have gone round its loop recently (it wakes at least every
        ``read.rescan_seconds``), and no request to PostHog may hang longer than
        ``limit``. A sink that keeps getting errors is not stuck: it is retrying, and
        a restart would not help.
        """
        reader_limit = limit + self.settings.read.rescan_seconds
        if now_monotonic - self.reader_tick > reader_limit:
            return False
        started = sink.in_flight_since
        return started is None or now_monotonic - started <= limit
