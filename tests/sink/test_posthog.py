"""The sink against a scripted PostHog (httpx.MockTransport) and a real store."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import httpx
import orjson
import pytest
from structlog.testing import capture_logs

from bridge.model import BigInt, Event, event_uuid
from bridge.settings import BatchSettings, PostHogSettings, RetrySettings, Settings
from bridge.sink.batcher import CAPTURE_ENVELOPE_BYTES
from bridge.sink.posthog import Sink
from bridge.spool.asyncstore import AsyncStore
from bridge.spool.rows import decode_event, encode_event
from bridge.spool.store import SpoolStats, Store
from tests.conftest import FakeClock
from tests.sink.fakes import POISON, Reply, ScriptedPostHog

KEY = "phc_s3cr3t_project_key"
HOST = "https://ph.example"
pytestmark = pytest.mark.anyio


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[AsyncStore]:
    opened = AsyncStore(lambda: Store.open(tmp_path / "state"))
    await opened.open()
    yield opened
    await opened.close()


def settings(
    tmp_path: Path,
    *,
    api_key: str | None = KEY,
    historical_migration: Literal["auto", "always", "never"] = "never",
    **batch: Any,
) -> Settings:
    return Settings(
        config_path=tmp_path / "bridge.yaml",
        rules_dir=tmp_path / "rules",
        state_dir=tmp_path / "state",
        posthog=PostHogSettings(
            host=HOST + "/",
            api_key=api_key,
            historical_migration=historical_migration,
        ),
        batch=BatchSettings(**batch),
        retry=RetrySettings(
            initial_seconds=1.0, max_seconds=30.0, halted_recheck_seconds=60.0
        ),
    )


def make_sink(
    store: AsyncStore,
    clock: FakeClock,
    tmp_path: Path,
    server: ScriptedPostHog | None,
    *,
    rand: Callable[[], float] = lambda: 1.0,
    out: list[bytes] | None = None,
    **options: Any,
) -> Sink:
    return Sink(
        store,
        settings=settings(tmp_path, **options),
        client=None if server is None else server.client(),
        clock=clock,
        rand=rand,
        dry_run_out=None if out is None else out.append,
    )


def event(
    n: int,
    *,
    distinct_id: str = "user-1",
    size: int = 0,
    pad: str = "x",
    at: datetime | None = None,
) -> Event:
    return Event(
        uuid=event_uuid("shop", "f1", n, "order"),
        name="order_paid",
        distinct_id=distinct_id,
        timestamp=at or datetime(2026, 1, 1, 0, 0, n % 60, tzinfo=UTC),
        properties={"n": n, "pad": pad * size},
        rule="order",
        source="shop",
    )


async def spool(store: AsyncStore, clock: FakeClock, *events: Event) -> list[bytes]:
    bodies = [encode_event(e, lib_version="0.1.0") for e in events]
    rows = [(e.uuid, body, e.rule) for e, body in zip(events, bodies, strict=True)]
    now = clock.now().timestamp()
    await store.call(lambda s: s.commit_chunk(rows, None, now))
    return bodies


def numbers(events: list[dict[str, Any]]) -> list[int]:
    return [e["properties"]["n"] for e in events]


# -- delivering ----------------------------------------------------------------------


async def test_a_2xx_deletes_the_delivered_events(
    store: AsyncStore, clock: FakeClock, tmp_path: Path
) -> None:
    server = ScriptedPostHog()
    sink = make_sink(store, clock, tmp_path, server)
    await spool(store, clock, event(1), event(2), event(3))

    drained = await sink.drain(10.0)

    assert drained
    assert numbers(server.delivered) == [1, 2, 3]
    assert (await store.stats()).events == 0
    assert (sink.counters.batches_sent, sink.counters.events_sent) == (1, 3)


async def test_the_request_is_gzip_json_posted_to_batch(
    store: AsyncStore, clock: FakeClock, tmp_path: Path
) -> None:
    server = ScriptedPostHog()
    sink = make_sink(store, clock, tmp_path, server)
    bodies = await spool(store, clock, event(1), event(2))

    await sink.drain(10.0)

    (request,) = server.requests
    assert (request.method, str(request.url)) == ("POST", f"{HOST}/batch/")
    assert request.headers["Content-Encoding"] == "gzip"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == "logbridge/0.1.0"
    assert orjson.loads(gzip.decompress(request.content)) == {
        "api_key": KEY,
        "batch": [decode_event(body) for body in bodies],
    }


async def test_historical_migration_is_sent_when_configured(
    store: AsyncStore, clock: FakeClock, tmp_path: Path
) -> None:
    server = ScriptedPostHog()
    sink = make_sink(store, clock, tmp_path, server, historical_migration="always")
    await spool(store, clock, event(1))

    await sink.drain(10.0)

    assert server.bodies[0]["historical_migration"] is True


async def test_batches_respect_max_events_and_keep_order(
    store: AsyncStore, clock: FakeClock, tmp_path: Path
) -> None:
    server = ScriptedPostHog()
    sink = make_sink(store, clock, tmp_path, server, max_events=2)
    await spool(store, clock, *(event(n) for n in range(5)))

    await sink.drain(10.0)

    assert server.sizes == [2, 2, 1]
    assert numbers(server.delivered) == [0, 1, 2, 3, 4]


# -- retrying ------------------------------------------------------------------------


async def test_a_503_is_retried_with_the_same_bytes_after_retry_after(
    store: AsyncStore, clock: FakeClock, tmp_path: Path
) -> None:
    server = ScriptedPostHog(script=[Reply(503, {"Retry-After": "7"}, "try later")])
    sink = make_sink(store, clock, tmp_path, server, rand=lambda: 0.5)
    await spool(store, clock, event(1), event(2))

    with capture_logs() as logs:
        drained = await sink.drain(60.0)

    assert drained
    # Full jitter would give 0.5 s; Retry-After is the floor.
    assert clock.sleeps == [7.0]
    first, second = server.requests
    assert first.content == second.content
    assert numbers(server.delivered) == [1, 2]
    assert sink.counters.retries == {"503": 1}
    assert {
        "event": "batch_retried",
        "log_level": "warning",
        "status": 503,
        "retry_in_s": 7.0,
        "events": 2,
        "error": "http 503: server error",
    } in logs


async def test_network_errors_back_off_exponentially(
    store: AsyncStore, clock: FakeClock, tmp_path: Path
) -> None:
    server = ScriptedPostHog(
        script=[httpx.ConnectError("refused"), httpx.ReadTimeout("slow")]
    )
    sink = make_sink(store, clock, tmp_path, server, rand=lambda: 1.0)
    await spool(store, clock, event(1))

    await sink.drain(60.0)

    assert clock.sleeps == [2.0, 4.0]
    assert numbers(server.delivered) == [1]
    assert sink.counters.retries == {"network": 2}
    assert sink.last_error == "no response: ReadTimeout: slow"
    assert await store.call(lambda s: s.get_meta("last_send_error")) == (
        "2026-01-01T00:00:02+00:00 no response: ReadTimeout: slow"
    )


async def test_drain_gives_up_when_the_next_pause_passes_its_bound(
    store: AsyncStore, clock: FakeClock, tmp_path: Path
) -> None:
    server = ScriptedPostHog(script=[Reply(503, {"Retry-After": "5"})] * 10)
    sink = make_sink(store, clock, tmp_path, server, rand=lambda: 0.5)
    await spool(store, clock, event(1))

    drained = await sink.drain(12.0)

    assert not drained
    assert clock.sleeps == [5.0, 5.0]
    assert len(server.requests) == 3
    assert (await store.stats()).events == 1


async def test_drain_stops_at_its_bound_between_requests(
    store: AsyncStore, clock: FakeClock, tmp_path: Path
) -> None:
    def slow(server: ScriptedPostHog) -> None:
        clock.elapsed += 5.0

    server = ScriptedPostHog(max_events=1, on_request=slow)
    sink = make_sink(store, clock, tmp_path, server)
    await spool(store, clock, event(1), event(2))

    drained = await sink.drain(8.0)

    assert not drained
    assert server.sizes == [2, 1]
    assert numbers(server.delivered) == [1]
    assert (await store.stats()).events == 1


async def test_drain_bounds_a_request_in_flight(
    store: AsyncStore, clock: FakeClock, tmp_path: Path
) -> None:
    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200)

    client = httpx.AsyncClient(transport=httpx.MockTransport(hang))
    sink = Sink(store, settings=settings(tmp_path), client=client, clock=clock)
    await spool(store, clock, event(1))

    drained = await sink.drain(0.05)

    assert not drained
    assert (await store.stats()).events == 1


# -- splitting and quarantine --------------------------------------------------------


async def test_a_413_splits_the_batch_until_the_halves_fit(
    store: AsyncStore, clock: FakeClock, tmp_path: Path
) -> None:
    server = ScriptedPostHog(max_events=2)
    sink = make_sink(store, clock, tmp_path, server)
    await spool(store, clock, *(event(n) for n in range(5)))

    with capture_logs() as logs:
        await sink.drain(10.0)

    assert server.sizes == [5, 2, 3, 1, 2]
    assert numbers(server.delivered) == [0, 1, 2, 3, 4]
    assert [e["event"] for e in logs].count("batch_split") == 2
    # Capture found an event too large among events under solo_event_bytes.
    assert {
        "event": "batch_split",
        "log_level": "warning",
        "events": 5,
        "status": 413,
        "error": "too large; lower batch.solo_event_bytes",
    } in logs


async def test_a_single_event_still_413_goes_to_the_dead_letters(
    store: AsyncStore, clock: FakeClock, tmp_path: Path
) -> None:
    server = ScriptedPostHog(max_events=0)
    sink = make_sink(store, clock, tmp_path, server)
    await spool(store, clock, event(1))

    drained = await sink.drain(10.0)

    (dead,) = await store.call(lambda s: s.list_deadletters())
    assert drained
    assert (dead.uuid, dead.status, dead.response, dead.reason) == (
        event(1).uuid,
        413,
        "payload too large",
        "too large",
    )


async def test_a_400_bisects_to_the_bad_event_and_delivers_the_rest(
    store: AsyncStore, clock: FakeClock, tmp_path: Path
) -> None:
    server = ScriptedPostHog()
    sink = make_sink(store, clock, tmp_path, server)
    events = [event(n, distinct_id=POISON if n == 5 else "user-1") for n in range(8)]
    await spool(store, clock, *events)

    with capture_logs() as logs:
        drained = await sink.drain(10.0)

    assert drained
    assert numbers(server.delivered) == [0, 1, 2, 3, 4, 6, 7]
    # Halving isolates one bad event among 8 in 2·log2(8) + 1 requests.
    assert server.sizes == [8, 4, 4, 2, 1, 1, 2]
    (dead,) = await store.call(lambda s: s.list_deadletters())
    assert (dead.uuid, dead.status, dead.response, dead.reason) == (
        events[5].uuid,
        400,
        "event refused",
        "rejected",
    )
    assert {
        "event": "event_quarantined",
        "log_level": "error",
        "uuid": events[5].uuid,
        "rule": "order",
        "status": 400,
        "error": "rejected",
    } in logs
    assert sink.counters.deadletters == 1


async def test_an_event_over_max_event_bytes_is_quarantined_unsent(
    store: AsyncStore, clock: FakeClock, tmp_path: Path
) -> None:
    server = ScriptedPostHog()
    sink = make_sink(store, clock, tmp_path, server, max_event_bytes=4000)
    quoted = event(2, size=600, pad='"')
    (_, body, _) = await spool(store, clock, event(1), quoted, event(3))

    with capture_logs() as logs:
        drained = await sink.drain(10.0)

    assert drained
    assert numbers(server.delivered) == [1, 3]
    (dead,) = await store.call(lambda s: s.list_deadletters())
    # Under the limit as plain JSON; over it once escaped into capture's message.
    size = len(json.dumps(body.decode())) + CAPTURE_ENVELOPE_BYTES
    assert size > 4000 > len(body) + CAPTURE_ENVELOPE_BYTES
    reason = (
        f"event too large: {size} bytes as captured, over batch.max_event_bytes (4000)"
    )
    assert (dead.uuid, dead.status, dead.response, dead.reason) == (
        event(2).uuid,
        None,
        "",
        reason,
    )
    assert {
        "event": "event_quarantined",
        "log_level": "error",
        "uuid": event(2).uuid,
        "rule": "order",
        "status": None,
        "error": reason,
        "bytes": size,
    } in logs
    # Quarantined from the middle of the batch, then the rest deleted: nothing left.
    assert await store.stats() == SpoolStats(
        events=0, bytes=0, oldest_created_at=None, deadletters=1
    )


async def test_a_batch_of_only_oversized_events_sends_nothing(
    store: AsyncStore, clock: FakeClock, tmp_path: Path
) -> None:
    server = ScriptedPostHog()
    sink = make_sink(store, clock, tmp_path, server, max_event_bytes=100)
    await spool(store, clock, event(1, size=500))

    drained = await sink.drain(10.0)

    assert drained
    assert server.requests == []


async def test_a_long_error_response_is_cut_to_2_kib(
    store: AsyncStore, clock: FakeClock, tmp_path: Path
) -> None:
    server = ScriptedPostHog(script=[Reply(400, text="é" * 3000)])
    sink = make_sink(store, clock, tmp_path, server)
    await spool(store, clock, event(1))

    await sink.drain(10.0)

    (dead,) = await store.call(lambda s: s.list_deadletters())
    assert dead.response == "é" * 1024


# -- halting -------------------------------------------------------------------------


async def test_a_401_halts_and_keeps_the_events(
    store: AsyncStore, clock: FakeClock, tmp_path: Path
) -> None:
    server = ScriptedPostHog(script=[Reply(401, text="invalid key")])
    sink = make_sink(store, clock, tmp_path, server)
    await spool(store, clock, event(1), event(2))

    with capture_logs() as logs:
        drained = await sink.drain(600.0)

    assert not drained
    assert sink.halted
    assert sink.last_error == "http 401: api key refused"
    assert (await store.stats()).events == 2
    assert await store.call(lambda s: s.list_deadletters()) == []
    assert {
        "event": "sink_halted",
        "log_level": "error",
        "status": 401,
        "error": "api key refused",
        "recheck_in_s": 60.0,
    } in logs


async def test_a_halted_sink_rechecks_and_a_2xx_resumes_it(
    store: AsyncStore, clock: FakeClock, tmp_path: Path
) -> None:
    stop = asyncio.Event()
    server = ScriptedPostHog(
        script=[Reply(401), Reply(403)],
        on_request=lambda s: stop.set() if not s.script else None,
    )
    sink = make_sink(store, clock, tmp_path, server)
    await spool(store, clock, event(1))

    with capture_logs() as logs:
        await sink.run(stop)

    assert clock.sleeps == [0.5, 60.0, 60.0]
    assert not sink.halted
    assert numbers(server.delivered) == [1]
    assert [e["event"] for e in logs] == [
        "sink_halted",
        "sink_halted",
        "sink_resumed",
        "batch_sent",
    ]


async def test_run_returns_when_stopped_while_halted(
    store: AsyncStore, clock: FakeClock, tmp_path: Path
) -> None:
    stop = asyncio.Event()
    server = ScriptedPostHog(script=[Reply(401)], on_request=lambda _: stop.set())
    sink = make_sink(store, clock, tmp_path, server)
    await spool(store, clock, event(1))

    await sink.run(stop)

    assert sink.halted
    assert len(server.requests) == 1
    assert (await store.stats()).events == 1


# -- dry run -------------------------------------------------------------------------


async def test_a_dry_run_prints_the_batches_without_the_key_and_acks(
    store: AsyncStore, clock: FakeClock, tmp_path: Path
) -> None:
    out: list[bytes] = []
    sink = make_sink(
        store, clock, tmp_path, None, out=out, historical_migration="always"
    )
    bodies = await spool(store, clock, event(1), event(2))

    drained = await sink.drain(10.0)

    assert sink.dry_run
    assert drained
    (printed,) = out
    assert printed == orjson.dumps(
        {"batch": [decode_event(b) for b in bodies], "historical_migration": True},
        option=orjson.OPT_INDENT_2,
    )
    assert KEY.encode() not in printed


async def test_a_dry_run_prints_integers_beyond_64_bits_as_they_are_sent(
    store: AsyncStore, clock: FakeClock, tmp_path: Path
) -> None:
    out: list[bytes] = []
    sink = make_sink(store, clock, tmp_path, None, out=out)
    order_id = BigInt(123456789012345678901234567890)
    await spool(store, clock, replace(event(1), properties={"order_id": order_id}))

    await sink.drain(10.0)

    (printed,) = out
    assert b'"order_id": 123456789012345678901234567890,' in printed


async def test_no_api_key_means_a_dry_run_even_with_a_client(
    store: AsyncStore, clock: FakeClock, tmp_path: Path
) -> None:
    server = ScriptedPostHog()
    out: list[bytes] = []
    sink = make_sink(store, clock, tmp_path, server, api_key=None, out=out)
    await spool(store, clock, event(1))

    await sink.drain(10.0)

    assert server.requests == []
    assert len(out) == 1


async def test_a_dry_run_writes_to_standard_output_by_default(
    store: AsyncStore,
    clock: FakeClock,
    tmp_path: Path,
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    sink = Sink(
        store, settings=settings(tmp_path, api_key=None), client=None, clock=clock
    )
    (body,) = await spool(store, clock, event(1))

    await sink.drain(10.0)

    expected = orjson.dumps({"batch": [decode_event(body)]}, option=orjson.OPT_INDENT_2)
    # structlog's default logger prints to stdout too, after the batch.
    assert capsysbinary.readouterr().out.startswith(expected + b"\n")


# -- the key stays secret ------------------------------------------------------------


async def test_the_key_never_reaches_logs_dead_letters_or_meta(
    store: AsyncStore, clock: FakeClock, tmp_path: Path
) -> None:
    server = ScriptedPostHog(
        script=[
            httpx.ConnectError(f"cannot post for {KEY}"),
            Reply(400, text=f"bad batch for key {KEY}"),
            Reply(400, text=f"bad event for key {KEY}"),
            Reply(401, text=f"key {KEY} refused"),
        ]
    )
    sink = make_sink(store, clock, tmp_path, server)
    await spool(store, clock, event(1), event(2))

    with capture_logs() as logs:
        await sink.drain(600.0)

    (dead,) = await store.call(lambda s: s.list_deadletters())
    assert dead.response == "bad event for key [redacted]"
    assert KEY not in repr(logs)
    assert KEY not in str(await store.call(lambda s: s.get_meta("last_send_error")))
    assert KEY not in str(sink.last_error)
    assert "cannot post for [redacted]" in repr(logs)
    assert server.sizes == [2, 2, 1, 1]
    assert sink.halted


# -- when batches go out -------------------------------------------------------------


async def test_run_waits_max_wait_for_a_partial_batch(
    store: AsyncStore, clock: FakeClock, tmp_path: Path
) -> None:
    stop = asyncio.Event()
    server = ScriptedPostHog(on_request=lambda _: stop.set())
    sink = make_sink(store, clock, tmp_path, server, max_wait_seconds=0.5)
    await spool(store, clock, event(1), event(2))

    await sink.run(stop)

    assert clock.sleeps == [0.5]
    assert numbers(server.delivered) == [1, 2]


async def test_run_sends_a_full_batch_at_once(
    store: AsyncStore, clock: FakeClock, tmp_path: Path
) -> None:
    stop = asyncio.Event()
    server = ScriptedPostHog(on_request=lambda _: stop.set())
    sink = make_sink(store, clock, tmp_path, server, max_events=2)
    await spool(store, clock, event(1), event(2), event(3))

    await sink.run(stop)

    assert clock.sleeps == []
    assert server.sizes == [2]


async def test_run_sends_at_once_when_the_clock_went_back(
    store: AsyncStore, clock: FakeClock, tmp_path: Path
) -> None:
    stop = asyncio.Event()
    server = ScriptedPostHog(on_request=lambda _: stop.set())
    sink = make_sink(store, clock, tmp_path, server)
    clock.elapsed = 3600.0
    await spool(store, clock, event(1))
    clock.elapsed = 0.0

    await sink.run(stop)

    assert clock.sleeps == []
    assert server.sizes == [1]


async def test_run_waits_idle_until_notified(
    store: AsyncStore, clock: FakeClock, tmp_path: Path
) -> None:
    stop = asyncio.Event()
    server = ScriptedPostHog(on_request=lambda _: stop.set())
    sink = make_sink(store, clock, tmp_path, server)

    async with asyncio.TaskGroup() as tg:
        running = tg.create_task(sink.run(stop))
        for _ in range(20):
            await asyncio.sleep(0)
        idle = (clock.sleeps.copy(), server.requests.copy(), running.done())
        await spool(store, clock, event(1))
        sink.notify()

    assert idle == ([], [], False)
    assert clock.sleeps == [0.5]
    assert numbers(server.delivered) == [1]


async def test_run_returns_when_stopped_while_idle(
    store: AsyncStore, clock: FakeClock, tmp_path: Path
) -> None:
    stop = asyncio.Event()
    sink = make_sink(store, clock, tmp_path, ScriptedPostHog())

    async with asyncio.TaskGroup() as tg:
        running = tg.create_task(sink.run(stop))
        await asyncio.sleep(0)
        stop.set()

    assert running.done()


async def test_run_returns_after_the_current_attempt_when_stopped(
    store: AsyncStore, clock: FakeClock, tmp_path: Path
) -> None:
    stop = asyncio.Event()
    server = ScriptedPostHog(
        script=[Reply(503)] * 5, max_events=0, on_request=lambda _: stop.set()
    )
    sink = make_sink(store, clock, tmp_path, server, max_events=1)
    await spool(store, clock, event(1))

    await sink.run(stop)

    assert len(server.requests) == 1
    assert (await store.stats()).events == 1


async def test_run_does_not_start_a_split_half_once_stopped(
    store: AsyncStore, clock: FakeClock, tmp_path: Path
) -> None:
    stop = asyncio.Event()
    server = ScriptedPostHog(max_events=1, on_request=lambda _: stop.set())
    sink = make_sink(store, clock, tmp_path, server, max_events=2)
    await spool(store, clock, event(1), event(2))

    await sink.run(stop)

    assert server.sizes == [2]
    assert (await store.stats()).events == 2


@pytest.mark.parametrize(
    "answer",
    [
        # The key straddles byte 2,048, where the answer is cut.
        "x" * (2048 - len(KEY) // 2) + KEY + " refused",
        "y" * 1000 + f"token {KEY[:-3]}",
        "\u00e9" * ((2048 - len(KEY) // 2) // 2) + KEY,
    ],
    ids=["cut-by-us", "cut-by-the-server", "multi-byte"],
)
async def test_no_part_of_the_key_is_kept_from_a_long_answer(
    store: AsyncStore, clock: FakeClock, tmp_path: Path, answer: str
) -> None:
    server = ScriptedPostHog(script=[Reply(400, text=answer)])
    sink = make_sink(store, clock, tmp_path, server)
    await spool(store, clock, event(1))

    await sink.drain(600.0)

    (dead,) = await store.call(lambda s: s.list_deadletters())
    assert len(dead.response.encode()) <= 2048
    assert KEY[:8] not in dead.response
    assert "[redacted]" in dead.response


# -- screening, solo events and lanes ------------------------------------------------


async def test_events_capture_would_refuse_are_dead_lettered_unsent(
    store: AsyncStore, clock: FakeClock, tmp_path: Path
) -> None:
    server = ScriptedPostHog()
    sink = make_sink(store, clock, tmp_path, server)
    events = [event(n, distinct_id="" if n in {2, 5} else "u") for n in range(8)]
    await spool(store, clock, *events)

    with capture_logs() as logs:
        drained = await sink.drain(10.0)

    assert drained
    # One request, no bisection: capture never saw the two it would refuse.
    assert server.sizes == [6]
    assert numbers(server.delivered) == [0, 1, 3, 4, 6, 7]
    letters = await store.call(lambda s: s.list_deadletters())
    assert sorted((d.uuid, d.status, d.response, d.reason) for d in letters) == sorted(
        (events[n].uuid, None, "", "refused before sending: distinct_id: is empty")
        for n in (2, 5)
    )
    assert sink.counters.deadletters == 2
    assert "batch_split" not in [e["event"] for e in logs]
    assert [e["event"] for e in logs].count("event_quarantined") == 2


async def test_an_event_over_solo_event_bytes_travels_alone_in_order(
    store: AsyncStore, clock: FakeClock, tmp_path: Path
) -> None:
    server = ScriptedPostHog()
    sink = make_sink(store, clock, tmp_path, server, solo_event_bytes=3000)
    big = event(2, size=1000)
    await spool(store, clock, event(1), big, event(3), event(4))

    await sink.drain(10.0)

    assert server.sizes == [1, 1, 2]
    assert numbers(server.delivered) == [1, 2, 3, 4]


async def test_a_413_for_an_event_alone_dead_letters_it_and_resends_nothing(
    store: AsyncStore, clock: FakeClock, tmp_path: Path
) -> None:
    server = ScriptedPostHog(
        script=[Reply(200), Reply(413, text="event too large"), Reply(200)]
    )
    sink = make_sink(store, clock, tmp_path, server, solo_event_bytes=3000)
    big = event(2, size=1000)
    await spool(store, clock, event(1), big, event(3))

    with capture_logs() as logs:
        drained = await sink.drain(10.0)

    assert drained
    assert server.sizes == [1, 1, 1]
    assert numbers(server.delivered) == [1, 3]
    (dead,) = await store.call(lambda s: s.list_deadletters())
    assert (dead.uuid, dead.status, dead.reason) == (big.uuid, 413, "too large")
    assert "batch_split" not in [e["event"] for e in logs]


NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


async def test_old_events_go_in_historical_requests_and_live_ones_apart(
    store: AsyncStore, tmp_path: Path
) -> None:
    clock = FakeClock(NOW)
    server = ScriptedPostHog()
    sink = make_sink(store, clock, tmp_path, server, historical_migration="auto")
    old, live = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 10, tzinfo=UTC)
    await spool(
        store,
        clock,
        event(1, at=old),
        event(2, at=live),
        event(3, at=old),
        event(4, at=live),
    )

    with capture_logs() as logs:
        await sink.drain(10.0)

    assert [
        (numbers(b["batch"]), b.get("historical_migration")) for b in server.bodies
    ] == [
        ([1, 3], True),
        ([2, 4], None),
    ]
    sent = [e for e in logs if e["event"] == "batch_sent"]
    assert sum(e["events"] for e in sent if e["historical"]) == 2
    assert [(e["events"], e["historical"]) for e in sent] == [(2, True), (2, False)]


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("never", [None]), ("always", [True])],
    ids=["never", "always"],
)
async def test_the_historical_mode_overrides_the_age(
    store: AsyncStore, tmp_path: Path, mode: str, expected: list[bool | None]
) -> None:
    clock = FakeClock(NOW)
    server = ScriptedPostHog()
    sink = make_sink(store, clock, tmp_path, server, historical_migration=mode)
    await spool(
        store,
        clock,
        event(1, at=datetime(2026, 1, 1, tzinfo=UTC)),
        event(2, at=NOW),
    )

    await sink.drain(10.0)

    assert [b.get("historical_migration") for b in server.bodies] == expected
    assert server.sizes == [2]
