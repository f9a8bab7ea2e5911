from __future__ import annotations

from types import MappingProxyType

import pytest

from bridge.rules.fieldpaths import MISSING, compile_getter, parse_field_path

PARSE_CASES = [
    ("level", (("level", None),)),
    ("fields.user_id", (("fields", None), ("user_id", None))),
    ('fields."http.status"', (("fields", None), ("http.status", None))),
    ('"a.b".c', (("a.b", None), ("c", None))),
    ('"a\\"b"', (('a"b', None),)),
    ('"a\\\\b"', (("a\\b", None),)),
    ('""', (("", None),)),
    ("items.0.sku", (("items", None), ("0", 0), ("sku", None))),
    ("items.007", (("items", None), ("007", 7))),
    ('items."0"', (("items", None), ("0", None))),
    ("a.\u0661", (("a", None), ("\u0661", None))),
    ("n." + "9" * 19, (("n", None), ("9" * 19, None))),
    ("with space.x", (("with space", None), ("x", None))),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    PARSE_CASES,
    ids=[
        "one",
        "dotted",
        "quoted-dots",
        "quoted-first",
        "escaped-quote",
        "escaped-backslash",
        "empty-quoted",
        "list-index",
        "leading-zeros",
        "quoted-digits-are-a-key",
        "non-ascii-digit-is-a-key",
        "too-long-for-an-index",
        "spaces-kept",
    ],
)
def test_field_path_parses_into_segments(text, expected):
    result = parse_field_path(text)

    assert result == expected


ERROR_CASES = [
    ("", "empty field path"),
    ("a..b", "empty segment in field path 'a..b'"),
    ("a.", "empty segment in field path 'a.'"),
    (".a", "empty segment in field path '.a'"),
    ('"a', "unclosed quote in field path '\"a'"),
    ('"a\\"', "unclosed quote in field path '\"a\\\\\"'"),
    ('a"b', "unexpected quote inside a segment of field path 'a\"b'"),
    ('"a"b', "expected '.' after a quoted segment in field path '\"a\"b'"),
]


@pytest.mark.parametrize(
    ("text", "message"),
    ERROR_CASES,
    ids=[
        "empty",
        "double-dot",
        "trailing-dot",
        "leading-dot",
        "unclosed-quote",
        "escaped-closing-quote",
        "quote-inside-segment",
        "text-after-quote",
    ],
)
def test_malformed_field_path_is_explained(text, message):
    result = parse_field_path(text)

    assert result == message


LOOKUP_CASES = [
    ("a", {"a": 1}, 1),
    ("a", {"a": None}, None),
    ("a", {}, MISSING),
    ("a", ["x"], MISSING),
    ("a.b", {"a": {"b": 2}}, 2),
    ("a.b", {"a": MappingProxyType({"b": 2})}, 2),
    ("a.b", {"a": {"c": 2}}, MISSING),
    ("a.b", {"a": "text"}, MISSING),
    ("a.0", {"a": [5, 6]}, 5),
    ("a.1", {"a": (5, 6)}, 6),
    ("a.2", {"a": [5, 6]}, MISSING),
    ("a.0", {"a": {"0": "key"}}, "key"),
    ("a.x", {"a": [5]}, MISSING),
    ('a."0"', {"a": [5]}, MISSING),
    ("a.0.b", {"a": [{"b": 7}]}, 7),
    ("a.0", {"a": "text"}, MISSING),
]


@pytest.mark.parametrize(
    ("text", "fields", "expected"),
    LOOKUP_CASES,
    ids=[
        "top",
        "top-null-is-present",
        "top-missing",
        "top-not-a-mapping",
        "nested",
        "nested-any-mapping",
        "nested-missing",
        "nested-through-string",
        "index",
        "index-tuple",
        "index-out-of-range",
        "digits-as-key",
        "word-on-list",
        "quoted-digits-on-list",
        "index-then-key",
        "index-into-string",
    ],
)
def test_lookup_returns_the_value_or_missing(text, fields, expected):
    segments = parse_field_path(text)
    assert not isinstance(segments, str)

    result = compile_getter(segments)(fields)

    assert result == expected
