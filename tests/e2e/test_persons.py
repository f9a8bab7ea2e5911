"""What reaches PostHog as persons: never a placeholder, never a cut id, and identity
events PostHog keeps."""

from __future__ import annotations

import hashlib
import json
import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Workspace, metrics_port
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


def test_the_running_daemon_counts_ids_that_name_no_person_per_rule_and_reason(
    workspace: Workspace, posthog: FakePostHog
) -> None:
    workspace.write_rules(RULES)
    log = workspace.logs / "app.log"
    log.write_text("")
    proc = workspace.start_ready()
    base = f"http://127.0.0.1:{metrics_port(workspace)}"

    lines = [{"event": "order", "user": user, "org": "acme"} for user in USERS]
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    posthog.wait_for(lambda p: len(p.events(name="order_placed")) >= len(USERS), 10)
    time.sleep(2.5)  # one supervision period publishes the counters
    text = httpx.get(f"{base}/metrics").text
    code = workspace.stop(proc)

    assert code == 0
    errors = {
        sample.labels["reason"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "logbridge_value_errors_total"
        and sample.labels["rule"] == "order"
    }
    # anonymous, "null", "0", NaN, 'undefined'; None; "  "; the 250 characters.
    assert errors == {
        "distinct_id: placeholder": 5,
        "distinct_id: missing": 1,
        "distinct_id: blank": 1,
        "distinct_id: too_long": 1,
    }


SENDER_RULES = """\
sources:
  - name: app
    paths: ["logs/app.log"]
    start_at: beginning
rules:
  - name: merged
    source: app
    when: {event: merged}
    distinct_id: "{user}"
    alias: "{legacy}"
  - name: order
    source: app
    when: {event: order}
    event: order_placed
    distinct_id: "{user}"
    person_profiles: never
    geoip: true
    properties:
      $ip: "{ip}"
      environment: "{env}"
  - name: crash
    source: app
    when: {event: crash}
    exception: {stacktrace: {field: exc}}
"""

CHAIN = """\
Traceback (most recent call last):
  File "/srv/app/pay.py", line 10, in charge
    card = cards[user]
KeyError: 'u-2'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/srv/app/pay.py", line 12, in charge
    raise ValueError("no card on file")
ValueError: no card on file
"""


def test_alias_profiles_geoip_shared_properties_and_chains_reach_posthog(
    workspace: Workspace, posthog: FakePostHog
) -> None:
    workspace.write_config(extra="properties: {service: shop, environment: prod}\n")
    workspace.write_rules(SENDER_RULES)
    lines = [
        {"event": "merged", "user": "u-1", "legacy": "old-1"},
        {"event": "order", "user": "u-2", "ip": "203.0.113.9", "env": "staging"},
        {"event": "crash", "exc": CHAIN},
    ]
    (workspace.logs / "app.log").write_text(
        "".join(json.dumps(line) + "\n" for line in lines)
    )

    result = workspace.run_once()

    assert result.returncode == 0, result.stderr.decode()[-2000:]
    (alias,) = posthog.events(name="$create_alias")
    assert (alias.distinct_id, alias.properties["alias"]) == ("u-1", "old-1")
    (order,) = posthog.events(name="order_placed")
    # person_profiles: never keeps the id but makes no person; geoip: true leaves
    # PostHog's geolocation on (no $geoip_disable), where it is off for the others.
    assert order.distinct_id == "u-2"
    assert order.properties["$process_person_profile"] is False
    assert "$geoip_disable" not in order.properties
    assert order.properties["$ip"] == "203.0.113.9"
    # The configuration's properties go on every event; a rule's own wins.
    assert order.properties["environment"] == "staging"
    (crash,) = posthog.events(name="$exception")
    exceptions = crash.properties["$exception_list"]
    assert [item["type"] for item in exceptions] == ["ValueError", "KeyError"]
    assert all(item["mechanism"]["synthetic"] is False for item in exceptions)
    for event in (alias, order, crash):
        assert event.properties["service"] == "shop"
        assert event.properties["$is_server"] is True
    assert alias.properties["environment"] == "prod"
    assert alias.properties["$geoip_disable"] is True
    assert not posthog.warnings
