from __future__ import annotations

from typing import Any

import pytest

from tests.rules.support import events, rule_file


def matches(when: str, fields: dict[str, Any]) -> bool:
    return bool(events(rule_file(when=when), fields))


EQUALITY_CASES = [
    # Each case: id, condition, value of field f, whether the rule matches.
    ("str-equal", "INFO", "INFO", True),
    ("str-differs", "INFO", "WARN", False),
    ("int-equal", "200", 200, True),
    ("int-equals-float", "200", 200.0, True),
    ("int-vs-numeric-string", "200", "200", True),
    ("int-vs-other-string", "200", "200.0", False),
    ("float-vs-string", "2.5", "2.5", True),
    ("string-vs-int-field", "'200'", 200, True),
    ("string-vs-float-field", "'2.5'", 2.5, True),
    ("string-vs-float-rendering", "'1'", 1.0, False),
    ("bool-equal", "true", True, True),
    ("bool-vs-string", "true", "true", True),
    ("bool-vs-other-string", "true", "True", False),
    ("string-vs-bool-field", "'false'", False, True),
    ("bool-never-equals-number", "true", 1, False),
    ("number-never-equals-bool", "1", True, False),
    ("zero-never-equals-false", "0", False, False),
    ("null-equals-null", "null", None, True),
    ("null-vs-string", "null", "null", False),
    ("string-vs-null-field", "'null'", None, False),
    ("str-vs-list-field", "x", ["x"], False),
    ("int-vs-dict-field", "1", {"a": 1}, False),
    ("yaml-1.1-no-stays-a-string", "NO", "NO", True),
    ("yaml-1.1-on-stays-a-string", "on", "on", True),
]


@pytest.mark.parametrize(
    ("condition", "value", "expected"),
    [case[1:] for case in EQUALITY_CASES],
    ids=[case[0] for case in EQUALITY_CASES],
)
def test_scalar_condition_is_equality(condition, value, expected):
    result = matches(f"{{f: {condition}}}", {"f": value})

    assert result is expected


@pytest.mark.parametrize("condition", ["x", "null", "1", "true"])
def test_missing_field_equals_nothing_not_even_null(condition):
    result = matches(f"{{f: {condition}}}", {"other": None})

    assert result is False


OPERATOR_CASES = [
    # Each case: id, condition, fields, whether the rule matches.
    ("eq-true", "{eq: 5}", {"f": 5}, True),
    ("eq-false", "{eq: 5}", {"f": 6}, False),
    ("eq-missing", "{eq: null}", {}, False),
    ("ne-true", "{ne: 5}", {"f": 6}, True),
    ("ne-false", "{ne: 5}", {"f": "5"}, False),
    ("ne-missing-holds", "{ne: 5}", {}, True),
    ("in-string", "{in: [INFO, WARN]}", {"f": "WARN"}, True),
    ("in-string-absent", "{in: [INFO, WARN]}", {"f": "ERROR"}, False),
    ("in-number-field", "{in: [200, 201]}", {"f": 201}, True),
    ("in-numeric-string", "{in: [200, 201]}", {"f": "201"}, True),
    ("in-bool-string", "{in: [true]}", {"f": "true"}, True),
    ("in-null", "{in: [null, x]}", {"f": None}, True),
    ("in-null-not-string", "{in: [null]}", {"f": "null"}, False),
    ("in-string-vs-number-field", "{in: ['7']}", {"f": 7}, True),
    ("in-missing", "{in: [x]}", {}, False),
    ("in-list-field", "{in: [x]}", {"f": ["x"]}, False),
    ("exists-true", "{exists: true}", {"f": None}, True),
    ("exists-true-missing", "{exists: true}", {}, False),
    ("exists-false", "{exists: false}", {}, True),
    ("exists-false-present", "{exists: false}", {"f": 0}, False),
    ("regex-search", "{regex: 'o+r'}", {"f": "an order"}, True),
    ("regex-anchored", "{regex: '^order$'}", {"f": "an order"}, False),
    ("regex-number-field", "{regex: '2'}", {"f": 200}, False),
    ("regex-missing", "{regex: '.*'}", {}, False),
    ("regex-unicode", "{regex: '^caf.$'}", {"f": "café"}, True),
    ("contains", "{contains: err}", {"f": "an error"}, True),
    ("contains-false", "{contains: err}", {"f": "fine"}, False),
    ("contains-list-field", "{contains: err}", {"f": ["err"]}, False),
    ("startswith", "{startswith: GET}", {"f": "GET /"}, True),
    ("startswith-false", "{startswith: GET}", {"f": "POST /"}, False),
    ("startswith-number", "{startswith: '2'}", {"f": 200}, False),
    ("endswith", "{endswith: .png}", {"f": "a.png"}, True),
    ("endswith-false", "{endswith: .png}", {"f": "a.jpg"}, False),
    ("endswith-missing", "{endswith: .png}", {}, False),
    ("gt-int", "{gt: 0}", {"f": 1}, True),
    ("gt-equal", "{gt: 1}", {"f": 1}, False),
    ("gt-float", "{gt: 0.5}", {"f": 0.75}, True),
    ("gt-numeric-string", "{gt: 99}", {"f": "100"}, True),
    ("gt-float-string", "{gt: 99}", {"f": "99.5"}, True),
    ("gt-exponent-string", "{gt: 99}", {"f": "1e3"}, True),
    ("gt-signed-string", "{gt: -5}", {"f": "+3"}, True),
    ("gt-non-numeric-string", "{gt: 0}", {"f": "12abc"}, False),
    ("gt-nan-string", "{gt: 0}", {"f": "nan"}, False),
    ("gt-underscore-string", "{gt: 0}", {"f": "1_000"}, False),
    ("gt-bool", "{gt: 0}", {"f": True}, False),
    ("gt-null", "{gt: 0}", {"f": None}, False),
    ("gt-missing", "{gt: 0}", {}, False),
    ("gt-huge-int", "{gt: 0}", {"f": 10**30}, True),
    ("gt-digits-beyond-int-limit", "{gt: 0}", {"f": "1" * 5000}, False),
    ("gte-equal", "{gte: 1}", {"f": 1.0}, True),
    ("gte-below", "{gte: 1}", {"f": 0}, False),
    ("lt", "{lt: 10}", {"f": 9}, True),
    ("lt-equal", "{lt: 10}", {"f": 10}, False),
    ("lte-equal", "{lte: 10}", {"f": "10"}, True),
    ("lte-above", "{lte: 10}", {"f": 11}, False),
    ("range-inside", "{gte: 1, lt: 5}", {"f": 3}, True),
    ("range-outside", "{gte: 1, lt: 5}", {"f": 5}, False),
    ("three-operators", "{exists: true, ne: 3, lt: 5}", {"f": 4}, True),
    ("three-operators-one-fails", "{exists: true, ne: 4, lt: 5}", {"f": 4}, False),
    ("not-scalar", "{not: INFO}", {"f": "WARN"}, True),
    ("not-scalar-equal", "{not: INFO}", {"f": "INFO"}, False),
    ("not-operators", "{not: {in: [a, b]}}", {"f": "c"}, True),
    ("not-missing", "{not: {in: [a]}}", {}, True),
    ("not-exists", "{not: {exists: true}}", {}, True),
]


@pytest.mark.parametrize(
    ("condition", "fields", "expected"),
    [case[1:] for case in OPERATOR_CASES],
    ids=[case[0] for case in OPERATOR_CASES],
)
def test_operator_condition(condition, fields, expected):
    result = matches(f"{{f: {condition}}}", fields)

    assert result is expected


WHEN_CASES = [
    # Each case: id, when mapping, fields, whether the rule matches.
    ("empty-when-matches-all", "{}", {}, True),
    ("all-entries-must-hold", "{a: 1, b: 2}", {"a": 1, "b": 2}, True),
    ("one-entry-fails", "{a: 1, b: 2}", {"a": 1, "b": 3}, False),
    ("three-entries", "{a: 1, b: 2, c: 3}", {"a": 1, "b": 2, "c": 3}, True),
    ("three-entries-last-fails", "{a: 1, b: 2, c: 3}", {"a": 1, "b": 2}, False),
    ("any-first", "{any: [{a: 1}, {b: 2}]}", {"a": 1}, True),
    ("any-second", "{any: [{a: 1}, {b: 2}]}", {"b": 2}, True),
    ("any-none", "{any: [{a: 1}, {b: 2}]}", {"a": 2}, False),
    ("all-both", "{all: [{a: 1}, {b: 2}]}", {"a": 1, "b": 2}, True),
    ("all-one", "{all: [{a: 1}, {b: 2}]}", {"a": 1}, False),
    ("not-holds", "{not: {a: 1}}", {"a": 2}, True),
    ("not-fails", "{not: {a: 1}}", {"a": 1}, False),
    ("not-of-two-entries", "{not: {a: 1, b: 2}}", {"a": 1, "b": 3}, True),
    (
        "nested-groups",
        "{any: [{all: [{a: 1}, {not: {b: 2}}]}, {c: {exists: true}}]}",
        {"a": 1, "b": 3},
        True,
    ),
    ("nested-path", "{fields.user.id: 7}", {"fields": {"user": {"id": 7}}}, True),
    ("nested-path-missing", "{fields.user.id: 7}", {"fields": {"user": 7}}, False),
    ("nested-path-not-a-dict", "{fields.user: 7}", {"fields": "x"}, False),
    (
        "quoted-segment",
        '{fields."http.status": 200}',
        {"fields": {"http.status": 200}},
        True,
    ),
    (
        "quoted-not-split",
        '{fields."http.status": 200}',
        {"fields": {"http": {"status": 200}}},
        False,
    ),
    ("list-index", "{items.0.sku: A}", {"items": [{"sku": "A"}, {"sku": "B"}]}, True),
    (
        "list-index-second",
        "{items.1.sku: B}",
        {"items": [{"sku": "A"}, {"sku": "B"}]},
        True,
    ),
    ("list-index-out-of-range", "{items.2.sku: B}", {"items": [{"sku": "A"}]}, False),
    ("digit-key-in-dict", "{items.0: A}", {"items": {"0": "A"}}, True),
    ("quoted-digits-are-a-key", '{items."0": A}', {"items": ["A"]}, False),
    ("index-into-string", "{s.0: a}", {"s": "abc"}, False),
    ("key-named-any-quoted", "{'\"any\"': 1}", {"any": 1}, True),
    ("key-named-on", "{on: 'yes'}", {"on": "yes"}, True),
]


@pytest.mark.parametrize(
    ("when", "fields", "expected"),
    [case[1:] for case in WHEN_CASES],
    ids=[case[0] for case in WHEN_CASES],
)
def test_when_mapping(when, fields, expected):
    result = matches(when, fields)

    assert result is expected


def test_absent_when_matches_every_line_of_the_source():
    text = rule_file()

    result = events(text, {"anything": 1})

    assert [event.name for event in result] == ["e"]
