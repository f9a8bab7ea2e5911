"""``logbridge replay`` in process (bridge.tools.replay): what its summary counts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bridge.rules import compile_rules
from bridge.tools.replay import render_summary, replay

READ_AT = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)

SKIPPING = """\
sources:
  - name: s
    paths: [x.log]
rules:
  - name: r
    source: s
    when: {msg: paid}
    event: e
    properties:
      n: {field: n, type: int, required: true, on_error: skip}
"""


def test_the_summary_counts_a_line_a_rule_skipped_apart_from_those_no_rule_matched(
    tmp_path: Path,
) -> None:
    log = tmp_path / "x.log"
    log.write_text(
        '{"msg": "paid", "n": "7"}\n{"msg": "paid", "n": "seven"}\n'
        '{"msg": "paid"}\n{"msg": "seen", "n": "8"}\n'
    )
    ruleset = compile_rules([("r.yaml", SKIPPING)])

    report = replay(ruleset, [(log, "s")], read_at=READ_AT, max_line_bytes=65536)

    summary = render_summary(report).splitlines()
    assert summary[:-1] == [
        "4 lines, 1 events, 1 lines matched no rule, 0 did not parse",
        "  r: 1",
        "2 values failed (rule: where: reason):",
        "  r: properties.n: missing: 1",
        "  r: properties.n: not_int: 1",
        "2 events not sent (rule: event: reason):",
        "  r: event: skipped: 2",
    ]


def test_lines_a_sample_leaves_out_are_not_counted_as_matching_no_rule(
    tmp_path: Path,
) -> None:
    log = tmp_path / "x.log"
    log.write_text("".join(f'{{"msg": "hit", "n": {n}}}\n' for n in range(40)))
    rules = "sources:\n  - {name: s, paths: [x.log]}\nrules:\n"
    rules += "  - {name: r, source: s, event: e, sample: 0.5}\n"
    ruleset = compile_rules([("r.yaml", rules)])

    report = replay(ruleset, [(log, "s")], read_at=READ_AT, max_line_bytes=65536)

    kept = len(report.events)
    assert 0 < kept < 40
    assert report.stats.unmatched["s"] == 0
    assert report.dropped == {"sampled_out": 40 - kept}
