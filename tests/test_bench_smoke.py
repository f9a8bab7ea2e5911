"""The benchmark harness keeps working: its data, its sink's checks, and a tiny run.

No timing is asserted anywhere: CI only makes sure ``python -m bench.run`` still runs
and that logbridge delivers every expected event once at the tiny size, from one file
(W1) and from a logrotate folder through its backfill (W6).
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path
from typing import Any

import orjson
import pytest

from bench.capture_sink import Checker
from bench.generate import (
    ORDER_EVENT,
    generate_logs,
    generate_rotated,
    load_expectations,
)
from bench.peers.syslog_ng import render_config
from bench.processes import Watched
from bench.report import Target, format_ratios, format_table, format_targets, summarize
from bench.tools import Job, LogbridgeTool
from bench.workloads import prepare, workloads

ROOT = Path(__file__).resolve().parent.parent


def test_generator_is_deterministic_with_exactly_one_order_in_ten(tmp_path):
    first = generate_logs(tmp_path / "a", lines=2_000, seed=7)
    second = generate_logs(tmp_path / "b", lines=2_000, seed=7)

    text = first.files[0].read_bytes()
    records = [json.loads(line) for line in text.splitlines()]
    orders = [r for r in records if r["event"] == "order_processed"]
    decoys = [
        r
        for r in records
        if r["event"] != "order_processed" and b"order_processed" in orjson.dumps(r)
    ]
    assert text == second.files[0].read_bytes()
    assert len(orders) == 200
    assert sorted(first.orders.expected) == sorted(r["order_id"] for r in orders)
    assert 10 <= len(decoys) <= 80
    assert 250 <= len(text) / len(records) <= 320


def test_rotated_logs_are_named_like_logrotate_with_distinct_orders(tmp_path):
    logs = generate_rotated(tmp_path / "a", lines_per_file=200, files=8, seed=7)
    again = generate_rotated(tmp_path / "b", lines_per_file=200, files=8, seed=7)

    names = [path.name for path in logs.files]
    texts = [
        gzip.decompress(path.read_bytes())
        if path.suffix == ".gz"
        else path.read_bytes()
        for path in logs.files
    ]
    order_ids = [
        json.loads(line)["order_id"]
        for text in texts
        for line in text.splitlines()
        if b'"event":"order_processed"' in line
    ]
    assert names == [
        "app.log",
        "app.log.1",
        "app.log.2.gz",
        "app.log.3.gz",
        "app.log.4.gz",
        "app.log.5.gz",
        "app.log.6.gz",
        "app.log.7.gz",
    ]
    assert [path.read_bytes()[:2] == b"\x1f\x8b" for path in logs.files] == [
        False,
        False,
        *[True] * 6,
    ]
    assert [p.read_bytes() for p in logs.files] == [p.read_bytes() for p in again.files]
    assert len({text.splitlines()[0] for text in texts}) == 8
    assert len(order_ids) == len(set(order_ids)) == 160
    assert sorted(logs.orders.expected) == sorted(order_ids)
    assert logs.bytes == sum(len(text) for text in texts)


def test_w6_data_has_plain_copies_and_is_made_once(tmp_path):
    workload = workloads("tiny")["W6"]

    first = prepare(workload, tmp_path, seed=1)
    assert first.log_dir is not None
    assert first.plain_dir is not None
    made = {path.name: path.stat().st_mtime_ns for path in first.log_dir.iterdir()}
    second = prepare(workload, tmp_path, seed=1)

    plain = sorted(first.plain_dir.iterdir())
    assert [path.name for path in plain] == [
        "app.log",
        *[f"app.log.{n}" for n in range(1, 8)],
    ]
    assert plain[-1].read_bytes() == gzip.decompress(
        (first.log_dir / "app.log.7.gz").read_bytes()
    )
    assert (first.expected, first.lines) == (1_600, 16_000)
    assert second == first
    assert {p.name: p.stat().st_mtime_ns for p in first.log_dir.iterdir()} == made


def test_expectations_round_trip_through_a_file(tmp_path):
    logs = generate_logs(tmp_path / "logs", lines=100, seed=3)
    path = tmp_path / "expect.json"
    path.write_bytes(logs.orders.to_json())

    loaded = load_expectations(path)

    assert (loaded.event, loaded.key, loaded.expected) == (
        ORDER_EVENT,
        "order_id",
        logs.orders.expected,
    )


def _event(key: str, expected: list[Any], **changes: Any) -> dict[str, Any]:
    distinct_id, timestamp, properties = expected
    event = {
        "event": ORDER_EVENT,
        "distinct_id": distinct_id,
        "uuid": f"uuid-{key}",
        "timestamp": timestamp.replace("Z", "+00:00"),
        "properties": dict(properties),
    }
    event.update(changes)
    return event


def test_sink_counts_duplicates_and_mapping_errors(tmp_path):
    logs = generate_logs(tmp_path / "logs", lines=30, seed=5)
    checker = Checker(event=ORDER_EVENT, key="order_id", expected=logs.orders.expected)
    (k1, e1), (k2, e2), (k3, e3) = logs.orders.expected.items()
    wrong_amount = dict(e2[2], amount=str(e2[2]["amount"]))
    batch = [
        _event(k1, e1),
        _event(k1, e1),
        _event(k2, e2, properties=wrong_amount),
        _event(k3, e3, distinct_id="someone-else"),
    ]
    body = zlib.compress(orjson.dumps({"api_key": "phc_x", "batch": batch}), wbits=31)

    accepted = checker.accept_body(body, gzipped=True)

    stats = checker.stats()
    assert accepted is True
    assert (
        stats["events"],
        stats["matched"],
        stats["duplicate_keys"],
        stats["duplicate_uuids"],
    ) == (4, 3, 1, 1)
    assert (stats["mapping_errors"], stats["error_fields"]) == (
        2,
        {"amount": 1, "distinct_id": 1},
    )
    assert stats["complete_at"] is not None


def test_sink_counts_a_tools_own_events_apart_from_the_workloads(tmp_path):
    logs = generate_logs(tmp_path / "logs", lines=10, seed=5)
    checker = Checker(event=ORDER_EVENT, key="order_id", expected=logs.orders.expected)
    body = orjson.dumps(
        {"api_key": "phc_x", "batch": [{"event": "engine_started", "properties": {}}]}
    )

    checker.accept_body(body, gzipped=False)

    stats = checker.stats()
    assert (stats["events"], stats["unexpected"], stats["other_events"]) == (
        1,
        0,
        {"engine_started": 1},
    )


def test_sink_refuses_a_body_that_is_not_json():
    checker = Checker()

    accepted = checker.accept_body(b"not json", gzipped=False)

    assert (accepted, checker.stats()["bad_requests"]) == (False, 1)


def test_syslog_ng_prefilter_sits_before_the_json_parser(tmp_path):
    job = Job(
        workloads("tiny")["W1"],
        tmp_path,
        (tmp_path / "app-0000.log",),
        tmp_path,
        "http://127.0.0.1:9",
    )

    plain = render_config(job, version="3.38.1", prefilter=False)
    fast = render_config(job, version="3.38.1", prefilter=True)

    assert plain.startswith("@version: 3.38\n")
    assert "flags(substring)" not in plain
    assert fast.index(
        'message("order_processed" type(string) flags(substring))'
    ) < fast.index("json-parser()")
    assert 'url("http://127.0.0.1:9/batch/")' in fast
    assert "properties.amount=double(${amount})" in fast


def test_syslog_ng_reads_the_plain_copies_of_the_rotated_files(tmp_path):
    job = Job(
        workloads("tiny")["W6"],
        tmp_path / "logs",
        tuple(tmp_path / "plain" / f"app.log.{n}" for n in range(8)),
        tmp_path,
        "http://127.0.0.1:9",
        plain_dir=tmp_path / "plain",
    )

    config = render_config(job, version="3.38.1", prefilter=True)

    assert f'base-dir("{tmp_path / "plain"}")' in config
    assert 'filename-pattern("app.log*")' in config
    assert "max-files(8)" in config


def test_logbridge_backfills_w6_and_its_1worker_column_runs_nowhere_else(tmp_path):
    w1, w6 = workloads("tiny")["W1"], workloads("tiny")["W6"]
    job = Job(w6, tmp_path / "logs", (), tmp_path, "http://127.0.0.1:9")
    two, one = LogbridgeTool(), LogbridgeTool(workers=1)

    argv = two.launch(job).argv

    assert argv[3:8] == (
        "backfill",
        "--no-daemon",
        "--workers=2",
        "--progress=none",
        "-c",
    )
    assert two.launch(job).exits_when_done is True
    assert (one.name, one.launch(job).argv[5]) == ("logbridge-1worker", "--workers=1")
    assert (two.skip_reason(w1), two.skip_reason(w6), one.skip_reason(w6)) == (
        None,
        None,
        None,
    )
    assert one.skip_reason(w1) == "backfill workers: measured on W6 only"


def test_cpu_of_a_descendant_orphaned_by_the_tool_is_counted(tmp_path):
    # The tool starts a child that burns ~0.6 s of CPU and exits before it does: the
    # child is adopted by the harness (subreaper), reaped there, and counted.
    script = textwrap.dedent(
        """
        import subprocess, sys, time
        burn = "import time\\nend = time.process_time() + 0.6\\n" + (
            "while time.process_time() < end: pass"
        )
        subprocess.Popen([sys.executable, "-c", burn])
        time.sleep(0.3)
        """
    )
    watched = Watched(
        [sys.executable, "-c", script],
        env={},
        cwd=tmp_path,
        log_path=tmp_path / "tool.log",
    )

    while not watched.poll():
        pass

    assert watched.usage().cpu_seconds >= 0.5, (tmp_path / "tool.log").read_text()


def test_report_gives_medians_and_ratios_to_each_peer():
    runs = [
        {
            "workload": "W1",
            "tool": tool,
            "status": "ok",
            "lines_per_s": rate,
            "cpu_s": cpu,
            "wall_s": 1.0,
            "matched": 10,
            "expected": 10,
        }
        for tool, rate, cpu in [
            ("logbridge", 100, 2.0),
            ("logbridge", 300, 4.0),
            ("logbridge", 200, 3.0),
            ("syslog-ng", 400, 1.5),
        ]
    ]

    rows = summarize(runs)

    assert [(r["tool"], r["lines_per_s"], r["cpu_s"], r["runs"]) for r in rows] == [
        ("logbridge", 200.0, 3.0, 3),
        ("syslog-ng", 400.0, 1.5, 1),
    ]
    assert "10/10" in format_table(rows)
    assert "W1        syslog-ng                  1.00x     0.50x     2.00x" in (
        format_ratios(rows)
    )


def test_report_says_whether_each_target_is_met():
    runs = [
        {"workload": w, "tool": t, "status": "ok", "wall_s": wall, "peak_rss_mib": rss}
        for w, t, wall, rss in [
            ("W6", "logbridge", 10.0, 150.0),
            ("W6", "syslog-ng+prefilter", 25.0, 40.0),
            ("W6", "logbridge-1worker", 12.0, 100.0),
            ("W1", "logbridge", 1.0, 50.0),
        ]
    ]
    targets = (
        Target("W6", "wall_s", 0.5, peer="syslog-ng+prefilter"),
        Target("W6", "wall_s", 0.6, peer="logbridge-1worker"),
        Target("W6", "wall_s", 0.6, peer="syslog-ng"),
        Target("W6", "peak_rss_mib", 200.0),
        Target("W5", "wall_s", 1.0, peer="syslog-ng"),
    )

    text = format_targets(summarize(runs), targets)

    assert text.splitlines()[3:] == [
        "W6        wall s: logbridge / syslog-ng+prefilter          0.40x  <= 0.50x  met",
        "W6        wall s: logbridge / logbridge-1worker            0.83x  <= 0.60x  missed",
        "W6        wall s: logbridge / syslog-ng                        -  <= 0.60x  "
        "not measured",
        "W6        RSS MiB: logbridge                               150.0    <= 200  met",
    ]


@pytest.mark.slow
def test_tiny_w1_and_w6_runs_deliver_every_event_once(tmp_path):
    out = tmp_path / "results.json"
    argv = [
        sys.executable,
        "-m",
        "bench.run",
        "--size",
        "tiny",
        "--workloads",
        "W1,W6",
        "--repeat",
        "1",
        "--peers",
        "none",
    ]

    done = subprocess.run(
        [*argv, "--out", str(out), "--workdir", str(tmp_path / "work")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    runs = json.loads(out.read_text())["runs"]
    measured = [
        (
            run["workload"],
            run["tool"],
            run["status"],
            run["matched"],
            run["expected"],
            run["duplicates"],
            run["mapping_errors"],
            run["unexpected"],
            run["returncode"],
        )
        for run in runs
    ]
    assert measured == [
        ("W1", "logbridge", "ok", 500, 500, 0, 0, 0, 0),
        ("W6", "logbridge", "ok", 1_600, 1_600, 0, 0, 0, 0),
    ]
