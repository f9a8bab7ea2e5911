"""An event too large for capture's Kafka travels alone: its 413 re-sends nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.conftest import Workspace
from tests.e2e.helpers import is_order, order_line, order_rules
from tests.fakeposthog import FakePostHog

# The emulator's Kafka refuses messages over this many bytes.
KAFKA_MAX_BYTES = 30_000


@pytest.fixture
def posthog_options() -> dict[str, Any]:
    return {"max_event_bytes": KAFKA_MAX_BYTES}


def test_an_oversize_event_among_others_is_dead_lettered_and_nothing_arrives_twice(
    workspace: Workspace, posthog: FakePostHog
) -> None:
    config = workspace.write_config()
    # The daemon does not know the server's limit; it sends the big event alone.
    config.write_text(
        config.read_text().replace(
            "batch:\n",
            "batch:\n  max_event_bytes: 1000000\n  solo_event_bytes: 20000\n",
        )
    )
    workspace.write_rules(order_rules(start_at="beginning"))
    orders = [n for n in range(60) if is_order(n)]
    big = orders[len(orders) // 2]
    with (workspace.logs / "app.log").open("w") as f:
        for n in orders:
            line = json.loads(order_line(n))
            if n == big:
                line["order_id"] = "x" * 40_000
            f.write(json.dumps(line) + "\n")

    result = workspace.run_once()

    assert result.returncode == 0, result.stderr.decode()
    assert posthog.duplicate_deliveries() == 0
    delivered = sorted(e.properties["n"] for e in posthog.deliveries)
    assert delivered == [n for n in orders if n != big]
    ((body, status),) = workspace.query("SELECT body, status FROM deadletters")
    assert (json.loads(body)["properties"]["n"], status) == (big, 413)
    refused = [r for r in posthog.requests if r.status == 413]
    assert [len(json.loads(r.body)["batch"]) for r in refused] == [1]
