"""logbridge's own events: personless, numbered, with the configuration's properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bridge.daemon.own_events import OwnEvents

START = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def test_own_events_carry_the_shared_properties_under_their_own() -> None:
    own = OwnEvents(
        hostname="web-1",
        environment="production",
        started_at=START,
        properties={"service": "shop", "host": "overridden"},
    )

    started = own.engine_started(rules_hash="abc", rules=3, sources=1)
    beat = own.health_check(START + timedelta(minutes=5), {"lines": 10})

    assert started.properties["service"] == beat.properties["service"] == "shop"
    assert started.properties["host"] == "web-1"  # its own property wins
    assert started.properties["$process_person_profile"] is False
    assert started.uuid != beat.uuid
    assert started.distinct_id == "logbridge@web-1"
