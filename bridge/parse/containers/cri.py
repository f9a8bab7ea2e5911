"""The ``cri`` format: ``<time> <stream> <tag> <text>``, as Kubernetes runtimes write.

``2026-12-06T10:00:00.123456789Z stdout F GET /health 200``: the runtime's time
(RFC 3339, nanoseconds), the stream (``stdout`` or ``stderr``), a tag whose first
flag is ``P`` for a part to be continued or ``F`` for a full line (or the last part),
then the container's text as written, up to the end of the line.

Invariants: ``parse_cri`` never raises; a line without the three leading fields is
``ParseFailure("invalid_cri")``, the line never quoted.
"""

from __future__ import annotations

from typing import Any

from bridge.parse.containers.partial import ContainerFormat, Part
from bridge.parse.failure import ParseFailure

__all__ = ["CRI", "parse_cri"]

_STREAMS = frozenset({"stdout", "stderr"})
_FAILURE = ParseFailure("invalid_cri", "expected '<time> <stdout|stderr> <P|F> <text>'")


def _fields(text: str) -> tuple[str, str, str, str] | None:
    parts = text.split(" ", 3)
    if len(parts) < 3:
        return None
    time, stream, tag = parts[0], parts[1], parts[2]
    if stream not in _STREAMS or not time or tag[:1] not in ("P", "F"):
        return None
    return time, stream, tag, parts[3] if len(parts) == 4 else ""


def parse_cri(text: str) -> dict[str, Any] | ParseFailure:
    """Return the fields of a CRI line: time, stream and log; or why it is not one."""
    found = _fields(text.removesuffix("\r"))
    if found is None:
        return _FAILURE
    time, stream, _tag, log = found
    return {"time": time, "stream": stream, "log": log}


def _split(text: str) -> Part | None:
    found = _fields(text)
    if found is None:
        return None
    _time, stream, tag, log = found
    return Part(stream, tag.startswith("P"), log)


def _join(first: str, texts: list[str]) -> str:
    time, stream, _tag, _log = _fields(first) or ("", "stdout", "F", "")
    return f"{time} {stream} F {''.join(texts)}"


CRI = ContainerFormat("cri", _split, _join)
