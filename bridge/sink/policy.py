"""What to do after each attempt to post a batch, and how long to wait before the next.

Pure: the response (or its absence) and the time are arguments; randomness is injected.

Theory of operation (reference/posthog-capture.md §5, "Recommended sender behaviour"):

- 2xx: PostHog has the batch; the sink deletes it from the spool (ACK).
- No response, 408, 429, 5xx: transient; the SAME batch is sent again after a back-off,
  forever: the spool keeps it, unlike posthog-python which drops it after 3 retries
  (RETRY).
- 413: the batch is too large; its halves are sent separately, and a single event still
  too large is quarantined (SPLIT, then QUARANTINE).
- 400 and other 4xx: capture refuses the whole request for one bad event; halving
  isolates it in log2(n) requests while the good events get through (BISECT, then
  QUARANTINE).
- 401/403: the key is refused; nothing could succeed, so sending stops and the spool is
  kept until the key is fixed (HALT). 404/405 and any status outside these families
  (1xx, 3xx) mean the host is not a capture endpoint: also HALT, because treating them
  as permanent refusals would move every event to the dead letters one by one.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

__all__ = [
    "MAX_RETRY_AFTER_SECONDS",
    "Action",
    "Outcome",
    "backoff_seconds",
    "classify_response",
    "parse_retry_after",
]

# A Retry-After longer than this is taken as 10 minutes: a broken or hostile header must
# not park the sink for hours (posthog-python caps it at 30 s; we keep events, so we can
# afford to honour longer server requests).
MAX_RETRY_AFTER_SECONDS = 600.0
# 2**60 seconds is already beyond any cap; larger exponents only risk float overflow.
_MAX_EXPONENT = 60
# Reasons of the transient statuses that are not 5xx.
_TRANSIENT = {408: "request timeout", 429: "rate limited"}


class Action(enum.Enum):
    """What the sink does with the batch it just tried to send."""

    ACK = "ack"
    RETRY = "retry"
    SPLIT = "split"
    BISECT = "bisect"
    HALT = "halt"
    QUARANTINE = "quarantine"


@dataclass(frozen=True, slots=True)
class Outcome:
    """The decision about one response; ``status`` is None when there was none."""

    action: Action
    retry_after_seconds: float | None
    status: int | None
    reason: str


def classify_response(
    status: int | None,
    headers: Mapping[str, str],
    batch_size: int,
    *,
    now: datetime,
) -> Outcome:
    """
    Decide what to do after posting a batch of ``batch_size`` events.

    ``status`` None means no response (network error or timeout). ``now`` is the time
    the response arrived, used to read a ``Retry-After`` given as an HTTP date.
    """
    if status is None:
        return Outcome(Action.RETRY, None, None, "no response")
    if 200 <= status < 300:
        return Outcome(Action.ACK, None, status, "accepted")
    if status in {408, 429} or status >= 500:
        retry_after = parse_retry_after(_header(headers, "retry-after"), now)
        return Outcome(
            Action.RETRY, retry_after, status, _TRANSIENT.get(status, "server error")
        )
    return _refusal(status, batch_size)


def _refusal(status: int, batch_size: int) -> Outcome:
    """Every status that is neither a success nor worth repeating as is."""
    if status in {401, 403}:
        return Outcome(Action.HALT, None, status, "api key refused")
    if status in {404, 405} or not 400 <= status < 500:
        return Outcome(Action.HALT, None, status, "not a capture endpoint; check host")
    reason = "too large" if status == 413 else "rejected"
    if batch_size <= 1:
        return Outcome(Action.QUARANTINE, None, status, reason)
    action = Action.SPLIT if status == 413 else Action.BISECT
    return Outcome(action, None, status, reason)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """
    Seconds to wait from a ``Retry-After`` value: delta-seconds or an HTTP date.

    None when absent or unreadable; a date in the past gives 0.
    """
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            # RFC 9110 dates are always GMT; "-0000" parses as naive.
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - now).total_seconds())
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


def backoff_seconds(
    attempt: int,
    *,
    initial: float,
    cap: float,
    retry_after: float | None,
    rand: Callable[[], float],
) -> float:
    """
    The pause before re-sending after ``attempt`` failures (0 for the first retry).

    Jitter above a floor: uniform between ``initial`` and a ceiling that doubles from
    ``2 * initial`` up to ``cap``, so the retries of many bridges spread out, yet none
    comes sooner than ``initial`` (full jitter from 0 could retry after a few
    milliseconds; posthog-python waits 1 s, 2 s, 4 s: ``max(min(2**n, 30),
    Retry-After)``, reference §5.3). ``retry_after`` is a floor too, itself capped at
    ``MAX_RETRY_AFTER_SECONDS``.
    """
    exponent = min(max(attempt, 0), _MAX_EXPONENT) + 1
    floor = min(initial, cap)
    ceiling = min(cap, initial * 2.0**exponent)
    delay = floor + rand() * (ceiling - floor)
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER_SECONDS))
    return delay


def _header(headers: Mapping[str, str], name: str) -> str | None:
    # httpx.Headers is case-insensitive, a plain dict is not: look both ways.
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None
