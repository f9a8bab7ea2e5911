"""The sink: batches of spooled events delivered to PostHog's ``/batch/`` endpoint."""

from bridge.sink.batcher import render_batch, split_batch
from bridge.sink.policy import (
    Action,
    Outcome,
    backoff_seconds,
    classify_response,
    parse_retry_after,
)
from bridge.sink.posthog import Sink, SinkCounters

__all__ = [
    "Action",
    "Outcome",
    "Sink",
    "SinkCounters",
    "backoff_seconds",
    "classify_response",
    "parse_retry_after",
    "render_batch",
    "split_batch",
]
