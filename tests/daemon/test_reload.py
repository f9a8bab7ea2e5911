"""Whether a reloaded rule set may replace the running one: ``plan_reload``."""

from __future__ import annotations

import pytest

from bridge.daemon.reload import Adopt, Refuse, diff_rulesets, plan_reload
from bridge.errors import Problem, RuleFileError
from bridge.rules import RuleSet, compile_rules

SOURCE = "sources:\n  - {name: app, paths: [a.log]}\n"


def _rule(name: str, event: str = "e") -> str:
    return f"  - {{name: {name}, source: app, event: {event}}}\n"


def _set(**files: str) -> RuleSet:
    return compile_rules([(f"rules/{name}.yaml", text) for name, text in files.items()])


RUNNING = _set(a=SOURCE + "rules:\n" + _rule("one"), b="rules:\n" + _rule("two"))


def test_an_edit_reports_what_was_added_changed_and_removed():
    new = _set(
        a=SOURCE + "rules:\n" + _rule("one", "other") + _rule("three"),
        b="rules:\n",
    )

    diff = diff_rulesets(RUNNING, new, explicit=True)

    assert (diff.added, diff.changed, diff.removed) == (("three",), ("one",), ("two",))
    assert diff.refused == ()


@pytest.mark.parametrize(
    ("files", "what"),
    [
        ({"a": SOURCE + "rules:\n" + _rule("one")}, "vanished"),
        ({"a": SOURCE + "rules:\n" + _rule("one"), "b": ""}, "has no rules now"),
        (
            {"a": SOURCE + "rules:\n" + _rule("one"), "b": "rules: []\n"},
            "has no rules now",
        ),
    ],
    ids=["vanished", "empty", "emptied"],
)
def test_rules_lost_with_their_file_are_kept_unless_the_operator_asks(files, what):
    new = _set(**files)

    changed = diff_rulesets(RUNNING, new, explicit=False)
    asked = diff_rulesets(RUNNING, new, explicit=True)

    assert [str(problem) for problem in changed.refused] == [
        f"rules/b.yaml:1:1: warning: the rule file {what}; its rule (two) is kept"
        " (hint: to remove its rules on purpose, send SIGHUP"
        " (systemctl reload logbridge))"
    ]
    assert asked.refused == ()
    assert asked.removed == ("two",)


def test_rules_moved_to_another_file_are_not_lost():
    new = _set(a=SOURCE + "rules:\n" + _rule("one") + _rule("two"), b="")

    diff = diff_rulesets(RUNNING, new, explicit=False)

    assert diff.refused == ()
    assert (diff.added, diff.changed, diff.removed) == ((), (), ())


def test_a_set_without_rules_is_refused_even_when_asked_for():
    new = _set(a=SOURCE)

    diff = diff_rulesets(RUNNING, new, explicit=True)

    (problem,) = diff.refused
    assert str(problem) == (
        "rules/a.yaml:1:1: warning: no rule would remain; the running rules"
        " (one, two) are kept (hint: a daemon without rules would read and drop"
        " every line)"
    )


def test_a_first_set_without_rules_replaces_another_without_rules():
    diff = diff_rulesets(_set(a=SOURCE), _set(a=SOURCE + "rules:\n"), explicit=False)

    assert diff.refused == ()


def test_a_reload_adopts_good_rules_and_says_what_changed():
    new = _set(
        a=SOURCE + "rules:\n" + _rule("one") + _rule("three"),
        b="rules:\n" + _rule("two", "renamed"),
    )

    outcome = plan_reload(RUNNING, new, explicit=False)

    assert isinstance(outcome, Adopt)
    assert outcome.ruleset is new
    assert (outcome.diff.added, outcome.diff.changed) == (("three",), ("two",))


def test_a_reload_refuses_rules_that_do_not_compile_or_would_lose_rules():
    error = RuleFileError([Problem("rules/a.yaml", 3, 5, "rules[0]", "bad", "fix it")])

    broken = plan_reload(RUNNING, error, explicit=True)
    emptied = plan_reload(
        RUNNING, _set(a=SOURCE + "rules:\n" + _rule("one")), explicit=False
    )

    assert broken == Refuse(error.problems, str(error))
    assert isinstance(emptied, Refuse)
    assert [problem.file for problem in emptied.problems] == ["rules/b.yaml"]
    assert emptied.error == str(emptied.problems[0])
