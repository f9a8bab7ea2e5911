"""Tell systemd how the daemon is doing (the sd_notify protocol), without libsystemd.

The protocol is one datagram per message on the unix socket named by ``NOTIFY_SOCKET``,
holding ``KEY=value`` lines (``READY=1``, ``STATUS=…``, ``WATCHDOG=1``…), as
sd_notify(3) describes. A path starting with ``@`` names a socket in the abstract
namespace.

Invariants:

- Without ``NOTIFY_SOCKET`` (not started by systemd, or ``Type=`` is not ``notify``)
  every method is a no-op.
- No method ever raises and none ever blocks: the socket is non-blocking and a failed
  send is dropped and logged once, at debug. Reporting status must never stop or stall
  the pipeline; systemd notices a silent daemon through the watchdog anyway.
- A ``STATUS=`` text is one line: newlines and NUL bytes become spaces, because each
  line of a datagram is a separate assignment and systemd drops datagrams with NULs.

How the daemon uses it: ``ready()`` once the state is loaded and the first scan is done;
``status()`` when something an operator should see changes (rules rejected, sink
halted); ``watchdog()`` every ``watchdog_interval_seconds()`` while the pipeline makes
progress; ``extend_timeout()`` while a start waits on purpose (for room on a full
disk); ``reloading()`` when a reload starts, then ``ready()`` again when it ends
(systemd keeps the unit in "reloading" until it gets ``READY=1``); ``stopping()`` when
the drain on SIGTERM starts.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping

from bridge.logs import get_logger

__all__ = ["Notifier"]

# Characters that would split a STATUS= text into several assignments, or make systemd
# drop the whole datagram (it refuses messages with embedded NULs).
_LINE_BREAKS = str.maketrans({"\n": " ", "\r": " ", "\0": " "})


class Notifier:
    """Sends sd_notify messages to the service manager, or nothing at all."""

    def __init__(
        self,
        socket_path: str | None = None,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        """
        Find the notification socket.

        Args:
            socket_path: the socket to notify; by default ``NOTIFY_SOCKET``. An empty
                string disables the notifier.
            environ: where ``NOTIFY_SOCKET``, ``WATCHDOG_USEC`` and ``WATCHDOG_PID`` are
                read from; by default the process environment.
        """
        self._environ: Mapping[str, str] = os.environ if environ is None else environ
        path = (
            self._environ.get("NOTIFY_SOCKET") if socket_path is None else socket_path
        )
        self._address = _parse_address(path or "")
        self.enabled: bool = self._address is not None
        self._send_failed_logged = False

    def ready(self, status: str | None = None) -> None:
        """Startup (or a reload) is finished: ``READY=1``, with a status line if given."""
        lines = ["READY=1"]
        if status is not None:
            lines.append(_status_line(status))
        self._send(lines)

    def status(self, text: str) -> None:
        """Show ``text`` in ``systemctl status``."""
        self._send([_status_line(text)])

    def extend_timeout(self, seconds: float) -> None:
        """A start (or stop) takes longer on purpose: ``EXTEND_TIMEOUT_USEC=``."""
        self._send([f"EXTEND_TIMEOUT_USEC={round(seconds * 1_000_000)}"])

    def watchdog(self) -> None:
        """The daemon is alive and making progress: ``WATCHDOG=1``."""
        self._send(["WATCHDOG=1"])

    def reloading(self) -> None:
        """A reload starts; call ``ready()`` when it is over."""
        # systemd (253+, for Type=notify-reload) wants the CLOCK_MONOTONIC time of the
        # reload request, to tell it apart from an earlier one (sd_notify(3)). It is
        # compared with systemd's own clock, so it cannot come from an injected Clock.
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self._send(["RELOADING=1", f"MONOTONIC_USEC={usec}"])

    def stopping(self) -> None:
        """The daemon is shutting down: ``STOPPING=1``."""
        self._send(["STOPPING=1"])

    def watchdog_interval_seconds(self) -> float | None:
        """
        How often to call ``watchdog()``: half of ``WatchdogSec=``, or None when off.

        None too when notifications are disabled, or when ``WATCHDOG_PID`` names another
        process (the variables were inherited, not meant for us). Half the timeout is
        what sd_watchdog_enabled(3) recommends, so one late ping is not fatal.
        """
        if not self.enabled:
            return None
        pid = self._environ.get("WATCHDOG_PID")
        if pid is not None and pid.strip() != str(os.getpid()):
            return None
        try:
            usec = int(self._environ.get("WATCHDOG_USEC", ""))
        except ValueError:
            return None
        if usec <= 0:
            return None
        return usec / 1_000_000 / 2

    def _send(self, lines: list[str]) -> None:
        if self._address is None:
            return
        message = "\n".join(lines).encode("utf-8", errors="replace")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.setblocking(False)
                sock.sendto(message, self._address)
        except OSError as exc:
            if not self._send_failed_logged:
                self._send_failed_logged = True
                get_logger().debug("systemd_notify_failed", error=str(exc))


def _parse_address(path: str) -> str | None:
    """The socket address for ``path``, or None when notifications are off."""
    if path.startswith("@"):
        # The abstract namespace: sd_notify(3) spells it with '@', the kernel with NUL.
        return "\0" + path[1:]
    if path.startswith("/"):
        return path
    # Empty, relative, or a form we do not speak (systemd 254's "vsock:CID:PORT").
    return None


def _status_line(text: str) -> str:
    return "STATUS=" + text.translate(_LINE_BREAKS)
