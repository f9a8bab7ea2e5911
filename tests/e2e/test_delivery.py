"""Lines appended to a log file arrive at the capture endpoint as the expected events."""

from __future__ import annotations

import gzip
import os
import time
from datetime import UTC, datetime, timedelta

import orjson

from tests.e2e.conftest import API_KEY, Workspace
from tests.e2e.helpers import (
    BASE_TIME,
    LogWriter,
    expected_uuid,
    is_order,
    order_line,
    order_rules,
)
from tests.fakeposthog import FakePostHog


def test_appended_lines_become_the_expected_events(
    workspace: Workspace, posthog: FakePostHog
) -> None:
    workspace.write_rules(order_rules())
    writer = LogWriter(workspace.logs / "app.log")
    writer.append(range(3))  # present before the first start: skipped (start_at: end)
    proc = workspace.start_ready()

    writer.append(range(3, 30))
    expected = [w for w in writer.written if w.n >= 3 and is_order(w.n)]
    arrived = posthog.wait_for(lambda p: len(p.dedup_view()) >= len(expected), 15)
    code = workspace.stop(proc)

    assert arrived, workspace.output()
    assert code == 0
    file_id = writer.file_id()
    by_uuid = {e.uuid: e for e in posthog.dedup_view().values()}
    assert set(by_uuid) == {expected_uuid(file_id, w.offset) for w in expected}
    for w in expected:
        event = by_uuid[expected_uuid(file_id, w.offset)]
        assert event.event == "pedido_procesado"
        assert event.distinct_id == f"u{w.n % 7}"
        assert event.timestamp == BASE_TIME + timedelta(milliseconds=w.n)
        props = event.properties
        assert props["order_id"] == f"o-{w.n}"
        assert props["amount"] == w.n + 0.5
        assert isinstance(props["amount"], float)
        assert props["n"] == w.n
        assert props["currency"] == "EUR"
        assert props["$lib"] == "logbridge"
        assert "$process_person_profile" not in props
    assert posthog.duplicate_deliveries() == 0


def test_batches_are_gzip_json_without_sent_at(
    workspace: Workspace, posthog: FakePostHog
) -> None:
    workspace.write_rules(order_rules(start_at="beginning"))
    LogWriter(workspace.logs / "app.log").append(range(10))

    result = workspace.run_once()

    assert result.returncode == 0, result.stderr.decode()
    batches = [r for r in posthog.requests if r.path.rstrip("/") == "/batch"]
    assert batches
    for request in batches:
        assert request.headers["content-encoding"] == "gzip"
        assert request.gzip
        body = orjson.loads(request.body)
        assert body["api_key"] == API_KEY
        assert "sent_at" not in body
        assert len(gzip.compress(request.body)) > 0
    assert len(posthog.dedup_view()) == sum(1 for n in range(10) if is_order(n))


def test_a_line_without_distinct_id_becomes_a_personless_event(
    workspace: Workspace, posthog: FakePostHog
) -> None:
    workspace.write_rules(
        order_rules(start_at="beginning").replace("{user_id}", "{who}")
    )
    LogWriter(workspace.logs / "app.log").append(range(1))

    result = workspace.run_once()

    assert result.returncode == 0, result.stderr.decode()
    (event,) = posthog.dedup_view().values()
    assert event.properties["$process_person_profile"] is False
    assert event.distinct_id == event.uuid


def test_run_once_without_a_key_prints_the_batches(
    workspace: Workspace, posthog: FakePostHog
) -> None:
    workspace.write_rules(order_rules(start_at="beginning"))
    LogWriter(workspace.logs / "app.log").append(range(4))
    del workspace.env["POSTHOG_API_KEY"]

    result = workspace.run_once()

    assert result.returncode == 0, result.stderr.decode()
    printed = orjson.loads(result.stdout)
    assert [e["properties"]["order_id"] for e in printed["batch"]] == [
        "o-0",
        "o-1",
        "o-3",
    ]
    assert "api_key" not in printed
    assert posthog.requests == []


def test_bad_lines_are_counted_and_skipped(
    workspace: Workspace, posthog: FakePostHog
) -> None:
    workspace.write_rules(order_rules(start_at="beginning"))
    log = workspace.logs / "app.log"
    writer = LogWriter(log)
    writer.append(range(2))
    with log.open("ab") as f:
        f.write(b"not json at all\n[1, 2]\n\xff\xfe{broken\n")
    writer.append(range(3, 5))

    result = workspace.run_once()

    assert result.returncode == 0, result.stderr.decode()
    assert {e.properties["order_id"] for e in posthog.dedup_view().values()} == {
        "o-0",
        "o-1",
        "o-3",
        "o-4",
    }
    (stopped,) = [
        e
        for e in map(orjson.loads, result.stderr.splitlines())
        if e["event"] == "engine_stopped"
    ]
    assert sum(stopped["parse_errors"].values()) == 3
    assert stopped["invalid_utf8"] == 1


def test_a_second_daemon_on_the_same_state_directory_refuses_to_start(
    workspace: Workspace,
) -> None:
    workspace.write_rules(order_rules())
    first = workspace.start_ready()

    second = workspace.run_once()
    code = workspace.stop(first)

    assert second.returncode == 1
    assert (
        b"another logbridge is already running with this state directory"
        in second.stderr
    )
    assert code == 0


def test_a_deleted_lock_file_does_not_let_a_second_daemon_in(
    workspace: Workspace,
) -> None:
    workspace.write_rules(order_rules())
    first = workspace.start_ready()
    # What an operator's clean-up script, or an older logbridge's lock, leaves there.
    (workspace.state_db.parent / "lock").unlink(missing_ok=True)

    second = workspace.run_once()
    code = workspace.stop(first)

    assert second.returncode == 1, second.stderr.decode()
    assert (
        b"another logbridge is already running with this state directory"
        in second.stderr
    )
    assert code == 0


def test_the_state_files_are_private_in_a_state_directory_open_to_all(
    workspace: Workspace,
) -> None:
    workspace.write_rules(order_rules())
    workspace.state_db.parent.chmod(0o755)
    LogWriter(workspace.logs / "app.log").append(range(1))
    umask = os.umask(0o022)  # the child inherits it
    try:
        proc = workspace.start_ready()
    finally:
        os.umask(umask)

    modes = {
        path.name: oct(path.stat().st_mode & 0o777)
        for path in workspace.state_db.parent.iterdir()
    }
    code = workspace.stop(proc)

    assert code == 0
    assert modes == {
        "state.db": "0o600",
        "state.db-wal": "0o600",
        "state.db-shm": "0o600",
    }


def test_run_once_fails_and_says_so_when_a_last_line_has_no_newline(
    workspace: Workspace, posthog: FakePostHog
) -> None:
    workspace.write_rules(order_rules(start_at="beginning"))
    log = workspace.logs / "app.log"
    writer = LogWriter(log)
    writer.append(range(3))
    unfinished = order_line(3).encode()
    with log.open("ab") as f:
        f.write(unfinished)

    first = workspace.run_once()
    with log.open("ab") as f:
        f.write(b"\n")
    second = workspace.run_once()

    assert first.returncode == 1
    (warning,) = [
        e
        for e in map(orjson.loads, first.stderr.splitlines())
        if e["event"] == "line_unfinished"
    ]
    size = log.stat().st_size - 1
    assert warning == warning | {
        "path": str(log),
        "offset": size - len(unfinished),
        "bytes": len(unfinished),
        "level": "warning",
    }
    assert second.returncode == 0, second.stderr.decode()
    file_id = writer.file_id()
    expected = {
        expected_uuid(file_id, w.offset) for w in writer.written if is_order(w.n)
    }
    expected.add(expected_uuid(file_id, size - len(unfinished)))
    assert posthog.unique_uuids() == expected
    assert posthog.duplicate_deliveries() == 0


MULTILINE_RULES = r"""
sources:
  - name: worker
    paths: ["logs/worker.log"]
    format: regex
    pattern: '^(?P<day>\S+) (?P<level>[A-Z]+) (?P<message>.*)$'
    start_at: end
    multiline:
      start: '^\d{4}-'
      flush_seconds: 2
      rest_field: trace

rules:
  - name: crash
    source: worker
    when:
      level: ERROR
    event: worker_crashed
    properties:
      trace: {field: trace}
"""


def test_a_multi_line_record_closes_after_flush_seconds_when_no_line_follows(
    workspace: Workspace, posthog: FakePostHog
) -> None:
    # A rescan far away: only the record's own deadline can close it on time.
    config = workspace.write_config()
    config.write_text(
        config.read_text().replace("rescan_seconds: 0.5", "rescan_seconds: 30")
    )
    workspace.write_rules(MULTILINE_RULES)
    log = workspace.logs / "worker.log"
    log.write_text("2026-11-20 INFO started\n")
    proc = workspace.start_ready()

    with log.open("a") as f:
        f.write("2026-11-20 ERROR job failed\n  at step 1\n  at step 2\n")
    written = time.monotonic()
    arrived = posthog.wait_for(lambda p: len(p.dedup_view()) == 1, 10)
    waited = time.monotonic() - written
    code = workspace.stop(proc)

    assert arrived, workspace.output()[-3000:]
    assert code == 0
    assert 2.0 <= waited < 3.5
    (event,) = posthog.dedup_view().values()
    assert event.event == "worker_crashed"
    assert event.properties["trace"] == "  at step 1\n  at step 2"


def test_a_file_claimed_by_two_sources_is_delivered_once_for_each(
    workspace: Workspace, posthog: FakePostHog
) -> None:
    workspace.write_rules(order_rules(start_at="beginning"))
    workspace.write_rules(
        """\
sources:
  - name: raw
    paths: ["logs/*.log"]
    format: regex
    pattern: '"user_id": "(?P<user>[^"]+)"'
    start_at: beginning
rules:
  - name: seen
    source: raw
    event: user_seen
    distinct_id: "{user}"
""",
        name="raw.yaml",
    )
    LogWriter(workspace.logs / "app.log").append(range(9))

    result = workspace.run_once()

    assert result.returncode == 0, result.stderr.decode()[-2000:]
    orders = posthog.events(name="pedido_procesado")
    seen = posthog.events(name="user_seen")
    assert len(orders) == len(seen) == sum(1 for n in range(9) if is_order(n))
    assert posthog.duplicate_deliveries() == 0


def test_failed_values_and_times_far_ahead_are_logged_per_rule_and_reason(
    workspace: Workspace, posthog: FakePostHog
) -> None:
    workspace.write_rules(
        "sources:\n  - name: shop\n    paths: ['logs/app.log']\n"
        "    start_at: beginning\n    timestamp: {field: ts}\n"
        "rules:\n  - name: order\n    source: shop\n    event: order\n"
        "    properties:\n      n: {field: n, type: int}\n"
    )
    ahead = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    (workspace.logs / "app.log").write_text(
        '{"ts": "2026-01-01T00:00:00Z", "n": "7"}\n'
        '{"ts": "2026-01-01T00:00:01Z", "n": "seven"}\n'
        f'{{"ts": "{ahead}", "n": "8"}}\n'
    )

    result = workspace.run_once()

    assert result.returncode == 0, result.stderr.decode()
    logged = [
        orjson.loads(line)
        for line in result.stderr.decode().splitlines()
        if '"value_failed"' in line
    ]
    assert sorted((e["rule"], e["error"], e["events"]) for e in logged) == [
        ("order", "properties.n: not_int", 1),
        ("order", "timestamp: future", 1),
    ]
    assert all(e["level"] == "warning" for e in logged)
    assert len(posthog.dedup_view()) == 3
