"""SIGKILL the daemon again and again while lines are appended and PostHog is slow:
every event must end up in PostHog's storage exactly once."""

from __future__ import annotations

import random
import threading
import time

from tests.e2e.conftest import Workspace
from tests.e2e.helpers import LogWriter, expected_uuid, is_order, order_rules
from tests.fakeposthog import FakePostHog, Fault

LINES = 3000
KILLS = 8


def test_repeated_sigkill_loses_nothing_and_doubles_nothing(
    workspace: Workspace, posthog: FakePostHog
) -> None:
    workspace.write_config(max_events=50)
    workspace.write_rules(order_rules())
    writer = LogWriter(workspace.logs / "app.log")
    writer.append(
        range(1)
    )  # the file exists (with one line, skipped) before the first start
    posthog.set_latency(0.03)
    # Some requests store part of their batch and then fail: the resend must collapse.
    posthog.push_faults(*[Fault(status=503, persist_first=10) for _ in range(3)])
    rng = random.Random(20261128)
    done = threading.Event()

    def write() -> None:
        for start in range(1, LINES, 25):
            writer.append(range(start, min(start + 25, LINES)))
            time.sleep(0.02)
        done.set()

    started = time.monotonic()
    proc = workspace.start_ready()
    thread = threading.Thread(target=write)
    thread.start()
    kills = 0
    while kills < KILLS:
        time.sleep(rng.uniform(0.3, 0.9))
        proc.kill()
        proc.wait()
        kills += 1
        proc = workspace.start() if kills < KILLS else workspace.start_ready()
    thread.join()
    expected = {
        expected_uuid(writer.file_id(), w.offset)
        for w in writer.written
        if w.n >= 1 and is_order(w.n)
    }
    arrived = posthog.wait_for(lambda p: expected <= p.unique_uuids(), 60)
    code = workspace.stop(proc)
    elapsed = time.monotonic() - started

    stored = posthog.dedup_view().values()
    missing = expected - {e.uuid for e in stored}
    print(  # noqa: T201 - run with -s to see the figures
        f"crash test: {elapsed:.1f}s, {kills} kills, {len(expected)} events, "
        f"{posthog.duplicate_deliveries()} raw duplicates, {len(missing)} lost"
    )
    assert arrived, workspace.output()[-3000:]
    assert code == 0
    assert missing == set()
    assert len(stored) == len(expected)
    assert {e.uuid for e in stored} == expected
