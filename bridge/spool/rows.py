"""An ``Event`` as the JSON object it is spooled and sent as, and back.

Pure: no I/O, no clock. Invariants:

- An event is serialized once, here, when it is spooled; the sink joins the stored bytes
  into a batch without re-encoding, so what PostHog receives on every (re)send is exactly
  what was committed with the file's checkpoint.
- The wire object is ``{"event", "distinct_id", "uuid", "timestamp", "properties"}`` in
  that order. ``timestamp`` is the line's time in UTC, RFC 3339 with microseconds and
  ``+00:00``, like posthog-python (reference/posthog-capture.md §7): an identical
  timestamp on a resend is what lets PostHog collapse the copies (§6).
- ``$lib``, ``$lib_version`` and ``$is_server`` always come from here, never from a
  rule: they tell PostHog who sent the event, and that a server sent it (as
  posthog-python says, reference/posthog-capture.md §9). ``$geoip_disable`` comes
  from here too (``geoip_disable``, the configuration's), unless the event carries a
  boolean one of its own (a rule's ``geoip:``).
- A body decodes with its integers as written (``decode_event``), so that a tool
  showing an event shows what is sent: never a 30-digit id as a float.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

import orjson

from bridge.model import JSON_OPTIONS, Event, json_default
from bridge.parse.jsonl import decode_json

__all__ = ["LIB_NAME", "decode_event", "encode_event"]

LIB_NAME = "logbridge"
# Property keys this module owns; a rule's value for any of them is replaced.
_LIB_KEYS = frozenset({"$lib", "$lib_version", "$is_server"})
_GEOIP = "$geoip_disable"
_GEOIP_OFF = {"$geoip_disable": True}
_GEOIP_ON: dict[str, bool] = {}


def encode_event(
    event: Event, *, lib_version: str, geoip_disable: bool = True
) -> bytes:
    """
    Return the event's wire JSON object, serialized with orjson.

    Values JSON has no type for (datetime, UUID, dataclasses…) are rendered by orjson's
    defaults; integers beyond 64 bits (``bridge.model.BigInt``) are written exactly.

    Raises:
        ValueError: the event's timestamp is naive, so its instant is unknown.
        TypeError: a property value cannot be serialized (``orjson.JSONEncodeError``).
    """
    moment = event.timestamp
    if moment.tzinfo is not UTC:
        if moment.tzinfo is None or moment.utcoffset() is None:
            msg = f"event {event.uuid}: timestamp has no time zone"
            raise ValueError(msg)
        moment = moment.astimezone(UTC)
    properties = event.properties
    # Geolocation is off unless asked: without it PostHog would locate every event at
    # the host running the bridge (reference/posthog-capture.md §8, posthog-python's
    # default too). A rule that maps a client's $ip may turn it on for its events.
    own = properties.get(_GEOIP)
    if isinstance(own, bool):
        geoip_disable = own
    if not _LIB_KEYS.isdisjoint(properties) or _GEOIP in properties:
        properties = {
            k: v for k, v in properties.items() if k not in _LIB_KEYS and k != _GEOIP
        }
    geoip = _GEOIP_OFF if geoip_disable else _GEOIP_ON
    wire = {
        "event": event.name,
        "distinct_id": event.distinct_id,
        "uuid": event.uuid,
        "timestamp": moment.isoformat(timespec="microseconds"),
        "properties": {
            **properties,
            "$lib": LIB_NAME,
            "$lib_version": lib_version,
            "$is_server": True,
            **geoip,
        },
    }
    # orjson leaves its output in a 4 KiB allocation; a body waits in memory until its
    # chunk is committed, and a copy of its exact size takes a fifteenth of that.
    return bytes(
        memoryview(orjson.dumps(wire, option=JSON_OPTIONS, default=json_default))
    )


def decode_event(body: bytes) -> dict[str, Any]:
    """
    Return the JSON object a spooled body holds; an integer beyond 64 bits is a
    ``BigInt``, which ``JSON_OPTIONS`` write back digit for digit.

    Raises:
        ValueError: the body is not JSON, or not a JSON object.
    """
    value = decode_json(body)
    if not isinstance(value, dict):
        msg = f"spooled event is not a JSON object: got {type(value).__name__}"
        raise ValueError(msg)
    return value
