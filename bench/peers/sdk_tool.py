"""The posthog SDK peer: runs ``posthog_sdk.py`` with the peers' venv interpreter.

Batch workloads read the files once and exit; the others run the script's hand-written
tail loop (``--follow``) until the harness stops it with SIGTERM, when it flushes.
"""

from __future__ import annotations

from pathlib import Path

from bench.install import PEERS_VENV
from bench.tools import Job, Launch, clean_env
from bench.workloads import Workload

__all__ = ["SdkTool"]

SCRIPT = Path(__file__).resolve().parent / "posthog_sdk.py"


class SdkTool:
    """A hand-written Python script around ``posthog.capture``."""

    name = "posthog-sdk"

    def __init__(
        self, *, version: str | None, reason: str = "", venv: Path = PEERS_VENV
    ) -> None:
        self._version = version
        self._reason = reason
        self._python = venv / "bin" / "python"

    def unavailable(self) -> str | None:
        """Why the SDK cannot run (its venv could not be made), or None."""
        return None if self._version is not None else self._reason or "not installed"

    def skip_reason(self, workload: Workload) -> str | None:
        """The script takes part in every workload but the backfill (W6)."""
        if workload.mode == "backfill":
            # A hand-written script reads no gzip and has no workers: nothing it does
            # there says anything about logbridge's backfill.
            return "not measured on the backfill"
        return None

    def version(self) -> str:
        """The SDK's version in the peers' venv."""
        return self._version or "unknown"

    def launch(self, job: Job) -> Launch:
        """The script's command line for ``job``."""
        argv = [
            str(self._python),
            str(SCRIPT),
            "--host",
            job.sink_url,
            "--api-key",
            job.api_key,
            "--rule",
            job.workload.rule,
        ]
        if job.workload.follows:
            argv.append("--follow")
        argv.extend(str(path) for path in job.files)
        env = clean_env()
        # Unbuffered, so "ready" reaches the harness at once.
        env["PYTHONUNBUFFERED"] = "1"
        return Launch(
            argv=tuple(argv),
            env=env,
            exits_when_done=not job.workload.follows,
            ready_marker=b"ready" if job.workload.follows else None,
        )
