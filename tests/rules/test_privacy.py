"""Personal data in values: ``hash`` and ``redact``."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.rules import MISSING, compile_rules
from bridge.rules.values.privacy import MAX_REDACT_DEPTH, hash_text, luhn_ok
from tests.rules.support import FILE, errors, record, rule_file

SALT = b"pepper"


def mapped(spec: str, fields: dict[str, Any], salt: bytes | None = SALT) -> Any:
    """The property 'p' mapped by ``spec``; 'OMITTED' when left out."""
    text = rule_file(properties=f"{{p: {spec}}}")
    (event,) = compile_rules([(FILE, text)], salt=salt).apply(record(fields))
    return event.properties.get("p", "OMITTED")


def expected_hash(text: str) -> str:
    return hmac.new(SALT, text.encode(), hashlib.sha256).hexdigest()


HASH_CASES = [
    ("string", {"e": "ana@example.com"}, expected_hash("ana@example.com")),
    ("number-hashes-its-text", {"e": 123}, expected_hash("123")),
    ("string-digits-hash-like-number", {"e": "123"}, expected_hash("123")),
    ("structure-hashes-its-json", {"e": {"a": 1}}, expected_hash('{"a":1}')),
    ("null-stays-null", {"e": None}, None),
    ("missing-stays-missing", {}, "OMITTED"),
]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [case[1:] for case in HASH_CASES],
    ids=[case[0] for case in HASH_CASES],
)
def test_hash_is_the_salted_hmac_sha256_of_the_text(fields, expected):
    result = mapped("{field: e, hash: true}", fields)

    assert result == expected


def test_hash_false_keeps_the_value():
    result = mapped("{field: e, hash: false}", {"e": "x"}, salt=None)

    assert result == "x"


def test_default_is_not_hashed():
    result = mapped("{field: e, hash: true, default: anon}", {})

    assert result == "anon"


def test_hash_applies_after_the_type_conversion():
    result = mapped("{field: e, type: int, hash: true}", {"e": "0042"})

    assert result == expected_hash("42")


def test_another_salt_gives_another_hash():
    first = mapped("{field: e, hash: true}", {"e": "a"}, salt=b"one")
    second = mapped("{field: e, hash: true}", {"e": "a"}, salt=b"two")

    assert first != second


def test_distinct_id_can_be_hashed():
    text = rule_file(distinct_id="{field: email, hash: true}")
    ruleset = compile_rules([(FILE, text)], salt=SALT)

    (event,) = ruleset.apply(record({"email": "ana@example.com"}))

    assert event.distinct_id == expected_hash("ana@example.com")


def test_hash_of_unrenderable_value_is_missing():
    result = hash_text(SALT, 10**5000)

    assert result is MISSING


REDACT_CASES = [
    ("email", "[email]", "mail ana.b+x@mail.example.org now", "mail [EMAIL] now"),
    ("email-kind-alone", "email", "to a@b.io.", "to [EMAIL]."),
    ("email-unicode", "[email]", "ñandú@correo.es", "[EMAIL]"),
    ("email-no-domain-dot", "[email]", "root@localhost", "root@localhost"),
    ("card-plain", "[card]", "card 4111111111111111 ok", "card [CARD] ok"),
    ("card-spaces", "[card]", "4111 1111 1111 1111", "[CARD]"),
    ("card-hyphens", "[card]", "5500-0000-0000-0004.", "[CARD]."),
    ("card-amex", "[card]", "3782 822463 10005", "[CARD]"),
    ("card-next-to-number", "[card]", "qty 12 4111 1111 1111 1111", "qty 12 [CARD]"),
    ("card-luhn-fails", "[card]", "4111111111111112", "4111111111111112"),
    ("card-ms-epoch-kept", "[card]", "at 1734342000000", "at 1734342000000"),
    ("card-too-long", "[card]", "41111111111111111111", "41111111111111111111"),
    ("ipv4", "[ipv4]", "from 10.0.0.1, port 80", "from [IP], port 80"),
    ("ipv4-end-of-sentence", "[ipv4]", "from 10.0.0.1.", "from [IP]."),
    ("ipv4-start", "[ipv4]", "1.2.3.4 said", "[IP] said"),
    ("ipv4-octet-too-big", "[ipv4]", "1.2.3.256", "1.2.3.256"),
    ("ipv4-version-kept", "[ipv4]", "v1.2.3.4.5", "v1.2.3.4.5"),
    ("ipv4-inside-number-kept", "[ipv4]", "x 1234.5.6.7", "x 1234.5.6.7"),
    ("ipv4-after-number-dot-kept", "[ipv4]", "9.1.2.3.4", "9.1.2.3.4"),
    ("ipv6-loopback", "[ipv6]", "from ::1 ok", "from [IP] ok"),
    ("ipv6-full", "[ipv6]", "2001:db8:0:0:0:0:2:1", "[IP]"),
    ("ipv6-bracket-port", "[ipv6]", "[fe80::1]:8080", "[[IP]]:8080"),
    ("ipv6-trailing-colon", "[ipv6]", "addr fe80::1: bad", "addr [IP]: bad"),
    ("ipv6-mapped", "[ip]", "::ffff:1.2.3.4", "[IP]"),
    ("ipv6-cpp-scope-kept", "[ipv6]", "std::vector", "std::vector"),
    ("ipv6-time-kept", "[ipv6]", "at 12:30:45", "at 12:30:45"),
    ("ipv6-followed-by-word-kept", "[ipv6]", "a ::1x", "a ::1x"),
    ("ipv6-rust-path-kept", "[ipv6]", "a::b::c", "a::b::c"),
    ("ip-both", "[ip]", "10.0.0.1 and ::1", "[IP] and [IP]"),
    ("custom-pattern", "[{pattern: 'secret-\\d+'}]", "k secret-42", "k [REDACTED]"),
    (
        "custom-replacement",
        "[{pattern: 'tok_[a-z]+', replacement: '<tok>'}]",
        "use tok_abc",
        "use <tok>",
    ),
    (
        "custom-replacement-is-literal",
        "[{pattern: '(a)', replacement: '\\1'}]",
        "a",
        "\\1",
    ),
    ("listed-order", "[email, card]", "a@b.co 4111111111111111", "[EMAIL] [CARD]"),
]


@pytest.mark.parametrize(
    ("kinds", "text", "expected"),
    [case[1:] for case in REDACT_CASES],
    ids=[case[0] for case in REDACT_CASES],
)
def test_redact_replaces_what_each_kind_recognises(kinds, text, expected):
    result = mapped(f"{{field: m, redact: {kinds}}}", {"m": text}, salt=None)

    assert result == expected


VALUE_CASES = [
    ("number-holding-card", 4111111111111111, "[CARD]"),
    ("number-without-card", 42, 42),
    ("number-beyond-json-kept", 10**5000, 10**5000),
    ("float-kept", 1.5, 1.5),
    ("bool-kept", True, True),
    ("null-kept", None, None),
    (
        "structures-walked",
        {"to": ["a@b.co", 1], "a@b.co": "x"},
        {"to": ["[EMAIL]", 1], "a@b.co": "x"},
    ),
]


@pytest.mark.parametrize(
    ("value", "expected"),
    [case[1:] for case in VALUE_CASES],
    ids=[case[0] for case in VALUE_CASES],
)
def test_redact_walks_values_of_any_type(value, expected):
    result = mapped("{field: m, redact: [email, card]}", {"m": value}, salt=None)

    assert result == expected


def test_redact_replaces_structures_nested_too_deep():
    deep: Any = "a@b.co"
    for _ in range(MAX_REDACT_DEPTH + 1):
        deep = [deep]

    result = mapped("{field: m, redact: [email]}", {"m": deep}, salt=None)

    for _ in range(MAX_REDACT_DEPTH):
        result = result[0]
    assert result == "[REDACTED]"


def test_redact_leaves_a_missing_field_to_the_default():
    result = mapped("{field: m, redact: [email], default: none}", {}, salt=None)

    assert result == "none"


def test_luhn_check():
    assert [luhn_ok(n) for n in ("79927398713", "79927398710", "0")] == [
        True,
        False,
        True,
    ]


def with_luhn_digit(body: str) -> str:
    for digit in "0123456789":
        if luhn_ok(body + digit):
            return body + digit
    raise AssertionError  # pragma: no cover - one digit always fits


@st.composite
def cards(draw: st.DrawFn) -> str:
    first = draw(st.sampled_from("23456"))
    rest = draw(st.text("0123456789", min_size=11, max_size=17))
    number = with_luhn_digit(first + rest)
    if len(number) == 16 and draw(st.booleans()):
        sep = draw(st.sampled_from(" -"))
        return sep.join(number[i : i + 4] for i in range(0, 16, 4))
    return number


AROUND = st.text(max_size=30)


def redact(kinds: str, text: str) -> Any:
    return mapped(f"{{field: m, redact: {kinds}}}", {"m": text}, salt=None)


@given(card=cards(), before=AROUND, after=AROUND)
def test_redaction_never_leaks_a_card_number(card, before, after):
    result = redact("[card]", f"{before} {card} {after}")

    assert card not in result


@given(email=st.emails(), before=AROUND, after=AROUND)
def test_redaction_never_leaks_an_email(email, before, after):
    result = redact("[email]", f"{before} {email} {after}")

    assert email not in result


@given(ip=st.ip_addresses(v=4), before=AROUND, after=AROUND)
def test_redaction_never_leaks_an_ipv4_address(ip, before, after):
    result = redact("[ip]", f"{before} {ip} {after}")

    assert f" {ip} " not in f" {result} "


@given(ip=st.ip_addresses(v=6), before=AROUND, after=AROUND)
def test_redaction_never_leaks_an_ipv6_address(ip, before, after):
    result = redact("[ip]", f"{before} {ip} {after}")

    assert f" {ip} " not in f" {result} "


@given(st.text())
def test_redaction_never_raises(text):
    result = redact("[email, card, ip]", text)

    assert isinstance(result, str)


ERROR_CASES = [
    pytest.param(
        "{field: e, hash: true}",
        None,
        [
            "rules/a.yaml:9:38: error: rules[0].properties.p.hash: hash needs a salt "
            "(hint: set hash_salt or hash_salt_file in the configuration, "
            "LOGBRIDGE_HASH_SALT, or the systemd credential hash_salt)"
        ],
        id="hash-without-salt",
    ),
    pytest.param(
        "{field: e, hash: true}",
        b"",
        [
            "rules/a.yaml:9:38: error: rules[0].properties.p.hash: hash needs a salt "
            "(hint: set hash_salt or hash_salt_file in the configuration, "
            "LOGBRIDGE_HASH_SALT, or the systemd credential hash_salt)"
        ],
        id="hash-empty-salt",
    ),
    pytest.param(
        "{field: e, hash: yes}",
        SALT,
        [
            "rules/a.yaml:9:38: error: rules[0].properties.p.hash: expected true or "
            "false for 'hash', got 'yes'"
        ],
        id="hash-not-bool",
    ),
    pytest.param(
        "{field: e, hash: true, redact: [email]}",
        SALT,
        [
            "rules/a.yaml:9:21: error: rules[0].properties.p: expected at most one of "
            "hash, redact, got hash and redact (hint: a hash hides the whole value "
            "already)"
        ],
        id="hash-and-redact",
    ),
    pytest.param(
        "{field: e, redact: [emial]}",
        None,
        [
            "rules/a.yaml:9:41: error: rules[0].properties.p.redact[0]: unknown "
            "redaction 'emial'; expected one of card, email, ip, ipv4, ipv6 or a "
            "{pattern: ...} mapping (did you mean 'email'?)"
        ],
        id="redact-unknown-kind",
    ),
    pytest.param(
        "{field: e, redact: []}",
        None,
        [
            "rules/a.yaml:9:40: error: rules[0].properties.p.redact: expected at "
            "least one redaction, got an empty list"
        ],
        id="redact-empty",
    ),
    pytest.param(
        "{field: e, redact: [5]}",
        None,
        [
            "rules/a.yaml:9:41: error: rules[0].properties.p.redact[0]: expected one "
            "of card, email, ip, ipv4, ipv6 or a {pattern: ...} mapping, got 5 (hint: "
            "quote it to make it a string: '5')"
        ],
        id="redact-not-a-string",
    ),
    pytest.param(
        "{field: e, redact: [{pattern: '(?<=x)y'}]}",
        None,
        [
            "rules/a.yaml:9:51: error: rules[0].properties.p.redact[0].pattern: RE2 "
            "cannot compile '(?<=x)y': invalid perl operator: (?<="
        ],
        id="redact-bad-pattern",
    ),
    pytest.param(
        "{field: e, redact: [{pattern: 'x*'}]}",
        None,
        [
            "rules/a.yaml:9:51: error: rules[0].properties.p.redact[0].pattern: "
            "pattern 'x*' matches the empty string (hint: it would insert the "
            "replacement between characters)"
        ],
        id="redact-empty-match",
    ),
    pytest.param(
        "{field: e, redact: [{pattern: a, replacement: [x]}]}",
        None,
        [
            "rules/a.yaml:9:67: error: rules[0].properties.p.redact[0].replacement: "
            "expected a string, got a list"
        ],
        id="redact-replacement-not-string",
    ),
    pytest.param(
        "{field: e, redact: [{patern: a}]}",
        None,
        [
            "rules/a.yaml:9:41: error: rules[0].properties.p.redact[0]: missing "
            "required key 'pattern'",
            "rules/a.yaml:9:42: error: rules[0].properties.p.redact[0]: unknown key "
            "'patern'; expected one of pattern, replacement (did you mean "
            "'pattern'?)",
        ],
        id="redact-pattern-typo",
    ),
]


@pytest.mark.parametrize(("spec", "salt", "expected"), ERROR_CASES)
def test_invalid_hash_or_redact_is_reported_at_its_position(spec, salt, expected):
    result = errors(rule_file(properties=f"{{p: {spec}}}"), salt=salt)

    assert result == expected
