"""A local stand-in for PostHog's v0 capture endpoint, served over real HTTP/1.1.

It follows ``/work/shared/reference/posthog-capture.md`` ("What a faithful local
emulator must do"), so the daemon under test, a separate process, meets the status
codes, limits and normalisation it will meet in production.

Invariants:

- One request, one verdict: the whole request is accepted or refused; nothing of a
  refused request is stored, except what a ``Fault(persist_first=k)`` asks for and
  what capture's Kafka sink stores before a 413: it writes a request's events one by
  one and stops at the first one too large, so the events before it are kept
  (reference §9, rust/capture/src/sinks/kafka.rs).
- Refusals are checked in the order capture checks them: faults, wire size, gzip,
  UTF-8, JSON and shape, key (401), each event (400), quota (200, nothing stored),
  then event size (413: Kafka refuses the message).
- An event's size is that of capture's Kafka message for it, in which the event's
  JSON is embedded as an escaped string (quotes and backslashes count twice) beside
  the message's own fields (``CapturedEvent``: uuid, distinct_id, ip, data, now,
  token; reference §4, §9).
- ``deliveries`` keeps every accepted event, duplicates included; ``dedup_view``
  collapses them the way ClickHouse's ReplacingMergeTree eventually does.
- The socket stays usable after every answered request (the body is always read to
  its end, Content-Length always sent), so httpx's keep-alive pool is exercised.
- All state sits behind one lock; accessors return copies.
"""

from __future__ import annotations

import contextlib
import email.utils
import itertools
import json
import re
import secrets
import selectors
import socket
import ssl
import struct
import sys
import threading
import time
import traceback
import uuid as uuid_module
import zlib
from collections import deque
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from typing import Any, Literal, cast
from urllib.parse import parse_qsl, urlsplit

__all__ = [
    "BATCH_BODY_BYTES",
    "LEGACY_EVENT_BODY_BYTES",
    "FakePostHog",
    "Fault",
    "RecordedRequest",
    "StoredEvent",
    "uuid7",
]

# Wire cap of every v0 route in current capture (reference §4, BATCH_BODY_SIZE).
BATCH_BODY_BYTES = 20_971_520
# Older capture capped single-event routes at 2 MiB (reference §4, EVENT_BODY_SIZE).
LEGACY_EVENT_BODY_BYTES = 2_097_152
# Project keys longer than this are refused with 401 (reference §5.1, R-token).
MAX_KEY_CHARS = 64
# Capture cuts distinct_id to 200 characters (reference §2, R-event).
MAX_DISTINCT_ID_CHARS = 200
# Ingestion cuts event names to 200 characters (reference §10, N-dbu).
MAX_EVENT_NAME_CHARS = 200
# Ingestion drops $groupidentify when $group_key is longer (reference §8, N-gprops).
MAX_GROUP_KEY_CHARS = 400
# Timestamps further ahead than this become "now" (reference §7 step 4).
FUTURE_LIMIT = timedelta(hours=23)
# `?_=` is in ms; smaller values look like seconds and are ignored (reference §2).
MIN_QUERY_SENT_AT_MS = 10_000_000_000
_CHUNK_BYTES = 65_536
_EPOCH = datetime.fromtimestamp(0, UTC)
_MICROSECOND = timedelta(microseconds=1)

_CAPTURE_PATHS = frozenset({"/batch", "/i/v0/e", "/e", "/capture", "/track", "/engage"})
_GZIP_HINTS = frozenset({"gzip", "gzip-js"})
_GZIP_MAGIC = b"\x1f\x8b\x08"
_UUID_TEXT = re.compile(
    r"(?:urn:uuid:)?(?P<h>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
    r"|\{(?P<b>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\}"
    r"|(?P<s>[0-9a-f]{32})",
    re.IGNORECASE,
)
# Person merges refuse these ids (reference §8, N-merge): any casing of the first set,
# exact case of the second, and both sets wrapped in quotes.
_ILLEGAL_IDS_ANY_CASE = frozenset(
    {
        "anonymous",
        "guest",
        "distinctid",
        "distinct_id",
        "id",
        "not_authenticated",
        "email",
        "undefined",
        "true",
        "false",
    }
)
_ILLEGAL_IDS_EXACT = frozenset(
    {"[object Object]", "NaN", "None", "none", "null", "0", "undefined"}
)
_PERSON_EVENTS = frozenset(
    {"$identify", "$create_alias", "$merge_dangerously", "$groupidentify"}
)
_FAULT_TEXT = {
    408: "request timeout",
    429: "too many requests, please retry",
    500: "internal server error",
    503: "transient error, please retry",
}


@dataclass(frozen=True, slots=True)
class Fault:
    """
    One scripted misbehaviour of the server, applied to one capture request.

    ``status`` answers that status instead of processing; with ``persist_first`` the
    request is processed, its first k events stored, then ``status`` (default 503)
    is answered. ``reset`` closes the connection with a TCP RST, before reading the
    body or after reading it; nothing is stored either way.
    """

    status: int | None = None
    retry_after: str | None = None
    delay_seconds: float = 0.0
    reset: Literal["before", "after"] | None = None
    persist_first: int | None = None
    stall_seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.persist_first is not None and self.persist_first < 0:
            msg = f"persist_first: expected k >= 0, got {self.persist_first}"
            raise ValueError(msg)


_NO_FAULT = Fault()


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """
    One request as the server saw it.

    ``body`` is the decompressed body when it could be decoded, else the raw body, and
    empty when the body was not read or was over the wire cap. ``status`` is None
    when the connection was reset or the client went away.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    raw_size: int
    body: bytes
    status: int | None
    response_body: bytes
    arrived_monotonic: float
    arrived_wall: datetime
    gzip: bool
    retry_after_sent: str | None

    @property
    def is_capture(self) -> bool:
        """Whether this was a POST to one of the v0 capture routes."""
        return self.method == "POST" and _is_capture_path(self.path)


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One accepted event, normalised as capture normalises it."""

    token: str
    event: str
    distinct_id: str
    uuid: str
    timestamp: datetime
    raw_timestamp: str | None
    properties: dict[str, Any]
    set: dict[str, Any] | None
    set_once: dict[str, Any] | None
    received_at: datetime
    historical_migration: bool = False


class _Refused(Exception):
    """The request is answered with an error status; nothing is stored."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _ClientGone(Exception):
    """The client closed the connection before its body was complete."""


@dataclass(frozen=True, slots=True)
class _Accepted:
    token: str
    events: tuple[StoredEvent, ...]
    warnings: tuple[tuple[str, ...], ...]  # per event, same order as events
    # Kafka refused the event after the last of ``events``: the answer is this.
    refusal: _Refused | None = None


@dataclass(frozen=True, slots=True)
class _Verdict:
    status: int
    body: bytes
    stored: tuple[StoredEvent, ...] = ()
    warnings: tuple[str, ...] = ()


# ---------------------------------------------------------------- pure core


def uuid7(now: datetime) -> str:
    """
    Return a fresh UUIDv7 (RFC 9562) for ``now``: 48 bits of Unix ms, then random.

    Capture mints one for events sent without a uuid; Python 3.11's uuid has none.
    """
    millis = int(now.timestamp() * 1000) & ((1 << 48) - 1)
    rand_a = secrets.randbits(12)
    rand_b = secrets.randbits(62)
    value = (millis << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    return str(uuid_module.UUID(int=value))


def _is_capture_path(path: str) -> bool:
    return (path.rstrip("/") or "/") in _CAPTURE_PATHS


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_gzip(query: Mapping[str, str], headers: Mapping[str, str], raw: bytes) -> bool:
    hint = query.get("compression", "").strip().lower()
    encoding = headers.get("content-encoding", "").strip().lower()
    return hint in _GZIP_HINTS or encoding in _GZIP_HINTS or raw[:3] == _GZIP_MAGIC


def _gunzip(raw: bytes, budget: int) -> bytes:
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
    try:
        # max_length bounds memory: a gzip bomb stops one byte past the budget.
        out = inflater.decompress(raw, budget + 1)
    except zlib.error:
        raise _Refused(400, "failed to decode request: invalid GZIP data") from None
    if len(out) > budget:
        raise _Refused(413, f"decompressed payload is larger than {budget} bytes")
    if not inflater.eof:
        raise _Refused(400, "failed to decode request: invalid GZIP data")
    return out


def _reject_constant(name: str) -> Any:
    # serde_json refuses NaN and Infinity, which Python's json would accept.
    msg = f"{name} is not JSON"
    raise ValueError(msg)


def _parse_json(data: bytes) -> Any:
    if not data:
        raise _Refused(400, "request body is empty")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _Refused(400, "failed to decode request: invalid utf-8") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        msg = f"failed to decode request: invalid json: {exc}"
        raise _Refused(400, msg) from None


def _parse_timestamp(text: str) -> datetime | None:
    """RFC 3339 / ISO 8601 (zone-less read as UTC), then RFC 2822; None if neither."""
    candidate = text.strip()
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(candidate)
        except (TypeError, ValueError, IndexError):
            return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    # Left in its own zone: converting year 1 or 9999 to UTC may overflow.
    return parsed


def _shifted(now: datetime, micros: int) -> datetime | None:
    """``now`` moved by ``micros``; far future saturates, None is before year 1."""
    try:
        return now + timedelta(microseconds=micros)
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC) if micros > 0 else None


def _effective_timestamp(
    raw: str | None,
    *,
    sent_at: datetime | None,
    offset_ms: int | None,
    now: datetime,
) -> tuple[datetime, list[str]]:
    """Reference §7: skew correction, offset overriding, +23 h clamp, year bounds."""
    problems: list[str] = []
    result: datetime | None = now
    parsed = _parse_timestamp(raw) if raw is not None else None
    if raw is not None and parsed is None:
        problems.append("ignored_invalid_timestamp")
    if parsed is not None and sent_at is not None:
        result = _shifted(now, (parsed - sent_at) // _MICROSECOND)
    elif parsed is not None:
        result = parsed
    # The code lets offset win over timestamp; the docs say otherwise (§7 step 3).
    if offset_ms is not None:
        result = _shifted(now, -offset_ms * 1000)
    if result is not None and result > now + FUTURE_LIMIT:
        problems.append("event_timestamp_in_future")
        return now, problems
    try:
        # Before datetime's year 1 (capture: year < 0): the Unix epoch.
        return (_EPOCH if result is None else result.astimezone(UTC)), problems
    except OverflowError:
        return _EPOCH, problems


def _request_sent_at(
    body: Mapping[str, Any], query: Mapping[str, str]
) -> datetime | None:
    value = body.get("sent_at")
    if isinstance(value, str):
        return _parse_timestamp(value)
    millis = query.get("_", "")
    if millis.isdigit() and int(millis) >= MIN_QUERY_SENT_AT_MS:
        with contextlib.suppress(OverflowError, ValueError, OSError):
            return datetime.fromtimestamp(int(millis) / 1000, UTC)
    return None


def _status_text(status: int) -> str:
    return _FAULT_TEXT.get(status, HTTPStatus(status).phrase.lower())


def _split_shapes(payload: Any) -> tuple[list[Any], list[str], dict[str, Any]]:
    """
    Return the events of one of the three accepted body shapes, the path of each
    in error messages, and the batch envelope (empty for the other two shapes).
    """
    if isinstance(payload, list):
        if not payload:
            raise _Refused(400, "request holds no event")
        return payload, [f"[{i}]" for i in range(len(payload))], {}
    if not isinstance(payload, dict):
        got = _shown(payload)
        msg = (
            f"failed to decode request: expected an event, a list or a batch, got {got}"
        )
        raise _Refused(400, msg)
    if "batch" not in payload:
        return [payload], [""], {}
    batch = payload["batch"]
    if not isinstance(batch, list):
        raise _Refused(400, f"batch: expected a list of events, got {_shown(batch)}")
    if not batch:
        raise _Refused(400, "request holds no event")
    token = payload.get("token", payload.get("api_key"))
    if not isinstance(token, str):
        # Rust falls through to another shape and fails to parse it (reference §5.1).
        raise _Refused(400, "batch submitted without an api_key")
    historical = payload.get("historical_migration", False)
    if not isinstance(historical, bool):
        msg = f"historical_migration: expected a boolean, got {_shown(historical)}"
        raise _Refused(400, msg)
    return batch, [f"batch[{i}]" for i in range(len(batch))], payload


def _invalid(at: str, key: str, problem: str) -> _Refused:
    where = f"{at}.{key}" if at and key else at or key
    return _Refused(400, f"{where}: {problem}")


def _check_structure(raw: Any, at: str) -> None:
    """The type checks serde applies while parsing, to every event of the request."""
    if not isinstance(raw, dict):
        raise _invalid(at, "", f"expected an event object, got {_shown(raw)}")
    if not isinstance(raw.get("event"), str):
        raise _invalid(
            at, "event", f"expected a string, got {_shown(raw.get('event'))}"
        )
    checks = (
        ("uuid", str, "a UUID string"),
        ("timestamp", str, "a string"),
        ("$set", dict, "an object"),
        ("$set_once", dict, "an object"),
    )
    for key, wanted, expected in checks:
        value = raw.get(key)
        if value is not None and not isinstance(value, wanted):
            raise _invalid(at, key, f"expected {expected}, got {_shown(value)}")
    if "properties" in raw and not isinstance(raw["properties"], dict):
        got = _shown(raw["properties"])
        raise _invalid(at, "properties", f"expected an object, got {got}")
    offset = raw.get("offset")
    if offset is not None and (isinstance(offset, bool) or not isinstance(offset, int)):
        raise _invalid(at, "offset", f"expected an integer, got {_shown(offset)}")
    text = raw.get("uuid")
    if text and _UUID_TEXT.fullmatch(text) is None:
        raise _invalid(at, "uuid", f"expected a UUID, got {_shown(text)}")


def _event_token(raw: Mapping[str, Any]) -> str | None:
    for key in ("token", "$token", "api_key"):
        value = raw.get(key)
        if isinstance(value, str):
            return value
    fallback = raw.get("properties", {}).get("token")
    return fallback if isinstance(fallback, str) else None


def _request_token(envelope: Mapping[str, Any], events: list[dict[str, Any]]) -> str:
    if envelope:
        return cast(str, envelope.get("token", envelope.get("api_key")))
    tokens = {t for t in map(_event_token, events) if t is not None}
    if not tokens:
        raise _Refused(401, "event submitted without an api_key")
    if len(tokens) > 1:
        raise _Refused(401, "events carry different api_keys")
    return tokens.pop()


def _check_token(token: str, known_keys: Collection[str] | None) -> None:
    if not token.strip():
        raise _Refused(401, "api_key is empty")
    if len(token) > MAX_KEY_CHARS:
        raise _Refused(401, f"api_key is longer than {MAX_KEY_CHARS} characters")
    if not token.isascii():
        raise _Refused(401, "api_key is not ASCII")
    if "\0" in token:
        raise _Refused(401, "api_key contains a NUL character")
    if token.startswith("phx_"):
        raise _Refused(401, "api_key is a personal API key (phx_), not a project key")
    if known_keys is not None and token not in known_keys:
        raise _Refused(401, "api_key is not the key of a known project")


def _distinct_id(raw: Mapping[str, Any], at: str) -> str:
    value = raw.get("distinct_id", raw.get("$distinct_id"))
    if value is None:
        value = raw.get("properties", {}).get("distinct_id")
    if value is None:
        raise _invalid(at, "distinct_id", "missing, here and in properties")
    # serde_json's to_string: compact, non-ASCII kept as is.
    compact = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    text = value if isinstance(value, str) else compact
    text = text.replace("\0", "\ufffd")[:MAX_DISTINCT_ID_CHARS]
    if not text:
        raise _invalid(at, "distinct_id", "is empty")
    return text


def _canonical_uuid(text: str | None, now: datetime) -> str:
    if not text:
        return uuid7(now)
    match = _UUID_TEXT.fullmatch(text)
    hexdigits = next(g for g in cast(re.Match[str], match).groups() if g)
    return str(uuid_module.UUID(hexdigits))


def _is_illegal_id(distinct_id: str) -> bool:
    bare = distinct_id
    if len(bare) >= 2 and bare[0] == bare[-1] and bare[0] in "'\"":
        bare = bare[1:-1]
    return bare.lower() in _ILLEGAL_IDS_ANY_CASE or bare in _ILLEGAL_IDS_EXACT


def _ingestion_warnings(stored: StoredEvent, clock_problems: list[str]) -> list[str]:
    """What PostHog's ingestion would later drop or alter (reference §8, §10, §7)."""
    where = f"event {_shown(stored.event)} uuid {stored.uuid}"
    found: list[str] = []
    if _is_illegal_id(stored.distinct_id):
        shown = _shown(stored.distinct_id)
        found.append(f"cannot_merge_with_illegal_distinct_id: {where}: {shown}")
    if len(stored.event) > MAX_EVENT_NAME_CHARS:
        found.append(f"event_name_truncated: {where}: longer than 200 characters")
    flag = stored.properties.get("$process_person_profile")
    if flag is not None and not isinstance(flag, bool):
        found.append(f"invalid_process_person_profile: {where}: {_shown(flag)}")
    if flag is False and stored.event in _PERSON_EVENTS:
        kind = "invalid_event_when_process_person_profile_is_false"
        found.append(f"{kind}: {where}")
    group_key = stored.properties.get("$group_key")
    if (
        stored.event == "$groupidentify"
        and isinstance(group_key, str)
        and len(group_key) > MAX_GROUP_KEY_CHARS
    ):
        found.append(f"group_key_too_long: {where}: longer than 400 characters")
    raw = _shown(stored.raw_timestamp)
    found.extend(f"{problem}: {where}: {raw}" for problem in clock_problems)
    return found


def _normalise(
    raw: dict[str, Any],
    at: str,
    *,
    token: str,
    sent_at: datetime | None,
    historical: bool,
    now: datetime,
) -> tuple[StoredEvent, list[str]]:
    if not raw["event"]:
        raise _invalid(at, "event", "is empty")
    distinct_id = _distinct_id(raw, at)
    properties: dict[str, Any] = raw.get("properties", {})
    cookieless = properties.get("$cookieless_mode", False)
    if not isinstance(cookieless, bool):
        got = f"expected a boolean, got {_shown(cookieless)}"
        raise _invalid(at, "properties.$cookieless_mode", got)
    skew_base = None if properties.get("$ignore_sent_at") is True else sent_at
    timestamp, clock_problems = _effective_timestamp(
        raw.get("timestamp"), sent_at=skew_base, offset_ms=raw.get("offset"), now=now
    )
    stored = StoredEvent(
        token=token,
        event=raw["event"],
        distinct_id=distinct_id,
        uuid=_canonical_uuid(raw.get("uuid"), now),
        timestamp=timestamp,
        raw_timestamp=raw.get("timestamp"),
        properties=properties,
        set=raw.get("$set"),
        set_once=raw.get("$set_once"),
        received_at=now,
        historical_migration=historical,
    )
    return stored, _ingestion_warnings(stored, clock_problems)


def _message_bytes(raw: Any, stored: StoredEvent) -> int:
    """The bytes of capture's Kafka message for one event (``CapturedEvent``)."""
    message = {
        "uuid": stored.uuid,
        "distinct_id": stored.distinct_id,
        "ip": "127.0.0.1",
        "data": json.dumps(raw, ensure_ascii=False, separators=(",", ":")),
        "now": stored.received_at.isoformat(),
        "token": stored.token,
    }
    text = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
    return len(text.encode("utf-8", "surrogatepass"))


def _accept(
    data: bytes,
    *,
    query: Mapping[str, str],
    now: datetime,
    known_keys: Collection[str] | None,
    quota_limited_keys: Collection[str],
    max_event_bytes: int,
) -> _Accepted:
    """Parse and validate a decompressed body; raise _Refused on the first problem."""
    events, places, envelope = _split_shapes(_parse_json(data))
    for raw, at in zip(events, places, strict=True):
        _check_structure(raw, at)
    token = _request_token(envelope, events)
    _check_token(token, known_keys)
    sent_at = _request_sent_at(envelope, query)
    historical = bool(envelope.get("historical_migration", False))
    # Capture filters these out before looking any closer (reference §10).
    kept = [
        (raw, at)
        for raw, at in zip(events, places, strict=True)
        if raw["event"] != "$performance_event"
    ]
    normalised = [
        _normalise(
            raw, at, token=token, sent_at=sent_at, historical=historical, now=now
        )
        for raw, at in kept
    ]
    if token in quota_limited_keys:
        return _Accepted(token, (), ())
    # Produced to Kafka one by one: the first message too large ends the request,
    # and those before it are stored already.
    refusal = None
    for index, ((raw, at), (stored, _)) in enumerate(
        zip(kept, normalised, strict=True)
    ):
        if _message_bytes(raw, stored) > max_event_bytes:
            msg = f"{at or 'event'}: is larger than {max_event_bytes} bytes"
            refusal, normalised = _Refused(413, msg), normalised[:index]
            break
    return _Accepted(
        token,
        tuple(event for event, _ in normalised),
        tuple(tuple(found) for _, found in normalised),
        refusal,
    )


# ---------------------------------------------------------------- I/O shell


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Keep-alive connections idle forever; stop() shuts them down instead of joining.
    block_on_close = False

    def __init__(self, owner: FakePostHog, port: int) -> None:
        self.owner = owner
        self._wake_reader, self._wake_writer = socket.socketpair()
        super().__init__(("127.0.0.1", port), _Handler)

    def serve_until_woken(self) -> None:
        """
        Accept connections until ``wake()``.

        serve_forever() polls for its shutdown flag, so every stop() would wait up
        to one poll interval; waiting on a wake-up socket ends the loop at once.
        """
        with selectors.DefaultSelector() as selector:
            selector.register(self, selectors.EVENT_READ)
            selector.register(self._wake_reader, selectors.EVENT_READ)
            while True:
                ready = {key.fileobj for key, _ in selector.select()}
                if self._wake_reader in ready:
                    return
                self.handle_request()

    def wake(self) -> None:
        """End ``serve_until_woken``."""
        self._wake_writer.send(b"\0")

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        tls = self.owner._tls
        if tls is None:
            return connection, address
        # The handshake happens on the handler's first read, in its own thread: a
        # client that never speaks cannot stall the accepting loop.
        wrapped = tls.wrap_socket(
            connection, server_side=True, do_handshake_on_connect=False
        )
        return wrapped, address

    def server_close(self) -> None:
        super().server_close()
        self._wake_reader.close()
        self._wake_writer.close()

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can stall on DNS.
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that goes away mid-request is normal (the daemon gets SIGKILLed);
        # anything else is a bug in this emulator and must fail the test.
        if not isinstance(sys.exc_info()[1], OSError):
            self.owner._note_server_error(traceback.format_exc())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes; with Nagle on, the body waits for the
    # client's delayed ACK (~40 ms per request on Linux).
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: tests read ``FakePostHog.requests`` instead."""

    def setup(self) -> None:
        super().setup()
        self.server.owner._track(self.connection, opened=True)

    def finish(self) -> None:
        self.server.owner._track(self.connection, opened=False)
        super().finish()

    def do_POST(self) -> None:
        """Capture on the v0 routes; 404 elsewhere."""
        if _is_capture_path(urlsplit(self.path).path):
            self._serve_capture()
        else:
            self._serve_other(404, b"not found")

    def do_OPTIONS(self) -> None:
        """CORS preflight on the capture routes."""
        found = _is_capture_path(urlsplit(self.path).path)
        self._serve_other(200 if found else 404, b"" if found else b"not found")

    def do_GET(self) -> None:
        """Capture's GET ``?data=`` form is not emulated: 404."""
        self._serve_other(404, b"not found")

    def do_HEAD(self) -> None:
        """Not a capture method: 404."""
        self._serve_other(404, b"not found")

    def do_PUT(self) -> None:
        """Not a capture method: 404."""
        self._serve_other(404, b"not found")

    def do_DELETE(self) -> None:
        """Not a capture method: 404."""
        self._serve_other(404, b"not found")

    def _serve_other(self, status: int, body: bytes) -> None:
        owner = self.server.owner
        start, now = time.monotonic(), owner._clock()
        try:
            size = self._read_body(0)[1]
        except _ClientGone:
            self.close_connection = True
            return
        owner._pause(owner._latency)
        self._record(start, now, size=size, status=status, response=body)
        self._answer(status, body, None)

    def _serve_capture(self) -> None:
        owner = self.server.owner
        start, now = time.monotonic(), owner._clock()
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        fault = owner._next_fault()
        pause = owner._latency + fault.delay_seconds
        if fault.reset == "before":
            owner._pause(pause)
            hinted = _is_gzip(query, self._headers(), b"")
            self._record(start, now, gzip=hinted)
            self._reset()
            return
        owner._pause(fault.stall_seconds)
        cap = owner._max_body_bytes
        if owner._legacy_single_event_cap and parts.path.rstrip("/") != "/batch":
            cap = min(cap, LEGACY_EVENT_BODY_BYTES)
        try:
            raw, size = self._read_body(cap)
        except _ClientGone:
            self._record(start, now)
            self.close_connection = True
            return
        is_gzip = _is_gzip(query, self._headers(), raw)
        body, refusal = owner._decode(raw, is_gzip)
        if size > cap:
            refusal = _Refused(413, f"request body is larger than {cap} bytes")
        if fault.reset == "after":
            owner._pause(pause)
            self._record(start, now, size=size, body=body, gzip=is_gzip)
            self._reset()
            return
        if fault.stall_seconds:
            verdict = owner._plain_verdict(408)
        else:
            verdict = owner._judge(body, refusal, query, fault, now)
        status, response = verdict.status, verdict.body
        if status == 200 and query.get("beacon") == "1":
            status, response = 204, b""
        owner._store(verdict)
        self._record(
            start,
            now,
            size=size,
            body=body,
            status=status,
            response=response,
            gzip=is_gzip,
            retry_after=fault.retry_after,
        )
        owner._pause(pause)
        self._answer(status, response, fault.retry_after)

    def _headers(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for key, value in self.headers.items():
            name = key.lower()
            found[name] = f"{found[name]}, {value}" if name in found else value
        return found

    def _read_body(self, cap: int) -> tuple[bytes, int]:
        """Read the whole body; keep it only if it fits ``cap`` (else drain it)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(cap)
        length_text = self.headers.get("Content-Length", "0").strip()
        if not length_text.isdigit():
            raise _ClientGone
        length = int(length_text)
        kept, left = [], length
        while left:
            chunk = self.rfile.read(min(left, _CHUNK_BYTES))
            if not chunk:
                raise _ClientGone
            left -= len(chunk)
            if length <= cap:
                kept.append(chunk)
        return b"".join(kept), length

    def _read_chunked(self, cap: int) -> tuple[bytes, int]:
        kept: list[bytes] = []
        size = 0
        while True:
            line = self.rfile.readline(_CHUNK_BYTES)
            try:
                length = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                raise _ClientGone from None
            if length == 0:
                break
            chunk = self.rfile.read(length + 2)[:length]  # + its CRLF
            if len(chunk) < length:
                raise _ClientGone
            size += length
            kept.append(chunk if size <= cap else b"")
        while self.rfile.readline(_CHUNK_BYTES) not in (b"\r\n", b"\n", b""):
            pass  # trailers carry nothing capture reads
        return (b"".join(kept) if size <= cap else b""), size

    def _record(
        self,
        start: float,
        now: datetime,
        *,
        size: int = 0,
        body: bytes = b"",
        status: int | None = None,
        response: bytes = b"",
        gzip: bool = False,
        retry_after: str | None = None,
    ) -> None:
        parts = urlsplit(self.path)
        self.server.owner._append_request(
            RecordedRequest(
                method=self.command,
                path=parts.path,
                query=dict(parse_qsl(parts.query, keep_blank_values=True)),
                headers=self._headers(),
                raw_size=size,
                body=body,
                status=status,
                response_body=response,
                arrived_monotonic=start,
                arrived_wall=now,
                gzip=gzip,
                retry_after_sent=retry_after if status is not None else None,
            )
        )

    def _answer(self, status: int, body: bytes, retry_after: str | None) -> None:
        self.send_response(status)
        if status != 204:  # a 204 has no body, so no framing headers (RFC 9110 §8.6)
            ok = 200 <= status < 300  # success bodies are JSON, errors plain text
            kind = "application/json" if ok else "text/plain; charset=utf-8"
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
        if retry_after is not None:
            self.send_header("Retry-After", retry_after)
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _reset(self) -> None:
        # SO_LINGER with a zero timeout turns close() into a TCP RST: the client sees
        # "connection reset", not a clean end of stream.
        self.connection.setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
        )
        self.close_connection = True
        self.connection.close()


class FakePostHog:
    """
    PostHog's v0 capture endpoint on 127.0.0.1, a random free port, in a thread.

    ``known_keys`` None accepts any well-formed key; a collection enforces it (401).
    Keys in ``quota_limited_keys`` get 200 and nothing is stored, as over quota.
    ``clock`` is the server's "now" for timestamps and ``received_at``. With ``tls``
    (a server-side context holding a certificate) it serves https instead of http.
    """

    def __init__(
        self,
        *,
        known_keys: Collection[str] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        success_body: bytes = b'{"status": 1}',
        max_body_bytes: int = BATCH_BODY_BYTES,
        max_decompressed_bytes: int = 100 * 1024 * 1024,
        max_event_bytes: int = 1_000_000,
        legacy_single_event_cap: bool = False,
        quota_limited_keys: Collection[str] = (),
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._known_keys = None if known_keys is None else frozenset(known_keys)
        self._clock = clock
        self._success_body = success_body
        self._max_body_bytes = max_body_bytes
        self._max_decompressed_bytes = max_decompressed_bytes
        self._max_event_bytes = max_event_bytes
        self._legacy_single_event_cap = legacy_single_event_cap
        self._quota_limited_keys = frozenset(quota_limited_keys)
        self._tls = tls
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._faults: deque[Fault] = deque()
        self._outage: Fault | None = None
        self._latency = 0.0
        self._requests: list[RecordedRequest] = []
        self._deliveries: list[StoredEvent] = []
        self._warnings: list[str] = []
        self._server_errors: list[str] = []
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._port = 0

    # -- lifecycle

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (``https`` with ``tls``), once started."""
        if self._server is None:
            msg = "FakePostHog is not running; call start() first"
            raise RuntimeError(msg)
        scheme = "http" if self._tls is None else "https"
        return f"{scheme}://127.0.0.1:{self._port}"

    def start(self) -> None:
        """Listen and serve; after a stop(), listen again on the same port."""
        if self._server is not None:
            return
        self._stopping.clear()
        self._server = _Server(self, self._port)
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_until_woken,
            name=f"fakeposthog-{self._port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """
        Stop listening, cut every open connection and end pending sleeps.

        Raises:
            RuntimeError: a handler failed with something other than a socket error.
        """
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()
        server.wake()
        thread.join()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        server.server_close()
        self._server = self._thread = None
        with self._lock:
            errors = list(self._server_errors)
        if errors:
            msg = "fake PostHog handler failed:\n" + "\n".join(errors)
            raise RuntimeError(msg)

    def __enter__(self) -> FakePostHog:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- scripting

    def push_faults(self, *faults: Fault) -> None:
        """Queue faults; each capture request consumes the oldest one."""
        with self._lock:
            self._faults.extend(faults)

    def set_outage(self, fault: Fault | None) -> None:
        """Apply ``fault`` to each capture request the queue leaves; None ends it."""
        with self._lock:
            self._outage = fault

    def set_latency(self, seconds: float) -> None:
        """Delay every answer by ``seconds``."""
        with self._lock:
            self._latency = seconds

    # -- what happened

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request, in order of arrival."""
        with self._lock:
            return sorted(self._requests, key=lambda r: r.arrived_monotonic)

    @property
    def deliveries(self) -> list[StoredEvent]:
        """Every accepted event, duplicates included, in order of arrival."""
        with self._lock:
            return list(self._deliveries)

    @property
    def warnings(self) -> list[str]:
        """What ingestion would drop or alter, one line per finding."""
        with self._lock:
            return list(self._warnings)

    def dedup_view(self) -> dict[tuple[str, date, str, str, str], StoredEvent]:
        """
        Deliveries keyed like ClickHouse's ReplacingMergeTree, last write wins.

        Key: (token, UTC date of the effective timestamp, event, distinct_id, uuid).
        """
        view: dict[tuple[str, date, str, str, str], StoredEvent] = {}
        for e in self.deliveries:
            view[(e.token, e.timestamp.date(), e.event, e.distinct_id, e.uuid)] = e
        return view

    def content_dedup_view(self) -> dict[tuple[datetime, str, str, str], StoredEvent]:
        """
        Deliveries keyed like the kafka-deduplicator, uuid ignored, last write wins.

        Key: (exact effective timestamp, distinct_id, token, event).
        """
        view: dict[tuple[datetime, str, str, str], StoredEvent] = {}
        for e in self.deliveries:
            view[(e.timestamp, e.distinct_id, e.token, e.event)] = e
        return view

    def events(
        self,
        *,
        name: str | None = None,
        distinct_id: str | None = None,
        uuid: str | None = None,
    ) -> list[StoredEvent]:
        """Events of the deduplicated view that match every given filter."""
        return [
            e
            for e in self.dedup_view().values()
            if (name is None or e.event == name)
            and (distinct_id is None or e.distinct_id == distinct_id)
            and (uuid is None or e.uuid == uuid)
        ]

    def unique_uuids(self) -> set[str]:
        """The distinct uuids among all deliveries."""
        return {e.uuid for e in self.deliveries}

    def duplicate_deliveries(self) -> int:
        """How many deliveries the deduplicated view absorbed."""
        return len(self.deliveries) - len(self.dedup_view())

    def wait_for(
        self, predicate: Callable[[FakePostHog], bool], timeout: float
    ) -> bool:
        """Poll ``predicate(self)`` until it holds or ``timeout`` seconds pass."""
        deadline = time.monotonic() + timeout
        while not predicate(self):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def retry_gaps(self) -> list[tuple[float, str | None]]:
        """
        For each capture request after the first: seconds since the previous one, and
        the Retry-After the previous answer carried.
        """
        captures = [r for r in self.requests if r.is_capture]
        return [
            (
                later.arrived_monotonic - earlier.arrived_monotonic,
                earlier.retry_after_sent,
            )
            for earlier, later in itertools.pairwise(captures)
        ]

    @property
    def max_body_size_seen(self) -> int:
        """The largest wire body of any capture request, 0 before the first."""
        return max((r.raw_size for r in self.requests if r.is_capture), default=0)

    @property
    def all_gzipped(self) -> bool:
        """Whether there was a capture request and every one carried gzip."""
        captures = [r for r in self.requests if r.is_capture]
        return bool(captures) and all(r.gzip for r in captures)

    # -- used by the handler threads

    def _track(self, connection: socket.socket, *, opened: bool) -> None:
        with self._lock:
            if opened:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def _note_server_error(self, text: str) -> None:
        with self._lock:
            self._server_errors.append(text)

    def _pause(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def _next_fault(self) -> Fault:
        with self._lock:
            if self._faults:
                return self._faults.popleft()
            return self._outage or _NO_FAULT

    def _decode(self, raw: bytes, is_gzip: bool) -> tuple[bytes, _Refused | None]:
        """The body to parse (the raw one if gunzip fails) and why it failed."""
        if not is_gzip:
            return raw, None
        try:
            return _gunzip(raw, self._max_decompressed_bytes), None
        except _Refused as refused:
            return raw, refused

    def _judge(
        self,
        data: bytes,
        refusal: _Refused | None,
        query: Mapping[str, str],
        fault: Fault,
        now: datetime,
    ) -> _Verdict:
        """Decide the answer to one capture request and what it stores."""
        if fault.status is not None and fault.persist_first is None:
            return self._plain_verdict(fault.status)
        if refusal is not None:
            return _Verdict(refusal.status, refusal.message.encode())
        try:
            accepted = _accept(
                data,
                query=query,
                now=now,
                known_keys=self._known_keys,
                quota_limited_keys=self._quota_limited_keys,
                max_event_bytes=self._max_event_bytes,
            )
        except _Refused as refused:
            return _Verdict(refused.status, refused.message.encode())
        kept, status = len(accepted.events), 200
        if fault.persist_first is not None:
            kept, status = min(kept, fault.persist_first), fault.status or 503
        flat = tuple(w for found in accepted.warnings[:kept] for w in found)
        verdict = self._plain_verdict(status)
        if accepted.refusal is not None:
            too_large = accepted.refusal
            verdict = _Verdict(too_large.status, too_large.message.encode())
        return _Verdict(verdict.status, verdict.body, accepted.events[:kept], flat)

    def _plain_verdict(self, status: int) -> _Verdict:
        ok = 200 <= status < 300
        return _Verdict(
            status, self._success_body if ok else _status_text(status).encode()
        )

    def _store(self, verdict: _Verdict) -> None:
        with self._lock:
            self._deliveries.extend(verdict.stored)
            self._warnings.extend(verdict.warnings)

    def _append_request(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)
