"""The rule author's tools on real files: test, replay and explain."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import Workspace
from tests.fakeposthog import FakePostHog

REPO = Path(__file__).resolve().parents[2]


def _logbridge(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bridge", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        check=False,
        timeout=60,
    )


def test_the_repository_rules_pass_their_tests() -> None:
    result = _logbridge("test", "rules", cwd=REPO)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1].endswith("passed, 0 failed")


def test_a_failing_rule_test_shows_expected_and_actual_and_exits_3(
    tmp_path: Path,
) -> None:
    rules = (REPO / "rules" / "tl-engine.yaml").read_text()
    (tmp_path / "tl.yaml").write_text(
        rules.replace("amount: 250.5, currency: EUR", "amount: 25.5, currency: EUR")
    )

    result = _logbridge("test", str(tmp_path / "tl.yaml"), cwd=tmp_path)

    assert result.returncode == 3
    assert "✗" in result.stdout
    assert "25.5" in result.stdout
    assert "250.5" in result.stdout
    assert result.stdout.splitlines()[-1] == "10 passed, 1 failed"


def test_replay_gives_the_events_the_daemon_delivers(
    workspace: Workspace, posthog: FakePostHog
) -> None:
    shutil.copy(REPO / "rules" / "tl-engine.yaml", workspace.rules / "tl-engine.yaml")
    log = workspace.logs / "tl-engine.log"
    shutil.copy(REPO / "examples" / "logs" / "tl-engine.log", log)
    workspace.write_config(extra="hostname: replay-host\n")

    replayed = _logbridge(
        "replay",
        "-c",
        "bridge.yaml",
        "rules",
        str(log),
        "--json",
        cwd=workspace.root,
        env=workspace.env,
    )
    delivered = workspace.run_once()

    assert replayed.returncode == 0, replayed.stderr
    assert delivered.returncode == 0, delivered.stderr
    printed = [json.loads(line) for line in replayed.stdout.splitlines()]
    events = [item["event"] for item in printed]
    assert len(events) == 28
    lines = log.read_bytes().splitlines(keepends=True)
    for item in printed:
        origin = item["origin"]
        assert origin["file"] == str(log)
        offset = sum(len(line) for line in lines[: origin["line"] - 1])
        assert origin["offset"] == offset
    stored = {e.uuid: e for e in posthog.dedup_view().values()}
    assert set(stored) == {e["uuid"] for e in events}
    for event in events:
        twin = stored[event["uuid"]]
        assert (twin.event, twin.distinct_id, twin.properties) == (
            event["event"],
            event["distinct_id"],
            event["properties"],
        )
        assert twin.raw_timestamp == event["timestamp"]
    assert "28 events" in replayed.stderr
    assert "order-processed: 6" in replayed.stderr


def test_replay_projects_events_per_month(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        "sources:\n  - name: s\n    paths: [x.log]\n    timestamp: {field: ts, format: unix}\n"
        "rules:\n  - name: r\n    source: s\n    event: e\n"
    )
    (tmp_path / "x.log").write_text(
        "".join(f'{{"ts": {1_700_000_000 + i * 36}}}\n' for i in range(101))
    )

    result = _logbridge("replay", "r.yaml", "x.log", "--json", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    # 101 events in one hour: 101 * 730.56 ≈ 73,787 a month.
    assert "projection: 73,787 events/month" in result.stderr
    assert "7% of PostHog's free tier of 1,000,000" in result.stderr


def test_explain_shows_each_condition_with_the_value_it_saw() -> None:
    line = (
        '{"timestamp":"2026-11-20T09:00:01Z","level":"DEBUG","fields":{"message":"query executed",'
        '"duration_ms":450},"target":"tl_engine::db"}'
    )

    result = _logbridge("explain", "rules", "--line", line, cwd=REPO)

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "✗ rule db-query-slow → db_query_slow" in out
    assert '✓ fields.message eq "query executed" (saw "query executed")' in out
    assert "✗ fields.duration_ms gt 1000 (saw 450)" in out


def test_output_into_a_pipe_closed_early_ends_quietly_with_141() -> None:
    # As in `logbridge explain ... | head -1`, once head has exited: the reading end
    # is gone before logbridge writes.
    read_end, write_end = os.pipe()
    os.close(read_end)
    with os.fdopen(write_end, "wb") as stdout:
        result = subprocess.run(
            [sys.executable, "-m", "bridge", "explain", "rules", "--line", "{}"],
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            check=False,
            timeout=60,
        )

    assert (result.returncode, result.stderr) == (141, "")


def test_replay_keeps_to_one_rule_and_a_line_range_with_their_uuids(
    tmp_path: Path,
) -> None:
    rules = REPO / "rules"
    log = REPO / "examples" / "logs" / "tl-engine.log"
    whole = _logbridge("replay", str(rules), str(log), "--json", cwd=tmp_path)
    part = _logbridge(
        "replay",
        str(rules),
        str(log),
        "--json",
        "--rule",
        "order-processed",
        "--lines",
        "3-20",
        cwd=tmp_path,
    )
    explained = _logbridge(
        "replay", str(rules), str(log), "--explain", "--lines", "4-5", cwd=tmp_path
    )
    bad = _logbridge("replay", str(rules), str(log), "--lines", "9-2", cwd=tmp_path)

    everything = [json.loads(line) for line in whole.stdout.splitlines()]
    kept = [json.loads(line) for line in part.stdout.splitlines()]
    expected = [
        item
        for item in everything
        if item["origin"]["rule"] == "order-processed"
        and 3 <= item["origin"]["line"] <= 20
    ]
    assert kept == expected
    assert kept
    assert [line for line in explained.stdout.splitlines() if ".log:" in line] == [
        f"{log}:4",
        f"{log}:5",
    ]
    assert bad.returncode == 2
    assert "expected line numbers from 1, the first not after the last" in bad.stderr


def test_replay_counts_failed_values_apart_from_ids_that_name_no_person(
    tmp_path: Path,
) -> None:
    (tmp_path / "r.yaml").write_text(
        "sources:\n  - name: s\n    paths: [x.log]\n"
        "rules:\n  - name: r\n    source: s\n    event: e\n"
        "    distinct_id: '{user}'\n"
        "    properties:\n      n: {field: n, type: int}\n"
    )
    (tmp_path / "x.log").write_text(
        '{"user": "u1", "n": "7"}\n{"user": "null", "n": "seven"}\n{"n": "8"}\n'
    )

    result = _logbridge("replay", "r.yaml", "x.log", "--json", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert (
        "2 distinct_ids named no person (rule: distinct_id: reason; see invalid_id):\n"
        "  r: distinct_id: missing: 1\n"
        "  r: distinct_id: placeholder: 1\n"
        "1 values failed (rule: where: reason):\n"
        "  r: properties.n: not_int: 1\n"
    ) in result.stderr


def test_replay_shows_integers_beyond_64_bits_as_they_are_sent(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        "sources:\n  - name: s\n    paths: [x.log]\n"
        "rules:\n  - name: r\n    source: s\n    event: e\n"
        "    properties:\n      id: {field: id, type: int}\n"
    )
    ids = ["123456789012345678901234567890", "7" * 400]
    (tmp_path / "x.log").write_text("".join(f'{{"id": "{n}"}}\n' for n in ids))

    result = _logbridge("replay", "r.yaml", "x.log", "--json", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    printed = [json.loads(line)["event"] for line in result.stdout.splitlines()]
    assert [event["properties"]["id"] for event in printed] == [int(n) for n in ids]


def test_replay_reads_a_gzipped_rotated_copy_as_its_plain_file(tmp_path: Path) -> None:
    log = REPO / "examples" / "logs" / "tl-engine.log"
    packed = tmp_path / "tl-engine.log.2.gz"
    packed.write_bytes(gzip.compress(log.read_bytes()))

    plain = _logbridge("replay", str(REPO / "rules"), str(log), "--json", cwd=tmp_path)
    unpacked = _logbridge(
        "replay",
        str(REPO / "rules"),
        str(packed),
        "--source",
        "tl-engine",
        "--json",
        cwd=tmp_path,
    )

    assert unpacked.returncode == 0, unpacked.stderr
    events = [json.loads(line)["event"] for line in plain.stdout.splitlines()]
    assert events
    assert [
        json.loads(line)["event"] for line in unpacked.stdout.splitlines()
    ] == events


def test_replay_of_a_file_two_sources_read_counts_each_source(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        "sources:\n"
        "  - name: app\n    paths: [/var/log/app/app.log]\n"
        "  - name: raw\n    paths: [/var/log/app/app.log]\n    format: regex\n"
        "    pattern: '^(?P<level>ERROR) (?P<message>.*)$'\n"
        "rules:\n  - name: r\n    source: app\n    event: e\n"
        "    when: {event: paid}\n"
    )
    (tmp_path / "x.log").write_text('{"event": "paid"}\n{"event": "seen"}\n')

    unsure = _logbridge("replay", "r.yaml", "x.log", cwd=tmp_path)
    result = _logbridge(
        "replay", "r.yaml", "x.log", "--source", "app+raw", cwd=tmp_path
    )

    assert unsure.returncode == 2
    assert "--source (app, raw; several read it together as app+raw)" in unsure.stderr
    assert result.returncode == 0, result.stderr
    assert (
        "4 lines, 1 events, 1 lines matched no rule, 2 did not parse"
        " {'no_pattern_matched': 2}\n"
        "  source app: 2 lines, 1 matched no rule, 0 did not parse\n"
        "  source raw: 2 lines, 0 matched no rule, 2 did not parse"
        " {'no_pattern_matched': 2}\n"
        "  r: 1\n"
    ) in result.stderr


def test_replay_counts_events_a_failed_value_kept_from_posthog_apart(
    tmp_path: Path,
) -> None:
    (tmp_path / "r.yaml").write_text(
        "sources:\n  - name: s\n    paths: [x.log]\n"
        "rules:\n  - name: r\n    source: s\n    event: e\n"
        "    properties:\n"
        "      n: {field: n, type: int, required: true, on_error: skip}\n"
    )
    (tmp_path / "x.log").write_text('{"n": "7"}\n{"n": "seven"}\n{"m": 1}\n')

    result = _logbridge("replay", "r.yaml", "x.log", "--json", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1
    assert (
        "3 lines, 1 events, 0 lines matched no rule, 0 did not parse\n"
        "  r: 1\n"
        "2 values failed (rule: where: reason):\n"
        "  r: properties.n: missing: 1\n"
        "  r: properties.n: not_int: 1\n"
        "2 events not sent (rule: event: reason):\n"
        "  r: event: skipped: 2\n"
    ) in result.stderr


def test_replay_lets_each_rule_decide_what_a_failed_time_gives(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        "sources:\n  - name: s\n    paths: [x.log]\n    timestamp: {field: ts}\n"
        "rules:\n"
        "  - name: orders\n    source: s\n    event: order_placed\n"
        "    timestamp_on_error: skip\n"
        "  - name: audit\n    source: s\n    event: line_seen\n"
    )
    (tmp_path / "x.log").write_text(
        '{"ts": "2026-03-02T09:15:00Z", "order_id": "A-1041"}\n'
        '{"ts": "02/03/2026 09:16", "order_id": "A-1042"}\n'
    )

    result = _logbridge("replay", "r.yaml", "x.log", "--json", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    printed = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(p["origin"]["rule"], p["origin"]["line"]) for p in printed] == [
        ("orders", 1),
        ("audit", 1),
        ("audit", 2),
    ]
    assert (
        "2 values failed (rule: where: reason):\n"
        "  audit: timestamp: unparsed: 1\n"
        "  orders: timestamp: unparsed: 1\n"
        "1 events not sent (rule: event: reason):\n"
        "  orders: event: skipped: 1\n"
    ) in result.stderr


def test_explain_shows_a_failed_time_a_templates_extract_and_survives_deep_json(
    tmp_path: Path,
) -> None:
    (tmp_path / "r.yaml").write_text(
        "sources:\n  - name: s\n    paths: [x.log]\n    timestamp: {field: ts}\n"
        "rules:\n  - name: r\n    source: s\n    event: e\n    properties:\n"
        "      host: {template: '{url}', extract: '//(?P<h>[^/]+)/'}\n"
    )
    line = '{"ts": "yesterday", "url": "https://shop.example.com/cart"}'
    deep = '{"a":' * 1000 + "1" + "}" * 1000

    shown = _logbridge("explain", "r.yaml", "--line", line, cwd=tmp_path)
    nested = _logbridge("explain", "r.yaml", "--line", deep, cwd=tmp_path)

    assert shown.returncode == 0, shown.stderr
    assert "(✗ timestamp unparsed: read time used)" in shown.stdout
    assert (
        'properties.host: template {url} "https://shop.example.com/cart" → extract '
        '"shop.example.com" → result "shop.example.com"'
    ) in shown.stdout
    assert nested.returncode == 0, nested.stderr
    assert "✗ does not parse: too_deep: nested deeper than 128 levels" in nested.stdout
    assert "Traceback" not in nested.stderr
