"""``logbridge check`` reports every mistake of the rule files at once, with positions."""

from __future__ import annotations

import subprocess
import sys

from tests.e2e.conftest import Workspace
from tests.e2e.helpers import BOMB_PROBLEM, bombed_order_rules, order_rules
from tests.yamlbombs import alias_bomb


def _check(
    workspace: Workspace, *args: str, config: bool = True, timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    options = ["-c", "bridge.yaml"] if config else []
    return subprocess.run(
        [sys.executable, "-m", "bridge", "check", *options, *args],
        capture_output=True,
        text=True,
        env=workspace.env,
        cwd=workspace.root,
        check=False,
        timeout=timeout,
    )


def test_valid_rules_pass(workspace: Workspace) -> None:
    workspace.write_rules(order_rules())

    result = _check(workspace)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok: 1 rules, 1 sources")


def test_every_mistake_is_reported_with_its_position(workspace: Workspace) -> None:
    workspace.write_rules(
        """\
sources:
  - name: shop
    paths: ["logs/app.log"]
    format: jsn
rules:
  - name: order
    source: shpo
    when:
      message: {regex: "(?<=x)y"}
    event: pedido_procesado
    properties:
      amount: {fild: amount}
"""
    )

    result = _check(workspace)

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "rules/app.yaml:4:13: error: sources[0].format: unknown format 'jsn'; "
        "expected one of cri, docker, json, logfmt, regex (did you mean 'json'?)",
        "rules/app.yaml:7:13: error: rules[0].source: unknown source 'shpo' "
        "(did you mean 'shop'?)",
        "rules/app.yaml:9:24: error: rules[0].when.message: RE2 cannot compile "
        "'(?<=x)y': invalid perl operator: (?<=",
        "rules/app.yaml:12:16: error: rules[0].properties.amount: unknown key 'fild'; "
        "expected one of cases, default, extract, field, hash, match, number_unit, "
        "on_error, redact, required, steps, template, type, unit, value, when "
        "(did you mean 'field'?)",
        "4 errors in 1 file",
    ]


def test_a_broken_config_is_reported_with_its_position(workspace: Workspace) -> None:
    workspace.write_rules(order_rules())
    (workspace.root / "bridge.yaml").write_text("batch:\n  max_evnets: 10\n")

    result = _check(workspace)

    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == (
        "bridge.yaml:2:3: error: batch.max_evnets: unknown key 'max_evnets'; expected one "
        "of max_bytes, max_event_bytes, max_events, max_wait_seconds, "
        "solo_event_bytes (did you mean 'max_events'?)"
    )


def test_an_alias_bomb_in_a_rule_file_is_refused_at_once(workspace: Workspace) -> None:
    workspace.write_rules(bombed_order_rules())

    # Expanded, the file took 33 s and 2.9 GB before a MemoryError.
    result = _check(workspace, timeout=20)

    assert result.returncode == 2
    assert result.stderr.splitlines() == [BOMB_PROBLEM, "1 error in 1 file"]


def test_an_alias_bomb_in_the_configuration_is_refused_at_once(
    workspace: Workspace,
) -> None:
    workspace.write_rules(order_rules())
    (workspace.root / "bridge.yaml").write_text("rules_dir: rules\n" + alias_bomb())

    result = _check(workspace, timeout=20)

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "bridge.yaml:6:8: error: e[0]: aliases repeat more than 10000 values in all"
        " (hint: alias smaller values, or fewer times)",
        "1 error in 1 file",
    ]


def test_an_unknown_yaml_tag_in_the_configuration_is_a_located_error(
    workspace: Workspace,
) -> None:
    workspace.write_rules(order_rules())
    (workspace.root / "bridge.yaml").write_text(
        "rules_dir: rules\nhostname: !env HOSTNAME\n"
    )

    result = _check(workspace)

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "bridge.yaml:2:11: error: hostname: unsupported YAML tag '!env'",
        "1 error in 1 file",
    ]


def test_a_key_written_where_a_mapping_belongs_is_not_printed(
    workspace: Workspace,
) -> None:
    key = "phc_Zk3q8Vb2Lm9Xw4Tn7Pr1Ys6Hd5Jc0Fg2Ka8Ub3Qe123"
    workspace.write_rules(order_rules())
    (workspace.root / "bridge.yaml").write_text(f"rules_dir: rules\nposthog: {key}\n")
    run = subprocess.run(
        [sys.executable, "-m", "bridge", "run", "-c", "bridge.yaml"],
        capture_output=True,
        text=True,
        env=workspace.env,
        cwd=workspace.root,
        check=False,
        timeout=30,
    )

    result = _check(workspace)

    assert result.returncode == run.returncode == 2
    assert "posthog: expected a mapping, got a string of 47 characters" in result.stderr
    for text in (result.stdout, result.stderr, run.stdout, run.stderr):
        assert key[4:12] not in text


def test_a_personal_key_is_refused_at_check_time_without_being_shown(
    workspace: Workspace,
) -> None:
    workspace.write_rules(order_rules())
    personal = "phx_" + "Q7kd93LxP0aZr5Tm2Wn8Yb4Hc6Jf1Ge3Sv9Ut5"
    workspace.env["POSTHOG_API_KEY"] = personal

    result = _check(workspace)

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "POSTHOG_API_KEY:1:1: error: this is a personal API key (phx_...), which"
        " PostHog refuses for sending events (hint: use the project API key"
        " (phc_...) from the project's settings)",
        "1 error in 1 file",
    ]
    assert personal[4:] not in result.stderr + result.stdout


def test_a_missing_ca_bundle_is_an_error_at_check_time(workspace: Workspace) -> None:
    workspace.write_rules(order_rules())
    config = workspace.write_config()
    config.write_text(
        config.read_text().replace("posthog:\n", "posthog:\n  ca_bundle: ca.pem\n")
    )

    result = _check(workspace)

    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == (
        f"bridge.yaml:4:14: error: posthog.ca_bundle: no such file:"
        f" '{workspace.root / 'ca.pem'}'"
    )


def test_check_takes_a_rule_file_or_folder_like_test_and_replay(
    workspace: Workspace,
) -> None:
    workspace.write_rules(order_rules())
    elsewhere = workspace.root / "candidate"
    elsewhere.mkdir()
    (elsewhere / "orders.yaml").write_text(
        order_rules().replace("format: json", "format: jsn")
    )

    alone = _check(workspace, "rules/app.yaml", config=False)
    folder = _check(workspace, "rules", config=False)
    candidate = _check(workspace, "candidate")

    assert alone.returncode == 0, alone.stderr
    assert alone.stdout.startswith("ok: 1 rules, 1 sources")
    assert folder.returncode == 0, folder.stderr
    assert candidate.returncode == 2
    assert candidate.stderr.splitlines()[0].startswith(
        "candidate/orders.yaml:4:13: error: sources[0].format: unknown format 'jsn'"
    )
