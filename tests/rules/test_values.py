from __future__ import annotations

from typing import Any

import pytest

from bridge.model import BigInt, event_uuid
from bridge.rules import compile_rules
from tests.rules.support import FILE, events, record, rule_file

FIELDS = {
    "user_id": 123,
    "name": "ana",
    "amount": "100",
    "price": 9.5,
    "flag": "Yes",
    "nested": {"a": [1, {"b": "x"}]},
    "nothing": None,
    "ok": True,
    "http.status": 404,
    'q"k': "quoted",
}


def properties(spec: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    (event,) = events(rule_file(properties=spec), FIELDS if fields is None else fields)
    return dict(event.properties)


VALUE_CASES = [
    # Each case: id, value spec, expected value ("OMITTED": property left out).
    ("static-string", "tl-engine", "tl-engine"),
    ("static-int", "2", 2),
    ("static-float", "2.5", 2.5),
    ("static-bool", "true", True),
    ("static-null", "null", None),
    ("static-empty-string", "''", ""),
    ("value-list", "{value: [a, 1]}", ["a", 1]),
    ("value-mapping", "{value: {k: v}}", {"k": "v"}),
    ("value-with-type", "{value: '5', type: int}", 5),
    ("field-string", "{field: name}", "ana"),
    ("field-number", "{field: user_id}", 123),
    ("field-null", "{field: nothing}", None),
    ("field-nested", "{field: nested.a.1.b}", "x"),
    ("field-structure", "{field: nested.a}", [1, {"b": "x"}]),
    ("field-quoted", "{field: '\"http.status\"'}", 404),
    ("field-missing", "{field: absent}", "OMITTED"),
    ("template-form", "{template: 'u-{user_id}'}", "u-123"),
    ("template-form-static", "{template: plain}", "plain"),
    ("template-string-field", "'hi {name}'", "hi ana"),
    ("template-number-as-json", "'{user_id}'", "123"),
    ("template-float-as-json", "'{price}'", "9.5"),
    ("template-bool-as-json", "'{ok}'", "true"),
    ("template-null-is-absent", "'{nothing}'", "OMITTED"),
    ("template-null-in-text-is-absent", "'user-{nothing}'", "OMITTED"),
    ("template-structure-as-json", "'{nested}'", '{"a":[1,{"b":"x"}]}'),
    ("template-two-fields", "'{name}:{user_id}'", "ana:123"),
    ("template-missing-field", "'u-{absent}'", "OMITTED"),
    ("template-missing-second-field", "'{name}-{absent}'", "OMITTED"),
    ("template-escaped-braces", "'{{literal}} {name}'", "{literal} ana"),
    ("template-only-escapes", "'{{x}}'", "{x}"),
    ("template-brace-around-field", "'{{{name}}}'", "{ana}"),
    ("template-quoted-segment", "'{\"http.status\"}'", "404"),
    ("template-quoted-escape", '\'{"q\\"k"}\'', "quoted"),
    ("template-unrenderable-structure", "'{huge_list}'", "OMITTED"),
    ("template-quoted-brace", "'{\"a}b\"}'", "OMITTED"),
    ("builtin-hostname", "'{$hostname}'", "localhost"),
    ("builtin-source", "'{$source}'", "app"),
    ("builtin-rule", "'{$rule}'", "r"),
    ("builtin-file-id", "'{$file_id}'", "fp1"),
    ("builtin-offset", "'{$offset}'", "42"),
    ("builtins-joined", "'{$source}/{$rule}@{$offset}'", "app/r@42"),
    ("type-int-from-string", "{field: amount, type: int}", 100),
    ("type-int-from-integral-float", "{value: 100.0, type: int}", 100),
    ("type-int-refuses-fraction", "{field: price, type: int}", "OMITTED"),
    ("type-int-refuses-bool", "{field: ok, type: int}", "OMITTED"),
    ("type-int-refuses-text", "{field: name, type: int}", "OMITTED"),
    ("type-int-from-exponent", "{value: '1e3', type: int}", 1000),
    ("type-int-largest", "{value: '18446744073709551615', type: int}", 2**64 - 1),
    (
        "type-int-beyond-64-bits",
        "{value: '18446744073709551616', type: int}",
        BigInt(2**64),
    ),
    ("type-int-smallest", "{value: '-9223372036854775808', type: int}", -(2**63)),
    ("type-int-below-64-bits", "{value: -1e19, type: int}", BigInt(-(10**19))),
    ("type-float-from-string", "{field: amount, type: float}", 100.0),
    ("type-float-from-int", "{field: user_id, type: float}", 123.0),
    ("type-float-refuses-bool", "{field: ok, type: float}", "OMITTED"),
    ("type-float-refuses-overflow", "{value: '1e999', type: float}", "OMITTED"),
    ("type-float-refuses-huge-int", "{field: huge, type: float}", "OMITTED"),
    ("type-bool-yes", "{field: flag, type: bool}", True),
    ("type-bool-no", "{value: 'NO', type: bool}", False),
    ("type-bool-one", "{value: 1, type: bool}", True),
    ("type-bool-zero-string", "{value: '0', type: bool}", False),
    ("type-bool-true", "{field: ok, type: bool}", True),
    ("type-bool-refuses-two", "{value: 2, type: bool}", "OMITTED"),
    ("type-bool-refuses-text", "{field: name, type: bool}", "OMITTED"),
    ("type-bool-keeps-null", "{field: nothing, type: bool}", None),
    ("type-str-from-int", "{field: user_id, type: str}", "123"),
    ("type-str-from-structure", "{field: nested, type: str}", '{"a":[1,{"b":"x"}]}'),
    ("type-str-keeps-string", "{field: name, type: str}", "ana"),
    ("type-str-keeps-null", "{field: nothing, type: str}", None),
    ("default-when-missing", "{field: absent, default: EUR}", "EUR"),
    ("default-unused", "{field: name, default: EUR}", "ana"),
    ("default-null-sends-null", "{field: absent, default: null}", None),
    ("default-after-failed-type", "{field: name, type: int, default: 0}", 0),
    ("default-not-for-null", "{field: nothing, default: x}", None),
    ("default-structure", "{field: absent, default: [1]}", [1]),
    ("static-huge-int", "99999999999999999999999", BigInt(99999999999999999999999)),
    (
        "default-huge-int",
        "{field: absent, default: 99999999999999999999999}",
        BigInt(99999999999999999999999),
    ),
]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [case[1:] for case in VALUE_CASES],
    ids=[case[0] for case in VALUE_CASES],
)
def test_property_value(spec, expected):
    fields = {**FIELDS, "huge": 10**400, "huge_list": [10**30]}
    (event,) = events(rule_file(properties=f"{{p: {spec}}}"), fields, offset=42)

    value = event.properties.get("p", "OMITTED")

    assert value == expected
    assert type(value) is type(expected)


def test_properties_keep_their_order_and_omit_missing_ones():
    spec = "{b: {field: name}, gone: {field: absent}, a: 1, c: '{user_id}'}"

    result = properties(spec)

    assert list(result.items()) == [
        ("b", "ana"),
        ("a", 1),
        ("c", "123"),
        ("$process_person_profile", False),
    ]


def test_hostname_builtin_uses_the_hostname_given_at_compile():
    ruleset = compile_rules(
        [(FILE, rule_file(properties="{h: '{$hostname}'}"))], hostname="web-1"
    )

    (event,) = ruleset.apply(record({}))

    assert event.properties["h"] == "web-1"


DISTINCT_ID_CASES = [
    # Each case: id, distinct_id spec, fields, distinct_id (None: personless).
    ("template-number", "'{user_id}'", {"user_id": 123}, "123"),
    ("template-string", "'{user}'", {"user": "ana"}, "ana"),
    ("template-prefixed", "'user-{user_id}'", {"user_id": 7}, "user-7"),
    ("field-number-as-json", "{field: user_id}", {"user_id": 123}, "123"),
    ("field-float-as-json", "{field: user_id}", {"user_id": 1.5}, "1.5"),
    ("field-bool-is-a-placeholder", "{field: user_id}", {"user_id": True}, None),
    ("field-structure-as-json", "{field: u}", {"u": {"id": 1}}, '{"id":1}'),
    ("field-empty-string-personless", "{field: u}", {"u": ""}, None),
    ("field-missing-personless", "{field: u}", {}, None),
    ("template-missing-personless", "'{u}'", {}, None),
    ("template-null-personless", "'{u}'", {"u": None}, None),
    ("placeholder-personless", "'{u}'", {"u": "anonymous"}, None),
    ("quoted-placeholder-personless", "'{u}'", {"u": '"null"'}, None),
    ("zero-personless", "'{u}'", {"u": 0}, None),
    ("blank-personless", "'{u}'", {"u": "   "}, None),
    (
        "too-long-hashed",
        "'{u}'",
        {"u": "x" * 201},
        "sha256:84a0678c90937f5dcf9994d5866668da6b995109c8ad845410559b48a4ecafed",
    ),
    ("field-null-personless", "{field: u}", {"u": None}, None),
    ("field-huge-int-as-text", "{field: u}", {"u": 10**30}, str(10**30)),
    ("field-unrenderable-personless", "{field: u}", {"u": 10**5000}, None),
    ("default-when-missing", "{field: u, default: anon}", {}, "anon"),
    ("typed-int", "{field: u, type: int}", {"u": "0042"}, "42"),
]


@pytest.mark.parametrize(
    ("spec", "fields", "expected"),
    [case[1:] for case in DISTINCT_ID_CASES],
    ids=[case[0] for case in DISTINCT_ID_CASES],
)
def test_distinct_id(spec, fields, expected):
    (event,) = events(rule_file(distinct_id=spec), fields)

    personless = event.properties.get("$process_person_profile") is False
    actual = None if personless else event.distinct_id

    assert actual == expected
    if personless:
        assert event.distinct_id == event.uuid


def test_rule_without_distinct_id_sends_personless_events_keyed_by_uuid():
    (event,) = events(rule_file(properties="{a: 1}"), {}, file_id="fp9", offset=7)

    assert event.distinct_id == event_uuid("app", "fp9", 7, "r")
    assert dict(event.properties) == {"a": 1, "$process_person_profile": False}


def test_event_with_a_person_has_no_personless_flag():
    (event,) = events(rule_file(distinct_id="'{u}'", properties="{a: 1}"), {"u": 5})

    assert dict(event.properties) == {"a": 1}


RECORD_TEXT_CASES = [
    ("text-one-line", "'{$text}'", "one", "one"),
    ("text-multi-line", "'{$text}'", "one\ntwo", "one\ntwo"),
    ("trace-multi-line", "'{$trace}'", "one\ntwo\nthree", "two\nthree"),
    ("trace-one-line-missing", "'{$trace}'", "one", "OMITTED"),
]


@pytest.mark.parametrize(
    ("spec", "text", "expected"),
    [case[1:] for case in RECORD_TEXT_CASES],
    ids=[case[0] for case in RECORD_TEXT_CASES],
)
def test_record_text_builtins(spec, text, expected):
    ruleset = compile_rules([(FILE, rule_file(properties=f"{{p: {spec}}}"))])

    (event,) = ruleset.apply(record({}, text=text))

    assert event.properties.get("p", "OMITTED") == expected
