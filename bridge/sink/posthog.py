"""Delivery: the oldest spooled events, as gzip'd batches, to ``POST {host}/batch/``.

The only module that imports httpx. Decisions come from the pure ``policy`` and
``batcher`` modules; this one does the waiting, the posting and the store calls.

Invariants:

- An event leaves the spool only after a 2xx for a request that held it (deleted), or
  when PostHog refused it alone for good (moved to the dead letters with the answer).
- A retried request carries the same events, in the same compressed bytes: a batch is
  compressed once, and after a failure the same events are resent, never a fresh fetch.
- Events go out oldest first; the halves of a split batch go first half first.
- The API key never reaches a log line, an error text or the state database; bodies and
  properties are never logged either (STYLE §4).

Theory of operation: ``run`` waits until a batch is due (``batch.max_events`` spooled,
or the oldest event has waited ``batch.max_wait_seconds``), fetches the oldest events
and delivers them. First it screens them, unsent: an event whose captured size
(``batcher.captured_size``) is over ``batch.max_event_bytes``, or that capture would
refuse with a 400 (``validation.find_refusal``), goes to the dead letters with the
reason. The rest are cut into requests (``batcher.plan_requests``): historical and
live lanes apart, an event over ``batch.solo_event_bytes`` alone, so that a 413 can
only be about that one event (capture stores the events before an oversize one
before answering 413, and sending them again would duplicate them). Each request is
posted, and the ``Outcome`` of each attempt says what next. A work stack holds the
halves of split batches, so one poison event among n is found in about 2·log2(n)
requests while the others are delivered. All waiting goes through the injected
``Clock``; a stop request interrupts any wait. ``drain`` is the bounded flush the
daemon runs at shutdown and for ``--once``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import random
import ssl
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import httpx
import orjson
import structlog

from bridge import __version__
from bridge.clock import Clock
from bridge.model import JSON_OPTIONS, json_default
from bridge.settings import Settings
from bridge.sink.batcher import (
    captured_size,
    historical_cutoff,
    plan_requests,
    render_batch,
    split_batch,
)
from bridge.sink.policy import Action, Outcome, backoff_seconds, classify_response
from bridge.sink.redaction import redact_secret
from bridge.sink.validation import find_refusal
from bridge.spool.asyncstore import AsyncStore
from bridge.spool.rows import decode_event
from bridge.spool.store import LAST_SEND_ERROR, SpooledEvent

__all__ = ["USER_AGENT", "Sink", "SinkCounters", "make_client"]

USER_AGENT = f"logbridge/{__version__}"
# PostHog's error answers are one short line (reference §5.1); a proxy's error page is
# not, and a dead letter only needs enough of it to tell what happened.
MAX_RESPONSE_BYTES = 2048
# zlib level 1: on batches of events it takes a third of the CPU of level 6 (the
# default) for about a fifth more bytes; CPU is what the watched application shares.
GZIP_LEVEL = 1


@dataclass(slots=True)
class SinkCounters:
    """Running totals since start, for logs and metrics."""

    batches_sent: int = 0
    events_sent: int = 0
    deadletters: int = 0
    # By status code, "network" when there was no response.
    retries: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True, slots=True)
class _Limit:
    """When a delivery must give up and leave the rest in the spool."""

    stop: asyncio.Event
    deadline: float | None  # on clock.monotonic()
    # During a bounded flush, waiting for a refused key to be fixed is pointless.
    give_up_when_halted: bool


@dataclass(frozen=True, slots=True)
class _Attempt:
    """One POST and what came of it; texts are already redacted."""

    outcome: Outcome
    response: str
    error: str
    duration_s: float


def make_client(settings: Settings) -> httpx.AsyncClient | None:
    """The HTTP client for PostHog; None without an API key (a dry run)."""
    posthog = settings.posthog
    if not posthog.api_key:
        return None
    # A private CA replaces the public ones: the host is the only server it talks
    # to. ``logbridge check`` has read the file already.
    verify: ssl.SSLContext | bool = True
    if posthog.ca_bundle is not None:
        verify = ssl.create_default_context(cafile=str(posthog.ca_bundle))
    return httpx.AsyncClient(
        timeout=posthog.timeout_seconds,
        headers={"User-Agent": USER_AGENT},
        verify=verify,
    )


class Sink:
    """Sends the spool to PostHog; with no client or no API key, prints instead."""

    def __init__(  # noqa: PLR0913 - each argument is a seam tests and the daemon use
        self,
        store: AsyncStore,
        *,
        settings: Settings,
        client: httpx.AsyncClient | None,
        clock: Clock,
        rand: Callable[[], float] = random.random,
        dry_run_out: Callable[[bytes], None] | None = None,
        log: structlog.typing.FilteringBoundLogger | None = None,
        observe_duration: Callable[[float], None] | None = None,
    ) -> None:
        """
        Prepare a sink; nothing is sent until ``run`` or ``drain``.

        Args:
            client: shared HTTP client; None (or no ``posthog.api_key``) is a dry run.
            rand: uniform in [0, 1), for the back-off jitter.
            dry_run_out: receives each batch as pretty JSON without the key, in a dry
                run; defaults to standard output.
            observe_duration: receives the duration of every request, in seconds.
        """
        self._store = store
        self._posthog = settings.posthog
        self._batch = settings.batch
        self._retry = settings.retry
        self._key = settings.posthog.api_key or ""
        self._client = client if self._key else None
        self._url = settings.posthog.host.rstrip("/") + "/batch/"
        self._clock = clock
        self._rand = rand
        self._dry_run_out = dry_run_out or _write_stdout
        self._log: structlog.typing.FilteringBoundLogger = (
            log if log is not None else structlog.get_logger("bridge.sink")
        )
        self._wakeup = asyncio.Event()
        self._observe_duration = observe_duration
        self.halted = False
        self.last_error: str | None = None
        self.counters = SinkCounters()
        # For health checks, on clock.monotonic(): when the request in flight started,
        # and when the current run of failed attempts began (None: the last one worked).
        self.in_flight_since: float | None = None
        self.failing_since: float | None = None

    @property
    def dry_run(self) -> bool:
        """True when batches are printed instead of posted."""
        return self._client is None

    def notify(self) -> None:
        """Tell the sink that new events were spooled."""
        self._wakeup.set()

    async def run(self, stop: asyncio.Event) -> None:
        """
        Deliver batches as they become due, until ``stop`` is set.

        Returns after the current attempt once ``stop`` is set; what is left stays
        spooled for ``drain`` or the next start.
        """
        limit = _Limit(stop=stop, deadline=None, give_up_when_halted=False)
        while await self._wait_until_due(stop):
            events = await self._store.fetch_oldest(
                self._batch.max_events, self._batch.max_bytes
            )
            if events:
                await self._deliver(events, limit)

    async def drain(self, timeout_seconds: float | None) -> bool:
        """
        Send everything spooled, not waiting for batches to fill, within a time bound.

        Stops early when the key is refused. Returns True if the spool is empty.
        """
        deadline = (
            None
            if timeout_seconds is None
            else self._clock.monotonic() + timeout_seconds
        )
        limit = _Limit(asyncio.Event(), deadline, give_up_when_halted=True)
        # The clock bounds the back-off pauses; this bounds a request in flight too.
        # Cancelling one is safe: its events stay spooled and a resend carries the
        # same uuids.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_seconds):
                while events := await self._store.fetch_oldest(
                    self._batch.max_events, self._batch.max_bytes
                ):
                    if not await self._deliver(events, limit):
                        break
        return (await self._store.stats()).events == 0

    # -- waiting -----------------------------------------------------------------------

    async def _wait_until_due(self, stop: asyncio.Event) -> bool:
        """Wait until a batch is due (True) or ``stop`` is set (False)."""
        max_wait = self._batch.max_wait_seconds
        while not stop.is_set():
            # Cleared before looking, so a notify that lands meanwhile is not lost.
            self._wakeup.clear()
            spool = await self._store.stats()
            if spool.events >= self._batch.max_events:
                return True
            timeout = None
            if spool.oldest_created_at is not None:
                age = self._clock.now().timestamp() - spool.oldest_created_at
                # A negative age means the wall clock was set back since the event was
                # spooled; waiting for it to catch up could take hours.
                if age >= max_wait or age < 0:
                    return True
                timeout = max_wait - age
            await self._wait_for(stop, timeout, wakeup=True)
        return False

    async def _pause(self, seconds: float, limit: _Limit) -> bool:
        """Sleep ``seconds``; False (at once) if that passes the deadline or on stop."""
        deadline = limit.deadline
        if deadline is not None and self._clock.monotonic() + seconds > deadline:
            return False
        await self._wait_for(limit.stop, seconds, wakeup=False)
        return not limit.stop.is_set()

    async def _wait_for(
        self, stop: asyncio.Event, seconds: float | None, *, wakeup: bool
    ) -> None:
        """Return on ``stop``, after ``seconds`` (None: never), or on ``notify``."""
        waiters: list[asyncio.Future[object]] = [asyncio.ensure_future(stop.wait())]
        if wakeup:
            waiters.append(asyncio.ensure_future(self._wakeup.wait()))
        if seconds is not None:
            waiters.append(asyncio.ensure_future(self._clock.sleep(seconds)))
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)

    # -- delivering --------------------------------------------------------------------

    async def _deliver(self, events: Sequence[SpooledEvent], limit: _Limit) -> bool:
        """Settle every event of ``events``; False if the limit stopped it first."""
        requests = await self._screen(events)
        # A stack: the next request on top, then the halves of a split one.
        work = requests[::-1]
        while work:
            if limit.stop.is_set() or self._past(limit.deadline):
                return False
            batch, historical = work.pop()
            attempt = await self._settle(batch, historical, limit)
            if attempt is None:
                return False
            outcome = attempt.outcome
            if outcome.action is Action.QUARANTINE:
                await self._quarantine(
                    batch, outcome.status, attempt.response, outcome.reason
                )
            elif outcome.action in {Action.SPLIT, Action.BISECT}:
                first, second = split_batch(batch)
                work += [(second, historical), (first, historical)]
                await self._split(batch, attempt)
        return True

    async def _screen(
        self, events: Sequence[SpooledEvent]
    ) -> list[tuple[Sequence[SpooledEvent], bool]]:
        """
        Dead-letter, unsent, what capture would refuse; cut the rest into requests.

        Returns each request's events and whether it is historical, in sending order.
        """
        max_event = self._batch.max_event_bytes
        kept: list[SpooledEvent] = []
        sizes: list[int] = []
        for event in events:
            size = captured_size(event.body)
            if size > max_event:
                reason = (
                    f"event too large: {size} bytes as captured, over"
                    f" batch.max_event_bytes ({max_event})"
                )
                await self._quarantine([event], None, "", reason, size=size)
            elif (refusal := find_refusal(event.body)) is not None:
                reason = f"refused before sending: {refusal}"
                await self._quarantine([event], None, "", reason, size=size)
            else:
                kept.append(event)
                sizes.append(size)
        plan = plan_requests(
            [event.body for event in kept],
            sizes,
            mode=self._posthog.historical_migration,
            cutoff=historical_cutoff(self._clock.now()),
            solo_bytes=self._batch.solo_event_bytes,
        )
        return [([kept[i] for i in r.indexes], r.historical) for r in plan]

    async def _split(self, batch: Sequence[SpooledEvent], attempt: _Attempt) -> None:
        outcome = attempt.outcome
        if outcome.status == 413:
            # Every event here is under batch.solo_event_bytes, yet capture found one
            # too large: its limit is lower than that. The events before the one it
            # refused are stored already; their copies carry the same uuid and
            # timestamp, so PostHog keeps one of each.
            self._log.warning(
                "batch_split",
                events=len(batch),
                status=outcome.status,
                error=f"{outcome.reason}; lower batch.solo_event_bytes",
            )
            await self._record_error(
                f"{attempt.error}: a request of events under batch.solo_event_bytes"
                " was too large; lower batch.solo_event_bytes"
            )
            return
        self._log.info(
            "batch_split",
            events=len(batch),
            status=outcome.status,
            error=outcome.reason,
        )
        await self._record_error(attempt.error)

    async def _settle(
        self, batch: Sequence[SpooledEvent], historical: bool, limit: _Limit
    ) -> _Attempt | None:
        """
        Post ``batch`` until PostHog answers something other than "later".

        Returns the final attempt (acknowledged batches are already deleted), or None
        when the limit stopped it; the batch then stays spooled.
        """
        body = render_batch(
            self._key,
            [event.body for event in batch],
            historical_migration=historical,
        )
        payload = b""
        if not self.dry_run:
            # Compressed once; every retry reuses these exact bytes.
            payload = await asyncio.to_thread(gzip.compress, body, GZIP_LEVEL, mtime=0)
        failures = 0
        while True:
            attempt = await self._post(batch, historical, payload)
            action = attempt.outcome.action
            if action is Action.RETRY:
                delay = self._backoff(failures, attempt, len(batch))
                failures += 1
                await self._record_error(attempt.error)
                if not await self._pause(delay, limit):
                    return None
            elif action is Action.HALT:
                await self._halt(attempt)
                if limit.give_up_when_halted:
                    return None
                if not await self._pause(self._retry.halted_recheck_seconds, limit):
                    return None
            else:
                if action is Action.ACK:
                    await self._acked(
                        batch, historical, attempt, len(body), len(payload)
                    )
                return attempt

    async def _post(
        self, batch: Sequence[SpooledEvent], historical: bool, payload: bytes
    ) -> _Attempt:
        if self._client is None:
            self._dry_run_out(self._render_dry_run(batch, historical))
            return _Attempt(Outcome(Action.ACK, None, None, "dry run"), "", "", 0.0)
        started = self._clock.monotonic()
        self.in_flight_since = started
        try:
            attempt = await self._request(self._client, batch, payload, started)
        finally:
            self.in_flight_since = None
        if self._observe_duration is not None:
            self._observe_duration(attempt.duration_s)
        if attempt.outcome.action is Action.ACK:
            self.failing_since = None
        elif self.failing_since is None:
            self.failing_since = started
        return attempt

    async def _request(
        self,
        client: httpx.AsyncClient,
        batch: Sequence[SpooledEvent],
        payload: bytes,
        started: float,
    ) -> _Attempt:
        try:
            response = await client.post(
                self._url,
                content=payload,
                headers={
                    "Content-Type": "application/json",
                    "Content-Encoding": "gzip",
                    "User-Agent": USER_AGENT,
                },
                timeout=self._posthog.timeout_seconds,
            )
        except httpx.HTTPError as exc:
            outcome = classify_response(None, {}, len(batch), now=self._clock.now())
            error = self._redact(f"{type(exc).__name__}: {exc}")
            duration = self._clock.monotonic() - started
            return _Attempt(outcome, "", f"no response: {error}", duration)
        duration = self._clock.monotonic() - started
        outcome = classify_response(
            response.status_code, response.headers, len(batch), now=self._clock.now()
        )
        if outcome.action is Action.ACK:
            return _Attempt(outcome, "", "", duration)
        text = redact_secret(response.text, self._key, MAX_RESPONSE_BYTES)
        error = f"http {response.status_code}: {outcome.reason}"
        return _Attempt(outcome, text, error, duration)

    def _backoff(self, failures: int, attempt: _Attempt, events: int) -> float:
        outcome = attempt.outcome
        delay = backoff_seconds(
            failures,
            initial=self._retry.initial_seconds,
            cap=self._retry.max_seconds,
            retry_after=outcome.retry_after_seconds,
            rand=self._rand,
        )
        key = "network" if outcome.status is None else str(outcome.status)
        self.counters.retries[key] += 1
        self._log.warning(
            "batch_retried",
            status=outcome.status,
            retry_in_s=round(delay, 3),
            events=events,
            error=attempt.error,
        )
        return delay

    # -- results -----------------------------------------------------------------------

    async def _acked(
        self,
        batch: Sequence[SpooledEvent],
        historical: bool,
        attempt: _Attempt,
        size: int,
        sent: int,
    ) -> None:
        await self._store.delete([event.id for event in batch])
        self.counters.batches_sent += 1
        self.counters.events_sent += len(batch)
        if self.halted:
            self.halted = False
            self._log.info("sink_resumed", status=attempt.outcome.status)
        self._log.info(
            "batch_sent",
            events=len(batch),
            bytes=size,
            gzip_bytes=sent,
            status=attempt.outcome.status,
            duration_s=round(attempt.duration_s, 3),
            historical=historical,
            dry_run=self.dry_run,
        )

    async def _quarantine(
        self,
        events: Sequence[SpooledEvent],
        status: int | None,
        response: str,
        reason: str,
        *,
        size: int | None = None,
    ) -> None:
        await self._store.quarantine(
            events,
            status=status,
            response=response,
            reason=reason,
            now=self._clock.now().timestamp(),
        )
        self.counters.deadletters += len(events)
        extra = {} if size is None else {"bytes": size}
        for event in events:
            self._log.error(
                "event_quarantined",
                uuid=event.uuid,
                rule=event.rule,
                status=status,
                error=reason,
                **extra,
            )
        await self._record_error(f"{len(events)} event(s) quarantined: {reason}")

    async def _halt(self, attempt: _Attempt) -> None:
        self.halted = True
        self._log.error(
            "sink_halted",
            status=attempt.outcome.status,
            error=attempt.outcome.reason,
            recheck_in_s=self._retry.halted_recheck_seconds,
        )
        await self._record_error(attempt.error)

    async def _record_error(self, error: str) -> None:
        self.last_error = error
        stamped = f"{self._clock.now().isoformat()} {error}"
        await self._store.set_meta(LAST_SEND_ERROR, stamped)

    # -- helpers -----------------------------------------------------------------------

    def _past(self, deadline: float | None) -> bool:
        return deadline is not None and self._clock.monotonic() >= deadline

    def _redact(self, text: str) -> str:
        return redact_secret(text, self._key)

    def _render_dry_run(self, batch: Sequence[SpooledEvent], historical: bool) -> bytes:
        document: dict[str, object] = {
            "batch": [decode_event(event.body) for event in batch]
        }
        if historical:
            document["historical_migration"] = True
        return orjson.dumps(
            document, option=orjson.OPT_INDENT_2 | JSON_OPTIONS, default=json_default
        )


def _write_stdout(body: bytes) -> None:
    with contextlib.suppress(BrokenPipeError):
        sys.stdout.buffer.write(body + b"\n")
        sys.stdout.buffer.flush()
