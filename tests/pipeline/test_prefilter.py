"""The prefilter never changes the events: the same lines give the same events with
it and without it, whatever tricks the lines play (decoys, escapes, key order)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.model import Event
from bridge.pipeline import Pipeline, PipelineStats
from bridge.rules import compile_rules
from bridge.rules.literals import Threshold
from bridge.source import SourceSpec, Tailer

RULES = """\
sources:
  - name: app
    paths: [app.log]
    timestamp: {field: ts}
  - name: kv
    paths: [kv.log]
    format: logfmt
rules:
  - name: order
    source: app
    when:
      event: order_processed
      amount: {gt: 0}
    event: pedido_procesado
    distinct_id: "{user}"
    properties: {amount: {field: amount, type: float}, note: {field: note}}
  - name: refund
    source: app
    when:
      any:
        - event: {in: [refund_issued, "refund-\u00e9mis"]}
        - message: {startswith: "refund "}
    event: refund
  - name: slow
    source: app
    when: {duration_ms: {gt: 1000}}
    event: slow_request
  - name: kv-login
    source: kv
    when: {msg: {contains: "logged in"}}
    event: login
    distinct_id: "{user}"
"""
READ_AT = datetime(2026, 11, 28, tzinfo=UTC)

TRICKY = [
    '{"event":"order_processed","amount":5,"user":"u1","ts":"2026-11-20T09:00:00Z"}',
    '{"amount":5,"user":"u2","event":"order_processed"}',  # keys in any order
    '{"event":"order_processed","amount":-1,"user":"u3"}',  # literal there, rule fails
    '{"event":"cache_hit","note":"order_processed","user":"u4"}',  # a decoy
    '{"event":"order_\\u0070rocessed","amount":7,"user":"u5"}',  # a unicode escape
    '{"event":"order_processed","amount":1,"user":"u6","note":"say \\"hi\\""}',  # escaped quote
    '{"event":"\\u006frder_processed","amount":2,"user":"u7"}',
    '{"event":"refund_issued","user":"u8"}',
    '{"event":"refund-\\u00e9mis","user":"u9"}',
    '{"event":"refund-émis","user":"u10"}',
    '{"message":"refund of order 12"}',
    '{"message":"partial refund of order 12"}',
    "not json, but order_processed",
    '{"duration_ms":999}',
    '{"duration_ms":1000}',
    '{"duration_ms":1001}',
    '{"duration_ms" : "1500"}',
    '{"duration_ms":1e4}',
    '{"duration_ms":-5000}',
    '{"x":{"duration_ms":5000},"duration_ms":5}',
    '{"duration_ms":5,"duration_ms":5000}',
    '{"duration_ms":\t2000.5}',
    '{"duration\\u005fms":5000}',
    '{"duration_ms":[5000]}',
    '{"event":"order_processed","amount":"3.5","user":null}',
    '{"event": "order_processed" , "amount" : 4 , "user" : "u11"}\r',
    "",
]
KV = [
    'user=u1 msg="logged in"',
    'user=u2 msg="logged\\u0020in"',
    'user=u3 msg="logged \\"in\\""',
    "user=u4 msg=logout",
    'msg="x logged in y" user=u5',
]


def _events(
    tmp: Path,
    name: str,
    lines: list[str],
    *,
    prefilter: bool,
    line_by_line: bool = False,
) -> list[Event]:
    """
    The pipeline's events for the lines; ``line_by_line``: through the general path
    (each decoded line parsed by the source's parser, no block scan, no prefilter).
    """
    log = tmp / name
    log.write_bytes(("\n".join(lines) + "\n").encode())
    ruleset = compile_rules([("rules.yaml", RULES)])
    source = "app" if name == "app.log" else "kv"
    pipeline = Pipeline(
        ruleset, PipelineStats(), geoip_disable=True, prefilter=prefilter
    )
    tailer = Tailer(
        [SourceSpec(source, (str(log),), "beginning")], [], first_start=True
    )
    tailer.scan()
    events: list[Event] = []
    try:
        while True:
            for chunk in tailer.read():
                if line_by_line:
                    events.extend(pipeline._apply(source, chunk.lines, READ_AT))
                else:
                    events.extend(pipeline.events_of(chunk, READ_AT, 0.0))
            if not tailer.has_backlog():
                return events
    finally:
        tailer.close()


def test_the_prefilter_is_used_for_these_rules(tmp_path: Path) -> None:
    ruleset = compile_rules([("rules.yaml", RULES)])

    pipeline = Pipeline(ruleset, PipelineStats(), geoip_disable=True)

    assert pipeline._literals == {
        "app": (
            b"order_processed",
            b"refund ",
            b"refund-\xc3\xa9mis",
            b"refund_issued",
            Threshold("duration_ms", 1000, inclusive=False).pattern(),
            b"\\",
        ),
        "kv": (b"logged in", b"\\"),
    }


def test_tricky_lines_give_the_same_events_with_and_without_prefilter(
    tmp_path: Path,
) -> None:
    with_filter = _events(tmp_path, "app.log", TRICKY, prefilter=True)
    without = _events(tmp_path, "app.log", TRICKY, prefilter=False)
    reference = _events(tmp_path, "app.log", TRICKY, prefilter=False, line_by_line=True)

    assert with_filter == without == reference
    orders = [e for e in with_filter if e.name == "pedido_procesado"]
    assert len(orders) == 7  # u1, u2, u5, u6, u7, u11 and the one with a null user
    assert len([e for e in with_filter if e.name == "refund"]) == 4
    slow = [e for e in with_filter if e.name == "slow_request"]
    # 1001, "1500", 1e4, the top-level 5 (no), the last of two keys, 2000.5, escaped
    assert len(slow) == 6


def test_logfmt_lines_give_the_same_events_with_and_without_prefilter(
    tmp_path: Path,
) -> None:
    with_filter = _events(tmp_path, "kv.log", KV, prefilter=True)
    without = _events(tmp_path, "kv.log", KV, prefilter=False)

    assert with_filter == without
    assert [e.distinct_id for e in with_filter] == ["u1", "u2", "u5"]


_values = st.one_of(
    st.sampled_from(
        ["order_processed", "refund_issued", "refund-émis", "refund x", "x"]
    ),
    st.text(max_size=12),
    st.integers(-5, 5),
    st.integers(990, 1010),
    st.none(),
)
_records = st.dictionaries(
    st.sampled_from(
        ["event", "amount", "user", "note", "message", "ts", "duration_ms"]
    ),
    _values,
)


@settings(max_examples=60, deadline=None)
@given(
    records=st.lists(_records, max_size=30),
    ascii_only=st.booleans(),
)
def test_any_json_lines_give_the_same_events_with_and_without_prefilter(
    tmp_path_factory: object, records: list[dict[str, object]], ascii_only: bool
) -> None:
    tmp = tmp_path_factory.mktemp("p")  # type: ignore[attr-defined]
    lines = [json.dumps(r, ensure_ascii=ascii_only) for r in records]

    with_filter = _events(tmp, "app.log", lines, prefilter=True)
    without = _events(tmp, "app.log", lines, prefilter=False)
    reference = _events(tmp, "app.log", lines, prefilter=False, line_by_line=True)

    assert with_filter == without == reference


def test_an_event_json_cannot_hold_is_counted_and_kept_as_a_dead_letter() -> None:
    ruleset = compile_rules([("rules.yaml", RULES)])
    stats = PipelineStats()
    pipeline = Pipeline(ruleset, stats, geoip_disable=True)
    deep: list[object] = []
    for _ in range(300):  # deeper than orjson writes
        deep = [deep]
    good = Event("u1", "e", "d", READ_AT, {"n": 1}, "order", "app")
    bad = Event("u2", "e", "d", READ_AT, {"n": 2, "deep": deep}, "order", "app")

    prepared = pipeline._prepared(None, [good, bad])

    assert [uuid for uuid, _, _ in prepared.rows] == ["u1"]
    ((uuid, body, rule, reason),) = prepared.deadletters
    assert (uuid, rule) == ("u2", "order")
    assert reason.startswith("unencodable: ")
    assert json.loads(body)["properties"]["n"] == 2
    assert stats.events == {"order": 1}
    assert stats.issues == {("order", "event: unencodable"): 1}
    assert stats.parse_errors == {}


LAYERED_RULES = """\
sources:
  - name: app
    paths: [app.log]
    parse:
      - {field: msg, format: logfmt}
      - {field: url, format: query}
rules:
  - name: slow
    source: app
    when: {msg.took: {gt: 1000}}
    event: slow
  - name: search
    source: app
    when: {url.q: red shoes}
    event: searched
"""
LAYERED_LINES = [
    '{"msg":"done took=1500"}',
    '{"msg":"done took=15"}',
    '{"url":"/search?q=red+shoes"}',
    '{"url":"/search?q=red%20shoes"}',
    '{"url":"/search?q=blue"}',
]


@pytest.mark.parametrize("prefilter", [True, False], ids=["prefilter", "all"])
def test_fields_made_by_layers_never_let_the_prefilter_skip_a_match(
    tmp_path: Path, prefilter: bool
) -> None:
    log = tmp_path / "app.log"
    log.write_text("\n".join(LAYERED_LINES) + "\n")
    ruleset = compile_rules([("rules.yaml", LAYERED_RULES)])
    pipeline = Pipeline(
        ruleset, PipelineStats(), geoip_disable=True, prefilter=prefilter
    )
    tailer = Tailer([SourceSpec("app", (str(log),), "beginning")], [], first_start=True)
    tailer.scan()
    try:
        events = [e for c in tailer.read() for e in pipeline.events_of(c, READ_AT, 0.0)]
    finally:
        tailer.close()

    assert [e.name for e in events] == ["slow", "searched", "searched"]
    assert "app" not in pipeline._literals
