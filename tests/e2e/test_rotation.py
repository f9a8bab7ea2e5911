"""Rotation by rename+create and by copytruncate while lines are being written, a partial
last line, and a file that appears after the daemon started."""

from __future__ import annotations

import functools
import shutil
import time

import pytest

from tests.e2e.conftest import Workspace
from tests.e2e.helpers import LogWriter, is_order, order_line, order_rules
from tests.fakeposthog import FakePostHog


def _order_ids(posthog: FakePostHog) -> list[str]:
    return sorted(e.properties["order_id"] for e in posthog.dedup_view().values())


def _has_at_least(n: int, posthog: FakePostHog) -> bool:
    return len(posthog.dedup_view()) >= n


def _expected_ids(ns: range) -> list[str]:
    return sorted(f"o-{n}" for n in ns if is_order(n))


def test_rename_and_create_rotation_drains_the_old_file(
    workspace: Workspace, posthog: FakePostHog
) -> None:
    workspace.write_rules(order_rules(pattern="app.log"))
    log = workspace.logs / "app.log"
    LogWriter(log).append(range(0))
    log.touch()
    proc = workspace.start_ready()

    for generation in range(4):
        writer = LogWriter(log)
        for start in range(generation * 300, (generation + 1) * 300, 30):
            writer.append(range(start, start + 30))
            time.sleep(0.01)
        # logrotate's default: rename, then the application opens a new file.
        log.rename(workspace.logs / f"app.log.{generation + 1}")
        log.touch()
    LogWriter(log).append(range(1200, 1230))
    expected = _expected_ids(range(1230))
    arrived = posthog.wait_for(lambda p: len(p.dedup_view()) >= len(expected), 20)
    code = workspace.stop(proc)

    assert arrived, workspace.output()[-3000:]
    assert code == 0
    assert _order_ids(posthog) == expected
    assert posthog.duplicate_deliveries() == 0


def test_copytruncate_rotation_restarts_the_file_at_zero(
    workspace: Workspace, posthog: FakePostHog
) -> None:
    workspace.write_rules(order_rules(pattern="app.log"))
    log = workspace.logs / "app.log"
    log.touch()
    proc = workspace.start_ready()

    writer = LogWriter(log)
    for generation in range(3):
        for start in range(generation * 200, (generation + 1) * 200, 20):
            writer.append(range(start, start + 20))
            time.sleep(0.01)
        # Give the daemon time to read the file before it is truncated under it: what
        # is written between the copy and the truncation is lost, by the nature of
        # copytruncate (the README says so).
        read_so_far = len(_expected_ids(range((generation + 1) * 200)))
        posthog.wait_for(functools.partial(_has_at_least, read_so_far), 10)
        shutil.copyfile(log, workspace.logs / f"app.log.{generation + 1}")
        with log.open("r+b") as f:
            f.truncate(0)
    writer.append(range(600, 640))
    expected = _expected_ids(range(640))
    arrived = posthog.wait_for(lambda p: len(p.dedup_view()) >= len(expected), 20)
    code = workspace.stop(proc)

    assert arrived, workspace.output()[-3000:]
    assert code == 0
    assert _order_ids(posthog) == expected
    assert posthog.duplicate_deliveries() == 0
    assert workspace.output().count('"file_truncated"') == 3


def test_a_partial_last_line_waits_for_its_newline(
    workspace: Workspace, posthog: FakePostHog
) -> None:
    workspace.write_rules(order_rules(pattern="app.log"))
    log = workspace.logs / "app.log"
    log.touch()
    proc = workspace.start_ready()

    line = order_line(0).encode()
    with log.open("ab") as f:
        f.write(line[:25])
    time.sleep(1.0)
    nothing_yet = len(posthog.dedup_view())
    with log.open("ab") as f:
        f.write(line[25:] + b"\n")
    arrived = posthog.wait_for(lambda p: len(p.dedup_view()) == 1, 10)
    code = workspace.stop(proc)

    assert nothing_yet == 0
    assert arrived, workspace.output()[-3000:]
    assert code == 0
    assert _order_ids(posthog) == ["o-0"]


def test_a_file_that_appears_after_start_is_read_from_its_beginning(
    workspace: Workspace, posthog: FakePostHog
) -> None:
    workspace.write_rules(order_rules(pattern="*.log"))
    proc = workspace.start_ready()

    LogWriter(workspace.logs / "late.log").append(range(10))
    expected = _expected_ids(range(10))
    arrived = posthog.wait_for(lambda p: len(p.dedup_view()) >= len(expected), 10)
    code = workspace.stop(proc)

    assert arrived, workspace.output()[-3000:]
    assert code == 0
    assert _order_ids(posthog) == expected


BANNER = '{"msg":"logfile opened"}\n'


def _orders(log, ns: range) -> None:
    with log.open("a") as f:
        f.writelines(order_line(n) + "\n" for n in ns if is_order(n))


def _rotate_with_banner(log) -> None:
    """logrotate's create with rotate 1: app.log.1 is replaced (deleted), app.log new."""
    log.rename(log.with_name("app.log.1"))
    log.write_text(BANNER)


@pytest.mark.parametrize("running", [True, False], ids=["running", "stopped"])
def test_logs_that_begin_with_the_same_banner_lose_nothing_over_rotations(
    workspace: Workspace, posthog: FakePostHog, running: bool
) -> None:
    workspace.write_rules(order_rules(pattern="app.log", start_at="beginning"))
    log = workspace.logs / "app.log"
    log.write_text(BANNER)
    proc = workspace.start_ready()
    n = 0
    for _ in range(6):
        _orders(log, range(n, n + 4))
        n += 4
        posthog.wait_for(
            functools.partial(_has_at_least, len(_expected_ids(range(n)))), 10
        )
        if not running:
            workspace.stop(proc)
        _rotate_with_banner(log)
        if running:
            time.sleep(0.3)
        # While stopped, the new file grows past the old one's offset before the
        # daemon sees it: only its content tells it apart.
        _orders(log, range(n, n + 4))
        n += 4
        if not running:
            proc = workspace.start_ready()
    expected = _expected_ids(range(n))
    arrived = posthog.wait_for(lambda p: len(p.dedup_view()) >= len(expected), 15)
    code = workspace.stop(proc)

    assert arrived, workspace.output()[-3000:]
    assert code == 0
    assert _order_ids(posthog) == expected
    assert posthog.duplicate_deliveries() == 0
