"""Field paths: how a rule names a value inside a record's fields.

Syntax: segments joined by dots (``fields.user_id``); a segment holding dots or quotes
is written in double quotes, with ``\\"`` and ``\\\\`` as escapes inside
(``fields."http.status"``); an unquoted segment of digits also indexes a list
(``items.0.sku``), and is still looked up as a key in a mapping.

Invariants: a path is parsed once, at load, into a tuple of segments; a getter never
raises and returns ``MISSING`` when any step is absent or of the wrong type.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from bridge.model import Record

__all__ = [
    "MISSING",
    "FieldRef",
    "Getter",
    "Missing",
    "Segment",
    "compile_getter",
    "compile_record_getter",
    "parse_field_path",
]


class Missing(enum.Enum):
    """The type of ``MISSING``: an absent value, distinct from null."""

    MISSING = "MISSING"


MISSING: Final = Missing.MISSING

# (key, index): index is the key as an int when the segment is unquoted digits.
Segment = tuple[str, int | None]
Getter = Callable[[Any], Any]

_QUOTE = '"'
_ESCAPE = "\\"
_MAX_INDEX_DIGITS = 18


@dataclass(frozen=True, slots=True)
class FieldRef:
    """
    Where a rule names a record field, kept at load to check it against its source.

    ``top`` is the first segment, the name a parser produces; ``path`` is the
    breadcrumb and ``line``/``col`` the position of the node that names it.
    """

    text: str
    top: str
    path: str
    line: int
    col: int


def parse_field_path(text: str) -> tuple[Segment, ...] | str:
    """
    Parse a dotted field path.

    Returns:
        The segments, or an error message (lowercase, quoting the path).
    """
    if not text:
        return "empty field path"
    segments: list[Segment] = []
    i = 0
    # Each turn reads one segment and the dot after it; a trailing dot leaves an
    # empty last segment, which _segment reports.
    while i <= len(text):
        parsed = _segment(text, i)
        if isinstance(parsed, str):
            return parsed
        segment, i = parsed
        segments.append(segment)
        if i < len(text) and text[i] != ".":
            return f"expected '.' after a quoted segment in field path {text!r}"
        i += 1
    return tuple(segments)


def _segment(text: str, start: int) -> tuple[Segment, int] | str:
    """Read the segment at ``start``; return it and the index just after it."""
    if text.startswith(_QUOTE, start):
        quoted = _quoted_segment(text, start)
        if isinstance(quoted, str):
            return quoted
        key, end = quoted
        return (key, None), end
    end = text.find(".", start)
    end = len(text) if end < 0 else end
    key = text[start:end]
    if not key:
        return f"empty segment in field path {text!r}"
    if _QUOTE in key:
        return f"unexpected quote inside a segment of field path {text!r}"
    return (key, _index(key)), end


def _index(key: str) -> int | None:
    # No list holds 10**18 items; the cap also keeps int() far from its digit limit.
    if key.isascii() and key.isdigit() and len(key) <= _MAX_INDEX_DIGITS:
        return int(key)
    return None


def _quoted_segment(text: str, start: int) -> tuple[str, int] | str:
    """Read the quoted segment opening at ``start``; return it and the index after."""
    chars: list[str] = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == _QUOTE:
            return "".join(chars), i + 1
        if char == _ESCAPE and i + 1 < len(text):
            i += 1
            char = text[i]
        chars.append(char)
        i += 1
    return f"unclosed quote in field path {text!r}"


def compile_getter(segments: tuple[Segment, ...]) -> Getter:
    """Return a function that looks the path up in a record's fields."""
    if len(segments) == 1:
        ((key, _),) = segments

        def get_top(fields: Any) -> Any:
            # type() is dict first: parsers produce dicts, and the ABC check of
            # isinstance(…, Mapping) is the slowest step of a lookup.
            if type(fields) is dict or isinstance(fields, Mapping):
                return fields.get(key, MISSING)
            return MISSING

        return get_top

    def get_nested(fields: Any) -> Any:
        value = fields
        for key, index in segments:
            if type(value) is dict or isinstance(value, Mapping):
                value = value.get(key, MISSING)
                if value is MISSING:
                    return MISSING
            elif index is not None and isinstance(value, list | tuple):
                if index >= len(value):
                    return MISSING
                value = value[index]
            else:
                return MISSING
        return value

    return get_nested


def compile_record_getter(segments: tuple[Segment, ...]) -> Callable[[Record], Any]:
    """``compile_getter`` applied to a record's fields, in one call for a plain key."""
    get = compile_getter(segments)
    if len(segments) == 1:
        ((key, _),) = segments

        def get_field(record: Record) -> Any:
            fields = record.fields
            if type(fields) is dict:
                return fields.get(key, MISSING)
            return get(fields)

        return get_field
    return lambda record: get(record.fields)
