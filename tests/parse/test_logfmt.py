from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from structlog.processors import LogfmtRenderer

from bridge.parse import ParseFailure, parse_logfmt
from bridge.parse.logfmt import _parse_stepwise

FIELDS_CASES = [
    (
        "issue-example",
        'key=value key2="quoted \\"value\\"" bare_key key3=',
        {"key": "value", "key2": 'quoted "value"', "bare_key": True, "key3": ""},
    ),
    ("empty-line", "", {}),
    ("blank-line", " \t ", {}),
    ("values-stay-strings", "n=12 f=1.5 b=true", {"n": "12", "f": "1.5", "b": "true"}),
    ("duplicate-last-wins", "a=1 b=2 a=3", {"a": "3", "b": "2"}),
    ("bare-key-then-pair", "flag a=1", {"flag": True, "a": "1"}),
    ("many-spaces-and-tabs", "  a=1 \t  b=2  ", {"a": "1", "b": "2"}),
    ("crlf", "a=1 b=2\r", {"a": "1", "b": "2"}),
    ("byte-order-mark-is-text", "\ufeffa=1", {"\ufeffa": "1"}),
    ("empty-quoted", 'a="" b=1', {"a": "", "b": "1"}),
    ("quoted-equals", 'q="a=b c"', {"q": "a=b c"}),
    ("quote-inside-unquoted", 'a=b"c', {"a": 'b"c'}),
    ("equals-inside-unquoted", "url=/x?a=1&b=2", {"url": "/x?a=1&b=2"}),
    ("unquoted-backslash-kept", "path=C:\\new\\dir", {"path": "C:\\new\\dir"}),
    (
        "quoted-escapes",
        'm="a\\"b\\\\c\\nd\\te\\rf"',
        {"m": 'a"b\\c\nd\te\rf'},
    ),
    ("unicode-escape", 'm="caf\\u00e9"', {"m": "café"}),
    ("lone-surrogate-escape-replaced", 'm="\\ud800x"', {"m": "\ufffdx"}),
    ("unknown-escape-kept", 'm="a\\qb \\u12"', {"m": "a\\qb \\u12"}),
    ("nul-bytes-kept", "a=x\x00y b\x00=1", {"a": "x\x00y", "b\x00": "1"}),
    ("unicode-key-and-value", "ñandú=über", {"ñandú": "über"}),
    ("plain-text-is-bare-keys", "hello world", {"hello": True, "world": True}),
    (
        "heroku-router",
        'at=info method=GET path="/" host=example.com fwd="203.0.113.9" '
        "dyno=web.1 connect=1ms service=18ms status=200 bytes=13",
        {
            "at": "info",
            "method": "GET",
            "path": "/",
            "host": "example.com",
            "fwd": "203.0.113.9",
            "dyno": "web.1",
            "connect": "1ms",
            "service": "18ms",
            "status": "200",
            "bytes": "13",
        },
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [case[1:] for case in FIELDS_CASES],
    ids=[case[0] for case in FIELDS_CASES],
)
def test_logfmt_line_gives_its_fields(text, expected):
    result = parse_logfmt(text)

    assert result == expected


FAILURE_CASES = [
    ("unterminated-quote", 'a=1 b="open', "unterminated quoted value at column 7"),
    ("unterminated-after-escape", 'b="x\\"', "unterminated quoted value at column 3"),
    (
        "quoted-then-unterminated",
        'a="x y" b="open',
        "unterminated quoted value at column 11",
    ),
    ("empty-key", "a=1 =2", "expected a key, got '=' at column 5"),
    ("quoted-without-key", 'a=1 "text"', "expected a key, got '\"' at column 5"),
    ("quote-in-key", 'a"b=1', "unexpected '\"' in a key at column 2"),
    (
        "text-after-closing-quote",
        'a="x"y b=1',
        "expected a space after the closing quote at column 6",
    ),
]


@pytest.mark.parametrize(
    ("text", "detail"),
    [case[1:] for case in FAILURE_CASES],
    ids=[case[0] for case in FAILURE_CASES],
)
def test_malformed_logfmt_is_a_failure_with_its_column(text, detail):
    result = parse_logfmt(text)

    assert result == ParseFailure("invalid_logfmt", detail)


def test_failure_detail_never_quotes_the_line():
    result = parse_logfmt('token="secret-abc123')

    assert isinstance(result, ParseFailure)
    assert "secret" not in result.detail


def test_line_of_megabytes_parses():
    value = "x" * 2_000_000

    result = parse_logfmt(f'a=1 big="{value}" tail={value}')

    assert result == {"a": "1", "big": value, "tail": value}


def test_unterminated_quote_of_megabytes_fails_fast():
    result = parse_logfmt('a="' + "\\x" * 500_000)

    assert result == ParseFailure(
        "invalid_logfmt", "unterminated quoted value at column 3"
    )


@given(st.text())
def test_parse_logfmt_never_raises_on_any_text(text):
    result = parse_logfmt(text)

    assert isinstance(result, dict | ParseFailure)


LOGFMT_ALPHABET = st.sampled_from(list(' =\\"\tabc\r\nx\x00é'))


@given(st.text(LOGFMT_ALPHABET, max_size=30))
def test_fast_path_agrees_with_the_stepwise_reading(text):
    assert parse_logfmt(text) == _parse_stepwise(text)


# structlog refuses keys with whitespace or control characters; '=' and '"' in a key
# would make its output ambiguous, so they are left out too.
KEYS = st.text(
    st.characters(min_codepoint=33, exclude_characters='="', exclude_categories=["Cs"]),
    min_size=1,
    max_size=8,
)
# Tab and CR are separators here, and structlog writes them raw in unquoted values.
VALUES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(st.characters(exclude_characters="\t\r", exclude_categories=["Cs"]))
)


def rendered_value(value: object) -> str | bool:
    """What parse_logfmt reads back from structlog's rendering of ``value``."""
    if value is True:
        return True
    if value is None:
        return ""
    text = "false" if value is False else str(value)
    if not any(char in text for char in ' ="'):
        # Written unquoted: the only escape structlog applies is \n, read back as
        # the two characters it became (unquoted values are taken as written).
        return text.replace("\n", "\\n")
    return text


@given(st.dictionaries(KEYS, VALUES, max_size=6))
def test_logfmt_reads_back_what_structlog_renders(event_dict):
    line = LogfmtRenderer()(None, "info", dict(event_dict))

    result = parse_logfmt(line)

    assert result == {key: rendered_value(v) for key, v in event_dict.items()}
