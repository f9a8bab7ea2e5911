"""What capture would refuse with a 400, found before anything is sent.

Pure. Capture validates a request's events in a loop that stops at the first bad one
and refuses the whole request (reference/posthog-capture.md §5.1), so one bad event
costs a bisection: about 2·log2(n) extra requests while the good events wait. An event
``find_refusal`` names a reason for goes to the dead letters unsent instead; bisecting
remains for what capture refuses and this module does not foresee.

The checks are capture's own (reference §2 event table, §5.1, §9), nothing stricter:
an event capture accepts must never be held back here. Checked, in capture's order:

- the event is a JSON object; ``event`` a non-empty string;
- ``uuid``, ``timestamp``, ``$set``, ``$set_once``, ``properties`` and ``offset`` have
  the types capture parses them as (a uuid string must be a UUID; null or "" means
  "none given" for uuid);
- a distinct_id exists (``distinct_id``, ``$distinct_id``, else
  ``properties.distinct_id``), is not null, and is not empty once stringified;
- ``properties.$cookieless_mode``, when present, is a boolean.

Ids ingestion later treats as placeholders (``null``, ``anonymous``, ``0``…) are
accepted by capture (reference §9) and are not refused here either.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from bridge.parse.jsonl import decode_json

__all__ = ["find_refusal", "find_refusal_in"]

# Rust's Uuid::parse_str forms (reference §6): hyphenated, optionally urn:uuid:,
# braced, or 32 bare hex digits; any version, any case.
_UUID = re.compile(
    r"(?:urn:uuid:)?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|\{[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}"
    r"|[0-9a-f]{32}",
    re.IGNORECASE,
)
# The lowercase hyphenated form bridge.model.event_uuid writes.
_PLAIN_UUID = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)
# The keys of every event bridge.spool.rows writes.
_ROWS_KEYS = frozenset({"event", "distinct_id", "uuid", "timestamp", "properties"})
# (key, type wanted, what the reason says), for top-level keys where null means absent.
_TYPED = (
    ("uuid", str, "a string"),
    ("timestamp", str, "a string"),
    ("$set", dict, "an object"),
    ("$set_once", dict, "an object"),
)


def find_refusal(body: bytes) -> str | None:
    """
    Why capture would refuse the spooled event ``body`` with a 400, or None.

    The reason names the field and never quotes a value.
    """
    try:
        event = orjson.loads(body)
    except orjson.JSONDecodeError:
        try:
            decode_json(body)
        except orjson.JSONDecodeError:
            return "not JSON"
        # JSON with an integer past a double's range (over 308 digits): logbridge
        # keeps it exact, but capture reads numbers as doubles and would refuse it.
        return "a number beyond a double's range, which capture cannot read"
    if _is_plainly_valid(event):
        return None
    return find_refusal_in(event)


def _is_plainly_valid(event: Any) -> bool:
    """
    Whether ``event`` is, at a glance, what rows.py writes with nothing to refuse.

    Half the cost of ``find_refusal_in`` for the events nearly all are; anything else
    gets the full check.
    """
    if type(event) is not dict or event.keys() != _ROWS_KEYS:
        return False
    name, distinct_id = event["event"], event["distinct_id"]
    uuid, properties = event["uuid"], event["properties"]
    return (
        type(name) is str
        and name != ""
        and type(distinct_id) is str
        and distinct_id != ""
        and type(event["timestamp"]) is str
        and type(properties) is dict
        and "$cookieless_mode" not in properties
        and type(uuid) is str
        and _PLAIN_UUID.fullmatch(uuid) is not None
    )


def find_refusal_in(event: Any) -> str | None:  # noqa: PLR0911 - one return per rule
    """``find_refusal`` for an event already decoded."""
    if not isinstance(event, dict):
        return f"expected an event object, got {_kind(event)}"
    name = event.get("event")
    if not isinstance(name, str):
        return f"event: expected a string, got {_kind(name)}"
    if not name:
        return "event: is empty"
    for key, wanted, expected in _TYPED:
        value = event.get(key)
        if value is not None and not isinstance(value, wanted):
            return f"{key}: expected {expected}, got {_kind(value)}"
    if "properties" in event and not isinstance(event["properties"], dict):
        return f"properties: expected an object, got {_kind(event['properties'])}"
    offset = event.get("offset")
    if offset is not None and (isinstance(offset, bool) or not isinstance(offset, int)):
        return f"offset: expected an integer, got {_kind(offset)}"
    uuid = event.get("uuid")
    if uuid and _UUID.fullmatch(uuid) is None:
        return "uuid: not a UUID"
    properties: dict[str, Any] = event.get("properties") or {}
    return _distinct_id_refusal(event, properties) or _cookieless_refusal(properties)


def _distinct_id_refusal(
    event: dict[str, Any], properties: dict[str, Any]
) -> str | None:
    value = event.get("distinct_id", event.get("$distinct_id"))
    if value is None:
        value = properties.get("distinct_id")
    if value is None:
        return "distinct_id: missing or null"
    # Capture stringifies any other JSON value, which is never empty.
    if value == "":
        return "distinct_id: is empty"
    return None


def _cookieless_refusal(properties: dict[str, Any]) -> str | None:
    if "$cookieless_mode" in properties and not isinstance(
        properties["$cookieless_mode"], bool
    ):
        got = _kind(properties["$cookieless_mode"])
        return f"properties.$cookieless_mode: expected a boolean, got {got}"
    return None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"
