"""Fixtures of the spool tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """The daemon runs on asyncio; so do these tests."""
    return "asyncio"
