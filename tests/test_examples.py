"""The sample logs of ``examples/formats`` and their rule files, as a rule author runs them.

Each kind has a sample log and a rule file of the same name. The rule file's tests
pass, alone and with the others in one folder; replaying the sample gives events
from every rule of the file, no value that fails, and no parse errors but those the
rule file announces in its header, as
``# Parse errors when replaying <kind>.log: none`` or ``…: {'log: invalid_json': 8}``.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bridge.rules import compile_rules, run_cases

REPO = Path(__file__).resolve().parents[1]
FORMATS = REPO / "examples" / "formats"
KINDS = ("apache", "cri", "docker", "log4j", "logfmt", "pino", "slog", "sshd")

_ANNOUNCED = re.compile(
    r"^# Parse errors when replaying (?P<log>\S+): (?P<errors>none|\{[^}]*\})", re.M
)
_SUMMARY = re.compile(
    r"^\d+ lines, (?P<events>\d+) events, \d+ lines matched no rule, "
    r"\d+ did not parse(?: (?P<errors>\{.*\}))?$",
    re.M,
)


def _logbridge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bridge", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
        timeout=60,
    )


def _announced_parse_errors(kind: str) -> dict[str, int]:
    text = (FORMATS / f"{kind}.yaml").read_text()
    found = _ANNOUNCED.search(text)
    assert found is not None, f"{kind}.yaml does not announce its parse errors"
    assert found["log"] == f"{kind}.log"
    if found["errors"] == "none":
        return {}
    errors: dict[str, int] = ast.literal_eval(found["errors"])
    return errors


def _rule_names(kind: str) -> set[str]:
    path = FORMATS / f"{kind}.yaml"
    ruleset = compile_rules([(str(path), path.read_text())])
    return {rule.name for rule in ruleset.rules}


def _source_group(kind: str) -> str:
    """The sources of the rule file, as replay names the ones that read one file."""
    path = FORMATS / f"{kind}.yaml"
    ruleset = compile_rules([(str(path), path.read_text())])
    return "+".join(source.name for source in ruleset.sources)


def test_each_kind_has_a_sample_and_a_rule_file() -> None:
    samples = sorted(path.stem for path in FORMATS.glob("*.log"))
    rule_files = sorted(path.stem for path in FORMATS.glob("*.yaml"))

    assert samples == rule_files == list(KINDS)


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_the_rule_file_tests_pass(kind: str) -> None:
    result = _logbridge("test", f"examples/formats/{kind}.yaml")

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1].endswith(" passed, 0 failed")


def test_one_sample_is_read_by_two_sources_each_with_its_parser_and_tests() -> None:
    path = FORMATS / "sshd.yaml"
    ruleset = compile_rules([(str(path), path.read_text())])

    results = run_cases(ruleset, read_at=datetime(2026, 12, 6, 12, 0, tzinfo=UTC))

    paths = {source.name: source.paths for source in ruleset.sources}
    assert paths == {"sshd": ("/var/log/auth.log",), "sudo": ("/var/log/auth.log",)}
    assert {result.case.source for result in results} == {"sshd", "sudo"}
    assert [result.case.name for result in results if not result.passed] == []
    # The sudo source reads the other programs' lines too, without a parse error.
    assert [r.notes for r in results if r.case.source == "sudo" and r.notes] == []


@pytest.mark.slow
def test_the_rule_files_load_together_and_pass_their_tests() -> None:
    checked = _logbridge("check", "--strict", "examples/formats")
    tested = _logbridge("test", "examples/formats")

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert tested.stdout.splitlines()[-1].endswith(" passed, 0 failed")


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_replaying_the_sample_gives_each_rule_events_and_only_announced_parse_errors(
    kind: str,
) -> None:
    # Every source of a file reads its sample (sshd.yaml has two): as the daemon
    # reads it, once for all of them.
    result = _logbridge(
        "replay",
        f"examples/formats/{kind}.yaml",
        f"examples/formats/{kind}.log",
        "--source",
        _source_group(kind),
        "--json",
    )

    assert result.returncode == 0, result.stderr
    summary = _SUMMARY.search(result.stderr)
    assert summary is not None, result.stderr
    printed = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(printed) == int(summary["events"]) > 0
    assert {item["origin"]["rule"] for item in printed} == _rule_names(kind)
    errors = ast.literal_eval(summary["errors"]) if summary["errors"] else {}
    assert errors == _announced_parse_errors(kind)
    assert "values failed" not in result.stderr, result.stderr
