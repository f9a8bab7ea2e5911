"""The pipeline on real files: what every line becomes, and how each is counted."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bridge.pipeline import Pipeline, PipelineStats
from bridge.rules import compile_rules
from bridge.source import SourceSpec, Tailer
from bridge.spool.rows import decode_event

READ_AT = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def run(
    tmp_path: Path, rules: str, content: bytes, *, prefilter: bool = True
) -> tuple[list[dict[str, Any]], PipelineStats]:
    """Every event (as sent) the rules make of one file ``app.log``, and the counts."""
    ruleset = compile_rules([("rules.yaml", rules)])
    log = tmp_path / "app.log"
    if not log.exists():
        log.write_bytes(content)
    stats = PipelineStats()
    pipeline = Pipeline(ruleset, stats, geoip_disable=True, prefilter=prefilter)
    spec = SourceSpec("app", (str(log),), "beginning")
    tailer = Tailer([spec], [], first_start=True)
    events: list[dict[str, Any]] = []
    try:
        tailer.scan()
        while True:
            for prepared in pipeline.prepare(tailer.read(), READ_AT, 0.0):
                events.extend(decode_event(body) for _, body, _ in prepared.rows)
            if not tailer.has_backlog():
                break
    finally:
        tailer.close()
    return events, stats


def source(fmt: str, extra: str = "") -> str:
    return (
        f"sources:\n  - name: app\n    paths: [app.log]\n    format: {fmt}\n{extra}"
        "rules:\n  - name: every\n    source: app\n    event: line\n"
        "    properties: {n: {field: n}}\n"
    )


REGEX = "    pattern: '(?P<word>\\w+)'\n"


@pytest.mark.parametrize(
    ("fmt", "extra", "content"),
    [
        ("json", "", b'{"a":1}\n\n   \n\t\r\n{"a":2}\n'),
        ("logfmt", "", b"a=1\n\n   \n\t\r\na=2\n"),
        ("regex", REGEX, b"one\n\n   \n\t\r\ntwo\n"),
    ],
    ids=["json", "logfmt", "regex"],
)
@pytest.mark.parametrize("prefilter", [True, False], ids=["prefilter", "all"])
def test_blank_lines_are_skipped_and_counted_as_blank_in_every_format(
    tmp_path, fmt, extra, content, prefilter
):
    events, stats = run(tmp_path, source(fmt, extra), content, prefilter=prefilter)

    assert len(events) == 2
    assert stats.blank["app"] == 3
    assert stats.parse_errors == {}
    assert stats.lines["app"] == 5


@pytest.mark.parametrize(
    ("fmt", "extra", "first", "middle"),
    [
        ("json", "", b'{"n":1}', b'\xef\xbb\xbf{"n":2}'),
        ("logfmt", "", b"n=1", b"\xef\xbb\xbfn=2"),
        ("regex", "    pattern: '^(?P<n>\\d)'\n", b"1", b"\xef\xbb\xbf2"),
    ],
    ids=["json", "logfmt", "regex"],
)
def test_a_byte_order_mark_is_stripped_at_the_start_of_a_file_only(
    tmp_path, fmt, extra, first, middle
):
    content = b"\xef\xbb\xbf" + first + b"\n" + middle + b"\n"

    events, stats = run(tmp_path, source(fmt, extra), content)

    values = [
        str(e["properties"]["n"]) if "n" in e["properties"] else None for e in events
    ]
    if fmt == "logfmt":
        # A logfmt key may hold any character: inside the file, the mark is part of it.
        assert values == ["1", None]
    else:
        assert values == ["1"]
        assert sum(stats.parse_errors.values()) == 1


SYSLOG = """\
sources:
  - name: app
    paths: [app.log]
    format: regex
    pattern: '^(?P<time>\\w{3} +\\d+ [\\d:]+) (?P<msg>.*)'
    timestamp: {field: time, format: syslog, year: YEAR}
rules:
  - name: r
    source: app
    event: e
"""


@pytest.mark.parametrize(
    ("year", "expected"),
    [("read", 2025), ("file", 2023), ("2021", 2021)],
    ids=["read", "file", "fixed"],
)
def test_the_year_of_syslog_times_comes_from_the_rule(tmp_path, year, expected):
    log = tmp_path / "app.log"
    log.write_bytes(b"Dec 24 23:59:01 sshd[1]: hello\n")
    written = datetime(2023, 12, 31, tzinfo=UTC).timestamp()
    os.utime(log, (written, written))

    (event,) = run(tmp_path, SYSLOG.replace("YEAR", year), b"")[0]

    assert event["timestamp"] == f"{expected}-12-24T23:59:01.000000+00:00"


TIMED = """\
sources:
  - name: app
    paths: [app.log]
    timestamp: {field: ts ON_ERROR}
rules:
  - name: a
    source: app
    event: e
  - name: b
    source: app
    when: {kind: x}
    event: e
"""


def test_times_that_fail_or_lie_ahead_are_counted_per_rule(tmp_path):
    content = (
        b'{"kind":"x"}\n'
        b'{"kind":"x","ts":"yesterday"}\n'
        b'{"kind":"y","ts":"2026-12-09T12:00:00Z"}\n'
        b'{"kind":"y","ts":"2026-12-06T11:00:00Z"}\n'
    )

    events, stats = run(tmp_path, TIMED.replace(" ON_ERROR", ""), content)

    read = READ_AT.isoformat(timespec="microseconds")
    assert [e["timestamp"] for e in events] == [
        read,
        read,
        read,
        read,
        "2026-12-09T12:00:00.000000+00:00",
        "2026-12-06T11:00:00.000000+00:00",
    ]
    assert dict(stats.issues) == {
        ("a", "timestamp: missing"): 1,
        ("b", "timestamp: missing"): 1,
        ("a", "timestamp: unparsed"): 1,
        ("b", "timestamp: unparsed"): 1,
        ("a", "timestamp: future"): 1,
    }


def test_a_source_may_skip_the_lines_whose_time_fails(tmp_path):
    content = b'{"kind":"x"}\n{"kind":"x","ts":"2026-12-06T11:00:00Z"}\n'

    events, stats = run(
        tmp_path, TIMED.replace(" ON_ERROR", ", on_error: skip"), content
    )

    assert len(events) == 2
    assert stats.issues["a", "event: skipped"] == 1
    assert stats.issues["b", "timestamp: missing"] == 1


SKIPPING = """\
sources:
  - name: app
    paths: [app.log]
    format: FORMAT
    timestamp: {field: ts, on_error: skip}
rules:
  - name: paid
    source: app
    when: {msg: paid}
    event: order_paid
    properties:
      n: {field: n, type: int, on_error: skip}
"""


@pytest.mark.parametrize(
    ("fmt", "lines"),
    [
        (
            "json",
            [
                '{"msg":"paid","ts":"2026-12-06T11:00:00Z","n":"7"}',
                '{"msg":"paid","ts":"2026-12-06T11:00:00Z","n":"seven"}',
                '{"msg":"paid","ts":"yesterday","n":"8"}',
                '{"msg":"seen","ts":"2026-12-06T11:00:00Z","n":"9"}',
            ],
        ),
        (
            "logfmt",
            [
                "msg=paid ts=2026-12-06T11:00:00Z n=7",
                "msg=paid ts=2026-12-06T11:00:00Z n=seven",
                "msg=paid ts=yesterday n=8",
                "msg=seen ts=2026-12-06T11:00:00Z n=9",
            ],
        ),
    ],
    ids=["json", "logfmt"],
)
@pytest.mark.parametrize("prefilter", [True, False], ids=["prefilter", "every-line"])
def test_a_line_whose_event_a_rule_skips_is_not_counted_as_matching_no_rule(
    tmp_path, fmt, lines, prefilter
):
    content = ("\n".join(lines) + "\n").encode()

    events, stats = run(
        tmp_path, SKIPPING.replace("FORMAT", fmt), content, prefilter=prefilter
    )

    assert [event["properties"]["n"] for event in events] == [7]
    assert dict(stats.issues) == {
        ("paid", "properties.n: not_int"): 1,
        ("paid", "timestamp: unparsed"): 1,
        ("paid", "event: skipped"): 2,
    }
    assert stats.unmatched["app"] + stats.prefiltered["app"] == 1


CRI_RULES = """\
sources:
  - name: app
    paths: [app.log]
    format: cri
    parse:
      - {field: log, format: json}
    timestamp: {field: time}
rules:
  - name: r
    source: app
    when: {log.level: error}
    event: failed
    properties: {stream: "{stream}", message: {field: log.msg}}
"""


def test_cri_parts_are_joined_and_a_waiting_part_holds_the_checkpoint(tmp_path):
    body = '{"level":"error","msg":"' + "x" * 40 + '"}'
    content = (
        f"2026-12-06T10:00:00Z stdout P {body[:20]}\n"
        "2026-12-06T10:00:01Z stderr F not json\n"
        f"2026-12-06T10:00:02Z stdout F {body[20:]}\n"
        '2026-12-06T10:00:03Z stdout P {"level":"error",\n'
    ).encode()
    ruleset = compile_rules([("rules.yaml", CRI_RULES)])
    (tmp_path / "app.log").write_bytes(content)
    stats = PipelineStats()
    pipeline = Pipeline(ruleset, stats, geoip_disable=True)
    tailer = Tailer(
        [SourceSpec("app", (str(tmp_path / "app.log"),), "beginning")],
        [],
        first_start=True,
    )
    tailer.scan()
    try:
        prepared = pipeline.prepare(tailer.read(), READ_AT, 0.0)
    finally:
        tailer.close()

    (chunk,) = prepared
    (event,) = [decode_event(body) for _, body, _ in chunk.rows]
    assert event["properties"]["message"] == "x" * 40
    assert event["properties"]["stream"] == "stdout"
    assert event["timestamp"] == "2026-12-06T10:00:00.000000+00:00"
    assert stats.parse_errors["app", "log: invalid_json"] == 1
    # The last part waits for its end: the checkpoint stays before it.
    assert chunk.checkpoint is not None
    assert chunk.checkpoint.offset == content.rindex(b"2026-12-06T10:00:03Z")


AGGREGATE_RULES = """\
sources:
  - name: app
    paths: [app.log]
    timestamp: {field: ts}
rules:
  - name: hits
    source: app
    event: hits
    aggregate: {window_seconds: 60, count: n}
"""


def test_a_window_closes_by_time_when_the_file_stays_quiet(tmp_path):
    log = tmp_path / "app.log"
    log.write_text('{"ts":"2026-12-06T11:00:05Z"}\n{"ts":"2026-12-06T11:00:30Z"}\n')
    ruleset = compile_rules([("rules.yaml", AGGREGATE_RULES)])
    pipeline = Pipeline(ruleset, PipelineStats(), geoip_disable=True)
    tailer = Tailer([SourceSpec("app", (str(log),), "beginning")], [], first_start=True)
    tailer.scan()
    read_at = datetime(2026, 12, 6, 11, 0, 31, tzinfo=UTC)
    try:
        (chunk,) = pipeline.prepare(tailer.read(), read_at, 0.0)
    finally:
        tailer.close()
    early = pipeline.flush(datetime(2026, 12, 6, 11, 1, 1, tzinfo=UTC), 1.0)
    late = pipeline.flush(datetime(2026, 12, 6, 11, 1, 7, tzinfo=UTC), 2.0)

    assert chunk.rows == ()
    assert chunk.checkpoint is not None
    assert chunk.checkpoint.offset == 0  # held back while its lines are counted
    assert early == []
    ((_, body, rule),) = late[0].rows
    summary = decode_event(body)
    assert (rule, summary["properties"]["n"]) == ("hits", 2)
    assert summary["timestamp"] == "2026-12-06T11:00:00.000000+00:00"


TWO_SOURCES = """\
sources:
  - name: app
    paths: [app.log]
    format: json
  - name: raw
    paths: ["*.log"]
    format: regex
    pattern: '"user":"(?P<user>[^"]+)"'
rules:
  - name: orders
    source: app
    when: {event: order}
    event: order_placed
    properties: {amount: {field: amount, type: float}}
  - name: users
    source: raw
    event: user_seen
    distinct_id: "{user}"
"""


def test_a_file_of_two_sources_is_read_once_by_both_parsers(tmp_path):
    log = tmp_path / "app.log"
    log.write_text(
        '{"event":"order","amount":"5","user":"ana"}\n{"event":"ping","user":"bo"}\n'
    )
    ruleset = compile_rules([("rules.yaml", TWO_SOURCES)])
    stats = PipelineStats()
    pipeline = Pipeline(ruleset, stats, geoip_disable=True)
    specs = [
        SourceSpec("app", (str(log),), "beginning"),
        SourceSpec("raw", (str(tmp_path / "*.log"),), "beginning"),
    ]
    tailer = Tailer(specs, [], first_start=True)
    tailer.scan()
    try:
        (chunk,) = pipeline.prepare(tailer.read(), READ_AT, 0.0)
    finally:
        tailer.close()

    events = [decode_event(body) for _, body, _ in chunk.rows]
    assert [e["event"] for e in events] == ["order_placed", "user_seen", "user_seen"]
    assert [e["distinct_id"] for e in events[1:]] == ["ana", "bo"]
    assert len({e["uuid"] for e in events}) == 3
    assert chunk.checkpoint is not None
    assert chunk.checkpoint.source == "app+raw"
    assert (stats.lines["app"], stats.lines["raw"]) == (2, 2)
    # The ping line: skipped unparsed by app's prefilter, matched by raw's rule.
    assert (stats.prefiltered["app"], stats.unmatched["raw"]) == (1, 0)


LAYER_WHEN_RULES = """\
sources:
  - name: app
    paths: [app.log]
    parse:
      - {field: msg, format: logfmt, into: kv, when: {kind: kv}}
rules:
  - name: r
    source: app
    when: {kv.a: "1"}
    event: e
"""


@pytest.mark.parametrize("prefilter", [True, False], ids=["prefilter", "every-line"])
def test_a_layer_counts_only_the_lines_its_when_holds_for(tmp_path, prefilter):
    content = (
        b'{"kind":"kv","msg":"a=1"}\n'
        b'{"kind":"text","msg":"said \\"a=1"}\n'
        b'{"kind":"kv","msg":"b=\\"open"}\n'
    )

    events, stats = run(tmp_path, LAYER_WHEN_RULES, content, prefilter=prefilter)

    assert len(events) == 1
    assert dict(stats.parse_errors) == {("app", "msg: invalid_logfmt"): 1}
    assert stats.unmatched["app"] == 2


DURATION_RULES = """\
sources:
  - name: app
    paths: [app.log]
    format: FORMAT
rules:
  - name: slow
    source: app
    when: {msg: request, took: {gt: 1s}}
    event: slow_request
"""


@pytest.mark.parametrize(
    ("fmt", "lines"),
    [
        (
            "json",
            [
                '{"msg":"request","took":"1.2s"}',
                '{"msg":"request","took":"n/a"}',
                '{"msg":"request","took":1500}',
                '{"msg":"request","took":"850ms"}',
                '{"msg":"started","took":"n/a"}',
            ],
        ),
        (
            "logfmt",
            [
                "msg=request took=1.2s",
                "msg=request took=n/a",
                "msg=request took=1500",
                "msg=request took=850ms",
                "msg=started took=n/a",
            ],
        ),
    ],
    ids=["json", "logfmt"],
)
@pytest.mark.parametrize("prefilter", [True, False], ids=["prefilter", "every-line"])
def test_lines_a_duration_bound_cannot_judge_are_counted(
    tmp_path, fmt, lines, prefilter
):
    content = ("\n".join(lines) + "\n").encode()

    events, stats = run(
        tmp_path, DURATION_RULES.replace("FORMAT", fmt), content, prefilter=prefilter
    )

    assert [event["event"] for event in events] == ["slow_request"]
    assert dict(stats.issues) == {("slow", "when.took: not_duration"): 2}
    assert stats.unmatched["app"] + stats.prefiltered["app"] == 4
