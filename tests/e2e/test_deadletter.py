"""An event PostHog refuses goes to the dead-letter table; the rest of its batch arrives."""

from __future__ import annotations

import json

from tests.e2e.conftest import Workspace
from tests.e2e.helpers import is_order, order_line, order_rules
from tests.fakeposthog import FakePostHog


def test_an_empty_distinct_id_is_quarantined_and_the_rest_delivered(
    workspace: Workspace, posthog: FakePostHog
) -> None:
    workspace.write_rules(order_rules(start_at="beginning"))
    log = workspace.logs / "app.log"
    with log.open("w") as f:
        for n in range(12):
            if is_order(n):
                # The rule maps user_id "" to an empty distinct_id, which PostHog refuses.
                f.write(order_line(n, user="" if n == 4 else None) + "\n")

    result = workspace.run_once()

    assert result.returncode == 0, result.stderr.decode()
    delivered = sorted(e.properties["order_id"] for e in posthog.dedup_view().values())
    assert delivered == ["o-0", "o-1", "o-10", "o-3", "o-6", "o-7", "o-9"]
    ((body, status),) = workspace.query("SELECT body, status FROM deadletters")
    assert status == 400
    assert json.loads(body)["properties"]["order_id"] == "o-4"
    assert workspace.query("SELECT events FROM spool_totals") == [(0,)]
    assert workspace.query("SELECT count(*) FROM segments") == [(0,)]
    assert any(r.status == 400 for r in posthog.requests)
