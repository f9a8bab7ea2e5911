"""Events PostHog refuses go to the dead-letter table; the rest of their batch arrives.

What capture would refuse for its shape is found before sending: no 400, no bisection.
"""

from __future__ import annotations

import json

from tests.e2e.conftest import Workspace
from tests.e2e.helpers import is_order, order_line, order_rules
from tests.fakeposthog import FakePostHog

REFUSED = (
    "refused before sending: properties.$cookieless_mode: expected a boolean, "
    "got a string"
)


def test_events_capture_would_refuse_are_dead_lettered_without_bisecting(
    workspace: Workspace, posthog: FakePostHog
) -> None:
    # $cookieless_mode must be a boolean: capture refuses the whole request otherwise.
    workspace.write_rules(
        order_rules(start_at="beginning")
        + "      $cookieless_mode: {field: cookieless}\n"
    )
    orders = [n for n in range(107) if is_order(n)][:71]
    bad = {orders[10], orders[50]}
    with (workspace.logs / "app.log").open("w") as f:
        for n in orders:
            line = json.loads(order_line(n))
            if n in bad:
                line["cookieless"] = "yes"
            f.write(json.dumps(line) + "\n")

    result = workspace.run_once()

    assert result.returncode == 0, result.stderr.decode()
    captures = [r for r in posthog.requests if r.is_capture]
    assert [r.status for r in captures] == [200]
    delivered = {e.properties["order_id"] for e in posthog.dedup_view().values()}
    assert delivered == {f"o-{n}" for n in orders if n not in bad}
    letters = workspace.query("SELECT body, status, reason FROM deadletters")
    assert sorted(
        (json.loads(b)["properties"]["order_id"], s, r) for b, s, r in letters
    ) == sorted((f"o-{n}", None, REFUSED) for n in bad)
    assert workspace.query("SELECT events FROM spool_totals") == [(0,)]
    assert workspace.query("SELECT count(*) FROM segments") == [(0,)]
