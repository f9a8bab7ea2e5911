"""What a parser is, and the value it returns for a line it cannot turn into fields.

Every parser in ``bridge.parse`` returns either a dict of fields or a
``ParseFailure``; none of them raises for any input line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["ParseFailure", "Parser"]


@dataclass(frozen=True, slots=True)
class ParseFailure:
    """
    Why a line could not be parsed.

    ``reason`` is a short fixed phrase (``invalid_json``, ``not_an_object``) fit for a
    metric label; ``detail`` is a human-readable explanation that never quotes the line,
    so it is safe to log.
    """

    reason: str
    detail: str = ""


Parser = Callable[[str], dict[str, Any] | ParseFailure]
