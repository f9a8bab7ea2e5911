"""What the daemon's tasks share while it runs: its parts, its flags, its state of flow.

The reader, the supervisor and the reloader each own a part of the daemon's work; they
meet only here. Every field is read and written on the event loop, except where a
comment says otherwise: the reader's worker thread uses ``tailer``, ``pipeline`` and
``pending_specs`` (never while the loop does) and publishes ``published``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from bridge.clock import Clock
from bridge.daemon.control import Control
from bridge.daemon.health import Health
from bridge.daemon.systemd import Notifier
from bridge.pipeline import Pipeline, PipelineStats
from bridge.rules import RuleSet
from bridge.settings import Settings
from bridge.sink.posthog import Sink
from bridge.source import SourceSpec, Tailer
from bridge.spool.asyncstore import AsyncStore

__all__ = ["DISK_FULL_POLL_SECONDS", "Runtime", "wait_event"]

# How often a write the full disk refused is tried again (a commit, the sink's
# settling, opening the database).
DISK_FULL_POLL_SECONDS = 1.0


@dataclass(slots=True)
class Runtime:
    """The daemon's parts and the state its tasks share, for one run."""

    settings: Settings
    clock: Clock
    health: Health
    notifier: Notifier
    ruleset: RuleSet
    store: AsyncStore
    tailer: Tailer
    sink: Sink
    pipeline: Pipeline
    # ``--once``: read the files to their end, deliver, and exit.
    once: bool = False
    # The pipeline's counts as of the reader's last round: a copy the reader thread
    # replaces whole, never the live counters (which may grow a key while read).
    published: PipelineStats = field(default_factory=PipelineStats)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    # ``stop`` for the scan's thread: a glob walk in progress ends when it is set.
    scan_stop: threading.Event = field(default_factory=threading.Event)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    # Set with ``wake`` when a file or directory appeared, vanished or was renamed (and
    # on stop): the next round begins without waiting out ``read.coalesce_seconds``,
    # so a file created and rotated away within that time is still seen in between.
    wake_now: asyncio.Event = field(default_factory=asyncio.Event)
    controls: asyncio.Queue[Control] = field(default_factory=asyncio.Queue)
    # Sources of a reloaded rule set, handed to the tailer by the reader between chunks:
    # the tailer is not thread-safe and the reader may be inside it right now.
    pending_specs: list[SourceSpec] | None = None
    # The sources the watcher follows: replaced whole (never mutated) on reload.
    specs: Sequence[SourceSpec] = ()
    # A reload is queued and not started yet: further requests coalesce into it.
    reload_queued: bool = False
    # The queued reload was asked for by the operator (SIGHUP), not by a file change.
    reload_explicit: bool = False
    # The spool's bytes as of the last commit (read on the store thread right after
    # it): the reader checks the cap against it without a store round trip, which
    # would wait behind the commit in flight and undo the overlap.
    spooled_bytes: int = 0
    # Bytes the state database can still grow by, as of the last commit.
    room: int = 0
    # When (clock.monotonic()) reading paused for want of disk space; None: it did not.
    disk_full_since: float | None = None
    # A commit was given up (a stop came while the disk was full): no later chunk may
    # be committed, or its checkpoint would pass the lines of the one given up.
    commits_abandoned: bool = False
    # Writes of the daemon's own (own events, the rules status) a full disk refused.
    writes_skipped: int = 0

    def request_reload(self, *, explicit: bool) -> None:
        """Queue a reload; requests made before it starts join it."""
        self.reload_explicit |= explicit
        if not self.reload_queued:
            self.reload_queued = True
            self.controls.put_nowait(Control.RELOAD)

    def request_stop(self) -> None:
        """Stop reading after the current chunk; then the sink drains."""
        self.stop.set()
        self.scan_stop.set()
        self.wake.set()
        self.wake_now.set()


async def wait_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait for ``event`` at most ``seconds``; return whether it is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)
    return event.is_set()
