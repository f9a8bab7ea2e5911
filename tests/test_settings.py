"""The configuration file: defaults, overrides from the environment, and exact errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.errors import SettingsError
from bridge.settings import parse_settings

CONFIG = Path("/etc/logbridge/bridge.yaml")


def _parse(
    text: str, env: dict[str, str] | None = None, files: dict[str, str] | None = None
):
    def read_key_file(path: Path) -> str:
        if files is None or str(path) not in files:
            raise FileNotFoundError(path)
        return files[str(path)]

    return parse_settings(
        text,
        "bridge.yaml",
        config_path=CONFIG,
        env=env or {},
        default_hostname="web-1",
        read_key_file=read_key_file,
    )


def _errors(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        _parse(text, env)
    return [str(p) for p in caught.value.problems]


def test_an_empty_file_gives_the_defaults() -> None:
    settings = _parse("")

    assert settings.rules_dir == Path("/etc/logbridge/rules")
    assert settings.state_dir == Path("/var/lib/logbridge")
    assert settings.hostname == "web-1"
    assert settings.posthog.host == "https://us.i.posthog.com"
    assert settings.posthog.api_key is None
    assert settings.batch.max_events == 1000
    assert settings.read.prefilter is True


def test_the_prefilter_can_be_turned_off() -> None:
    assert _parse("read:\n  prefilter: false\n").read.prefilter is False


def test_values_and_relative_paths() -> None:
    settings = _parse(
        "rules_dir: r\nstate_dir: /srv/state\nbatch:\n  max_wait_seconds: 2\n"
        "posthog:\n  host: https://eu.i.posthog.com/\n  api_key: phc_file\n"
    )

    assert settings.rules_dir == Path("/etc/logbridge/r")
    assert settings.state_dir == Path("/srv/state")
    assert settings.batch.max_wait_seconds == 2.0
    assert settings.posthog.host == "https://eu.i.posthog.com"
    assert settings.posthog.api_key == "phc_file"


def test_the_environment_overrides_the_file() -> None:
    settings = _parse(
        "posthog:\n  host: https://eu.i.posthog.com\n  api_key: phc_file\n",
        env={"POSTHOG_API_KEY": "phc_env\n", "POSTHOG_HOST": "http://127.0.0.1:9"},
    )

    assert settings.posthog.api_key == "phc_env"
    assert settings.posthog.host == "http://127.0.0.1:9"


def test_the_systemd_credential_comes_before_the_file_key() -> None:
    settings = _parse(
        "posthog:\n  api_key: phc_file\n",
        env={"CREDENTIALS_DIRECTORY": "/run/credentials/logbridge.service"},
        files={"/run/credentials/logbridge.service/posthog_api_key": "phc_cred\n"},
    )

    assert settings.posthog.api_key == "phc_cred"


def test_a_key_file_is_read() -> None:
    settings = _parse(
        "posthog:\n  api_key_file: key\n", files={"/etc/logbridge/key": "phc_k\n"}
    )

    assert settings.posthog.api_key == "phc_k"


def test_systemd_state_directory_is_the_default_state_dir() -> None:
    settings = _parse("", env={"STATE_DIRECTORY": "/var/lib/logbridge2"})

    assert settings.state_dir == Path("/var/lib/logbridge2")


def test_the_key_never_shows_in_repr() -> None:
    settings = _parse("posthog:\n  api_key: phc_secret\n")

    assert "phc_secret" not in repr(settings)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "batch:\n  max_evnets: 10\n",
            "bridge.yaml:2:3: error: batch.max_evnets: unknown key 'max_evnets'; expected "
            "one of max_bytes, max_event_bytes, max_events, max_wait_seconds "
            "(did you mean 'max_events'?)",
        ),
        (
            "batch:\n  max_events: many\n",
            "bridge.yaml:2:15: error: batch.max_events: expected an integer, got 'many'",
        ),
        (
            "batch:\n  max_events: true\n",
            "bridge.yaml:2:15: error: batch.max_events: expected an integer, got True",
        ),
        (
            "batch:\n  max_bytes: 30000000\n",
            "bridge.yaml:2:14: error: batch.max_bytes: must be between 1024 and "
            "1.57286e+07, got 30000000",
        ),
        (
            "log:\n  level: verbose\n",
            "bridge.yaml:2:10: error: log.level: expected one of debug, info, warning, error, "
            "got 'verbose'",
        ),
        (
            "posthog: [1]\n",
            "bridge.yaml:1:10: error: posthog: expected a mapping, got a list",
        ),
        (
            "posthog:\n  host: ftp://x\n",
            "bridge.yaml:2:9: error: posthog.host: expected an http(s) URL, got a string"
            " of 7 characters (hint: e.g. https://eu.i.posthog.com)",
        ),
        (
            "batch:\n  max_events: 1\n  max_events: 2\n",
            "bridge.yaml:3:3: error: batch.max_events: duplicate key 'max_events' "
            "(first at line 2)",
        ),
        (
            "posthog:\n  api_key_file: missing\n",
            "bridge.yaml:2:17: error: posthog.api_key_file: no such file: "
            "'/etc/logbridge/missing'",
        ),
        (
            "batch: {max_events: 1\n",
            "bridge.yaml:2:1: error: invalid YAML: expected ',' or '}', but got '<stream end>'",
        ),
    ],
    ids=[
        "unknown-key",
        "wrong-type",
        "bool-is-not-int",
        "out-of-range",
        "bad-choice",
        "not-a-mapping",
        "bad-host",
        "duplicate-key",
        "missing-key-file",
        "yaml-syntax",
    ],
)
def test_errors_name_file_line_and_column(text: str, expected: str) -> None:
    assert _errors(text) == [expected]


def test_all_errors_are_reported_at_once() -> None:
    errors = _errors("batch:\n  max_events: x\nread:\n  chunk_byte: 1\nfoo: 1\n")

    assert len(errors) == 3


KEY = "phc_Zk3q8Vb2Lm9Xw4Tn7Pr1Ys6Hd5Jc0Fg2Ka8Ub3Qe123"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            f"posthog: {KEY}\n",
            "bridge.yaml:1:10: error: posthog: expected a mapping, got a string of 47"
            " characters",
        ),
        (
            f"{KEY}\n",
            "bridge.yaml:1:1: error: (top): expected a mapping, got a string of 47"
            " characters",
        ),
        (
            f"posthog:\n  host: {KEY}\n",
            "bridge.yaml:2:9: error: posthog.host: expected an http(s) URL, got a"
            " string of 47 characters (hint: e.g. https://eu.i.posthog.com)",
        ),
        (
            f"batch:\n  max_events: {KEY}\n",
            "bridge.yaml:2:15: error: batch.max_events: expected an integer, got a"
            " string of 47 characters",
        ),
        (
            f"log:\n  level: {KEY}\n",
            "bridge.yaml:2:10: error: log.level: expected one of debug, info, warning,"
            " error, got a string of 47 characters",
        ),
        (
            "hash_salt: 8675309\n",
            "bridge.yaml:1:12: error: hash_salt: expected a string, got a number",
        ),
        (
            "posthog:\n  api_key: [phc_a, phc_b]\n",
            "bridge.yaml:2:12: error: posthog.api_key: expected a string, got a list",
        ),
    ],
    ids=[
        "key-for-a-mapping",
        "key-for-the-file",
        "key-for-the-host",
        "key-for-a-number",
        "key-for-a-choice",
        "numeric-salt",
        "keys-in-a-list",
    ],
)
def test_no_error_quotes_a_value_that_may_be_a_secret(text, expected):
    errors = _errors(text)

    assert errors == [expected]
    assert KEY not in "".join(errors)
    assert "8675309" not in "".join(errors)


def test_a_host_with_a_password_is_not_quoted_from_the_environment():
    errors = _errors("", env={"POSTHOG_HOST": "ftp://user:hunter2@example.com"})

    assert errors == [
        "POSTHOG_HOST:1:1: error: expected an http(s) URL, got a string of 30"
        " characters (hint: e.g. https://eu.i.posthog.com)"
    ]
