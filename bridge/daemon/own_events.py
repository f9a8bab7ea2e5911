"""logbridge's own events: ``engine_started``, ``engine_stopped``, ``health_check``.

They go through the same spool and sink as the events of the rules, so they share the
delivery promise. Each is personless (``$process_person_profile: false``) with the
distinct_id ``logbridge@<host>``, and its uuid is derived from the host, the start time
of this run and a sequence number, so a resend after a crash collapses in PostHog.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bridge import __version__
from bridge.model import Event, event_uuid

__all__ = ["OwnEvents"]

OWN_SOURCE = "$logbridge"


class OwnEvents:
    """Builds this run's own events, numbering them so each has its own uuid."""

    def __init__(
        self,
        *,
        hostname: str,
        environment: str,
        started_at: datetime,
        properties: Mapping[str, Any] | None = None,
    ) -> None:
        """
        Args:
            properties: the configuration's ``properties``, added to each event (its
                own properties win).
        """
        self.hostname = hostname
        self.shared = dict(properties or {})
        self.environment = environment
        self.started_at = started_at
        self._run_id = f"{hostname}:{started_at.isoformat()}"
        self._sequence = 0

    def engine_started(self, *, rules_hash: str, rules: int, sources: int) -> Event:
        """The daemon has loaded its state and rules."""
        return self._event(
            "engine_started",
            self.started_at,
            {
                "rules_hash": rules_hash,
                "rules": rules,
                "sources": sources,
                "python_version": platform.python_version(),
            },
        )

    def engine_stopped(
        self, now: datetime, *, reason: str, counters: Mapping[str, Any]
    ) -> Event:
        """The daemon is stopping; ``counters`` are the totals of this run."""
        uptime = (now - self.started_at).total_seconds()
        return self._event(
            "engine_stopped",
            now,
            {"reason": reason, "uptime_s": round(uptime, 3), **counters},
        )

    def health_check(self, now: datetime, counters: Mapping[str, Any]) -> Event:
        """A periodic heartbeat; ``counters`` cover the time since the previous one."""
        uptime = (now - self.started_at).total_seconds()
        return self._event(
            "health_check", now, {"uptime_s": round(uptime, 3), **counters}
        )

    def _event(self, name: str, at: datetime, properties: Mapping[str, Any]) -> Event:
        self._sequence += 1
        uuid = event_uuid(OWN_SOURCE, self._run_id, self._sequence, name)
        return Event(
            uuid=uuid,
            name=name,
            distinct_id=f"logbridge@{self.hostname}",
            timestamp=at,
            properties={
                **self.shared,
                "component": "logbridge",
                "version": __version__,
                "environment": self.environment,
                "host": self.hostname,
                **properties,
                "$process_person_profile": False,
            },
            rule=name,
            source=OWN_SOURCE,
        )
