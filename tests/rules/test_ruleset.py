from __future__ import annotations

import dataclasses

import pytest

from bridge.model import event_uuid
from bridge.parse import ParseFailure
from bridge.rules import ExpectedEvent, RuleCase, RuleSet, compile_rules
from tests.rules.support import FILE, SOURCE, compile_text, events, record

TWO_RULES = (
    SOURCE
    + """\
  - name: other
    paths: /var/log/other.log
    format: json
    start_at: beginning
rules:
  - name: orders
    source: app
    when: {msg: order}
    event: order_placed
  - name: everything
    source: app
    event: line_seen
  - name: other-orders
    source: other
    when: {msg: order}
    event: other_order
"""
)


def test_a_line_matching_several_rules_emits_one_event_per_rule_in_file_order():
    result = events(TWO_RULES, {"msg": "order"}, file_id="fp", offset=10)

    assert [(e.name, e.rule, e.source) for e in result] == [
        ("order_placed", "orders", "app"),
        ("line_seen", "everything", "app"),
    ]
    assert [e.uuid for e in result] == [
        event_uuid("app", "fp", 10, "orders"),
        event_uuid("app", "fp", 10, "everything"),
    ]


def test_only_rules_of_the_records_source_apply():
    result = events(TWO_RULES, {"msg": "order"}, source="other")

    assert [e.name for e in result] == ["other_order"]


def test_record_of_an_unknown_source_yields_nothing():
    result = events(TWO_RULES, {"msg": "order"}, source="nope")

    assert result == []


def test_same_line_read_twice_yields_identical_events():
    ruleset = compile_text(TWO_RULES)

    first = ruleset.apply(record({"msg": "order"}, file_id="fp", offset=99))
    second = ruleset.apply(record({"msg": "order"}, file_id="fp", offset=99))

    assert first == second


@pytest.mark.parametrize(
    ("file_id", "offset"), [("fp", 11), ("fp2", 10)], ids=["offset", "file"]
)
def test_another_line_gets_another_uuid(file_id, offset):
    ruleset = compile_text(TWO_RULES)
    (base,) = ruleset.apply(record({}, file_id="fp", offset=10))

    (moved,) = ruleset.apply(record({}, file_id=file_id, offset=offset))

    assert moved.uuid != base.uuid


def test_rewording_properties_keeps_uuids_but_renaming_the_rule_changes_them():
    plain = SOURCE + "rules:\n  - {name: r, source: app, event: e}\n"
    reworded = (
        SOURCE + "rules:\n  - {name: r, source: app, event: e, properties: {a: 1}}\n"
    )
    renamed = SOURCE + "rules:\n  - {name: r2, source: app, event: e}\n"

    uuids = [events(text, {})[0].uuid for text in (plain, reworded, renamed)]

    assert uuids[0] == uuids[1] != uuids[2]


def test_sources_and_rules_keep_file_order_across_files():
    first = SOURCE + "rules:\n  - {name: a, source: b-src, event: e}\n"
    second = """\
sources:
  - {name: b-src, paths: /b.log}
rules:
  - {name: b, source: app, event: e}
"""

    ruleset = compile_rules([("one.yaml", first), ("two.yaml", second)])

    assert [s.name for s in ruleset.sources] == ["app", "b-src"]
    assert [r.name for r in ruleset.rules] == ["a", "b"]
    assert [(r.source, r.event) for r in ruleset.rules] == [
        ("b-src", "e"),
        ("app", "e"),
    ]


def test_source_definition_is_exposed():
    ruleset = compile_text(TWO_RULES)

    other = ruleset.source("other")

    assert other is not None
    assert (other.name, other.paths, other.format, other.start_at) == (
        "other",
        ("/var/log/other.log",),
        "json",
        "beginning",
    )
    app = ruleset.source("app")
    assert app is not None
    assert (app.paths, app.format, app.start_at) == (
        ("/var/log/app.log",),
        "json",
        "end",
    )
    assert ruleset.source("nope") is None


def test_source_parses_lines_with_its_format():
    source = compile_text(TWO_RULES).source("app")
    assert source is not None

    assert source.parse('{"a": 1}') == {"a": 1}
    assert source.parse("[]") == ParseFailure(
        "not_an_object", "expected a JSON object, got an array"
    )


def test_digest_depends_on_names_and_texts_only():
    files = [("a.yaml", TWO_RULES), ("b.yaml", "")]

    same = compile_rules(files).digest
    again = compile_rules(list(files)).digest
    renamed = compile_rules([("a2.yaml", TWO_RULES), ("b.yaml", "")]).digest
    shifted = compile_rules([("a.yaml", TWO_RULES + "\n"), ("b.yaml", "")]).digest

    assert same == again
    assert len({same, renamed, shifted}) == 3
    assert len(same) == 64


def test_rule_digest_changes_only_with_the_rule():
    changed = TWO_RULES.replace("event: line_seen", "event: line_read")

    before = {r.name: r.digest for r in compile_text(TWO_RULES).rules}
    after = {r.name: r.digest for r in compile_text(changed).rules}

    assert [name for name in before if before[name] != after[name]] == ["everything"]


def test_source_digest_changes_only_with_the_source():
    changed = TWO_RULES.replace("start_at: beginning", "start_at: end")

    before = {s.name: s.digest for s in compile_text(TWO_RULES).sources}
    after = {s.name: s.digest for s in compile_text(changed).sources}

    assert [name for name in before if before[name] != after[name]] == ["other"]


def test_rule_tests_are_kept_validated_with_their_position():
    text = (
        TWO_RULES
        + """\
tests:
  - source: app
    line: '{"msg": "order"}'
    expect: [{event: order_placed}]
"""
    )

    ruleset = compile_text(text)

    assert ruleset.cases == (
        RuleCase(
            FILE,
            21,
            5,
            name="",
            source="app",
            lines=('{"msg": "order"}',),
            expect=(ExpectedEvent("order_placed"),),
        ),
    )


def test_ruleset_is_immutable():
    ruleset = compile_text(TWO_RULES)

    with pytest.raises(dataclasses.FrozenInstanceError):
        ruleset.rules = ()  # type: ignore[misc]


def test_empty_ruleset_applies_to_nothing():
    result = RuleSet().apply(record({"a": 1}))

    assert result == []


def test_compiling_no_files_gives_an_empty_ruleset():
    ruleset = compile_rules([])

    assert (ruleset.sources, ruleset.rules, ruleset.warnings) == ((), (), ())
