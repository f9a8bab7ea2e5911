"""Operating the daemon: systemd notifications, metrics and readiness, status,
dead letters, its own events, and a key that never leaks."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import API_KEY, Workspace, metrics_port
from tests.e2e.helpers import LogWriter, is_order, order_line, order_rules
from tests.fakeposthog import FakePostHog


def _cli(workspace: Workspace, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bridge", *args, "-c", "bridge.yaml"],
        capture_output=True,
        text=True,
        env=workspace.env,
        cwd=workspace.root,
        check=False,
        timeout=30,
    )


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return values


class _NotifySocket:
    """
    A unix datagram socket standing in for systemd's notification socket.

    A thread receives continuously, so each message is stamped when it was sent.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.05)
        self.messages: list[tuple[float, str]] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._done.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            self.messages.append((time.monotonic(), data.decode()))

    def close(self) -> None:
        self._done.set()
        self._thread.join()
        self.sock.close()

    def wait_for(self, text: str, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for at, message in list(self.messages):
                if text in message:
                    return at
            time.sleep(0.05)
        pytest.fail(f"no {text!r} in {self.messages}")

    def pings_between(self, start: float, end: float) -> list[float]:
        return [
            at
            for at, m in list(self.messages)
            if start < at < end and "WATCHDOG=1" in m
        ]

    def kinds(self) -> list[str]:
        """Each message's first assignment, in order, with repeats collapsed."""
        kinds: list[str] = []
        for _, message in self.messages:
            kind = message.split("\n")[0].split("=")[0]
            if not kinds or kinds[-1] != kind:
                kinds.append(kind)
        return kinds


def test_systemd_hears_ready_status_watchdog_reloading_and_stopping(
    workspace: Workspace, posthog: FakePostHog, tmp_path: Path
) -> None:
    workspace.write_rules(order_rules())
    notify = _NotifySocket(tmp_path / "notify.sock")
    workspace.env |= {"NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": "1000000"}
    writer = LogWriter(workspace.logs / "app.log")
    writer.append(range(1))
    proc = workspace.start()

    notify.wait_for("READY=1", 15)
    notify.wait_for("WATCHDOG=1", 5)
    notify.wait_for("STATUS=1 files", 5)
    # A request that hangs: the pipeline no longer progresses, the watchdog goes quiet.
    posthog.set_latency(4.0)
    writer.append(range(1, 5))
    time.sleep(1.5)  # the request is in flight, for longer than the watchdog allows
    stuck_from = time.monotonic()
    time.sleep(2.0)
    pings_while_stuck = notify.pings_between(stuck_from, time.monotonic())
    posthog.set_latency(0.0)
    posthog.wait_for(lambda p: len(p.dedup_view()) >= 3, 10)
    resumed = time.monotonic()
    time.sleep(1.5)
    pings_after = notify.pings_between(resumed, time.monotonic())
    proc.send_signal(signal.SIGHUP)
    notify.wait_for("RELOADING=1", 5)
    code = workspace.stop(proc)
    time.sleep(0.3)
    notify.close()

    assert code == 0
    assert pings_while_stuck == []
    assert pings_after
    kinds = notify.kinds()
    assert kinds[0] == "READY"
    reloading = kinds.index("RELOADING")
    assert "READY" in kinds[reloading:]
    assert kinds[-1] == "STOPPING" or "STOPPING" in kinds[reloading:]
    assert kinds.index("STOPPING") > reloading


def test_metrics_and_readiness_match_what_posthog_received(
    workspace: Workspace, posthog: FakePostHog
) -> None:
    workspace.write_rules(order_rules())
    writer = LogWriter(workspace.logs / "app.log")
    writer.append(range(1))
    proc = workspace.start_ready()
    base = f"http://127.0.0.1:{metrics_port(workspace)}"

    writer.append(range(1, 61))
    with workspace.logs.joinpath("app.log").open("a") as f:
        # Holds the rule's literal, so the prefilter lets it through to the parser.
        f.write('{"event": "order_processed", broken\n')
    expected = sum(1 for n in range(1, 61) if is_order(n))
    posthog.wait_for(lambda p: len(p.deliveries) >= expected, 10)
    time.sleep(2.5)  # one supervision period publishes the counters
    metrics = _samples(httpx.get(f"{base}/metrics").text)
    ready = httpx.get(f"{base}/readyz")
    healthy = httpx.get(f"{base}/healthz")
    code = workspace.stop(proc)

    assert code == 0
    assert metrics["logbridge_events_sent_total", ()] == len(posthog.deliveries)
    assert metrics["logbridge_events_total", (("rule", "order"),)] == expected
    assert metrics["logbridge_lines_read_total", (("source", "shop"),)] == 61
    assert (
        metrics[
            "logbridge_parse_errors_total",
            (("reason", "invalid_json"), ("source", "shop")),
        ]
        == 1
    )
    assert metrics["logbridge_spool_events", ()] == 0
    assert metrics["logbridge_sink_halted", ()] == 0
    assert (
        metrics[
            "logbridge_file_lag_bytes", (("path", str(workspace.logs / "app.log")),)
        ]
        == 0
    )
    assert ready.status_code == 200
    assert ready.json()["ready"] is True
    assert healthy.status_code == 200


def test_a_refused_key_halts_the_sink_and_readiness_says_why(
    workspace: Workspace, tmp_path: Path
) -> None:
    with FakePostHog(known_keys={"phc_another_project"}) as refusing:
        workspace.env["POSTHOG_HOST"] = refusing.url
        workspace.write_rules(order_rules())
        writer = LogWriter(workspace.logs / "app.log")
        writer.append(range(1))
        proc = workspace.start_ready()
        base = f"http://127.0.0.1:{metrics_port(workspace)}"

        writer.append(range(1, 10))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and '"sink_halted"' not in workspace.output():
            time.sleep(0.05)
        ready = httpx.get(f"{base}/readyz")
        code = workspace.stop(proc)

    assert code == 0
    assert ready.status_code == 503
    assert any("sink_halted" in reason for reason in ready.json()["reasons"])
    spooled = workspace.query("SELECT events FROM spool_totals")[0][0]
    assert spooled == sum(1 for n in range(1, 10) if is_order(n))


def test_status_and_deadletters_from_a_real_run(
    workspace: Workspace, posthog: FakePostHog
) -> None:
    # $cookieless_mode must be a boolean: capture would refuse the text "yes".
    workspace.write_rules(
        order_rules(start_at="beginning")
        + "      $cookieless_mode: {field: cookieless}\n"
    )
    log = workspace.logs / "app.log"
    with log.open("w") as f:
        for n in range(6):
            if is_order(n):
                line = json.loads(order_line(n))
                if n == 1:
                    line["cookieless"] = "yes"
                f.write(json.dumps(line) + "\n")
    assert workspace.run_once().returncode == 0

    status = _cli(workspace, "status", "--json")
    listed = _cli(workspace, "deadletter", "list", "--json")
    refused = _cli(workspace, "deadletter", "retry")
    (letter,) = [json.loads(line) for line in listed.stdout.splitlines()]
    retried = _cli(workspace, "deadletter", "retry", str(letter["id"]))
    spooled_after_retry = workspace.query("SELECT events FROM spool_totals")[0][0]
    dropped = _cli(workspace, "deadletter", "drop", "--all")

    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    (file,) = report["files"]
    assert file["path"] == str(log)
    assert file["offset"] == file["size"] == log.stat().st_size
    assert file["lag_bytes"] == 0
    assert report["spool"]["events"] == 0
    assert report["deadletters"] == 1
    assert "1 event(s) quarantined" in report["last_send_error"]
    assert report["rules"]["ok"] is True
    assert report["rules"]["rules"] == ["order"]
    # Never sent: capture would have refused its $cookieless_mode.
    assert letter["status"] is None
    assert letter["reason"] == (
        "refused before sending: properties.$cookieless_mode: expected a boolean, "
        "got a string"
    )
    assert letter["event"]["properties"]["order_id"] == "o-1"
    assert refused.returncode == 2
    assert retried.stdout.strip() == "1 dead letter(s) put back in the spool"
    assert spooled_after_retry == 1
    assert dropped.stdout.strip() == "0 dead letter(s) dropped"


def test_a_dead_letter_lists_an_integer_past_a_double_as_it_was_kept(
    workspace: Workspace, posthog: FakePostHog
) -> None:
    workspace.write_rules(
        order_rules(start_at="beginning") + "      big: {field: big, type: int}\n"
    )
    big = "7" * 400
    line = json.loads(order_line(0))
    line["big"] = big
    (workspace.logs / "app.log").write_text(json.dumps(line) + "\n")
    assert workspace.run_once().returncode == 0

    listed = _cli(workspace, "deadletter", "list", "--json")

    assert listed.returncode == 0, listed.stderr
    (letter,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert letter["event"]["properties"]["big"] == int(big)


def test_own_events_are_personless_and_go_through_the_spool(
    workspace: Workspace, posthog: FakePostHog
) -> None:
    workspace.write_config(own_events=True, health_check_seconds=1)
    workspace.write_rules(order_rules())
    proc = workspace.start_ready()

    posthog.wait_for(lambda p: bool(p.events(name="health_check")), 10)
    code = workspace.stop(proc)
    posthog.wait_for(lambda p: bool(p.events(name="engine_stopped")), 5)

    assert code == 0
    names = {e.event for e in posthog.dedup_view().values()}
    assert {"engine_started", "health_check", "engine_stopped"} <= names
    for event in posthog.dedup_view().values():
        assert event.properties["$process_person_profile"] is False
        assert event.properties["component"] == "logbridge"
    (stopped,) = posthog.events(name="engine_stopped")
    assert stopped.properties["reason"] == "signal"


def test_the_api_key_never_leaks(workspace: Workspace, tmp_path: Path) -> None:
    with FakePostHog(known_keys={"phc_another_project"}) as refusing:
        workspace.env["POSTHOG_HOST"] = refusing.url
        rules = workspace.write_rules(order_rules())
        writer = LogWriter(workspace.logs / "app.log")
        writer.append(range(1))
        proc = workspace.start_ready()
        base = f"http://127.0.0.1:{metrics_port(workspace)}"
        writer.append(range(1, 20))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and '"sink_halted"' not in workspace.output():
            time.sleep(0.05)
        rules.write_text(order_rules() + "  - name: broken\n")  # a reload that fails
        proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        scraped = httpx.get(f"{base}/metrics").text + httpx.get(f"{base}/readyz").text
        proc.kill()  # a crash
        proc.wait()
        rules.write_text(order_rules())
        proc = workspace.start_ready()
        workspace.stop(proc)
    printed = [
        workspace.output(),
        scraped,
        _cli(workspace, "status", "--json").stdout,
        _cli(workspace, "deadletter", "list", "--json").stdout,
        _cli(workspace, "check").stdout + _cli(workspace, "check").stderr,
        (workspace.root / "state" / "state.db").read_bytes().decode(errors="replace"),
    ]

    assert '"sink_halted"' in printed[0]
    assert '"rules_rejected"' in printed[0]
    for text in printed:
        assert API_KEY not in text


def test_status_and_deadletter_list_before_the_daemon_ever_ran(
    workspace: Workspace,
) -> None:
    workspace.write_rules(order_rules())

    status = _cli(workspace, "status", "--json")
    listed = _cli(workspace, "deadletter", "list", "--json")

    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["files"] == []
    assert report["spool"] == {"events": 0, "bytes": 0, "oldest_age_seconds": None}
    assert report["deadletters"] == 0
    assert report["rules"] is None
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout == ""
    assert not workspace.state_db.exists()


def test_a_metrics_port_already_taken_stops_the_start_with_one_clear_line(
    workspace: Workspace,
) -> None:
    workspace.write_rules(order_rules())
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        workspace.write_config(metrics_port=port)

        proc = workspace.start()
        code = proc.wait(timeout=30)

    assert code == 1
    lines = workspace.output().splitlines()
    assert lines[-1] == (
        f"logbridge: cannot listen on 127.0.0.1:{port} for /metrics: Address already"
        " in use (another program has the port: change metrics.port, or set"
        " metrics.enabled: false)"
    )
    assert "Traceback" not in workspace.output()


def test_status_shows_the_files_still_there_and_counts_those_gone(
    workspace: Workspace, posthog: FakePostHog
) -> None:
    workspace.write_rules(order_rules(pattern="*.log", start_at="beginning"))
    kept, deleted = workspace.logs / "kept.log", workspace.logs / "old.log"
    LogWriter(kept).append(range(3))
    LogWriter(deleted).append(range(3, 6))
    assert workspace.run_once().returncode == 0
    deleted.unlink()

    status = _cli(workspace, "status", "--json")

    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert [file["path"] for file in report["files"]] == [str(kept)]
    assert report["files_gone"] == 1
