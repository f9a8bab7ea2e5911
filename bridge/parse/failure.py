"""The value a parser returns for a line it cannot turn into fields.

Every parser in ``bridge.parse`` returns either a dict of fields or a
``ParseFailure``; none of them raises for any input line.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ParseFailure"]


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
