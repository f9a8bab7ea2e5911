"""The ``query`` parser: a URL's query string (or a bare one) → its parameters.

``/search?q=red+shoes&page=2#top`` and ``q=red+shoes&page=2`` both give
``{"q": "red shoes", "page": "2"}``: percent-escapes and ``+`` decoded, blank values
kept as "", a repeated parameter keeps its first value (as the ``query`` step of a
value does). Used by ``parse:`` layers; never raises, and any text is a query string
(possibly of no parameters).

A text without ``?`` is taken as a bare query string only when it holds an ``=``:
``/api/products/42`` is a path without a query, so it gives no parameters (read as a
query string, it would be one blank parameter named after the path).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from bridge.parse.failure import ParseFailure

__all__ = ["parse_query"]


def parse_query(text: str) -> dict[str, Any] | ParseFailure:
    """Return the parameters of a URL or query string, first value of each."""
    _, mark, rest = text.partition("?")
    string = (rest if mark else text).partition("#")[0]
    params: dict[str, Any] = {}
    if not mark and "=" not in string:
        return params
    for key, value in parse_qsl(string, keep_blank_values=True):
        params.setdefault(key, value)
    return params
