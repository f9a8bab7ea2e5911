"""Old events reach PostHog's historical lane, live ones the live lane, never mixed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from tests.e2e.conftest import Workspace
from tests.e2e.helpers import order_rules
from tests.fakeposthog import FakePostHog


def test_old_events_go_in_historical_batches_and_live_ones_in_normal_batches(
    workspace: Workspace, posthog: FakePostHog
) -> None:
    workspace.write_rules(order_rules(start_at="beginning"))
    now = datetime.now(UTC)
    ages = {
        n: timedelta(hours=72) if n % 2 else timedelta(minutes=1) for n in range(20)
    }
    with (workspace.logs / "app.log").open("w") as f:
        for n, age in ages.items():
            ts = (now - age + timedelta(milliseconds=n)).isoformat()
            line = {"ts": ts, "event": "order_processed", "user_id": "u", "n": n}
            f.write(json.dumps({**line, "order_id": f"o-{n}", "amount": "1"}) + "\n")

    result = workspace.run_once()

    assert result.returncode == 0, result.stderr.decode()
    stored = {e.properties["n"]: e.historical_migration for e in posthog.deliveries}
    assert stored == {n: age > timedelta(hours=48) for n, age in ages.items()}
    lanes = []
    for request in (r for r in posthog.requests if r.is_capture):
        body = json.loads(request.body)
        lane = body.get("historical_migration", False)
        ns = [e["properties"]["n"] for e in body["batch"]]
        assert all((ages[n] > timedelta(hours=48)) is lane for n in ns)
        assert ns == sorted(ns)
        lanes.append(lane)
    assert sorted(lanes) == [False, True]
