from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.model import BigInt
from bridge.parse import (
    FORMATS,
    PARSERS,
    ParseFailure,
    parse_cri,
    parse_docker,
    parse_json,
    parse_logfmt,
    scan_json_block,
)

OBJECT_CASES = [
    ('{"a": 1}', {"a": 1}),
    (
        '{"fields": {"n": [1, 2.5, null, true]}}',
        {"fields": {"n": [1, 2.5, None, True]}},
    ),
    ('  {"a": "\\u00e9"}  ', {"a": "é"}),
    ('{"a": 1, "a": 2}', {"a": 2}),
    (
        '{"big": 123456789012345678901234567890}',
        {"big": BigInt(123456789012345678901234567890)},
    ),
    ('{"u64": 18446744073709551615}', {"u64": 18446744073709551615}),
    ('{"i64": -9223372036854775808}', {"i64": -9223372036854775808}),
    ('{"neg": -9223372036854775809}', {"neg": BigInt(-9223372036854775809)}),
    (
        '{"n": 18446744073709551616, "a": 1, "a": 3}',
        {"n": BigInt(18446744073709551616), "a": 3},
    ),
    (
        '{"id": "12345678901234567890123", "n": 7}',
        {"id": "12345678901234567890123", "n": 7},
    ),
    ('{"f": 0.12345678901234567890123}', {"f": 0.12345678901234568}),
    ('{"s": "a\\u0000b"}', {"s": "a\x00b"}),
    ('{"x": 1}\r', {"x": 1}),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    OBJECT_CASES,
    ids=[
        "flat",
        "nested",
        "whitespace",
        "duplicate-key-last-wins",
        "huge-int-exact",
        "u64-max-stays-int",
        "i64-min-stays-int",
        "below-i64-exact",
        "huge-int-and-duplicate-key",
        "long-digit-string-untouched",
        "long-fraction-stays-float",
        "escaped-nul",
        "trailing-carriage-return",
    ],
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
    ("NaN", "unexpected character"),
    ('{"a": "x\x00y"}', "unexpected control character in string"),
    ('{"a": 1}\x00', "unexpected content after document"),
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
        "nan",
        "raw-nul-in-string",
        "nul-after-object",
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


@pytest.mark.parametrize(
    "text",
    ['{"a":' + "[" * 1100 + "]" * 1100 + "}", "{" * 2000, "[" * 2000],
    ids=["deep-arrays", "deep-braces", "unclosed-arrays"],
)
def test_nesting_beyond_orjson_limit_is_too_deep(text):
    result = parse_json(text)

    assert isinstance(result, ParseFailure)
    assert result.reason in {"too_deep", "invalid_json"}
    assert (result.reason == "too_deep") == text.startswith(("[", '{"a"'))


def test_nesting_at_orjson_limit_parses_when_allowed():
    text = '{"a":' + "[" * 1023 + "]" * 1023 + "}"

    result = parse_json(text, max_depth=1024)

    assert isinstance(result, dict)


@pytest.mark.parametrize(
    ("depth", "too_deep"),
    [(127, False), (128, True), (200, True)],
    ids=["at-the-limit", "one-past", "far-past"],
)
def test_nesting_past_max_depth_is_too_deep(depth, too_deep):
    # The object itself is one level: depth lists inside it make depth + 1.
    text = '{"a":' + "[" * depth + "]" * depth + ', "s": "[[[[[[[[[[[[[[[[[[[[[[["}'

    result = parse_json(text)

    assert (
        result == ParseFailure("too_deep", "nested deeper than 128 levels")
    ) is too_deep


def test_huge_int_nested_too_deep_for_the_stdlib_keeps_orjson_reading():
    # orjson takes 1024 levels, the stdlib fewer: the line still parses, lossily.
    text = '{"a":' + "[" * 1020 + "1" * 25 + "]" * 1020 + "}"

    result = parse_json(text, max_depth=1024)

    assert isinstance(result, dict)
    inner = result["a"]
    while isinstance(inner, list) and isinstance(inner[0], list):
        inner = inner[0]
    assert inner == [1.1111111111111111e24]


def test_integer_of_thousands_of_digits_is_kept_as_text():
    digits = "9" * 5000

    result = parse_json('{"n": ' + digits + "}")

    assert result == {"n": digits}


def test_huge_int_does_not_let_nan_through():
    result = parse_json('{"n": ' + "9" * 400 + ', "x": NaN}')

    assert result == ParseFailure(
        "invalid_json",
        "number is infinity when parsed as double: line 1 column 7 (char 6)",
    )


def test_huge_int_does_not_let_an_infinite_float_through():
    result = parse_json('{"n": ' + "9" * 400 + ', "x": 1e999}')

    assert result == ParseFailure(
        "invalid_json",
        "number is infinity when parsed as double: line 1 column 7 (char 6)",
    )


def test_bare_huge_integer_is_not_an_object():
    result = parse_json("9" * 400)

    assert isinstance(result, ParseFailure)
    assert result.reason == "not_an_object"


def test_line_of_megabytes_parses():
    text = '{"blob": "' + "x" * 3_000_000 + '", "n": 1}'

    result = parse_json(text)

    assert isinstance(result, dict)
    assert len(result["blob"]) == 3_000_000


def test_registry_maps_option_free_formats_to_their_parsers():
    assert dict(PARSERS) == {
        "json": parse_json,
        "logfmt": parse_logfmt,
        "docker": parse_docker,
        "cri": parse_cri,
    }
    assert FORMATS == ("json", "logfmt", "docker", "cri", "regex")


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


_BLOCK_LINES = [
    '{"a":1}',
    '{"id":"12345678901234567890123","n":5}',  # a digit run inside a string
    '{"n":123456789012345678901234}',  # an integer beyond 64 bits
    '{"n": -1234567890123456789012}',
    '{"n":[1, 99999999999999999999999]}',
    '{"n":-9223372036854775809}',  # 19 digits, below -2**63
    '{"n":18446744073709551615}',  # 2**64 - 1: exact in orjson
    '{"f":0.12345678901234567890123}',
    '{"f":1e-0000000000000000000005}',
    "\ufeff" + '{"bom":true}',
    "[1,2]",
    "42",
    "not json",
    '{"a":1}\r',
    "",
    '{"deep":' * 1100 + "1" + "}" * 1100,
    '{"k":"é","u":"\\u00e9"}',
]


@given(st.lists(st.sampled_from(_BLOCK_LINES), max_size=12), st.booleans())
def test_a_block_scan_reads_every_line_as_parse_json_does(
    lines: list[str], only_some: bool
) -> None:
    block = "".join(line + "\n" for line in lines).encode()
    begins = [
        len("".join(x + "\n" for x in lines[:i]).encode()) for i in range(len(lines))
    ]
    raws = [line.encode().removesuffix(b"\r") for line in lines]
    spans = (
        [(b, r) for i, (b, r) in enumerate(zip(begins, raws, strict=True)) if i % 2]
        if only_some
        else None
    )
    picked = list(range(1, len(lines), 2) if only_some else range(len(lines)))

    scan = scan_json_block(block, lambda fields: "a" not in fields, spans)

    # Blank lines are counted apart; every other line reads as parse_json reads it.
    blank = [i for i in picked if not lines[i].strip()]
    picked = [i for i in picked if lines[i].strip()]
    expected = [parse_json(lines[i].removesuffix("\r")) for i in picked]
    failures = [r.reason for r in expected if isinstance(r, ParseFailure)]
    objects = [
        (begins[i], raws[i], r)
        for i, r in zip(picked, expected, strict=True)
        if not isinstance(r, ParseFailure)
    ]
    assert scan.blank == len(blank)
    assert scan.failures == failures
    assert scan.kept == [(*o, True) for o in objects if "a" not in o[2]]
    assert scan.dropped == len([o for o in objects if "a" in o[2]])


@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(["a", "n", "id", "x"]),
            st.one_of(
                st.integers(-(2**70), 2**70),
                st.text(alphabet="0123456789:[,- ", max_size=30),
                st.lists(st.integers(-(2**70), 2**70), max_size=3),
            ),
        ),
        max_size=8,
    ),
    st.sampled_from(["", " ", "\t"]),
)
def test_a_block_scan_keeps_integers_exact(
    records: list[dict[str, object]], space: str
) -> None:
    lines = [json.dumps(r, separators=(",", ":" + space)) for r in records]
    block = "".join(line + "\n" for line in lines).encode()

    scan = scan_json_block(block, lambda fields: True)

    assert [fields for _, _, fields, _ in scan.kept] == [parse_json(x) for x in lines]


def test_a_byte_order_mark_is_not_json_inside_a_file():
    # The reader strips one from the start of a file; anywhere else it is an error.
    result = parse_json("\ufeff{}")

    assert isinstance(result, ParseFailure)
    assert result.reason == "invalid_json"
