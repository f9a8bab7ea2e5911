"""The daemon's configuration: a YAML file plus ``POSTHOG_API_KEY`` / ``POSTHOG_HOST``.

``parse_settings`` is pure and reports every problem at once in the ``file:line:col``
form; ``load_settings`` at the bottom is the only function that reads files or the
environment. The YAML is read by ``bridge.yamlnodes``, as the rule files are: the
same scalars (YAML 1.2's core schema: ``no`` is text, not false), and the same located
errors for syntax, tags, duplicate keys and alias bombs. That reader sits outside
``bridge.rules`` so that reading the configuration does not import the rules compiler:
``logbridge status`` and ``deadletter`` load settings and nothing of the rules.

Errors never quote a value that may be a secret: ``logbridge check`` runs as the
unit's ``ExecStartPre=``, so its messages reach the journal. A wrong value is shown
only when it is a number, a boolean or a plain lowercase word (what a setting's
choices look like); any other text is described by its length, and the values of
the secret keys are never shown at all. A YAML tag is shown by the same rule, as its
name: a secret written after an unquoted ``!`` is read as a tag.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import socket
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from bridge.errors import Problem, SettingsError
from bridge.parse.jsonl import DEFAULT_MAX_DEPTH
from bridge.yamlnodes import Key, Map, Node, Scalar, Seq, parse_document, to_plain

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = [
    "BatchSettings",
    "MetricsSettings",
    "OwnEventsSettings",
    "PostHogSettings",
    "ReadSettings",
    "RetrySettings",
    "Settings",
    "load_settings",
    "parse_settings",
    "tool_settings",
]

_N = TypeVar("_N", int, float)
_D = TypeVar("_D", bound="DataclassInstance")

DEFAULT_CONFIG_PATH = "/etc/logbridge/bridge.yaml"
# PostHog Cloud's ingestion hosts (reference/posthog-capture.md §1).
US_HOST = "https://us.i.posthog.com"
EU_HOST = "https://eu.i.posthog.com"
DEFAULT_HOST = US_HOST
# What users write for a host: shorthands, and the app hosts posthog-python rewrites
# to ingestion hosts (posthog/request.py determine_server_host, reference §1, §9).
_HOST_ALIASES = {
    "us": US_HOST,
    "eu": EU_HOST,
    "app.posthog.com": US_HOST,
    "us.posthog.com": US_HOST,
    "eu.posthog.com": EU_HOST,
}
DEFAULT_SPOOL_BYTES = 256 * 1024 * 1024
DEFAULT_SHUTDOWN_SECONDS = 10.0
DEFAULT_STATE_DIR = "/var/lib/logbridge"
# Chunks of read.chunk_bytes read at once (see ReadSettings.read_bytes). A read and
# the next one (prepared while the first commits) are in memory together, with their
# lines and events: at 8 a backlog of 100 files took the daemon from 40 to 76 MiB; at 2,
# 57. One file is read a chunk at a time whatever this says, and live files rarely
# hold 2 MiB between two rounds, so only a backlog of many files reads in smaller
# steps.
CHUNKS_PER_READ = 2
# The name of the systemd credential (LoadCredential=) that holds the API key.
CREDENTIAL_NAME = "posthog_api_key"
# The systemd credential that holds the salt of the rules' `hash:`.
SALT_CREDENTIAL_NAME = "hash_salt"
# The capture service answers 413 above 20 MiB (reference/posthog-capture.md §4).
MAX_BATCH_BYTES = 15 * 1024 * 1024

# posthog-python's per-batch cap (posthog/consumer.py BATCH_SIZE_LIMIT): far below the
# 20 MiB the capture service accepts (reference/posthog-capture.md §4).
DEFAULT_BATCH_BYTES = 5 * 1024 * 1024
# posthog-python's MAX_MSG_SIZE. Events are measured as capture's Kafka message
# (bridge.sink.batcher.captured_size), which Kafka caps at 1,000,000 bytes by default;
# Cloud's exact value is not public, hence the margin (reference §4).
DEFAULT_MAX_EVENT_BYTES = 900 * 1024
# posthog-go's per-message cap (message.go, reference §4), the smallest event size an
# official SDK sends: a capture deployment that refused less would break it. Events
# measured above it may be near the server's limit, and travel alone.
DEFAULT_SOLO_EVENT_BYTES = 500_000
# Capture refuses such keys with 401 (rust/capture/src/token.rs, reference §9).
MAX_KEY_CHARS = 64


def _bounded(default: _N, low: float, high: float | None = None) -> _N:
    """A field's default, and the bounds the configuration file must keep it within."""
    return field(default=default, metadata={"bounds": (low, high)})


@dataclass(frozen=True, slots=True, kw_only=True)
class PostHogSettings:
    """Where and how to deliver."""

    host: str = DEFAULT_HOST
    api_key: str | None = field(default=None, repr=False)
    timeout_seconds: float = _bounded(15.0, 0.1)
    # auto: events older than 48 h go in historical batches, others in live ones;
    # always / never: every batch is historical / live.
    historical_migration: Literal["auto", "always", "never"] = "auto"
    geoip_disable: bool = True
    # CA certificates (PEM) that verify the host's TLS certificate, instead of the
    # public ones: for a self-hosted instance behind a private CA.
    ca_bundle: Path | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchSettings:
    """When a batch closes: whichever limit is reached first."""

    max_events: int = _bounded(1000, 1, 100_000)
    # The capture service refuses bodies over 20 MiB (reference §4); keep a margin.
    max_bytes: int = _bounded(DEFAULT_BATCH_BYTES, 1024, MAX_BATCH_BYTES)
    max_wait_seconds: float = _bounded(0.5, 0.0)
    # One event must stay under Kafka's 1,000,000-byte message limit (reference §4).
    # Sizes as captured (bridge.sink.batcher.captured_size) count 2 KiB for the fields
    # of capture's Kafka message besides the event.
    max_event_bytes: int = _bounded(DEFAULT_MAX_EVENT_BYTES, 4096, 1_000_000)
    solo_event_bytes: int = _bounded(DEFAULT_SOLO_EVENT_BYTES, 4096, 1_000_000)


@dataclass(frozen=True, slots=True, kw_only=True)
class RetrySettings:
    """Back-off between attempts; attempts never stop (the spool keeps the events)."""

    initial_seconds: float = _bounded(1.0, 0.01)
    max_seconds: float = _bounded(30.0, 0.01)
    # While PostHog refuses the key (401/403), try again this often.
    halted_recheck_seconds: float = _bounded(60.0, 0.1)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadSettings:
    """How files are read."""

    chunk_bytes: int = _bounded(1024 * 1024, 4096)
    max_line_bytes: int = _bounded(1024 * 1024, 256)
    rescan_seconds: float = _bounded(10.0, 0.1)
    # Once the files are read to their end, the next read waits at least this long
    # after the last one began: a log written line by line is read in a few bites a
    # second, each ending in one commit (and one wait for the disk), instead of one per
    # change inotify reports. A backlog is read without pause. 0: read on every change.
    coalesce_seconds: float = _bounded(0.25, 0.0, 5.0)
    # Skip, unparsed, the lines no rule can match (literals and thresholds derived
    # from the rules); off: every line is parsed (and its parse errors counted).
    prefilter: bool = True
    # JSON nested deeper is a parse error (too_deep): bridge.parse.jsonl. orjson reads
    # at most 1024 levels, and writes back 254 (with the event around).
    max_depth: int = _bounded(DEFAULT_MAX_DEPTH, 1, 250)

    @property
    def read_bytes(self) -> int:
        """
        Bytes read at once, in chunks of at most ``chunk_bytes``: with a thousand busy
        files, a chunk from each would hold a gigabyte; the files still take turns,
        and many small chunks (many files, a few lines each) share one commit.
        """
        return CHUNKS_PER_READ * self.chunk_bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricsSettings:
    """The localhost endpoint for /metrics, /healthz and /readyz."""

    enabled: bool = True
    host: str = "127.0.0.1"
    # Not a port of a common exporter (9187 is postgres_exporter's).
    port: int = _bounded(9841, 0, 65535)
    # Sends failing for longer than this make /readyz answer 503.
    sink_failing_seconds: float = _bounded(300.0, 1.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class OwnEventsSettings:
    """logbridge's own events: engine_started, engine_stopped, health_check."""

    enabled: bool = True
    health_check_seconds: float = _bounded(300.0, 1.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything the daemon needs besides the rule files."""

    config_path: Path
    rules_dir: Path
    state_dir: Path
    hostname: str = "localhost"
    # The key of the rules' `hash:` (HMAC-SHA256); a secret like the API key.
    hash_salt: bytes | None = field(default=None, repr=False)
    environment: str = "production"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "console"] = "auto"
    posthog: PostHogSettings = PostHogSettings()
    batch: BatchSettings = BatchSettings()
    retry: RetrySettings = RetrySettings()
    read: ReadSettings = ReadSettings()
    metrics: MetricsSettings = MetricsSettings()
    own_events: OwnEventsSettings = OwnEventsSettings()
    # Added to every event (the rules' and logbridge's own); a rule's own property
    # of the same name wins.
    properties: Mapping[str, Any] = field(default_factory=dict)
    spool_max_bytes: int = _bounded(DEFAULT_SPOOL_BYTES, 1024 * 1024)
    shutdown_timeout_seconds: float = _bounded(DEFAULT_SHUTDOWN_SECONDS, 0.0)


# -- parsing (pure) ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _SecretPlaces:
    """Where one secret may come from, first found wins."""

    env_var: str
    credential: str
    file_key: str
    value_key: str


_API_KEY = _SecretPlaces(
    "POSTHOG_API_KEY", CREDENTIAL_NAME, "posthog.api_key_file", "posthog.api_key"
)
_HASH_SALT = _SecretPlaces(
    "LOGBRIDGE_HASH_SALT", SALT_CREDENTIAL_NAME, "hash_salt_file", "hash_salt"
)


# Each key of the file is its field's path in Settings (batch.max_events), but these.
_FILE_KEYS = {
    "log_level": "log.level",
    "log_format": "log.format",
    "spool_max_bytes": "spool.max_bytes",
    "shutdown_timeout_seconds": "shutdown.timeout_seconds",
}
# Fields the file does not set.
_NOT_IN_FILE = frozenset({"config_path"})

_Kind = type | tuple[str, ...]
# The types a field may have in the file (besides Literal words, paths and optional).
_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    dict: "a mapping",
}


@dataclass(frozen=True, slots=True)
class _Key:
    """A key of the configuration file: the field it sets and what it takes."""

    # The field's path in Settings, e.g. "batch.max_events"; "" for a key that sets no
    # field of its own (a file a secret is read from).
    field: str
    # str, int, float or bool, or the words of a Literal.
    kind: _Kind
    # (minimum, maximum), checked after the type; None means unbounded.
    bounds: tuple[float, float | None] | None = None
    # Resolved against the configuration file's folder.
    is_path: bool = False
    # A secret (a field with repr=False): a wrong value is described by its type alone.
    is_secret: bool = False


def _keys_of(cls: type, prefix: str = "") -> Iterator[tuple[str, _Key]]:
    """The file's keys for the fields of a settings class and of its groups."""
    hints = typing.get_type_hints(cls)
    for item in dataclasses.fields(cls):
        name, hint = prefix + item.name, hints[item.name]
        if name in _NOT_IN_FILE:
            continue
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            yield from _keys_of(hint, name + ".")
            continue
        kind, is_path = _kind_of(hint)
        bounds = item.metadata.get("bounds")
        key = _Key(name, kind, bounds, is_path=is_path, is_secret=not item.repr)
        yield _FILE_KEYS.get(name, name), key


def _kind_of(hint: Any) -> tuple[_Kind, bool]:
    """What the file holds for a field of this type, and whether it is a path."""
    if typing.get_origin(hint) in (Mapping, dict):
        return dict, False
    args = tuple(arg for arg in typing.get_args(hint) if arg is not type(None))
    if typing.get_origin(hint) is Literal:
        return args, False
    if args:  # optional: X | None
        return _kind_of(args[0])
    if hint is Path:
        return str, True
    if hint is bytes:  # the hash salt, written as text
        return str, False
    if hint in _TYPE_NAMES:
        return hint, False
    msg = f"a settings field of type {hint!r} has no form in the configuration file"
    raise TypeError(msg)


def _nest(keys: Mapping[str, _Key]) -> dict[str, Any]:
    """Dotted keys as the file nests them: {"batch": {"max_events": key, ...}, ...}."""
    tree: dict[str, Any] = {}
    for dotted, key in keys.items():
        *groups, name = dotted.split(".")
        node = tree
        for group in groups:
            node = node.setdefault(group, {})
        node[name] = key
    return tree


# Every key the configuration file accepts: the fields, and the secrets' files.
_KEYS = dict(_keys_of(Settings)) | {
    places.file_key: _Key("", str) for places in (_API_KEY, _HASH_SALT)
}
_SCHEMA = _nest(_KEYS)
# Keys whose values are secrets: a wrong one is described by its type alone.
_SECRET_KEYS = frozenset(name for name, key in _KEYS.items() if key.is_secret)

_HOST_HINT = "hint: e.g. eu, or https://eu.i.posthog.com"
# Text shown as is in errors: a plain lowercase word, such as a misspelt choice. API
# keys (phc_/phx_ plus mixed case), URLs (which may carry a password) and anything
# else are described instead.
_PLAIN_WORD = re.compile(r"[a-z][a-z0-9_]{0,31}")


class _Walker:
    """Collects values and problems from the node tree of one configuration file."""

    def __init__(self, source_name: str, problems: list[Problem]) -> None:
        self.source_name = source_name
        self.problems = problems
        # Where a YAML-level problem was reported (a tag, say): nothing more is said
        # of the value there.
        self._reported = {(p.line, p.col) for p in problems}
        self.values: dict[str, Any] = {}
        self.marks: dict[str, Node] = {}

    def problem(self, at: Node | Key, path: str, message: str, hint: str = "") -> None:
        self.problems.append(
            Problem(self.source_name, at.line, at.col, path, message, hint)
        )

    def walk(self, node: Node, schema: dict[str, Any], prefix: str) -> None:
        if not isinstance(node, Map):
            self.problem(
                node,
                prefix or "(top)",
                f"expected a mapping, got {_kind(node, prefix)}",
            )
            return
        for key, value_node in node.entries:
            path = f"{prefix}.{key.text}" if prefix else key.text
            if key.text not in schema:
                close = difflib.get_close_matches(key.text, schema, n=1)
                self.problem(
                    key,
                    path,
                    f"unknown key {key.text!r}; expected one of "
                    f"{', '.join(sorted(schema))}",
                    f"did you mean {close[0]!r}?" if close else "",
                )
                continue
            if (value_node.line, value_node.col) in self._reported:
                continue
            expected = schema[key.text]
            if isinstance(expected, dict):
                self.walk(value_node, expected, path)
            else:
                self.scalar(value_node, expected, path)

    def scalar(self, node: Node, key: _Key, path: str) -> None:
        if key.kind is dict:
            self.mapping(node, path)
            return
        value, kind = _construct(node), key.kind
        if path == "posthog.historical_migration" and isinstance(value, bool):
            # Its old form, a switch: true meant every batch, false none.
            value = "always" if value else "never"
        if isinstance(kind, tuple):
            if value not in kind:
                close = difflib.get_close_matches(str(value), kind, n=1)
                self.problem(
                    node,
                    path,
                    f"expected one of {', '.join(kind)}, got {_show(value, path)}",
                    f"did you mean {close[0]!r}?"
                    if close
                    else _switch_hint(value, path),
                )
                return
        elif kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.problem(
                node,
                path,
                f"expected {_TYPE_NAMES[kind]}, got {_show(value, path)}",
                _yaml11_hint(value, kind),
            )
            return
        if key.bounds is not None and isinstance(value, int | float):
            low, high = key.bounds
            if value < low or (high is not None and value > high):
                limit = (
                    f"between {low:g} and {high:g}"
                    if high is not None
                    else f">= {low:g}"
                )
                self.problem(node, path, f"must be {limit}, got {_show(value, path)}")
                return
        self.values[path] = value
        self.marks[path] = node

    def mapping(self, node: Node, path: str) -> None:
        """A mapping of names to values as written (``properties``)."""
        if isinstance(node, Scalar) and node.value is None:
            return  # every entry commented out: none
        if not isinstance(node, Map):
            self.problem(node, path, f"expected a mapping, got {_kind(node, path)}")
            return
        values: dict[str, Any] = {}
        for key, value_node in node.entries:
            name = key.text
            if not name.strip():
                self.problem(key, path, "a property needs a name")
                continue
            if name.startswith("$"):
                self.problem(
                    key,
                    f"{path}.{name}",
                    "a name beginning with '$' is PostHog's own property",
                    "hint: name it without '$', or set it in the rules that need it",
                )
                continue
            values[name] = to_plain(value_node)
        self.values[path] = values
        self.marks[path] = node


def _construct(node: Node) -> Any:
    if isinstance(node, Seq):
        return []
    return {} if isinstance(node, Map) else node.value


def _kind(node: Node, path: str) -> str:
    if isinstance(node, Seq):
        return "a list"
    if isinstance(node, Map):
        return "a mapping"
    return _show(node.value, path)


def _show(value: Any, path: str) -> str:
    """A wrong value as an error shows it, never a secret (see the module doc)."""
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if path in _SECRET_KEYS:
        return _describe(value)
    if isinstance(value, str):
        if value.startswith(("phc_", "phx_")) or not _PLAIN_WORD.fullmatch(value):
            return _describe(value)
        return repr(value)
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return f"a string of {len(value)} characters" if value else "an empty string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number" if isinstance(value, int | float) else "a value"


# YAML 1.1's words for booleans: text in YAML 1.2, which both kinds of files follow.
_YAML11_BOOLEANS = {"yes": True, "on": True, "no": False, "off": False}
# YAML 1.1's numbers with '_' between digits: text in YAML 1.2 too.
_YAML11_NUMBER = re.compile(r"[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?")


def _yaml11_hint(value: Any, kind: type) -> str:
    """What to write instead of a YAML 1.1 boolean or number, which reads as text."""
    if not isinstance(value, str):
        return ""
    if kind is bool and value.lower() in _YAML11_BOOLEANS:
        word = "true" if _YAML11_BOOLEANS[value.lower()] else "false"
        return f"hint: write {word}; only true and false are booleans"
    if kind in (int, float) and "_" in value and _YAML11_NUMBER.fullmatch(value):
        return "hint: write the number without '_'"
    return ""


def _switch_hint(value: Any, path: str) -> str:
    """What to write for a YAML 1.1 boolean where a setting's old form was a switch."""
    if path != "posthog.historical_migration" or not isinstance(value, str):
        return ""
    flag = _YAML11_BOOLEANS.get(value.lower())
    if flag is None:
        return ""
    return f"hint: write {'always' if flag else 'never'}"


def _quote(text: str, path: str) -> str:
    """How YAML-level messages show a value, or a tag (as ``_show`` shows its name)."""
    name = text.lstrip("!")
    if name == text:
        return _show(text, path)
    # A secret written unquoted after a '!' is read as a tag.
    shown = _show(name, path) == repr(name)
    return repr(text) if shown else f"of {len(text)} characters"


def parse_settings(  # noqa: PLR0913 - the I/O it needs comes in as arguments
    text: str,
    source_name: str,
    *,
    config_path: Path,
    env: Mapping[str, str],
    default_hostname: str,
    read_key_file: Callable[[Path], str] | None = None,
    check_ca_bundle: Callable[[Path], None] | None = None,
) -> Settings:
    """
    Build ``Settings`` from the configuration text and the environment.

    Relative paths are resolved against the configuration file's folder. The API key comes,
    first found wins, from ``POSTHOG_API_KEY``, the systemd credential
    ``posthog_api_key``, ``posthog.api_key_file``, then ``posthog.api_key``; a key
    capture would refuse (a personal key, say) is an error here, not a 401 later.

    Args:
        read_key_file: returns a secret file's text; raises OSError.
        check_ca_bundle: raises OSError if ``posthog.ca_bundle`` cannot be read, or
            ValueError (with a message) if it holds no CA certificate.

    Raises:
        SettingsError: with every problem found.
    """
    root, problems = parse_document(source_name, text, quote=_quote)
    walker = _Walker(source_name, problems)
    if root is not None:
        walker.walk(root, _SCHEMA, "")
    values = walker.values
    base = config_path.parent
    # The file's values by field, paths resolved.
    fields = {
        _KEYS[name].field: base / value if _KEYS[name].is_path else value
        for name, value in values.items()
        if _KEYS[name].field
    }
    api_key, key_origin = _secret(_API_KEY, values, walker, env, base, read_key_file)
    if api_key is not None:
        _check_api_key(api_key, key_origin, walker)
    salt, _ = _secret(_HASH_SALT, values, walker, env, base, read_key_file)
    host = _resolve_host(env, values, walker)
    if "posthog.ca_bundle" in fields:
        path = fields["posthog.ca_bundle"]
        _check_file(path, "posthog.ca_bundle", walker, check_ca_bundle)
    if walker.problems:
        raise SettingsError(walker.problems)
    # systemd's StateDirectory= (the first of several), unless the file names one.
    systemd_state = env.get("STATE_DIRECTORY", "").split(":")[0]
    derived = {
        "config_path": config_path,
        "rules_dir": fields.get("rules_dir", base / "rules"),
        "state_dir": fields.get("state_dir", Path(systemd_state or DEFAULT_STATE_DIR)),
        "hostname": fields.get("hostname", default_hostname),
        "hash_salt": salt.encode() if salt else None,
        "posthog.api_key": api_key,
        "posthog.host": host,
    }
    return _build(Settings, fields | derived)


def _build(cls: type[_D], values: Mapping[str, Any], prefix: str = "") -> _D:
    """A settings class from values by field path; its defaults for the others."""
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for item in dataclasses.fields(cls):
        name, hint = prefix + item.name, hints[item.name]
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            kwargs[item.name] = _build(hint, values, name + ".")
        elif name in values:
            kwargs[item.name] = values[name]
    return cls(**kwargs)


@dataclass(frozen=True, slots=True)
class _Origin:
    """Where a value came from: a key of the configuration file, or elsewhere."""

    # The key's value node in the configuration file; None for another source.
    node: Node | None
    # The key (with a node), else the environment variable or file it came from.
    name: str

    def report(self, walker: _Walker, message: str, hint: str = "") -> None:
        if self.node is not None:
            walker.problem(self.node, self.name, message, hint)
        else:
            walker.problems.append(Problem(self.name, 1, 1, "", message, hint))


def _secret(
    places: _SecretPlaces,
    values: Mapping[str, Any],
    walker: _Walker,
    env: Mapping[str, str],
    base: Path,
    read_key_file: Callable[[Path], str] | None,
) -> tuple[str | None, _Origin]:
    if env.get(places.env_var):
        return env[places.env_var].strip(), _Origin(None, places.env_var)
    candidates: list[tuple[Path, _Origin]] = []
    if env.get("CREDENTIALS_DIRECTORY"):
        credential = Path(env["CREDENTIALS_DIRECTORY"]) / places.credential
        candidates.append((credential, _Origin(None, str(credential))))
    if places.file_key in values:
        origin = _Origin(walker.marks[places.file_key], places.file_key)
        candidates.append((base / values[places.file_key], origin))
    for path, origin in candidates:
        if read_key_file is None:
            break
        try:
            return read_key_file(path).strip() or None, origin
        except FileNotFoundError:
            if origin.node is not None:
                origin.report(walker, f"no such file: {str(path)!r}")
        except OSError as exc:
            if origin.node is not None:
                origin.report(walker, f"cannot read the file: {exc.strerror}")
    value = values.get(places.value_key)
    origin = _Origin(walker.marks.get(places.value_key), places.value_key)
    return (str(value).strip() or None if value is not None else None), origin


def _check_api_key(key: str, origin: _Origin, walker: _Walker) -> None:
    """Refuse, never quoting it, a key capture would answer 401 to (reference §9)."""
    if key.startswith("phx_"):
        origin.report(
            walker,
            "this is a personal API key (phx_...), which PostHog refuses for sending"
            " events",
            "hint: use the project API key (phc_...) from the project's settings",
        )
    elif len(key) > MAX_KEY_CHARS:
        origin.report(
            walker,
            f"the API key is {len(key)} characters long; PostHog refuses keys longer"
            f" than {MAX_KEY_CHARS}",
        )
    elif not key.isascii() or "\0" in key:
        origin.report(
            walker, "the API key holds a character PostHog refuses (non-ASCII or NUL)"
        )


def _resolve_host(
    env: Mapping[str, str], values: Mapping[str, Any], walker: _Walker
) -> str:
    """``POSTHOG_HOST`` or ``posthog.host`` as a URL, shorthands and aliases resolved."""
    if env.get("POSTHOG_HOST"):
        value, origin = env["POSTHOG_HOST"], _Origin(None, "POSTHOG_HOST")
    else:
        value = values.get("posthog.host", DEFAULT_HOST)
        origin = _Origin(walker.marks.get("posthog.host"), "posthog.host")
    text = str(value).strip().rstrip("/")
    bare = text.lower().removeprefix("https://").removeprefix("http://")
    if bare in _HOST_ALIASES:
        return _HOST_ALIASES[bare]
    if not text.lower().startswith(("http://", "https://")):
        shown = _show(value, "posthog.host")
        origin.report(
            walker, f"expected an http(s) URL, us or eu, got {shown}", _HOST_HINT
        )
    return text


def _check_file(
    path: Path,
    key: str,
    walker: _Walker,
    check: Callable[[Path], None] | None,
) -> None:
    if check is None:
        return
    origin = _Origin(walker.marks[key], key)
    try:
        check(path)
    except FileNotFoundError:
        origin.report(walker, f"no such file: {str(path)!r}")
    except OSError as exc:
        origin.report(walker, f"cannot read the file {str(path)!r}: {exc.strerror}")
    except ValueError as exc:
        origin.report(walker, f"{str(path)!r}: {exc}")


# -- loading (I/O) -----------------------------------------------------------------------


def load_settings(path: Path | None, *, state_dir: Path | None = None) -> Settings:
    """Read the configuration file named by ``path``, ``$LOGBRIDGE_CONFIG`` or the default."""
    env = os.environ
    config_path = Path(path or env.get("LOGBRIDGE_CONFIG") or DEFAULT_CONFIG_PATH)
    try:
        text = config_path.read_text(encoding="utf-8")
    except OSError as exc:
        problem = Problem(
            str(config_path), 1, 1, "", f"cannot read the configuration: {exc.strerror}"
        )
        raise SettingsError([problem]) from None
    settings = parse_settings(
        text,
        str(config_path),
        config_path=config_path.absolute(),
        env=env,
        default_hostname=socket.gethostname(),
        read_key_file=lambda p: p.read_text(encoding="utf-8"),
        check_ca_bundle=_load_ca_bundle,
    )
    if state_dir is not None:
        settings = dataclasses.replace(settings, state_dir=state_dir.absolute())
    return settings


def tool_settings(path: Path | None, *, rules: Path | None) -> Settings:
    """
    Settings for ``test``, ``replay`` and ``explain``: the configuration file when one is
    named (``rules`` then replaces its ``rules_dir``), else defaults around ``rules``.
    """
    if path is not None:
        settings = load_settings(path)
        return (
            settings
            if rules is None
            else dataclasses.replace(settings, rules_dir=rules)
        )
    salt = os.environ.get(_HASH_SALT.env_var, "").strip()
    return Settings(
        config_path=Path.cwd() / "bridge.yaml",
        rules_dir=rules or Path.cwd() / "rules",
        state_dir=Path(DEFAULT_STATE_DIR),
        hostname=socket.gethostname(),
        hash_salt=salt.encode() if salt else None,
    )


def _load_ca_bundle(path: Path) -> None:
    """Raise OSError if ``path`` cannot be read, ValueError if it holds no CA."""
    # Imported here, the one place that needs it: ssl takes some 6 ms to import (-X
    # importtime), which ``logbridge status`` would pay for nothing.
    import ssl  # noqa: PLC0415

    with path.open("rb"):
        pass  # FileNotFoundError, PermissionError, IsADirectoryError
    try:
        ssl.create_default_context(cafile=str(path))
    except ssl.SSLError:
        msg = "no CA certificate could be read from it (expected PEM)"
        raise ValueError(msg) from None
