"""Source entries: formats, regex patterns and multi-line records, from YAML."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bridge.model import Line, Record
from bridge.parse import MultilineAssembler, ParseFailure
from bridge.rules import SourceDef
from tests.rules.support import READ_AT, compile_text, errors

HEAD = "sources:\n  - name: app\n    paths: /a.log\n"
NGINX = (
    r"^(?P<ip>\S+) \S+ (?P<user>\S+) \[(?P<time>[^\]]+)\] "
    r'"(?P<method>\S+) (?P<path>\S+)[^"]*" (?P<status>\d+) (?P<bytes>\d+)'
)
NGINX_LINE = (
    '203.0.113.9 - alice [16/Dec/2025:10:00:00 +0100] "POST /api/orders HTTP/1.1" '
    '201 512 "-" "curl/8.0"'
)


def source_of(entry: str) -> SourceDef:
    """The one source of a file whose only source is HEAD plus ``entry``."""
    (source,) = compile_text(HEAD + entry).sources
    return source


def test_json_is_the_default_format_and_may_produce_any_field():
    source = source_of("")

    assert (source.format, source.fields, source.multiline) == ("json", None, None)
    assert source.parse('{"a": 1}') == {"a": 1}


def test_logfmt_source_parses_logfmt_lines():
    source = source_of("    format: logfmt\n")

    result = source.parse('level=info msg="order processed" amount=100')

    assert result == {"level": "info", "msg": "order processed", "amount": "100"}
    assert source.fields is None


def test_regex_source_with_one_pattern_publishes_its_group_names():
    source = source_of(f"    format: regex\n    pattern: '{NGINX}'\n")

    result = source.parse(NGINX_LINE)

    assert result == {
        "ip": "203.0.113.9",
        "user": "alice",
        "time": "16/Dec/2025:10:00:00 +0100",
        "method": "POST",
        "path": "/api/orders",
        "status": "201",
        "bytes": "512",
    }
    assert source.fields == frozenset(
        {"ip", "user", "time", "method", "path", "status", "bytes"}
    )


def test_regex_source_with_patterns_takes_the_first_match_and_all_names():
    source = source_of(
        "    format: regex\n    patterns:\n"
        "      - '^ERROR (?P<error>.*)'\n"
        "      - '^(?P<level>[A-Z]+) (?P<message>.*)'\n"
    )

    results = [source.parse(t) for t in ("ERROR disk full", "INFO up", "?")]

    assert results == [
        {"error": "disk full"},
        {"level": "INFO", "message": "up"},
        ParseFailure("no_pattern_matched", "the line matched none of the 2 patterns"),
    ]
    assert source.fields == frozenset({"error", "level", "message"})


def test_multiline_defaults():
    source = source_of("    multiline: {start: '^\\{'}\n")

    spec = source.multiline

    assert spec is not None
    assert (spec.mode, spec.pattern, spec.max_lines, spec.flush_seconds) == (
        "start",
        "^\\{",
        500,
        2.0,
    )
    assert spec.rest_field is None
    assert [spec.matches("{"), spec.matches(" {")] == [True, False]


def test_multiline_continuation_with_every_option():
    source = source_of(
        "    format: regex\n"
        "    pattern: '^(?P<level>[A-Z]+) (?P<message>.*)'\n"
        "    multiline:\n"
        "      continuation: '^\\s'\n"
        "      max_lines: 50\n"
        "      flush_seconds: 1\n"
        "      rest_field: trace\n"
    )

    spec = source.multiline

    assert spec is not None
    assert (spec.mode, spec.max_lines, spec.flush_seconds, spec.rest_field) == (
        "continuation",
        50,
        1.0,
        "trace",
    )
    assert isinstance(spec.flush_seconds, float)
    assert source.fields == frozenset({"level", "message", "trace"})
    assert source.parse("ERROR boom\n  at a\n  at b") == {
        "level": "ERROR",
        "message": "boom",
        "trace": "  at a\n  at b",
    }


def test_multiline_json_source_reads_a_record_and_its_trace():
    source = source_of("    multiline: {start: '^\\{', rest_field: trace}\n")
    assert source.multiline is not None
    assembler = MultilineAssembler(source.multiline)
    texts = [
        '{"level": "error", "event": "error_critico"}',
        "Traceback (most recent call last):",
        '  File "app.py", line 3, in main',
        "ZeroDivisionError: division by zero",
        '{"level": "info"}',
    ]
    records = []
    for offset, text in enumerate(texts):
        records.extend(assembler.feed(Line("app", "fp", offset * 100, text), 0.0))
    records.extend(assembler.flush(0.0, force=True))

    fields = [source.parse(record.text) for record in records]

    assert [record.offset for record in records] == [0, 400]
    assert fields == [
        {
            "level": "error",
            "event": "error_critico",
            "trace": "\n".join(texts[1:4]),
        },
        {"level": "info"},
    ]


def test_regex_source_events_take_their_time_from_a_strptime_pattern():
    text = (
        HEAD
        + f"    format: regex\n    pattern: '{NGINX}'\n"
        + "    timestamp: {field: time, format: '%d/%b/%Y:%H:%M:%S %z'}\n"
        + "rules:\n  - name: order\n    source: app\n    event: pedido\n"
        + "    when: {method: POST, status: {in: ['200', '201']}}\n"
        + "    properties: {bytes: {field: bytes, type: int}}\n"
    )
    ruleset = compile_text(text)
    (source,) = ruleset.sources
    line = Line("app", "fp", 0, NGINX_LINE)
    fields = source.parse(line.text)
    assert isinstance(fields, dict)

    (event,) = ruleset.apply(Record(line, fields, READ_AT))

    assert event.timestamp == datetime(2025, 12, 16, 9, 0, tzinfo=UTC)
    assert event.properties["bytes"] == 512


def test_source_digest_follows_its_pattern():
    first = source_of("    format: regex\n    pattern: '(?P<a>x)'\n")
    same = source_of("    format: regex\n    pattern: '(?P<a>x)'\n")
    other = source_of("    format: regex\n    pattern: '(?P<a>y)'\n")

    assert first.digest == same.digest != other.digest


ERROR_CASES = [
    pytest.param(
        "    format: regex\n",
        [
            "rules/a.yaml:2:5: error: sources[0]: missing required key 'pattern' "
            "(or 'patterns') (hint: format 'regex' needs a pattern)"
        ],
        id="regex-without-pattern",
    ),
    pytest.param(
        "    format: regex\n    pattern: '(?P<a>x)'\n    patterns: ['(?P<a>y)']\n",
        [
            "rules/a.yaml:6:5: error: sources[0].patterns: expected 'pattern' or "
            "'patterns', got both"
        ],
        id="pattern-and-patterns",
    ),
    pytest.param(
        "    pattern: '(?P<a>x)'\n",
        [
            "rules/a.yaml:4:5: error: sources[0].pattern: 'pattern' applies only to "
            "format 'regex' (hint: add format: regex)"
        ],
        id="pattern-on-json",
    ),
    pytest.param(
        "    format: logfmt\n    patterns: ['(?P<a>x)']\n",
        [
            "rules/a.yaml:5:5: error: sources[0].patterns: 'patterns' applies only "
            "to format 'regex' (hint: add format: regex)"
        ],
        id="patterns-on-logfmt",
    ),
    pytest.param(
        "    format: regx\n    pattern: '(?P<a>x)'\n",
        [
            "rules/a.yaml:4:13: error: sources[0].format: unknown format 'regx'; "
            "expected one of cri, docker, json, logfmt, regex (did you mean 'regex'?)"
        ],
        id="format-typo-reported-once",
    ),
    pytest.param(
        "    format: regex\n    pattern: 'x+'\n",
        [
            "rules/a.yaml:5:14: error: sources[0].pattern: pattern 'x+' has no named "
            "group (hint: name what to capture, as in (?P<status>\\d+))"
        ],
        id="no-named-group",
    ),
    pytest.param(
        "    format: regex\n    pattern: '(?<=x)(?P<a>y)'\n",
        [
            "rules/a.yaml:5:14: error: sources[0].pattern: RE2 cannot compile "
            "'(?<=x)(?P<a>y)': invalid perl operator: (?<="
        ],
        id="re2-refuses",
    ),
    pytest.param(
        "    format: regex\n    pattern: ''\n",
        [
            "rules/a.yaml:5:14: error: sources[0].pattern: expected an RE2 pattern, got ''"
        ],
        id="empty-pattern",
    ),
    pytest.param(
        "    format: regex\n    patterns: []\n",
        [
            "rules/a.yaml:5:15: error: sources[0].patterns: expected a non-empty list "
            "of RE2 patterns, got an empty list"
        ],
        id="empty-patterns",
    ),
    pytest.param(
        "    format: regex\n    patterns: '(?P<a>x)'\n",
        [
            "rules/a.yaml:5:15: error: sources[0].patterns: expected a non-empty list "
            "of RE2 patterns, got '(?P<a>x)'"
        ],
        id="patterns-not-a-list",
    ),
    pytest.param(
        "    format: regex\n    patterns: ['(?P<a>x)', 3, '(?P<b>x)|(?P<b>y)']\n",
        [
            "rules/a.yaml:5:28: error: sources[0].patterns[1]: expected an RE2 "
            "pattern, got 3 (hint: quote it to make it a string: '3')",
            "rules/a.yaml:5:31: error: sources[0].patterns[2]: group name 'b' is used "
            "twice in '(?P<b>x)|(?P<b>y)' (hint: RE2 keeps only the first; list "
            "alternatives under 'patterns')",
        ],
        id="every-bad-pattern",
    ),
    pytest.param(
        "    multiline: '^x'\n",
        [
            "rules/a.yaml:4:16: error: sources[0].multiline: expected a mapping, "
            "got '^x'"
        ],
        id="multiline-not-a-mapping",
    ),
    pytest.param(
        "    multiline: {}\n",
        [
            "rules/a.yaml:4:16: error: sources[0].multiline: missing required key "
            "'start' (or 'continuation')"
        ],
        id="multiline-empty",
    ),
    pytest.param(
        "    multiline: {start: '^x', continuation: '^ '}\n",
        [
            "rules/a.yaml:4:30: error: sources[0].multiline.continuation: expected "
            "'start' or 'continuation', got both"
        ],
        id="multiline-both",
    ),
    pytest.param(
        "    multiline: {start: '^x', flush_secs: 1}\n",
        [
            "rules/a.yaml:4:30: error: sources[0].multiline: unknown key "
            "'flush_secs'; expected one of continuation, flush_seconds, max_lines, "
            "rest_field, start (did you mean 'flush_seconds'?)"
        ],
        id="multiline-key-typo",
    ),
    pytest.param(
        "    multiline: {start: '(x', max_lines: 0, flush_seconds: -1}\n",
        [
            "rules/a.yaml:4:24: error: sources[0].multiline.start: RE2 cannot "
            "compile '(x': missing ): (x",
            "rules/a.yaml:4:41: error: sources[0].multiline.max_lines: expected a "
            "positive integer, got 0",
            "rules/a.yaml:4:59: error: sources[0].multiline.flush_seconds: expected "
            "a positive number of seconds, got -1",
        ],
        id="multiline-bad-values",
    ),
    pytest.param(
        (
            "    multiline: {start: '^x', max_lines: 2.5, flush_seconds: '2s', "
            "rest_field: 3}\n"
        ),
        [
            "rules/a.yaml:4:41: error: sources[0].multiline.max_lines: expected a "
            "positive integer, got 2.5",
            "rules/a.yaml:4:61: error: sources[0].multiline.flush_seconds: expected "
            "a positive number of seconds, got '2s'",
            "rules/a.yaml:4:79: error: sources[0].multiline.rest_field: expected a "
            "field name, got 3 (hint: quote it to make it a string: '3')",
        ],
        id="multiline-wrong-types",
    ),
    pytest.param(
        "    multiline: {continuation: '^ ', max_lines: true, flush_seconds: .inf}\n",
        [
            "rules/a.yaml:4:48: error: sources[0].multiline.max_lines: expected a "
            "positive integer, got true",
            "rules/a.yaml:4:69: error: sources[0].multiline.flush_seconds: expected "
            "a positive number of seconds, got inf",
        ],
        id="multiline-bool-and-infinity",
    ),
    pytest.param(
        "    multiline: {start: [x]}\n",
        [
            "rules/a.yaml:4:24: error: sources[0].multiline.start: expected an RE2 "
            "pattern, got a list"
        ],
        id="multiline-pattern-not-text",
    ),
]


@pytest.mark.parametrize(("entry", "expected"), ERROR_CASES)
def test_invalid_source_entry_reports_each_problem_at_its_position(entry, expected):
    assert errors(HEAD + entry) == expected


def test_invalid_source_still_registers_its_name_for_rules():
    text = (
        HEAD
        + "    format: regex\n"
        + "rules:\n  - name: r\n    source: app\n    event: e\n"
    )

    result = errors(text)

    assert result == [
        "rules/a.yaml:2:5: error: sources[0]: missing required key 'pattern' "
        "(or 'patterns') (hint: format 'regex' needs a pattern)"
    ]
