"""The configuration file: defaults, overrides from the environment, and exact errors."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bridge.errors import SettingsError
from bridge.settings import (
    BatchSettings,
    MetricsSettings,
    OwnEventsSettings,
    PostHogSettings,
    ReadSettings,
    RetrySettings,
    Settings,
    load_settings,
    parse_settings,
)
from bridge.yamlnodes import Map, parse_document, to_plain
from tests.yamlbombs import alias_bomb

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
    assert settings.read.coalesce_seconds == 0.25
    # No retry sooner than posthog-python's first one.
    assert settings.retry.initial_seconds == 1.0


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
            "one of max_bytes, max_event_bytes, max_events, max_wait_seconds, "
            "solo_event_bytes "
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
            "bridge.yaml:2:9: error: posthog.host: expected an http(s) URL, us or eu, got a string"
            " of 7 characters (hint: e.g. eu, or https://eu.i.posthog.com)",
        ),
        (
            "batch:\n  max_events: 1\n  max_events: 2\n",
            "bridge.yaml:3:3: error: batch: duplicate key 'max_events' "
            "(first defined at line 2)",
        ),
        (
            "posthog:\n  api_key_file: missing\n",
            "bridge.yaml:2:17: error: posthog.api_key_file: no such file: "
            "'/etc/logbridge/missing'",
        ),
        (
            "batch: {max_events: 1\n",
            "bridge.yaml:2:1: error: invalid YAML: expected ',' or '}', but got '<stream end>'"
            " (while parsing a flow mapping at line 1)",
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
            "bridge.yaml:2:9: error: posthog.host: expected an http(s) URL, us or eu, got a"
            " string of 47 characters (hint: e.g. eu, or https://eu.i.posthog.com)",
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
        "POSTHOG_HOST:1:1: error: expected an http(s) URL, us or eu, got a string of 30"
        " characters (hint: e.g. eu, or https://eu.i.posthog.com)"
    ]


# -- hosts -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("us", "https://us.i.posthog.com"),
        ("eu", "https://eu.i.posthog.com"),
        ("EU", "https://eu.i.posthog.com"),
        ("app.posthog.com", "https://us.i.posthog.com"),
        ("https://app.posthog.com/", "https://us.i.posthog.com"),
        ("https://us.posthog.com", "https://us.i.posthog.com"),
        ("https://eu.posthog.com", "https://eu.i.posthog.com"),
        ("https://posthog.example.com/", "https://posthog.example.com"),
    ],
    ids=[
        "us",
        "eu",
        "upper-case",
        "app-bare",
        "app-url",
        "us-app",
        "eu-app",
        "self-hosted",
    ],
)
def test_hosts_as_users_write_them(written: str, expected: str) -> None:
    from_file = _parse(f"posthog:\n  host: {written}\n").posthog.host
    from_env = _parse("", env={"POSTHOG_HOST": written}).posthog.host

    assert (from_file, from_env) == (expected, expected)


# -- historical_migration ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("", "auto"),
        ("auto", "auto"),
        ("always", "always"),
        ("never", "never"),
        ("true", "always"),
        ("false", "never"),
    ],
    ids=["default", "auto", "always", "never", "old-true", "old-false"],
)
def test_historical_migration_modes(written: str, expected: str) -> None:
    text = f"posthog:\n  historical_migration: {written}\n" if written else ""

    assert _parse(text).posthog.historical_migration == expected


def test_an_unknown_historical_mode_is_an_error() -> None:
    assert _errors("posthog:\n  historical_migration: sometimes\n") == [
        "bridge.yaml:2:25: error: posthog.historical_migration: expected one of auto,"
        " always, never, got 'sometimes'"
    ]


def test_solo_event_bytes_defaults_to_posthog_gos_message_cap() -> None:
    assert _parse("").batch.solo_event_bytes == 500_000
    assert _parse("batch:\n  solo_event_bytes: 8192\n").batch.solo_event_bytes == 8192


# -- keys capture would refuse -----------------------------------------------------------

PERSONAL = "phx_Zk3q8Vb2Lm9Xw4Tn7Pr1Ys6Hd5Jc0Fg2Ka8Ub3Qe123"
PERSONAL_MESSAGE = (
    "this is a personal API key (phx_...), which PostHog refuses for sending events"
    " (hint: use the project API key (phc_...) from the project's settings)"
)


@pytest.mark.parametrize(
    ("text", "env", "files", "where"),
    [
        (
            f"posthog:\n  api_key: {PERSONAL}\n",
            {},
            {},
            "bridge.yaml:2:12: error: posthog.api_key:",
        ),
        ("", {"POSTHOG_API_KEY": PERSONAL}, {}, "POSTHOG_API_KEY:1:1: error:"),
        (
            "posthog:\n  api_key_file: key\n",
            {},
            {"/etc/logbridge/key": PERSONAL + "\n"},
            "bridge.yaml:2:17: error: posthog.api_key_file:",
        ),
        (
            "",
            {"CREDENTIALS_DIRECTORY": "/run/credentials/x"},
            {"/run/credentials/x/posthog_api_key": PERSONAL},
            "/run/credentials/x/posthog_api_key:1:1: error:",
        ),
    ],
    ids=["in-the-file", "environment", "key-file", "credential"],
)
def test_a_personal_key_is_refused_where_it_comes_from(text, env, files, where):
    with pytest.raises(SettingsError) as caught:
        _parse(text, env, files)

    errors = [str(p) for p in caught.value.problems]
    assert errors == [f"{where} {PERSONAL_MESSAGE}"]
    assert PERSONAL[4:] not in errors[0]


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (
            "phc_" + "a" * 61,
            "the API key is 65 characters long; PostHog refuses keys longer than 64",
        ),
        (
            "phc_clé",
            "the API key holds a character PostHog refuses (non-ASCII or NUL)",
        ),
    ],
    ids=["too-long", "non-ascii"],
)
def test_keys_capture_refuses_are_errors(key: str, message: str) -> None:
    assert _errors("", env={"POSTHOG_API_KEY": key}) == [
        f"POSTHOG_API_KEY:1:1: error: {message}"
    ]


# -- ca_bundle ---------------------------------------------------------------------------

CERTS = Path(__file__).parent / "certs"


def _load(tmp_path: Path, text: str) -> list[str] | Settings:
    config = tmp_path / "bridge.yaml"
    config.write_text(text)
    try:
        return load_settings(config)
    except SettingsError as exc:
        return [str(p).replace(str(tmp_path), "TMP") for p in exc.problems]


def test_a_ca_bundle_is_resolved_and_checked(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_bytes((CERTS / "ca.pem").read_bytes())

    settings = _load(tmp_path, "posthog:\n  ca_bundle: ca.pem\n")

    assert isinstance(settings, Settings)
    assert settings.posthog.ca_bundle == tmp_path / "ca.pem"
    assert _parse("").posthog.ca_bundle is None


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        (
            "missing.pem",
            None,
            "TMP/bridge.yaml:2:14: error: posthog.ca_bundle: no such file:"
            " 'TMP/missing.pem'",
        ),
        (
            "junk.pem",
            b"not a certificate\n",
            "TMP/bridge.yaml:2:14: error: posthog.ca_bundle: 'TMP/junk.pem': no CA"
            " certificate could be read from it (expected PEM)",
        ),
        (
            "folder",
            "dir",
            "TMP/bridge.yaml:2:14: error: posthog.ca_bundle: cannot read the file"
            " 'TMP/folder': Is a directory",
        ),
    ],
    ids=["missing", "not-pem", "a-folder"],
)
def test_a_ca_bundle_that_cannot_serve_is_an_error(
    tmp_path: Path, name: str, content: bytes | str | None, expected: str
) -> None:
    if content == "dir":
        (tmp_path / name).mkdir()
    elif isinstance(content, bytes):
        (tmp_path / name).write_bytes(content)

    errors = _load(tmp_path, f"posthog:\n  ca_bundle: {name}\n")

    assert errors == [expected]


# -- YAML, read as in rule files ---------------------------------------------------------


@pytest.mark.parametrize("word", ["no", "off", "yes", "on", "NO"])
def test_yaml_1_1_booleans_are_text_as_in_rule_files(word: str) -> None:
    root, _ = parse_document("rules.yaml", f"environment: {word}\n")

    settings = _parse(f"environment: {word}\n")

    assert isinstance(root, Map)
    assert settings.environment == to_plain(root)["environment"] == word


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "read:\n  prefilter: no\n",
            "bridge.yaml:2:14: error: read.prefilter: expected a boolean, got 'no'"
            " (hint: write false; only true and false are booleans)",
        ),
        (
            "metrics:\n  enabled: On\n",
            "bridge.yaml:2:12: error: metrics.enabled: expected a boolean, got a string"
            " of 2 characters (hint: write true; only true and false are booleans)",
        ),
        (
            "posthog:\n  historical_migration: off\n",
            "bridge.yaml:2:25: error: posthog.historical_migration: expected one of"
            " auto, always, never, got 'off' (hint: write never)",
        ),
        (
            "spool:\n  max_bytes: 268_435_456\n",
            "bridge.yaml:2:14: error: spool.max_bytes: expected an integer, got a string"
            " of 11 characters (hint: write the number without '_')",
        ),
    ],
    ids=["no", "on", "off-for-a-switch", "underscores"],
)
def test_yaml_1_1_values_are_errors_with_what_to_write(text: str, expected: str):
    assert _errors(text) == [expected]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "posthog:\n  host: !env POSTHOG_HOST\n",
            "bridge.yaml:2:9: error: posthog.host: unsupported YAML tag '!env'",
        ),
        (
            "read: !!omap [prefilter: true]\n",
            "bridge.yaml:1:7: error: read: unsupported YAML tag '!!omap'",
        ),
        (
            "hash_salt: !S3cr3t-Salt\n",
            "bridge.yaml:1:12: error: hash_salt: unsupported YAML tag of 12 characters",
        ),
        (
            f"posthog:\n  api_key: !!int {KEY}\n",
            "bridge.yaml:2:12: error: posthog.api_key: cannot read a string of 47"
            " characters as !!int",
        ),
        (
            "posthog:\n  host: !!float https://u:hunter2@example.com\n",
            "bridge.yaml:2:9: error: posthog.host: cannot read a string of 29 characters"
            " as !!float",
        ),
    ],
    ids=["local-tag", "omap", "secret-read-as-a-tag", "tagged-key", "tagged-url"],
)
def test_yaml_tags_are_located_errors_that_quote_no_secret(text: str, expected: str):
    errors = _errors(text)

    assert errors == [expected]
    assert "S3cr3t" not in errors[0]
    assert "hunter2" not in errors[0]


def test_an_alias_bomb_is_refused_at_its_position() -> None:
    started = time.monotonic()

    errors = _errors(alias_bomb())

    assert time.monotonic() - started < 5
    assert errors == [
        "bridge.yaml:5:8: error: e[0]: aliases repeat more than 10000 values in all"
        " (hint: alias smaller values, or fewer times)"
    ]


def test_anchors_and_aliases_work_within_the_bound() -> None:
    settings = _parse(
        "shutdown:\n  timeout_seconds: &t 5\nposthog:\n  timeout_seconds: *t\n"
    )

    assert (settings.shutdown_timeout_seconds, settings.posthog.timeout_seconds) == (
        5.0,
        5.0,
    )


# -- every key, as the dataclasses declare them -------------------------------------------

EVERY_KEY = """\
rules_dir: r
state_dir: s
hostname: h
hash_salt: pepper
environment: staging
log: {level: debug, format: json}
posthog:
  host: eu
  api_key: phc_k
  timeout_seconds: 3
  historical_migration: never
  geoip_disable: false
batch:
  max_events: 10
  max_bytes: 2048
  max_wait_seconds: 2
  max_event_bytes: 8192
  solo_event_bytes: 4096
retry: {initial_seconds: 2, max_seconds: 4, halted_recheck_seconds: 8}
read:
  chunk_bytes: 8192
  max_line_bytes: 512
  rescan_seconds: 1
  prefilter: false
  max_depth: 9
metrics: {enabled: false, host: 0.0.0.0, port: 1234, sink_failing_seconds: 5}
own_events: {enabled: false, health_check_seconds: 6}
spool: {max_bytes: 2097152}
shutdown: {timeout_seconds: 7}
"""


def test_every_key_sets_its_field() -> None:
    settings = _parse(EVERY_KEY)

    assert settings == Settings(
        config_path=CONFIG,
        rules_dir=Path("/etc/logbridge/r"),
        state_dir=Path("/etc/logbridge/s"),
        hostname="h",
        hash_salt=b"pepper",
        environment="staging",
        log_level="debug",
        log_format="json",
        posthog=PostHogSettings(
            host="https://eu.i.posthog.com",
            api_key="phc_k",
            timeout_seconds=3.0,
            historical_migration="never",
            geoip_disable=False,
        ),
        batch=BatchSettings(
            max_events=10,
            max_bytes=2048,
            max_wait_seconds=2.0,
            max_event_bytes=8192,
            solo_event_bytes=4096,
        ),
        retry=RetrySettings(
            initial_seconds=2.0, max_seconds=4.0, halted_recheck_seconds=8.0
        ),
        read=ReadSettings(
            chunk_bytes=8192,
            max_line_bytes=512,
            rescan_seconds=1.0,
            prefilter=False,
            max_depth=9,
        ),
        metrics=MetricsSettings(
            enabled=False, host="0.0.0.0", port=1234, sink_failing_seconds=5.0
        ),
        own_events=OwnEventsSettings(enabled=False, health_check_seconds=6.0),
        spool_max_bytes=2097152,
        shutdown_timeout_seconds=7.0,
    )


def test_the_top_level_keys_are_the_fields_and_their_groups() -> None:
    assert _errors("rule_dir: r\n") == [
        "bridge.yaml:1:1: error: rule_dir: unknown key 'rule_dir'; expected one of"
        " batch, environment, hash_salt, hash_salt_file, hostname, log, metrics,"
        " own_events, posthog, properties, read, retry, rules_dir, shutdown, spool, state_dir"
        " (did you mean 'rules_dir'?)"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "spool:\n  max_bytes: 10\n",
            "bridge.yaml:2:14: error: spool.max_bytes: must be >= 1.04858e+06, got 10",
        ),
        (
            "shutdown:\n  timeout_seconds: -1\n",
            "bridge.yaml:2:20: error: shutdown.timeout_seconds: must be >= 0, got -1.0",
        ),
        (
            "log:\n  format: yaml\n",
            "bridge.yaml:2:11: error: log.format: expected one of auto, json, console,"
            " got 'yaml'",
        ),
        (
            "posthog:\n  api_key: 12345678\n",
            "bridge.yaml:2:12: error: posthog.api_key: expected a string, got a number",
        ),
        (
            "hash_salt_file: 7\n",
            "bridge.yaml:1:17: error: hash_salt_file: expected a string, got 7",
        ),
    ],
    ids=["spool-bytes", "shutdown-seconds", "log-format", "numeric-key", "salt-file"],
)
def test_keys_named_otherwise_than_their_field_are_checked_alike(text, expected):
    assert _errors(text) == [expected]


def test_the_readme_example_is_a_valid_configuration() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme[readme.index("## Configuration") :]
    example = section[section.index("```yaml\n") + 8 : section.index("```\n", 8)]

    settings = parse_settings(
        example, "README.md", config_path=CONFIG, env={}, default_hostname="db-2"
    )

    assert settings.hostname == "web-1"
    assert settings.posthog.ca_bundle == Path("/etc/logbridge/ca.pem")


def test_properties_for_every_event_are_read_as_written() -> None:
    settings = _parse("properties:\n  service: shop\n  region: eu-west\n  tier: 2\n")

    assert settings.properties == {"service": "shop", "region": "eu-west", "tier": 2}
    assert _parse("").properties == {}


def test_properties_must_be_a_mapping_of_names_not_posthogs_own() -> None:
    assert _errors("properties: shop\n") == [
        "bridge.yaml:1:13: error: properties: expected a mapping, got 'shop'"
    ]
    assert _errors("properties:\n  $environment: prod\n") == [
        "bridge.yaml:2:3: error: properties.$environment: a name beginning with '$' is"
        " PostHog's own property (hint: name it without '$', or set it in the rules"
        " that need it)"
    ]
