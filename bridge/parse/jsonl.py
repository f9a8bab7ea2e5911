"""The ``json`` parser: one JSON object per line, decoded with orjson.

Invariants: ``parse_json`` never raises, whatever the text; a line that is valid JSON
but not an object is a failure, because rules address fields by name.
"""

from __future__ import annotations

from typing import Any

import orjson

from bridge.parse.failure import ParseFailure

__all__ = ["parse_json"]

# Some writers put a byte-order mark at the start of a file; orjson refuses it.
_BOM = "\ufeff"

_JSON_KINDS = {
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}


def parse_json(text: str) -> dict[str, Any] | ParseFailure:
    """
    Return the fields of a JSON-object line, or why it is not one.
    """
    if text.startswith(_BOM):
        text = text[1:]
    try:
        # orjson also refuses numbers out of double range, lone surrogates and
        # nesting deeper than 1024: all JSONDecodeError (a ValueError).
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return ParseFailure("invalid_json", str(exc))
    if isinstance(value, dict):
        return value
    kind = _JSON_KINDS.get(type(value), "a non-object value")
    return ParseFailure("not_an_object", f"expected a JSON object, got {kind}")
