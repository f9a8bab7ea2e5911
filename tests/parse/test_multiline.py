from __future__ import annotations

from typing import Literal

import pytest
import re2
from hypothesis import given
from hypothesis import strategies as st

from bridge.model import Line
from bridge.parse import (
    MultilineAssembler,
    MultilineSpec,
    ParseFailure,
    build_regex_parser,
    parse_json,
    parse_logfmt,
    record_parser,
)
from bridge.parse.regex import compile_re2, is_search_match


def spec(
    pattern: str = r"^\S",
    mode: Literal["start", "continuation"] = "start",
    *,
    max_lines: int = 500,
    flush_seconds: float = 2.0,
) -> MultilineSpec:
    regex = compile_re2(pattern)
    assert isinstance(regex, re2._Regexp)
    return MultilineSpec(
        mode=mode,
        pattern=pattern,
        matches=is_search_match(regex),
        max_lines=max_lines,
        flush_seconds=flush_seconds,
    )


def lines(*texts: str, start: int = 0) -> list[Line]:
    """Lines of file 'fp1' of source 'app', at the offsets a file would give them."""
    result = []
    offset = start
    for text in texts:
        result.append(Line("app", "fp1", offset, text))
        offset += len(text.encode()) + 1
    return result


def assemble(
    assembler: MultilineAssembler, fed: list[Line], now: float = 0.0
) -> list[Line]:
    records = []
    for line in fed:
        records.extend(assembler.feed(line, now))
    records.extend(assembler.flush(now, force=True))
    return records


PYTHON_TRACE = [
    "2025-12-16 10:00:00 ERROR error_critico payment failed",
    "Traceback (most recent call last):",
    '  File "billing.py", line 12, in charge',
    "    raise PaymentError(code)",
    "PaymentError: card declined",
    "2025-12-16 10:00:01 INFO next",
]

JAVA_TRACE = [
    "ERROR Failed to process order 7",
    "java.lang.IllegalStateException: stock below zero",
    "\tat com.shop.Stock.take(Stock.java:42)",
    "\tat com.shop.Orders.place(Orders.java:17)",
    "\t... 3 more",
    "Caused by: java.io.IOException: disk full",
    "\tat com.shop.Disk.write(Disk.java:9)",
    "INFO recovered",
]


def test_start_pattern_joins_a_python_traceback_to_its_error_line():
    fed = lines(*PYTHON_TRACE)

    records = assemble(MultilineAssembler(spec(r"^\d{4}-\d\d-\d\d ")), fed)

    assert records == [
        Line("app", "fp1", 0, "\n".join(PYTHON_TRACE[:5])),
        fed[5],
    ]


def test_continuation_pattern_joins_a_java_stack_trace():
    fed = lines(*JAVA_TRACE)
    continuation = spec(r"^(\s|Caused by:|java\.)", "continuation")

    records = assemble(MultilineAssembler(continuation), fed)

    assert [record.text for record in records] == [
        "\n".join(JAVA_TRACE[:7]),
        JAVA_TRACE[7],
    ]
    assert [record.offset for record in records] == [0, fed[7].offset]


def test_lines_before_the_first_start_line_form_their_own_record():
    fed = lines("  orphan 1", "  orphan 2", "START a", "  a.1", start=100)

    records = assemble(MultilineAssembler(spec()), fed)

    assert records == [
        Line("app", "fp1", 100, "  orphan 1\n  orphan 2"),
        Line("app", "fp1", fed[2].offset, "START a\n  a.1"),
    ]


def test_single_line_record_is_the_line_that_was_fed():
    fed = lines("a", "b")

    records = assemble(MultilineAssembler(spec()), fed)

    assert records[0] is fed[0]
    assert records[1] is fed[1]


def test_record_reaching_max_lines_is_closed_and_counted():
    fed = lines("S", " 1", " 2", " 3", " 4", "S2")
    assembler = MultilineAssembler(spec(max_lines=2))

    records = assemble(assembler, fed)

    assert [record.text for record in records] == ["S\n 1", " 2\n 3", " 4", "S2"]
    assert assembler.too_long == 2


def test_feed_returns_the_record_a_start_line_completes():
    assembler = MultilineAssembler(spec())
    first, second, third = lines("A", " a", "B")

    results = [assembler.feed(first, 0.0), assembler.feed(second, 0.1)]
    completed = assembler.feed(third, 0.2)

    assert results == [[], []]
    assert completed == [Line("app", "fp1", 0, "A\n a")]


def test_pending_record_is_flushed_only_after_the_idle_timeout():
    assembler = MultilineAssembler(spec(flush_seconds=2.0))
    first, second = lines("A", " a")
    assembler.feed(first, 10.0)
    assembler.feed(second, 11.0)

    early = assembler.flush(12.9)
    due = assembler.flush(13.0)
    after = assembler.flush(20.0)

    assert (early, due, after) == ([], [Line("app", "fp1", 0, "A\n a")], [])


def test_forced_flush_closes_the_pending_record_at_once():
    assembler = MultilineAssembler(spec())
    (line,) = lines("A")
    assembler.feed(line, 5.0)

    records = assembler.flush(5.0, force=True)

    assert records == [line]
    assert assembler.flush(5.0, force=True) == []


def test_line_after_the_idle_timeout_starts_a_new_record_without_a_flush_call():
    assembler = MultilineAssembler(spec(flush_seconds=2.0))
    first, late = lines("A", " late")
    assembler.feed(first, 0.0)

    closed = assembler.feed(late, 2.5)

    assert closed == [first]
    assert assembler.flush(2.5, force=True) == [late]


def test_pending_offset_is_the_first_line_held_back():
    assembler = MultilineAssembler(spec())
    first, second, third = lines("A", " a", "B", start=40)

    before = assembler.pending_offset()
    assembler.feed(first, 0.0)
    assembler.feed(second, 0.0)
    holding_first = assembler.pending_offset()
    assembler.feed(third, 0.0)
    holding_third = assembler.pending_offset()
    assembler.flush(0.0, force=True)

    assert (before, holding_first, holding_third) == (None, 40, third.offset)
    assert assembler.pending_offset() is None


TEXTS = st.lists(st.sampled_from(["S1", "S2", " c", "\tc", "", "Sx c"]), max_size=25)


def reference_records(texts: list[str], max_lines: int) -> list[list[int]]:
    """Indices of each record's lines for spec(r'^S'), written plainly."""
    records: list[list[int]] = []
    for index, text in enumerate(texts):
        starts = text.startswith("S")
        if records and not starts and len(records[-1]) < max_lines:
            records[-1].append(index)
        else:
            records.append([index])
    return records


@given(
    TEXTS,
    st.integers(1, 4),
    st.lists(st.tuples(st.integers(0, 25), st.floats(0, 1))),
)
def test_flush_calls_between_lines_never_change_the_records(texts, max_lines, calls):
    fed = lines(*texts)
    assembler = MultilineAssembler(spec(r"^S", max_lines=max_lines))
    flush_at: dict[int, list[float]] = {}
    for index, since_previous in calls:
        flush_at.setdefault(index, []).append(since_previous)

    # Lines come a second apart, under flush_seconds; each flush call happens
    # between the previous line and the next, so it finds nothing idle enough.
    records = []
    for index, line in enumerate(fed):
        for since_previous in sorted(flush_at.get(index, [])):
            records.extend(assembler.flush(index - 1 + since_previous))
        records.extend(assembler.feed(line, float(index)))
    records.extend(assembler.flush(float(len(fed)), force=True))

    expected = [
        Line("app", "fp1", fed[group[0]].offset, "\n".join(texts[i] for i in group))
        for group in reference_records(texts, max_lines)
    ]
    assert records == expected


def run_timed(fed: list[Line], gaps: list[float], *, flush_between: bool) -> list[Line]:
    assembler = MultilineAssembler(spec(r"^S", flush_seconds=2.0))
    now = 0.0
    records = []
    for line, gap in zip(fed, gaps, strict=False):
        now += gap
        if flush_between:
            records.extend(assembler.flush(now))
        records.extend(assembler.feed(line, now))
    records.extend(assembler.flush(now, force=True))
    assert assembler.pending_offset() is None
    return records


@given(TEXTS, st.lists(st.floats(0, 5), min_size=25, max_size=25))
def test_every_line_comes_out_once_in_order_whatever_the_timing(texts, gaps):
    fed = lines(*texts)

    records = run_timed(fed, gaps, flush_between=True)

    assert records == run_timed(fed, gaps, flush_between=False)
    joined = [text for record in records for text in record.text.split("\n")]
    assert joined == texts
    assert [r.offset for r in records] == sorted({r.offset for r in records})


TRACE = 'Traceback (most recent call last):\n  File "x.py", line 1, in f'
RECORD_PARSER_CASES = [
    ("single-line-untouched", parse_json, True, "trace", '{"a": 1}', {"a": 1}),
    (
        "pretty-printed-json-whole",
        parse_json,
        True,
        "trace",
        '{\n  "a": 1,\n  "b": [2]\n}',
        {"a": 1, "b": [2]},
    ),
    (
        "json-line-and-its-trace",
        parse_json,
        True,
        "trace",
        '{"level": "error"}\n' + TRACE,
        {"level": "error", "trace": TRACE},
    ),
    (
        "rest-field-replaces-a-parsed-field",
        parse_json,
        True,
        "trace",
        '{"trace": "x"}\n' + TRACE,
        {"trace": TRACE},
    ),
    (
        "json-without-rest-field",
        parse_json,
        True,
        None,
        '{"level": "error"}\n' + TRACE,
        {"level": "error"},
    ),
    (
        "json-neither-reading-gives-the-whole-failure",
        parse_json,
        True,
        "trace",
        "[1]\nzz",
        ParseFailure(
            "invalid_json",
            "unexpected content after document: line 2 column 1 (char 4)",
        ),
    ),
    (
        "logfmt-first-line",
        parse_logfmt,
        False,
        "stack",
        'level=error msg="boom"\n\tat a.B.c(B.java:1)',
        {"level": "error", "msg": "boom", "stack": "\tat a.B.c(B.java:1)"},
    ),
    (
        "logfmt-first-line-failure",
        parse_logfmt,
        False,
        "stack",
        'msg="open\nmore"',
        ParseFailure("invalid_logfmt", "unterminated quoted value at column 5"),
    ),
]


@pytest.mark.parametrize(
    ("parser", "whole_first", "rest_field", "text", "expected"),
    [case[1:] for case in RECORD_PARSER_CASES],
    ids=[case[0] for case in RECORD_PARSER_CASES],
)
def test_record_parser_reads_multi_line_records(
    parser, whole_first, rest_field, text, expected
):
    parse = record_parser(parser, whole_first=whole_first, rest_field=rest_field)

    result = parse(text)

    assert result == expected


def test_record_parser_gives_a_regex_the_first_line():
    regex = compile_re2(r"^(?P<level>[A-Z]+) (?P<message>.*)$")
    assert isinstance(regex, re2._Regexp)
    parse = record_parser(
        build_regex_parser([regex]), whole_first=False, rest_field="trace"
    )

    result = parse("ERROR boom\n  at x\n  at y")

    assert result == {"level": "ERROR", "message": "boom", "trace": "  at x\n  at y"}
