"""The supervisor: delivery, the daemon's reports on itself, and the operator's signals.

- The sink task sends the oldest spooled events and deletes them only after a 2xx;
  after a write the full disk refused, it waits for room and runs again (the batch
  whose settling failed goes again, same uuids: PostHog keeps one copy).
- Every few seconds it publishes metrics, systemd's STATUS= and the watchdog (fed only
  while the pipeline makes progress), logs values that failed, and spools the periodic
  ``health_check`` event; ``engine_started`` and ``engine_stopped`` go the same way.
- Signal handlers only queue a ``Control``; the control loop acts on them. STOP: the
  reader finishes its current chunk and the daemon drains. A second SIGINT exits at
  once (the state is consistent at every commit). RELOAD goes to the reloader.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable

from bridge import __version__
from bridge.daemon.control import Control, early_stop_requested
from bridge.daemon.own_events import OwnEvents
from bridge.daemon.runtime import DISK_FULL_POLL_SECONDS, Runtime, wait_event
from bridge.errors import StoreFull
from bridge.logs import get_logger
from bridge.model import Event
from bridge.spool.rows import encode_event

__all__ = ["Supervisor"]

# How often metrics, STATUS= and the watchdog are refreshed (at most).
SUPERVISE_SECONDS = 2.0


class Supervisor:
    """The sink task, the supervision loop, own events and signals of one run."""

    def __init__(
        self,
        rt: Runtime,
        own: OwnEvents,
        *,
        on_reload: Callable[[bool], Awaitable[None]],
    ) -> None:
        """
        Args:
            on_reload: runs a reload the operator or a rule file asked for (the
                argument: whether the operator asked).
        """
        self.rt = rt
        self.own = own
        self._on_reload = on_reload
        self._log = get_logger()
        self._interrupts = 0

    # -- delivery --------------------------------------------------------------------

    async def run_sink(self, stop: asyncio.Event) -> None:
        """Run the sink until ``stop``; after a full disk refused a write, run it again."""
        rt = self.rt
        while True:
            try:
                await rt.sink.run(stop)
            except StoreFull as exc:
                self._log.warning("disk_full", task="sink", error=str(exc))
            else:
                return
            while not await wait_event(stop, DISK_FULL_POLL_SECONDS):
                if await rt.store.call(lambda s: s.can_write()):
                    self._log.info("disk_space_returned", task="sink")
                    break
            else:
                return

    async def spool_own(self, event: Event) -> None:
        """Spool one of the daemon's own events (a full disk skips it, counted)."""
        rt = self.rt
        if not rt.settings.own_events.enabled:
            return
        body = encode_event(
            event,
            lib_version=__version__,
            geoip_disable=rt.settings.posthog.geoip_disable,
        )
        now = rt.clock.now().timestamp()
        rows = ((event.uuid, body, event.rule),)
        try:
            await rt.store.call(lambda s: s.commit_chunk(rows, None, now))
        except StoreFull as exc:
            # The daemon's report on itself, not a line's event: skipped, and counted.
            rt.writes_skipped += 1
            self._log.warning("own_event_skipped", rule=event.name, error=str(exc))
            return
        rt.sink.notify()

    def log_issues(self, now: float, *, final: bool = False) -> None:
        """Log the failed values per rule and reason: rate-limited, or all at a stop."""
        rt = self.rt
        for rule, reason, count in rt.health.issues_due(rt.published, now, final=final):
            self._log.warning("value_failed", rule=rule, error=reason, events=count)

    def counters(self) -> dict[str, int]:
        """The run's totals, for ``health_check`` and ``engine_stopped``."""
        snapshot = self.rt.published.snapshot()
        counters = self.rt.sink.counters
        return {
            "lines": snapshot["lines"],
            "events": sum(snapshot["events"].values()),
            "parse_errors": sum(snapshot["parse_errors"].values()),
            "lines_too_long": snapshot["too_long"],
            "lines_invalid_utf8": snapshot["invalid_utf8"],
            "events_sent": counters.events_sent,
            "batches_sent": counters.batches_sent,
            "retries": sum(counters.retries.values()),
            "deadletters": counters.deadletters,
        }

    # -- supervision -----------------------------------------------------------------

    async def supervise(self) -> None:
        """Refresh metrics, STATUS= and the watchdog; spool health_check events."""
        rt = self.rt
        interval = rt.notifier.watchdog_interval_seconds()
        period = min(SUPERVISE_SECONDS, interval) if interval else SUPERVISE_SECONDS
        health_every = rt.settings.own_events.health_check_seconds
        next_health = rt.clock.monotonic() + health_every
        last_counters = self.counters()
        while True:
            await rt.clock.sleep(period)
            now = rt.clock.monotonic()
            spool = await rt.store.call(lambda s: s.stats())
            rt.health.spool_seen(spool)
            if spool.events:
                # Events another process spooled (``deadletter retry``) wake no one.
                rt.sink.notify()
            rt.health.publish(rt.published, rt.sink, rt.clock.now().timestamp())
            self.log_issues(now)
            if rt.health.started:
                line = rt.health.status_line(rt.sink)
                if rt.disk_full_since is not None:
                    line = f"state filesystem full, reading paused; {line}"
                rt.notifier.status(line)
            if interval and rt.health.is_progressing(rt.sink, now, 2 * interval):
                rt.notifier.watchdog()
            if now >= next_health and not rt.once:
                next_health = now + health_every
                counters = self.counters()
                since = {key: n - last_counters[key] for key, n in counters.items()}
                last_counters = counters
                spool = await rt.store.call(lambda s: s.stats())
                since |= {
                    "spool_events": spool.events,
                    "files": len(rt.tailer.file_states()),
                }
                await self.spool_own(self.own.health_check(rt.clock.now(), since))

    # -- control ---------------------------------------------------------------------

    def install_signals(self) -> None:
        """Route SIGTERM, SIGINT and SIGHUP to the control loop."""
        rt = self.rt
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, rt.controls.put_nowait, Control.STOP)
        loop.add_signal_handler(signal.SIGINT, self._on_interrupt)
        loop.add_signal_handler(signal.SIGHUP, self._on_hangup)
        if early_stop_requested():
            rt.controls.put_nowait(Control.STOP)

    def remove_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)

    def _on_hangup(self) -> None:
        self.rt.request_reload(explicit=True)

    def _on_interrupt(self) -> None:
        self._interrupts += 1
        if self._interrupts > 1:
            # Every commit leaves the state consistent, so quitting now loses nothing.
            os._exit(130)
        self.rt.controls.put_nowait(Control.STOP)

    async def control_loop(self) -> None:
        """Act on the operator's requests, one at a time."""
        rt = self.rt
        while True:
            control = await rt.controls.get()
            if control is Control.STOP:
                self._log.info("shutdown_requested")
                rt.request_stop()
            elif control is Control.RELOAD:
                # Cleared before reading the files: an edit from now on queues another.
                explicit, rt.reload_explicit = rt.reload_explicit, False
                rt.reload_queued = False
                await self._on_reload(explicit)
