from __future__ import annotations

import pytest
import re2
from hypothesis import given
from hypothesis import strategies as st

from bridge.parse import ParseFailure, build_regex_parser
from bridge.parse.regex import compile_re2, duplicate_group_name, is_search_match

NGINX = (
    r"^(?P<ip>\S+) \S+ (?P<user>\S+) \[(?P<time>[^\]]+)\] "
    r'"(?P<method>\S+) (?P<path>\S+)[^"]*" (?P<status>\d+) (?P<bytes>\d+)'
)
NGINX_LINE = (
    '203.0.113.9 - alice [16/Dec/2025:10:00:00 +0000] "GET /api/orders?id=7 '
    'HTTP/1.1" 200 512 "-" "curl/8.0"'
)
NGINX_FIELDS = {
    "ip": "203.0.113.9",
    "user": "alice",
    "time": "16/Dec/2025:10:00:00 +0000",
    "method": "GET",
    "path": "/api/orders?id=7",
    "status": "200",
    "bytes": "512",
}


def parser(*patterns: str):
    compiled = [compile_re2(p) for p in patterns]
    assert all(isinstance(regex, re2._Regexp) for regex in compiled)
    return build_regex_parser(compiled)  # type: ignore[arg-type]


FIELDS_CASES = [
    ("nginx-access", (NGINX,), NGINX_LINE, NGINX_FIELDS),
    ("crlf", (NGINX,), NGINX_LINE + "\r", NGINX_FIELDS),
    ("search-not-anchored", (r"user=(?P<user>\w+)",), "x user=bob y", {"user": "bob"}),
    (
        "optional-group-absent",
        (r"(?P<a>\d+)(?: (?P<b>[a-z]+))?",),
        "12",
        {"a": "12"},
    ),
    ("optional-group-empty", (r"(?P<a>\d+)-(?P<b>\w*)",), "12-", {"a": "12", "b": ""}),
    (
        "unnamed-groups-ignored",
        (r"(\d+) (?P<word>\w+)",),
        "12 ab",
        {"word": "ab"},
    ),
    (
        "first-match-wins",
        (r"^(?P<a>x)", r"^(?P<b>x)"),
        "x",
        {"a": "x"},
    ),
    (
        "second-pattern-when-first-fails",
        (r"^ERROR (?P<error>.*)", r"^(?P<level>\w+) (?P<message>.*)"),
        "INFO started",
        {"level": "INFO", "message": "started"},
    ),
    (
        "unicode-offsets",
        # RE2's \w is ASCII only; \pL is any letter.
        (r"(?P<who>\pL+) paid (?P<amount>\d+)€ (?P<note>.*)",),
        "zoë paid 12€ ñandú ☃",
        {"who": "zoë", "amount": "12", "note": "ñandú ☃"},
    ),
    (
        "auth-log",
        (
            r"^(?P<time>\w{3} +\d+ [\d:]+) (?P<host>\S+) sshd\[(?P<pid>\d+)\]: "
            r"Failed password for (?:invalid user )?(?P<user>\S+) from (?P<ip>\S+)",
        ),
        "Nov 28 04:12:01 web1 sshd[4242]: Failed password for invalid user admin "
        "from 198.51.100.7 port 52113 ssh2",
        {
            "time": "Nov 28 04:12:01",
            "host": "web1",
            "pid": "4242",
            "user": "admin",
            "ip": "198.51.100.7",
        },
    ),
    ("nul-byte", (r"a=(?P<a>[^ ]*)",), "a=x\x00y", {"a": "x\x00y"}),
]


@pytest.mark.parametrize(
    ("patterns", "text", "expected"),
    [case[1:] for case in FIELDS_CASES],
    ids=[case[0] for case in FIELDS_CASES],
)
def test_regex_line_gives_its_named_groups(patterns, text, expected):
    result = parser(*patterns)(text)

    assert result == expected


@pytest.mark.parametrize(
    ("patterns", "detail"),
    [
        ((r"^(?P<a>\d+)$",), "the line matched none of the 1 pattern"),
        ((r"^(?P<a>\d+)$", r"^(?P<b>x)"), "the line matched none of the 2 patterns"),
    ],
    ids=["one", "two"],
)
def test_line_matching_no_pattern_is_a_failure(patterns, detail):
    result = parser(*patterns)("hello")

    assert result == ParseFailure("no_pattern_matched", detail)


def test_lone_surrogate_never_raises_nor_comes_out():
    result = parser(r"(?P<all>.*)")("a\ud800b")

    assert isinstance(result, dict)
    assert "\ud800" not in result["all"]
    result["all"].encode()


def test_line_of_megabytes_matches_in_linear_time():
    text = "a" * 3_000_000 + "!"

    result = parser(r"(?P<a>a+)+!", r"(?P<b>(a|aa)+)$")(text)

    assert result == {"a": "a" * 3_000_000}


@given(st.text())
def test_regex_parser_never_raises_on_any_text(text):
    result = parser(NGINX, r"(?P<word>\w+)")(text)

    assert isinstance(result, dict | ParseFailure)


COMPILE_ERRORS = [
    ("(?<=x)y", "invalid perl operator: (?<="),
    ("(a", "missing ): (a"),
    ("a{1001}", "invalid repetition size: {1001}"),
    ("\ud800", "invalid UTF-8"),
]


@pytest.mark.parametrize(
    ("pattern", "reason"),
    COMPILE_ERRORS,
    ids=["lookbehind", "unbalanced", "repeat", "surrogate"],
)
def test_compile_re2_gives_the_reason_it_refuses(pattern, reason):
    assert compile_re2(pattern) == reason


DUPLICATE_CASES = [
    (r"(?P<a>x)|(?P<a>y)", "a"),
    (r"(?<a>x)|(?P<a>y)", "a"),
    (r"(?P<a>x)(?P<b>y)", None),
    (r"\(?P<a>x\)(?P<a>y)", None),
    (r"[(?P<a>x](?P<a>y)", None),
    (r"[]?P<a>(](?P<a>y)", None),
    (r"[^]](?P<a>x)", None),
    (r"(?P<a>[\]])(?P<b>x)(?P<b>y)", "b"),
]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    DUPLICATE_CASES,
    ids=[
        "twice",
        "both-syntaxes",
        "distinct",
        "escaped-paren",
        "in-class",
        "bracket-first-in-class",
        "negated-class",
        "escape-in-class",
    ],
)
def test_duplicate_group_name_finds_a_name_used_twice(pattern, expected):
    assert duplicate_group_name(pattern) == expected


def test_search_match_searches_the_text_as_it_is():
    regex = compile_re2(r"^\{")
    assert isinstance(regex, re2._Regexp)
    matches = is_search_match(regex)

    assert [matches("{"), matches("\ufeff{"), matches(" {"), matches("\ud800")] == [
        True,
        False,
        False,
        False,
    ]
