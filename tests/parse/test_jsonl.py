from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.parse import PARSERS, ParseFailure, parse_json

OBJECT_CASES = [
    ('{"a": 1}', {"a": 1}),
    (
        '{"fields": {"n": [1, 2.5, null, true]}}',
        {"fields": {"n": [1, 2.5, None, True]}},
    ),
    ("\ufeff{}", {}),
    ('  {"a": "\\u00e9"}  ', {"a": "é"}),
    ('{"big": 123456789012345678901234567890}', {"big": 1.2345678901234568e29}),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    OBJECT_CASES,
    ids=["flat", "nested", "byte-order-mark", "whitespace", "huge-int-as-float"],
)
def test_json_object_line_gives_its_fields(text, expected):
    fields = parse_json(text)

    assert fields == expected


NOT_OBJECT_CASES = [
    ("[1, 2]", "expected a JSON object, got an array"),
    ('"text"', "expected a JSON object, got a string"),
    ("12", "expected a JSON object, got a number"),
    ("1.5", "expected a JSON object, got a number"),
    ("true", "expected a JSON object, got a boolean"),
    ("null", "expected a JSON object, got null"),
]


@pytest.mark.parametrize(
    ("text", "detail"),
    NOT_OBJECT_CASES,
    ids=["array", "string", "int", "float", "bool", "null"],
)
def test_valid_json_that_is_not_an_object_is_a_failure(text, detail):
    result = parse_json(text)

    assert result == ParseFailure("not_an_object", detail)


INVALID_CASES = [
    ("plain text", "unexpected character"),
    ("", "Input is a zero-length, empty document"),
    ('{"a": 1', "unexpected end of data"),
    ('{"a": 1}{"b": 2}', "unexpected content after document"),
    ('{"n": 1e400}', "number is infinity when parsed as double"),
    ('{"s": "\ud800"}', "str is not valid UTF-8: surrogates not allowed"),
    ("[" * 2000, "depth limit exceeded"),
    ("NaN", "unexpected character"),
]


@pytest.mark.parametrize(
    ("text", "detail_start"),
    INVALID_CASES,
    ids=[
        "text",
        "empty",
        "truncated",
        "two-documents",
        "out-of-range-number",
        "lone-surrogate",
        "too-deep",
        "nan",
    ],
)
def test_invalid_json_is_a_failure_not_an_exception(text, detail_start):
    result = parse_json(text)

    assert isinstance(result, ParseFailure)
    assert result.reason == "invalid_json"
    assert result.detail.startswith(detail_start)


def test_failure_detail_never_quotes_the_line():
    result = parse_json("secret-token-abc123 is not json")

    assert isinstance(result, ParseFailure)
    assert "secret" not in result.detail


def test_registry_maps_json_to_the_json_parser():
    assert dict(PARSERS) == {"json": parse_json}


def test_registry_is_read_only():
    with pytest.raises(TypeError):
        PARSERS["logfmt"] = parse_json  # type: ignore[index]


@given(st.text())
def test_parse_json_never_raises_on_any_text(text):
    result = parse_json(text)

    assert isinstance(result, dict | ParseFailure)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@given(JSON_VALUES)
def test_json_text_of_an_object_parses_back_and_anything_else_fails(value):
    text = json.dumps(value)

    result = parse_json(text)

    expected = (
        value
        if isinstance(value, dict)
        else ParseFailure(
            "not_an_object", result.detail if isinstance(result, ParseFailure) else ""
        )
    )
    assert result == expected
