from __future__ import annotations

import math
from typing import Any

import pytest

from bridge.yamlnodes import (
    MAX_ALIAS_VALUES,
    MAX_NESTING,
    Map,
    describe,
    parse_document,
    show,
    to_plain,
)
from tests.yamlbombs import alias_bomb


def plain(text: str) -> Any:
    """The plain data of a YAML text that must parse without problems."""
    root, problems = parse_document("f.yaml", text)
    assert problems == []
    assert root is not None
    return to_plain(root)


SCALAR_CASES = [
    ("plain", "x", "x"),
    ("int", "42", 42),
    ("negative-int", "-7", -7),
    ("leading-zeros-int", "007", 7),
    ("hex", "0x1f", 31),
    ("octal", "0o17", 15),
    ("float", "2.5", 2.5),
    ("exponent-float", "1e3", 1000.0),
    ("infinity", ".inf", math.inf),
    ("negative-infinity", "-.Inf", -math.inf),
    ("true", "true", True),
    ("false-capital", "False", False),
    ("null-tilde", "~", None),
    ("null-word", "null", None),
    ("null-empty", "", None),
    ("yaml11-no-is-a-string", "NO", "NO"),
    ("yaml11-yes-is-a-string", "yes", "yes"),
    ("yaml11-on-is-a-string", "on", "on"),
    ("sexagesimal-is-a-string", "1:30", "1:30"),
    ("date-is-a-string", "2025-01-01", "2025-01-01"),
    ("underscore-int-is-a-string", "1_000", "1_000"),
    ("quoted-int-is-a-string", "'42'", "42"),
    ("explicit-str", "!!str 42", "42"),
    ("explicit-int", "!!int '42'", 42),
    ("merge-sign-as-value", "<<", "<<"),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [case[1:] for case in SCALAR_CASES],
    ids=[case[0] for case in SCALAR_CASES],
)
def test_scalars_resolve_like_yaml_1_2_core(text, expected):
    result = plain(f"v: {text}\n")

    assert result == {"v": expected}
    assert type(result["v"]) is type(expected)


def test_nan_scalar():
    result = plain("v: .NaN\n")

    assert math.isnan(result["v"])


def test_keys_are_read_as_text():
    result = plain("on: 1\n2: 2\nnull: 3\ntrue: 4\n")

    assert result == {"on": 1, "2": 2, "null": 3, "true": 4}


def test_nodes_carry_one_based_positions():
    root, _ = parse_document("f.yaml", "a:\n  - b: 1\n")
    assert isinstance(root, Map)

    ((key, seq),) = root.entries

    assert (key.line, key.col, seq.line, seq.col) == (1, 1, 2, 3)


def test_empty_text_has_no_document():
    assert parse_document("f.yaml", "") == (None, [])


def test_merge_keys_expand_with_own_keys_winning_and_first_source_first():
    text = "a: &a {x: 1, y: 1}\nb: &b {y: 2, z: 2}\nc:\n  <<: [*a, *b]\n  x: 3\n"

    result = plain(text)

    assert result["c"] == {"y": 1, "z": 2, "x": 3}


YAML_PROBLEM_CASES = [
    (
        "set-tag",
        "v: !!set {a, b}\n",
        "f.yaml:1:4: error: v: unsupported YAML tag '!!set'",
    ),
    (
        "omap-tag",
        "v: !!omap [a: 1]\n",
        "f.yaml:1:4: error: v: unsupported YAML tag '!!omap'",
    ),
    (
        "python-tag",
        "v: !!python/name:os.system x\n",
        "f.yaml:1:4: error: v: unsupported YAML tag '!!python/name:os.system'",
    ),
    (
        "local-tag",
        "v: !mine [1]\n",
        "f.yaml:1:4: error: v: unsupported YAML tag '!mine'",
    ),
    (
        "bad-explicit-int",
        "v: !!int x\n",
        "f.yaml:1:4: error: v: cannot read 'x' as !!int",
    ),
    (
        "bad-explicit-bool",
        "v: !!bool yes\n",
        "f.yaml:1:4: error: v: cannot read 'yes' as !!bool",
    ),
    (
        "int-too-long-for-python",
        "v: " + "9" * 5000 + "\n",
        "f.yaml:1:4: error: v: cannot read '" + "9" * 56 + "... as !!int",
    ),
    (
        "mapping-key",
        "? {a: 1}\n: 2\n",
        "f.yaml:1:3: error: expected a string key, got a mapping",
    ),
    (
        "merge-list-item",
        "a: {x: 1}\nb:\n  <<: [1]\n",
        "f.yaml:3:7: error: b.<<: expected a mapping or a list of mappings to merge",
    ),
    (
        "duplicate-nested",
        "a:\n  b: 1\n  b: 2\n",
        "f.yaml:3:3: error: a: duplicate key 'b' (first defined at line 2)",
    ),
    (
        "alias-cycle",
        "a: &x {b: *x}\n",
        "f.yaml:1:4: error: a.b: an alias refers to its own anchor",
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [case[1:] for case in YAML_PROBLEM_CASES],
    ids=[case[0] for case in YAML_PROBLEM_CASES],
)
def test_yaml_problems_point_at_the_node(text, expected):
    _, problems = parse_document("f.yaml", text)

    assert [str(problem) for problem in problems] == [expected]


def test_an_alias_is_checked_once():
    _, problems = parse_document("f.yaml", "a: &x {b: 1, b: 2}\nc: *x\nd: *x\n")

    assert [str(p) for p in problems] == [
        "f.yaml:1:14: error: a: duplicate key 'b' (first defined at line 1)"
    ]


def test_an_alias_bomb_is_refused_at_the_alias_that_goes_beyond_the_budget():
    root, problems = parse_document("f.yaml", alias_bomb())

    assert root is None
    assert [str(p) for p in problems] == [
        "f.yaml:5:8: error: e[0]: aliases repeat more than 10000 values in all"
        " (hint: alias smaller values, or fewer times)"
    ]


def test_aliases_may_repeat_values_up_to_the_budget():
    hundred = "[" + ", ".join(["x"] * 99) + "]"  # a list and its items: 100 values
    aliases = ", ".join(["*a"] * (MAX_ALIAS_VALUES // 100))
    text = f"a: &a {hundred}\nb: [{aliases}]\nc: &c x\n"

    within = parse_document("f.yaml", text)
    beyond = parse_document("f.yaml", text + "d: *c\n")

    assert within[1] == []
    assert within[0] is not None
    assert len(to_plain(within[0])["b"]) == MAX_ALIAS_VALUES // 100
    assert [str(p) for p in beyond[1]] == [
        "f.yaml:4:4: error: d: aliases repeat more than 10000 values in all"
        " (hint: alias smaller values, or fewer times)"
    ]


def test_values_nest_at_most_64_levels():
    # The mapping is the first level, each list one more.
    within = "v: " + "[" * (MAX_NESTING - 1) + "]" * (MAX_NESTING - 1) + "\n"
    beyond = "v: " + "[" * MAX_NESTING + "]" * MAX_NESTING + "\n"

    assert parse_document("f.yaml", within)[1] == []
    assert [str(p) for p in parse_document("f.yaml", beyond)[1]] == [
        f"f.yaml:1:{3 + MAX_NESTING}: error: v{'[0]' * (MAX_NESTING - 1)}: values"
        " nest more than 64 levels deep"
    ]


def test_nesting_counts_an_alias_as_written_out():
    text = "a: &a " + "[" * 40 + "]" * 40 + "\nb: " + "[" * 30 + "*a" + "]" * 30 + "\n"

    _, problems = parse_document("f.yaml", text)

    assert [str(p) for p in problems] == [
        f"f.yaml:2:34: error: b{'[0]' * 30}: values nest more than 64 levels deep"
        " (hint: counted with the alias written out)"
    ]


def test_a_document_too_deep_for_python_is_refused_not_crashed():
    _, problems = parse_document("f.yaml", "v: " + "[" * 5000 + "]" * 5000 + "\n")

    assert [p.message for p in problems] == ["values nest more than 64 levels deep"]


SHOW_CASES = [
    (None, "null"),
    (True, "true"),
    (False, "false"),
    (3, "3"),
    ("it's", '"it\'s"'),
    ("x" * 70, "'" + "x" * 56 + "..."),
]


@pytest.mark.parametrize(
    ("value", "expected"),
    SHOW_CASES,
    ids=["null", "true", "false", "int", "quote", "long"],
)
def test_values_are_shown_as_yaml_and_cut(value, expected):
    result = show(value)

    assert result == expected
    assert len(result) <= 60


def test_describe_names_containers_and_shows_scalars():
    root, _ = parse_document("f.yaml", "m: {}\nl: []\ns: x\n")
    assert isinstance(root, Map)

    result = [describe(node) for _, node in root.entries]

    assert result == ["a mapping", "a list", "'x'"]
