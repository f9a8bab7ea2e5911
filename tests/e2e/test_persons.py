"""What reaches PostHog as persons: never a placeholder, never a cut id, and identity
events PostHog keeps."""

from __future__ import annotations

import hashlib
import json

from tests.e2e.conftest import Workspace
from tests.fakeposthog import FakePostHog

RULES = """\
sources:
  - name: app
    paths: ["logs/app.log"]
    start_at: beginning
rules:
  - name: order
    source: app
    when: {event: order}
    event: order_placed
    distinct_id: "{user}"
  - name: login
    source: app
    when: {event: login}
    distinct_id: "{user}"
    identify: {anon_distinct_id: "{session}"}
  - name: company
    source: app
    when: {event: order}
    group_identify: {type: company, key: "{org}", set: {name: "{org}"}}
"""
USERS = ["u-1", "anonymous", None, "null", "0", "  ", "NaN", "'undefined'", "x" * 250]


def test_no_event_lands_under_a_placeholder_or_a_cut_person(
    workspace: Workspace, posthog: FakePostHog
) -> None:
    workspace.write_rules(RULES)
    lines = [{"event": "order", "user": user, "org": "acme"} for user in USERS] + [
        {"event": "login", "user": "u-1", "session": "s-9"},
        {"event": "login", "user": "guest", "session": "s-8"},
    ]
    (workspace.logs / "app.log").write_text(
        "".join(json.dumps(line) + "\n" for line in lines)
    )

    result = workspace.run_once()

    assert result.returncode == 0, result.stderr.decode()[-2000:]
    orders = posthog.events(name="order_placed")
    assert len(orders) == len(USERS)
    persons = [
        e for e in orders if e.properties.get("$process_person_profile") is not False
    ]
    assert sorted(e.distinct_id for e in persons) == sorted(
        ["u-1", "sha256:" + _sha256("x" * 250)]
    )
    assert all(len(e.distinct_id) <= 200 for e in posthog.dedup_view().values())
    assert not [w for w in posthog.warnings if "illegal_distinct_id" in w]
    (identify,) = posthog.events(name="$identify")
    assert (identify.distinct_id, identify.properties["$anon_distinct_id"]) == (
        "u-1",
        "s-9",
    )
    groups = posthog.events(name="$groupidentify")
    assert {e.distinct_id for e in groups} == {"$company_acme"}
    assert all("$process_person_profile" not in e.properties for e in groups)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
