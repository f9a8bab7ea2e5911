"""Getting the peers onto the machine, once: syslog-ng from Debian, the SDK in a venv.

Invariants:

- Nothing is installed when it is already there; ``apt-get update`` runs before the
  one ``apt-get install``, and only as root on a machine with apt.
- A peer that cannot be installed is reported by a reason string, never raised: the
  harness then prints it as "unavailable" and measures the others.
- The SDK lives in ``bench/.venv-peers`` (gitignored), never in the project's venv.
"""

from __future__ import annotations

import compileall
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = [
    "PEERS_VENV",
    "SDK_REQUIREMENT",
    "compile_logbridge",
    "ensure_sdk_venv",
    "ensure_syslog_ng",
    "sdk_version",
    "syslog_ng_version",
]

PEERS_VENV = Path(__file__).resolve().parent / ".venv-peers"
# The SDK major the harness was written against (module-level capture with kwargs,
# v0 /batch/ by default).
SDK_REQUIREMENT = "posthog>=7,<8"
_DEBIAN_PACKAGES = ("syslog-ng-core", "syslog-ng-mod-http")
_INSTALL_TIMEOUT_SECONDS = 900


def compile_logbridge() -> None:
    """
    Byte-compile the ``bridge`` package, as ``pip install`` does for an installed one.

    From a checkout (an editable install) with ``PYTHONDONTWRITEBYTECODE`` set, as on
    CI machines, every start would compile every module again: about 0.15 CPU seconds
    that no installed logbridge pays. Compiling writes ``__pycache__`` even so; stale
    files are ignored by Python and rewritten here the next time.
    """
    package = Path(__file__).resolve().parent.parent / "bridge"
    compileall.compile_dir(package, quiet=2)


def syslog_ng_version() -> str | None:
    """``3.38.1`` for the installed syslog-ng, or None when there is none."""
    binary = shutil.which("syslog-ng")
    if binary is None:
        return None
    try:
        out = subprocess.run(
            [binary, "--version"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"^syslog-ng \d+ \(([\d.]+)\)", out, re.MULTILINE)
    if found is None or "http" not in _available_modules(out):
        return None
    return found.group(1)


def _available_modules(version_output: str) -> set[str]:
    found = re.search(r"^Available-Modules: (.*)$", version_output, re.MULTILINE)
    return set(found.group(1).split(",")) if found else set()


def ensure_syslog_ng(*, install: bool = True) -> tuple[str | None, str]:
    """
    Return ``(version, "")`` when syslog-ng with the http module can run, else
    ``(None, reason)``. Installs the Debian packages first when allowed and missing.
    """
    version = syslog_ng_version()
    if version is not None:
        return version, ""
    if not install:
        return None, "syslog-ng is not installed (--no-install)"
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return None, "syslog-ng is missing and apt-get as root is not available"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (
        ["apt-get", "update", "-q"],
        [
            "apt-get",
            "install",
            "-y",
            "-q",
            "--no-install-recommends",
            *_DEBIAN_PACKAGES,
        ],
    ):
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=_INSTALL_TIMEOUT_SECONDS,
        )
        if done.returncode != 0:
            tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
            return None, f"{' '.join(argv[:2])} failed: {tail[0]}"
    version = syslog_ng_version()
    if version is None:
        return None, "syslog-ng installed but its http module is missing"
    return version, ""


def sdk_version(venv: Path = PEERS_VENV) -> str | None:
    """The posthog SDK's version in the peers' venv, or None."""
    python = venv / "bin" / "python"
    if not python.exists():
        return None
    done = subprocess.run(
        [str(python), "-c", "import posthog.version as v; print(v.VERSION)"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def ensure_sdk_venv(
    *, install: bool = True, venv: Path = PEERS_VENV
) -> tuple[str | None, str]:
    """
    Return ``(sdk version, "")`` once ``bench/.venv-peers`` holds the posthog SDK,
    else ``(None, reason)``.
    """
    version = sdk_version(venv)
    if version is not None:
        return version, ""
    if not install:
        return None, "the SDK venv is missing (--no-install)"
    python = venv / "bin" / "python"
    steps = []
    if not python.exists():
        steps.append([sys.executable, "-m", "venv", str(venv)])
    steps.append(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            SDK_REQUIREMENT,
        ]
    )
    for argv in steps:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            check=False,
            timeout=_INSTALL_TIMEOUT_SECONDS,
        )
        if done.returncode != 0:
            tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
            return None, f"installing the SDK failed: {tail[0]}"
    version = sdk_version(venv)
    if version is None:
        return None, "the SDK venv was made but posthog does not import"
    return version, ""
