"""Fixtures for the whole suite: a fake clock, the capture emulator, async on asyncio,
and Hypothesis without deadlines.

One of each, here: a module that needs another setup overrides a fixture by name
(``posthog_options`` for the emulator), it does not define a second one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import settings

from tests.fakeposthog import FakePostHog

__all__ = ["FakeClock"]

# On a busy machine, and under coverage's tracing, one example can take several times
# as long as the next: Hypothesis' 200 ms deadline then fails a test that is right.
settings.register_profile("logbridge", deadline=None)
settings.load_profile("logbridge")


class FakeClock:
    """
    A ``bridge.clock.Clock`` whose time moves only when a test advances it or code
    sleeps on it; every sleep is recorded and returns at once.

    ``monotonic()`` is the seconds moved so far (``elapsed``); ``now()`` is ``start``
    plus those seconds. Code that takes a bare monotonic callable (the tailer) gets
    ``clock.monotonic``.
    """

    def __init__(self, start: datetime = datetime(2026, 1, 1, tzinfo=UTC)) -> None:
        self.start = start
        self.elapsed = 0.0
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.elapsed)

    def monotonic(self) -> float:
        return self.elapsed

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.elapsed += seconds
        # Let other tasks run, as a real sleep would.
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        self.elapsed += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def anyio_backend() -> str:
    """The daemon runs on asyncio; so do the async tests."""
    return "asyncio"


@pytest.fixture
def posthog_options() -> dict[str, Any]:
    """Keyword arguments of the ``posthog`` emulator; override to configure it."""
    return {}


@pytest.fixture
def posthog(posthog_options: dict[str, Any]) -> Iterator[FakePostHog]:
    """The capture emulator (tests/fakeposthog.py) on a loopback port, for one test."""
    with FakePostHog(**posthog_options) as server:
        yield server
