"""The daemon in this process, for what a subprocess cannot arrange: a state database
that SQLite itself refuses to let grow (``PRAGMA max_page_count``: SQLITE_FULL)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from bridge.daemon.app import Daemon
from bridge.settings import Settings, parse_settings
from bridge.spool.store import Store
from tests.e2e.helpers import LogWriter, expected_uuid, is_order, order_rules
from tests.fakeposthog import FakePostHog

CONFIG = """\
rules_dir: rules
state_dir: state
posthog:
  host: {host}
batch:
  max_events: 20
  max_wait_seconds: 0.05
read:
  chunk_bytes: 4096
metrics:
  enabled: false
own_events:
  enabled: false
"""


def _settings(root: Path, host: str) -> Settings:
    config = root / "bridge.yaml"
    return parse_settings(
        CONFIG.format(host=host),
        str(config),
        config_path=config,
        env={"POSTHOG_API_KEY": "phc_in_process_test_key_0123"},
        default_hostname="test-host",
        read_key_file=lambda p: p.read_text(),
    )


def _tight(extra_pages: int):
    """Open the real store, then forbid the database to grow past a few more pages."""

    def open_store(state_dir: Path) -> Store:
        store = Store.open(state_dir)
        (pages,) = store._conn.execute("PRAGMA page_count").fetchone()
        store._conn.execute(f"PRAGMA max_page_count = {pages + extra_pages}")
        return store

    return open_store


@pytest.mark.slow
def test_a_database_that_cannot_grow_pauses_reading_while_the_sink_frees_pages(
    tmp_path: Path, posthog: FakePostHog
) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "logs").mkdir()
    (tmp_path / "rules" / "app.yaml").write_text(
        order_rules(start_at="beginning").replace("logs/", f"{tmp_path}/logs/")
    )
    writer = LogWriter(tmp_path / "logs" / "app.log")
    writer.append(range(600))
    expected = {
        expected_uuid(writer.file_id(), w.offset)
        for w in writer.written
        if is_order(w.n)
    }

    with capture_logs() as logs:
        daemon = Daemon(
            _settings(tmp_path, posthog.url), once=True, open_store=_tight(6)
        )
        code = asyncio.run(daemon.run())
        delivered = posthog.unique_uuids()
        doubled = posthog.duplicate_deliveries()

    names = [entry["event"] for entry in logs]
    assert code == 0
    assert "disk_full" in names
    assert "disk_space_returned" in names
    assert names.index("disk_full") < names.index("disk_space_returned")
    assert delivered == expected
    assert doubled == 0
