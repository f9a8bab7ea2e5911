"""Patterns that reach further than a log tree: the scan stays bounded, the daemon
reads its other files and answers signals."""

from __future__ import annotations

import subprocess
import time

from tests.e2e.conftest import Workspace
from tests.e2e.helpers import LogWriter, expected_uuid, is_order, order_rules
from tests.fakeposthog import FakePostHog

# A second source whose pattern walks /proc, which leads (through /proc/*/root) to
# every file of the machine; its rule matches nothing.
PROC_SOURCE = """
  - name: proc
    paths: ["/proc/**/*.log"]
    format: json
"""
PROC_RULE = """
  - name: never
    source: proc
    when:
      event: logbridge_test_never_logged
    event: never
"""


def test_a_symlink_loop_and_proc_under_double_star_do_not_hang_the_daemon(
    workspace: Workspace, posthog: FakePostHog
) -> None:
    rules = order_rules(pattern="**/*.log")
    rules = rules.replace("\nrules:\n", PROC_SOURCE + "\nrules:\n") + PROC_RULE
    workspace.write_rules(rules)
    deep = workspace.logs / "a"
    deep.mkdir()
    # Two ways back up in every directory: an unbounded walk meets 2**40 paths.
    (deep / "up").symlink_to("..")
    (deep / "up2").symlink_to("..")
    (deep / "self").symlink_to(".")
    writer = LogWriter(deep / "app.log")
    writer.append(range(1))

    proc = workspace.start_ready(timeout=15)
    writer.append(range(1, 30))
    expected = {
        expected_uuid(writer.file_id(), w.offset)
        for w in writer.written
        if w.n >= 1 and is_order(w.n)
    }
    arrived = posthog.wait_for(lambda p: expected <= p.unique_uuids(), 15)
    stop_sent = time.monotonic()
    try:
        code: int | None = workspace.stop(proc, timeout=10)
    except subprocess.TimeoutExpired:
        code = None
    stopped_in = time.monotonic() - stop_sent

    assert arrived, workspace.output()[-3000:]
    assert code == 0, f"no exit {stopped_in:.1f}s after SIGTERM"
    assert posthog.duplicate_deliveries() == 0
    limited = {
        event["path"]: event
        for event in workspace.log_events()
        if event["event"] == "glob_limited"
    }
    loop = limited[str(workspace.logs / "**" / "*.log")]
    assert loop["revisited"] >= 3
    assert not loop["exhausted"]
    # Whether the walk of /proc exhausts its budget depends on the processes running.
    assert limited["/proc/**/*.log"]["revisited"] > 0
