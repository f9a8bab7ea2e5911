"""Rule files edited while the daemon runs: a good edit takes effect, a broken one is
rejected while events keep flowing under the old rules, and a fix takes effect; no
event is lost or doubled on the way."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from tests.e2e.conftest import Workspace
from tests.e2e.helpers import (
    BOMB_PROBLEM,
    LogWriter,
    bombed_order_rules,
    is_order,
    order_rules,
)
from tests.fakeposthog import FakePostHog


def _rules(version: int) -> str:
    return order_rules() + f"      version: {version}\n"


def _wait_for_log(
    workspace: Workspace, event: str, count: int, timeout: float = 10
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(1 for e in workspace.log_events() if e.get("event") == event) >= count:
            return
        time.sleep(0.05)
    pytest.fail(f"no {count}x {event} in:\n{workspace.output()[-3000:]}")


def test_edits_take_effect_and_a_broken_edit_keeps_the_old_rules(
    workspace: Workspace, posthog: FakePostHog
) -> None:
    rules = workspace.write_rules(_rules(1))
    writer = LogWriter(workspace.logs / "app.log")
    writer.append(range(1))
    proc = workspace.start_ready()
    stop = threading.Event()

    def write() -> None:
        n = 1
        while not stop.is_set():
            writer.append(range(n, n + 5))
            n += 5
            time.sleep(0.05)

    thread = threading.Thread(target=write)
    thread.start()
    try:
        time.sleep(1.0)
        rules.write_text(_rules(2))
        _wait_for_log(workspace, "rules_reloaded", 1)
        time.sleep(1.0)
        rules.write_text(_rules(3).replace("    event: pedido", "    evnt: pedido"))
        _wait_for_log(workspace, "rules_rejected", 1)
        time.sleep(1.0)
        rules.write_text(_rules(3))
        _wait_for_log(workspace, "rules_reloaded", 2)
        time.sleep(1.0)
    finally:
        stop.set()
        thread.join()
    expected = {f"o-{w.n}" for w in writer.written if w.n >= 1 and is_order(w.n)}
    arrived = posthog.wait_for(lambda p: len(p.dedup_view()) >= len(expected), 15)
    code = workspace.stop(proc)

    assert arrived, workspace.output()[-3000:]
    assert code == 0
    events = sorted(posthog.dedup_view().values(), key=lambda e: e.properties["n"])
    assert {e.properties["order_id"] for e in events} == expected
    assert posthog.duplicate_deliveries() == 0
    versions = [e.properties["version"] for e in events]
    assert versions == sorted(versions)
    assert set(versions) == {1, 2, 3}
    rejected = [e for e in workspace.log_events() if e.get("event") == "rules_rejected"]
    assert any("unknown key 'evnt'" in e["error"] for e in rejected)
    reloaded = [e for e in workspace.log_events() if e.get("event") == "rules_reloaded"]
    assert reloaded[0]["changed"] == ["order"]


def _truncate_then_write(path, text: str, gap: float) -> None:
    """An editor's (or ``cat >``'s) save: the file is empty for a moment."""
    with path.open("w") as f:
        f.flush()
        time.sleep(gap)
        f.write(text)


def _remove_then_create(path, text: str, gap: float) -> None:
    path.unlink()
    time.sleep(gap)
    path.write_text(text)


# 0.6 s: within the settling time, one reload once the file holds still; 2.5 s: the
# empty or missing file is seen, refused, and the rules kept until the write.
@pytest.mark.parametrize("gap", [0.6, 2.5], ids=["short", "long"])
@pytest.mark.parametrize(
    "save", [_truncate_then_write, _remove_then_create], ids=["truncate", "remove"]
)
def test_a_rule_file_saved_in_two_steps_never_leaves_lines_without_rules(
    workspace: Workspace, posthog: FakePostHog, save, gap: float
) -> None:
    rules = workspace.write_rules(_rules(1))
    writer = LogWriter(workspace.logs / "app.log")
    writer.append(range(1))
    proc = workspace.start_ready()
    stop = threading.Event()

    def write() -> None:
        n = 1
        while not stop.is_set():
            writer.append(range(n, n + 5))
            n += 5
            time.sleep(0.02)

    thread = threading.Thread(target=write)
    thread.start()
    try:
        time.sleep(0.5)
        save(rules, _rules(2), gap)
        _wait_for_log(workspace, "rules_reloaded", 1)
        time.sleep(0.5)
    finally:
        stop.set()
        thread.join()
    expected = {f"o-{w.n}" for w in writer.written if w.n >= 1 and is_order(w.n)}
    arrived = posthog.wait_for(lambda p: len(p.dedup_view()) >= len(expected), 15)
    code = workspace.stop(proc)

    assert arrived, workspace.output()[-3000:]
    assert code == 0
    assert {e.properties["order_id"] for e in posthog.dedup_view().values()} == expected
    assert posthog.duplicate_deliveries() == 0
    reloaded = [e for e in workspace.log_events() if e.get("event") == "rules_reloaded"]
    assert [e["removed"] for e in reloaded] == [[]]

    rejected = [e for e in workspace.log_events() if e.get("event") == "rules_rejected"]
    if gap > 1.5:
        assert rejected
        assert all(e["level"] == "warning" for e in rejected)
        assert "rule (order) is kept" in rejected[0]["error"]


def test_a_rule_file_removed_on_purpose_goes_with_sighup(
    workspace: Workspace, posthog: FakePostHog
) -> None:
    workspace.write_rules(_rules(1))
    # A second file with one more rule on the same source.
    rule = _rules(1).split("rules:\n")[1].replace("name: order", "name: order-copy")
    extra = workspace.write_rules("rules:\n" + rule, name="copy.yaml")
    proc = workspace.start_ready()

    extra.unlink()
    _wait_for_log(workspace, "rules_rejected", 1)
    proc.send_signal(signal.SIGHUP)
    _wait_for_log(workspace, "rules_reloaded", 1)
    code = workspace.stop(proc)

    assert code == 0
    (rejected,) = [
        e for e in workspace.log_events() if e.get("event") == "rules_rejected"
    ]
    assert "copy.yaml:1:1: warning: the rule file vanished" in rejected["error"]
    reloaded = [e for e in workspace.log_events() if e.get("event") == "rules_reloaded"]
    assert reloaded[0]["removed"] == ["order-copy"]
    assert reloaded[0]["explicit"] is True


def test_an_alias_bomb_saved_over_the_rules_leaves_the_daemon_running_them(
    workspace: Workspace, posthog: FakePostHog
) -> None:
    rules = workspace.write_rules(_rules(1))
    writer = LogWriter(workspace.logs / "app.log")
    proc = workspace.start_ready()

    rules.write_text(bombed_order_rules())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and BOMB_PROBLEM not in _rejections(workspace):
        time.sleep(0.05)
    writer.append(range(3))
    arrived = posthog.wait_for(lambda p: len(p.dedup_view()) >= 2, 15)
    alive = proc.poll() is None
    code = workspace.stop(proc)

    assert alive, workspace.output()[-3000:]
    assert arrived, workspace.output()[-3000:]
    assert code == 0
    assert {e.properties["version"] for e in posthog.dedup_view().values()} == {1}
    assert BOMB_PROBLEM in _rejections(workspace)


def _rejections(workspace: Workspace) -> list[str]:
    events = workspace.log_events()
    return [e["error"] for e in events if e.get("event") == "rules_rejected"]
