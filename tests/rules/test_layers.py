"""Parsing in layers: a field read again as JSON, logfmt, a regex or a query string,
and the container formats' ``log`` read as the application wrote it."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.parse import ParseFailure
from tests.rules.support import compile_text, errors, record


def source(fmt: str, layers: str) -> str:
    return (
        f"sources:\n  - name: app\n    paths: [a.log]\n    format: {fmt}\n"
        f"    parse:\n{layers}"
    )


def read(fmt: str, layers: str, line: str) -> tuple[Any, tuple[str, ...]]:
    (src,) = compile_text(source(fmt, layers)).sources
    return src.read(line)


CASES = [
    (
        "docker-json-log",
        "docker",
        "      - {field: log, format: json}\n",
        '{"log":"{\\"level\\":\\"error\\",\\"took\\":12}\\n","stream":"stderr","time":"T"}',
        {"log": {"level": "error", "took": 12}, "stream": "stderr", "time": "T"},
    ),
    (
        "json-in-logfmt",
        "logfmt",
        "      - {field: payload, format: json}\n",
        'level=info payload="{\\"user\\":42}"',
        {"level": "info", "payload": {"user": 42}},
    ),
    (
        "logfmt-in-json",
        "json",
        "      - {field: msg, format: logfmt, into: summary}\n",
        '{"msg":"done rows=12 took=3ms"}',
        {
            "msg": "done rows=12 took=3ms",
            "summary": {"done": True, "rows": "12", "took": "3ms"},
        },
    ),
    (
        "regex-layer",
        "json",
        "      - {field: msg, format: regex, pattern: 'user (?P<user>\\S+)'}\n",
        '{"msg":"login of user ana"}',
        {"msg": {"user": "ana"}},
    ),
    (
        "query-layer-nested-into",
        "json",
        "      - {field: url, format: query, into: http.params}\n",
        '{"url":"/search?q=red+shoes&page=2","http":{"status":200}}',
        {
            "url": "/search?q=red+shoes&page=2",
            "http": {"status": 200, "params": {"q": "red shoes", "page": "2"}},
        },
    ),
    (
        "query-layer-over-a-path-without-a-query",
        "json",
        "      - {field: path, format: query, into: params}\n",
        '{"path":"/api/products/42"}',
        {"path": "/api/products/42", "params": {}},
    ),
    (
        "layers-in-order",
        "docker",
        "      - {field: log, format: json}\n"
        "      - {field: log.msg, format: logfmt}\n",
        '{"log":"{\\"msg\\":\\"a=1\\"}\\n"}',
        {"log": {"msg": {"a": "1"}}},
    ),
    (
        "structured-already",
        "json",
        "      - {field: msg, format: json}\n",
        '{"msg":{"a":1}}',
        {"msg": {"a": 1}},
    ),
    (
        "absent-field",
        "json",
        "      - {field: msg, format: json}\n",
        '{"other":1}',
        {"other": 1},
    ),
]


@pytest.mark.parametrize(
    ("fmt", "layers", "line", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_a_field_is_parsed_again(fmt, layers, line, expected):
    fields, failed = read(fmt, layers, line)

    assert fields == expected
    assert failed == ()


def test_a_layer_that_fails_keeps_the_text_and_says_so():
    fields, failed = read(
        "json", "      - {field: msg, format: json}\n", '{"msg":"not json"}'
    )

    assert fields == {"msg": "not json"}
    assert failed == ("msg: invalid_json",)


def test_a_layer_may_make_the_line_a_parse_error():
    fields, failed = read(
        "json",
        "      - {field: msg, format: logfmt}\n"
        "      - {field: data, format: json, on_error: skip}\n",
        '{"msg":"a=\\"open","data":"{"}',
    )

    assert fields == ParseFailure("data: invalid_json")
    assert failed == ("msg: invalid_logfmt",)


def test_rules_address_what_a_layer_made():
    text = source("docker", "      - {field: log, format: json}\n") + (
        "rules:\n  - name: r\n    source: app\n"
        "    when: {log.level: error}\n    event: e\n"
        "    properties: {took: {field: log.took, type: int}, stream: '{stream}'}\n"
    )
    ruleset = compile_text(text)
    (src,) = ruleset.sources
    fields, _ = src.read(
        '{"log":"{\\"level\\":\\"error\\",\\"took\\":12}\\n","stream":"stderr"}'
    )

    assert isinstance(fields, dict)
    (event,) = ruleset.apply(record(fields))

    assert {k: event.properties[k] for k in ("took", "stream")} == {
        "took": 12,
        "stream": "stderr",
    }


@pytest.mark.parametrize(
    ("layers", "expected"),
    [
        (
            "      - {field: msg, format: yaml}\n",
            "rules/a.yaml:6:30: error: sources[0].parse[0].format: unknown format "
            "'yaml'; expected one of json, logfmt, query, regex",
        ),
        (
            "      - {field: msg, format: regex}\n",
            "rules/a.yaml:6:9: error: sources[0].parse[0]: missing required key "
            "'pattern' (or 'patterns') (hint: format 'regex' needs a pattern)",
        ),
        (
            "      - {field: msg, format: json, pattern: x}\n",
            "rules/a.yaml:6:9: error: sources[0].parse[0].pattern: 'pattern' applies "
            "only to format 'regex'",
        ),
        (
            "      - {format: json}\n",
            "rules/a.yaml:6:9: error: sources[0].parse[0]: missing required key 'field'",
        ),
    ],
    ids=["unknown-format", "regex-without-pattern", "pattern-not-regex", "no-field"],
)
def test_mistakes_in_layers_are_located(layers, expected):
    assert errors(source("json", layers)) == [expected]


def test_multiline_does_not_combine_with_a_container_format():
    text = (
        "sources:\n  - name: app\n    paths: [a.log]\n    format: cri\n"
        "    multiline: {start: '^x'}\n"
    )

    assert errors(text) == [
        "rules/a.yaml:5:16: error: sources[0].multiline: multiline cannot be "
        "combined with format 'cri' (hint: the parts of a long container line are "
        "joined already)"
    ]


WHEN_CASES = [
    # Each case: id, layers, line, fields, failures.
    (
        "json-line-parsed",
        "      - {field: log, format: json, when: {log: {startswith: '{'}}}\n",
        '{"log":"{\\"level\\":\\"info\\"}\\n"}',
        {"log": {"level": "info"}},
        (),
    ),
    (
        "plain-text-line-left-alone-and-not-counted",
        "      - {field: log, format: json, when: {log: {startswith: '{'}}}\n",
        '{"log":"INFO:     Started server process [1]\\n"}',
        {"log": "INFO:     Started server process [1]"},
        (),
    ),
    (
        "a-line-it-is-meant-for-still-counts",
        "      - {field: log, format: json, when: {log: {startswith: '{'}}}\n",
        '{"log":"{oops\\n"}',
        {"log": "{oops"},
        ("log: invalid_json",),
    ),
    (
        "not-meant-for-with-on-error-skip",
        "      - {field: log, format: json, on_error: skip, when: {stream: stdout}}\n",
        '{"log":"Traceback (most recent call last):\\n","stream":"stderr"}',
        {"log": "Traceback (most recent call last):", "stream": "stderr"},
        (),
    ),
    (
        "judged-on-what-earlier-layers-made",
        "      - {field: log, format: json}\n"
        "      - {field: log.msg, format: logfmt, when: {log.kind: kv}}\n",
        '{"log":"{\\"kind\\":\\"text\\",\\"msg\\":\\"a b=\\\\\\"\\"}\\n"}',
        {"log": {"kind": "text", "msg": 'a b="'}},
        (),
    ),
    (
        "judged-on-what-earlier-layers-made-and-applied",
        "      - {field: log, format: json}\n"
        "      - {field: log.msg, format: logfmt, when: {log.kind: kv}}\n",
        '{"log":"{\\"kind\\":\\"kv\\",\\"msg\\":\\"a=1\\"}\\n"}',
        {"log": {"kind": "kv", "msg": {"a": "1"}}},
        (),
    ),
    (
        "any-condition",
        "      - field: log\n"
        "        format: json\n"
        "        when: {any: [{stream: stdout}, {log: {contains: '\"level\"'}}]}\n",
        '{"log":"{\\"level\\":\\"error\\"}\\n","stream":"stderr"}',
        {"log": {"level": "error"}, "stream": "stderr"},
        (),
    ),
]


@pytest.mark.parametrize(
    ("layers", "line", "expected", "failures"),
    [case[1:] for case in WHEN_CASES],
    ids=[case[0] for case in WHEN_CASES],
)
def test_a_layer_applies_only_where_its_when_holds(layers, line, expected, failures):
    fields, failed = read("docker", layers, line)

    assert fields == expected
    assert failed == failures


def test_mistakes_in_a_layers_when_are_located():
    layers = "      - {field: log, format: json, when: {log: {startswith: 1}, x: []}}\n"

    assert errors(source("docker", layers)) == [
        "rules/a.yaml:6:61: error: sources[0].parse[0].when.log: expected a "
        "non-empty string for 'startswith', got 1 (hint: quote it to make it a "
        "string: '1')",
        "rules/a.yaml:6:68: error: sources[0].parse[0].when.x: a list is ambiguous "
        "here (hint: write {in: [...]})",
    ]


@pytest.mark.parametrize(
    ("line", "expected", "failures"),
    [
        ('{"msg":"a=1","took":"2s"}', {"msg": {"a": "1"}, "took": "2s"}, ()),
        ('{"msg":"a=1","took":"2ms"}', {"msg": "a=1", "took": "2ms"}, ()),
        (
            '{"msg":"a=1","took":"n/a"}',
            {"msg": "a=1", "took": "n/a"},
            ("msg: when.took not_duration",),
        ),
    ],
    ids=["holds", "does-not-hold", "undecided-is-counted"],
)
def test_a_layers_when_a_value_leaves_undecided_is_a_failure_of_the_layer(
    line, expected, failures
):
    layers = "      - {field: msg, format: logfmt, when: {took: {gt: 1s}}}\n"

    assert read("json", layers, line) == (expected, failures)
