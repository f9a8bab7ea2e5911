"""The ``docker`` format: Docker's json-file logging driver.

``{"log":"GET /health 200\\n","stream":"stdout","time":"2026-12-06T10:00:00.1Z"}``:
the container's line with its newline in ``log``; a line longer than 16 KiB comes
as several entries, all but the last without the newline.

Invariants: ``parse_docker`` never raises; a line that is not a JSON object with a
string ``log`` is ``ParseFailure("invalid_docker")`` (``invalid_json`` when it is not
JSON at all), the line never quoted; the newline ending ``log`` is removed.
"""

from __future__ import annotations

from typing import Any

import orjson

from bridge.parse.containers.partial import ContainerFormat, Part
from bridge.parse.failure import ParseFailure

__all__ = ["DOCKER", "parse_docker"]

_NOT_DOCKER = ParseFailure(
    "invalid_docker", 'expected a JSON object with a string "log"'
)


def _entry(text: str) -> dict[str, Any] | ParseFailure:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return ParseFailure("invalid_json", str(exc))
    if not isinstance(value, dict) or not isinstance(value.get("log"), str):
        return _NOT_DOCKER
    return value


def parse_docker(text: str) -> dict[str, Any] | ParseFailure:
    """Return the fields of a json-file line: log, stream and time; or why not."""
    entry = _entry(text)
    if isinstance(entry, ParseFailure):
        return entry
    fields = {"log": entry["log"].removesuffix("\n")}
    for key in ("stream", "time"):
        if isinstance(entry.get(key), str):
            fields[key] = entry[key]
    return fields


def _split(text: str) -> Part | None:
    entry = _entry(text)
    if isinstance(entry, ParseFailure):
        return None
    log: str = entry["log"]
    stream = entry.get("stream")
    return Part(stream if isinstance(stream, str) else "", not log.endswith("\n"), log)


def _join(first: str, texts: list[str]) -> str:
    entry = _entry(first)
    head = entry if isinstance(entry, dict) else {}
    joined = {**head, "log": "".join(texts)}
    return orjson.dumps(joined).decode()


DOCKER = ContainerFormat("docker", _split, _join)
