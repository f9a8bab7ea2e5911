"""The daemon's configuration: a YAML file plus ``POSTHOG_API_KEY`` / ``POSTHOG_HOST``.

``parse_settings`` is pure and reports every problem at once in the ``file:line:col``
form; ``load_settings`` at the bottom is the only function that reads files or the
environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "BatchSettings",
    "PostHogSettings",
    "ReadSettings",
    "RetrySettings",
    "Settings",
]

# posthog-python's per-batch cap (posthog/consumer.py BATCH_SIZE_LIMIT): far below the
# 20 MiB the capture service accepts (reference/posthog-capture.md §4).
DEFAULT_BATCH_BYTES = 5 * 1024 * 1024
# posthog-python's MAX_MSG_SIZE: the capture service refuses events near 1 MB (Kafka).
DEFAULT_MAX_EVENT_BYTES = 900 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class PostHogSettings:
    """Where and how to deliver."""

    host: str = "https://us.i.posthog.com"
    api_key: str | None = field(default=None, repr=False)
    timeout_seconds: float = 15.0
    historical_migration: bool = False
    geoip_disable: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchSettings:
    """When a batch closes: whichever limit is reached first."""

    max_events: int = 1000
    max_bytes: int = DEFAULT_BATCH_BYTES
    max_wait_seconds: float = 0.5
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES


@dataclass(frozen=True, slots=True, kw_only=True)
class RetrySettings:
    """Back-off between attempts; attempts never stop (the spool keeps the events)."""

    initial_seconds: float = 1.0
    max_seconds: float = 30.0
    # While PostHog refuses the key (401/403), try again this often.
    halted_recheck_seconds: float = 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadSettings:
    """How files are read."""

    chunk_bytes: int = 1024 * 1024
    max_line_bytes: int = 1024 * 1024
    rescan_seconds: float = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything the daemon needs besides the rule files."""

    config_path: Path
    rules_dir: Path
    state_dir: Path
    posthog: PostHogSettings = PostHogSettings()
    batch: BatchSettings = BatchSettings()
    retry: RetrySettings = RetrySettings()
    read: ReadSettings = ReadSettings()
    spool_max_bytes: int = 256 * 1024 * 1024
    shutdown_timeout_seconds: float = 10.0
