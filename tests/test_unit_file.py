"""The systemd unit: its key settings, its syntax and its sandbox score, by systemd itself.

The checks that need systemd-analyze (syntax, exposure) or a recent kernel (W^X) are
skipped, with the reason, on machines without them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.settings import (
    CREDENTIAL_NAME,
    DEFAULT_CONFIG_PATH,
    DEFAULT_SHUTDOWN_SECONDS,
    DEFAULT_STATE_DIR,
)

UNIT = Path(__file__).resolve().parent.parent / "systemd" / "logbridge.service"
BINARY = "/usr/local/bin/logbridge"
# The exposure `systemd-analyze security` may give the unit, on its 0-10 scale.
MAX_EXPOSURE = 2.0
# --offline= and --threshold= came with systemd 250.
MIN_SYSTEMD_VERSION = 250

Unit = dict[str, list[tuple[str, str]]]


def _parse_unit(text: str) -> Unit:
    """Sections of (key, value) in file order; repeated keys kept, as systemd reads them."""
    sections: Unit = {}
    current: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = pending + raw.strip()
        pending = ""
        if not line or line[0] in "#;":
            continue
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        key, _, value = line.partition("=")
        current.append((key.strip(), value.strip()))
    return sections


@pytest.fixture(scope="module")
def service() -> dict[str, list[str]]:
    unit = _parse_unit(UNIT.read_text(encoding="utf-8"))
    values: dict[str, list[str]] = {}
    for key, value in unit["Service"]:
        values.setdefault(key, []).append(value)
    return values


def test_the_unit_has_the_three_sections() -> None:
    unit = _parse_unit(UNIT.read_text(encoding="utf-8"))

    assert list(unit) == ["Unit", "Service", "Install"]
    assert ("WantedBy", "multi-user.target") in unit["Install"]
    assert ("After", "network-online.target") in unit["Unit"]


# Settings DESIGN.md or the sandbox depend on, exactly as systemd reads them.
SERVICE_SETTINGS = [
    ("Type", ["notify"]),
    ("NotifyAccess", ["main"]),
    ("WatchdogSec", ["30"]),
    ("Restart", ["on-failure"]),
    ("RestartPreventExitStatus", ["2"]),
    ("TimeoutStopSec", ["30"]),
    ("User", ["logbridge"]),
    ("Group", ["logbridge"]),
    ("SupplementaryGroups", ["adm"]),
    ("StateDirectory", ["logbridge"]),
    ("ConfigurationDirectory", ["logbridge"]),
    ("ProtectSystem", ["strict"]),
    ("ProtectHome", ["yes"]),
    ("NoNewPrivileges", ["yes"]),
    ("CapabilityBoundingSet", [""]),
    ("MemoryDenyWriteExecute", ["yes"]),
    ("RestrictAddressFamilies", ["AF_UNIX AF_INET AF_INET6"]),
    ("SystemCallFilter", ["@system-service", "~@privileged @resources"]),
    ("SystemCallErrorNumber", ["EPERM"]),
]


@pytest.mark.parametrize(
    ("key", "expected"), SERVICE_SETTINGS, ids=[key for key, _ in SERVICE_SETTINGS]
)
def test_the_service_sets(
    service: dict[str, list[str]], key: str, expected: list[str]
) -> None:
    assert service.get(key) == expected


def test_start_and_reload_run_check_on_the_default_config_first(
    service: dict[str, list[str]],
) -> None:
    check = f"{BINARY} check -c {DEFAULT_CONFIG_PATH}"

    assert service["ExecStartPre"] == [check]
    assert service["ExecStart"] == [f"{BINARY} run -c {DEFAULT_CONFIG_PATH}"]
    assert service["ExecReload"] == [check, "/bin/kill -HUP $MAINPID"]


def test_the_credential_is_the_one_settings_reads(
    service: dict[str, list[str]],
) -> None:
    assert service["LoadCredential"] == [
        f"{CREDENTIAL_NAME}:/etc/logbridge/{CREDENTIAL_NAME}"
    ]


def test_the_state_directory_is_the_default_state_dir(
    service: dict[str, list[str]],
) -> None:
    assert f"/var/lib/{service['StateDirectory'][0]}" == DEFAULT_STATE_DIR


def test_the_state_directory_is_the_only_writable_path(
    service: dict[str, list[str]],
) -> None:
    assert "ReadWritePaths" not in service
    assert service["ReadOnlyPaths"] == ["-/var/log"]


def test_systemd_waits_longer_than_the_daemon_drains(
    service: dict[str, list[str]],
) -> None:
    assert float(service["TimeoutStopSec"][0]) > DEFAULT_SHUTDOWN_SECONDS


# -- checks by systemd itself ----------------------------------------------------------


def _systemd_analyze() -> str:
    """The path of a systemd-analyze that knows --offline, or skip the test."""
    path = shutil.which("systemd-analyze")
    if path is None:
        pytest.skip(
            "systemd-analyze is not installed (Debian: apt-get install systemd)"
        )
    out = subprocess.run(
        [path, "--version"], capture_output=True, text=True, check=True
    ).stdout
    found = re.match(r"systemd (\d+)", out)
    if found is None or int(found.group(1)) < MIN_SYSTEMD_VERSION:
        pytest.skip(f"systemd-analyze older than {MIN_SYSTEMD_VERSION}: {out[:40]!r}")
    return path


def test_systemd_analyze_verify_finds_nothing_to_say(tmp_path: Path) -> None:
    analyze = _systemd_analyze()
    # verify insists that ExecStart= binaries exist: point it at this checkout's.
    logbridge = Path(sys.executable).with_name("logbridge")
    unit = tmp_path / "logbridge.service"
    unit.write_text(UNIT.read_text(encoding="utf-8").replace(BINARY, str(logbridge)))

    result = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, check=False
    )

    assert (result.returncode, result.stderr) == (0, "")


def test_the_sandbox_exposure_is_at_most_two() -> None:
    analyze = _systemd_analyze()

    result = subprocess.run(
        [analyze, "security", "--offline=yes", "--threshold=20", str(UNIT)],
        capture_output=True,
        text=True,
        check=False,
    )

    last = result.stdout.strip().splitlines()[-1]
    found = re.search(
        r"Overall exposure level for logbridge\.service: (\d+\.\d+)", last
    )
    assert found is not None, last
    assert float(found.group(1)) <= MAX_EXPOSURE, last
    assert result.returncode == 0, result.stderr


# -- MemoryDenyWriteExecute=yes --------------------------------------------------------

# Turns on the kernel's W^X switch (PR_SET_MDWE, Linux 6.3+; systemd 253+ uses it for
# MemoryDenyWriteExecute=), proves it refuses a W+X mapping, then runs the command
# given, which inherits the switch across execve.
_UNDER_MDWE = """
import ctypes, mmap, os, sys
PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1
if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0):
    sys.exit(77)
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
except PermissionError:
    os.execv(sys.argv[1], sys.argv[1:])
sys.exit(78)
"""

_USE_THE_NATIVE_DEPENDENCIES = """
import sqlite3, ssl
import httpx, orjson, re2, structlog, watchfiles, yaml
import bridge.cli
assert orjson.loads(orjson.dumps({"a": [1]})) == {"a": [1]}
assert re2.compile(r"(?P<n>[0-9]+)").search("id=42").group("n") == "42"
assert sqlite3.connect(":memory:").execute("select 1").fetchone() == (1,)
ssl.create_default_context()
httpx.Client(trust_env=False).close()
print("ok")
"""


def _run_under_mdwe(*command: str) -> subprocess.CompletedProcess[str]:
    if not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_MDWE is a Linux prctl")
    result = subprocess.run(
        [sys.executable, "-c", _UNDER_MDWE, *command],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    if result.returncode == 77:
        pytest.skip("this kernel has no PR_SET_MDWE (Linux 6.3+)")
    assert result.returncode != 78, "PR_SET_MDWE is on but a W+X mapping was allowed"
    return result


def test_logbridge_starts_without_writable_executable_memory() -> None:
    logbridge = str(Path(sys.executable).with_name("logbridge"))

    result = _run_under_mdwe(logbridge, "--version")

    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith("logbridge ")


def test_the_native_dependencies_work_without_writable_executable_memory() -> None:
    result = _run_under_mdwe(sys.executable, "-c", _USE_THE_NATIVE_DEPENDENCIES)

    assert (result.returncode, result.stdout, result.stderr) == (0, "ok\n", "")
