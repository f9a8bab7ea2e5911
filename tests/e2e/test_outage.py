"""PostHog answers 503 for a while, then 429 with Retry-After, then recovers: everything
arrives, and the daemon never retries sooner than Retry-After said."""

from __future__ import annotations

import itertools
import time

from tests.e2e.conftest import Workspace
from tests.e2e.helpers import LogWriter, expected_uuid, is_order, order_rules
from tests.fakeposthog import FakePostHog, Fault


def test_outage_then_rate_limit_then_recovery(
    workspace: Workspace, posthog: FakePostHog
) -> None:
    workspace.write_config(max_events=20)
    workspace.write_rules(order_rules())
    writer = LogWriter(workspace.logs / "app.log")
    writer.append(range(1))
    started = time.monotonic()
    proc = workspace.start_ready()

    posthog.set_outage(Fault(status=503))
    writer.append(range(1, 200))
    time.sleep(2.0)
    posthog.push_faults(
        Fault(status=429, retry_after="1"), Fault(status=429, retry_after="1")
    )
    posthog.set_outage(None)
    writer.append(range(200, 300))
    expected = {
        expected_uuid(writer.file_id(), w.offset)
        for w in writer.written
        if w.n >= 1 and is_order(w.n)
    }
    arrived = posthog.wait_for(lambda p: expected <= p.unique_uuids(), 30)
    code = workspace.stop(proc)
    elapsed = time.monotonic() - started

    failed_503 = sum(1 for r in posthog.requests if r.status == 503)
    gaps_after_429 = [gap for gap, retry_after in posthog.retry_gaps() if retry_after]
    print(  # noqa: T201 - run with -s to see the figures
        f"outage test: {elapsed:.1f}s, {failed_503} requests refused with 503, "
        f"gaps after 429: {[round(g, 2) for g in gaps_after_429]}, "
        f"{posthog.duplicate_deliveries()} raw duplicates, "
        f"{len(expected - posthog.unique_uuids())} lost"
    )
    assert arrived, workspace.output()[-3000:]
    assert code == 0
    assert failed_503 >= 3
    assert len(gaps_after_429) == 2
    assert all(gap >= 1.0 for gap in gaps_after_429)
    assert {e.uuid for e in posthog.dedup_view().values()} == expected


def test_every_retry_waits_at_least_the_initial_delay(
    workspace: Workspace, posthog: FakePostHog
) -> None:
    config = workspace.write_config()
    config.write_text(
        config.read_text().replace("initial_seconds: 0.05", "initial_seconds: 0.3")
    )
    workspace.write_rules(order_rules(start_at="beginning"))
    LogWriter(workspace.logs / "app.log").append(range(10))
    posthog.push_faults(*[Fault(status=503)] * 3, Fault(status=429, retry_after="0"))

    result = workspace.run_once()

    assert result.returncode == 0, result.stderr.decode()
    captures = [r for r in posthog.requests if r.is_capture]
    gaps = [
        later.arrived_monotonic - earlier.arrived_monotonic
        for earlier, later in itertools.pairwise(captures)
        if earlier.status != 200
    ]
    assert len(gaps) == 4
    assert min(gaps) >= 0.3, gaps
