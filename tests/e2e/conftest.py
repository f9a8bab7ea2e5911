"""Fixtures for end-to-end tests: the real daemon as a subprocess, real files, and the
capture emulator on loopback."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.fakeposthog import FakePostHog

API_KEY = "phc_e2e_test_key_0123456789"
E2E_DIR = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here runs the real daemon for seconds: all of them are ``slow``."""
    for item in items:
        if E2E_DIR in item.path.parents:
            item.add_marker(pytest.mark.slow)


# Fast timings so that tests finish in seconds; the code paths are the production ones.
FAST_CONFIG = """\
rules_dir: rules
state_dir: state
posthog:
  host: {host}
  timeout_seconds: 5
batch:
  max_events: {max_events}
  max_wait_seconds: 0.1
retry:
  initial_seconds: 0.05
  max_seconds: 0.4
  halted_recheck_seconds: 0.5
read:
  rescan_seconds: 0.5
shutdown:
  timeout_seconds: 5
metrics:
  port: {metrics_port}
own_events:
  enabled: {own_events}
  health_check_seconds: {health_check_seconds}
"""


@dataclass
class Workspace:
    """A daemon's world in a temp dir: config, rules, logs, state, and its process."""

    root: Path
    host: str
    env: dict[str, str]
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    runs: int = 0

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def rules(self) -> Path:
        return self.root / "rules"

    @property
    def state_db(self) -> Path:
        return self.root / "state" / "state.db"

    def write_config(
        self,
        *,
        max_events: int = 1000,
        own_events: bool = False,
        health_check_seconds: float = 300,
        metrics_port: int = 0,
        extra: str = "",
    ) -> Path:
        config = self.root / "bridge.yaml"
        text = FAST_CONFIG.format(
            host=self.host,
            max_events=max_events,
            own_events=str(own_events).lower(),
            health_check_seconds=health_check_seconds,
            metrics_port=metrics_port,
        )
        text += extra
        config.write_text(text)
        return config

    def write_rules(self, text: str, name: str = "app.yaml") -> Path:
        path = self.rules / name
        path.write_text(text)
        return path

    def _output_file(self) -> Path:
        self.runs += 1
        return self.root / f"daemon-{self.runs}.log"

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        with self._output_file().open("wb") as out:  # the child keeps its own copy
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bridge",
                    "run",
                    "-c",
                    str(self.root / "bridge.yaml"),
                    "--log-format",
                    "json",
                    *args,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.root,
            )
        self.procs.append(proc)
        return proc

    def start_ready(self, timeout: float = 15.0) -> subprocess.Popen[bytes]:
        """Start the daemon and wait until its first scan is done."""
        proc = self.start()
        log = self.root / f"daemon-{self.runs}.log"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if '"engine_ready"' in log.read_text(errors="replace"):
                return proc
            if proc.poll() is not None:
                pytest.fail(f"daemon exited with {proc.returncode}:\n{log.read_text()}")
            time.sleep(0.02)
        pytest.fail(f"daemon not ready after {timeout}s:\n{log.read_text()}")

    def run_once(self, timeout: float = 60.0) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "bridge",
                "run",
                "--once",
                "-c",
                str(self.root / "bridge.yaml"),
                "--log-format",
                "json",
            ],
            capture_output=True,
            env=self.env,
            cwd=self.root,
            timeout=timeout,
            check=False,
        )

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> int:
        proc.send_signal(signal.SIGTERM)
        return proc.wait(timeout=timeout)

    def output(self) -> str:
        """Everything every daemon run of this workspace printed."""
        return "\n".join(
            p.read_text(errors="replace")
            for p in sorted(self.root.glob("daemon-*.log"))
        )

    def log_events(self) -> list[dict[str, Any]]:
        events = []
        for line in self.output().splitlines():
            if line.startswith("{"):
                events.append(json.loads(line))
        return events

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.state_db) as db:
            return db.execute(sql).fetchall()


@pytest.fixture
def workspace(tmp_path: Path, posthog: FakePostHog) -> Iterator[Workspace]:
    for sub in ("logs", "rules", "state"):
        (tmp_path / sub).mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("POSTHOG_", "LOGBRIDGE_", "CREDENTIALS_DIRECTORY"))
    }
    env.update(POSTHOG_API_KEY=API_KEY, POSTHOG_HOST=posthog.url)
    ws = Workspace(root=tmp_path, host=posthog.url, env=env)
    ws.write_config()
    yield ws
    for proc in ws.procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def metrics_port(workspace: Workspace, timeout: float = 10.0) -> int:
    """The port the daemon's health server listens on (the config asks for any)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in workspace.log_events():
            if event.get("event") == "metrics_listening":
                return int(event["port"])
        time.sleep(0.05)
    pytest.fail(f"no metrics_listening in the daemon's log:\n{workspace.output()}")
