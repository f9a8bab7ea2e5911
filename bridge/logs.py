"""The daemon's own logs, through structlog.

JSON lines (rendered with orjson) when stderr is not a terminal, so that journald and log
collectors get one parseable object per line; a readable console rendering on a terminal.
Every log call names a fixed event (``file_rotated``, ``batch_sent``…) and uses the fixed keys
of STYLE.md §4. Nothing here ever receives a line's text, an event's properties or the key.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Literal

import orjson
import structlog

__all__ = ["configure_logging", "get_logger"]

LogFormat = Literal["auto", "json", "console"]


def _render_json(_: Any, __: str, event_dict: dict[str, Any]) -> str:
    return orjson.dumps(event_dict, default=str).decode()


def configure_logging(level: str = "info", fmt: LogFormat = "auto") -> None:
    """Send structlog's output to stderr, as JSON or for a human."""
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
        if use_console
        else _render_json
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )


def get_logger(**initial: Any) -> Any:
    """Return a bound logger."""
    return structlog.get_logger(**initial)
