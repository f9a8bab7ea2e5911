"""sd_notify: exact datagrams on a real unix socket, and silence when systemd is absent."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from bridge.daemon.systemd import Notifier


@pytest.fixture
def listener(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, socket.socket]]:
    # A short directory: a unix socket path must fit in 108 bytes, and tmp_path, named
    # after the test, may not.
    path = str(tmp_path_factory.mktemp("sd") / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(1.0)
    yield path, sock
    sock.close()


def _received(sock: socket.socket) -> bytes:
    return sock.recv(4096)


def test_ready_sends_ready(listener: tuple[str, socket.socket]) -> None:
    path, sock = listener

    Notifier(path).ready()

    assert _received(sock) == b"READY=1"


def test_ready_with_a_status_sends_both_in_one_datagram(
    listener: tuple[str, socket.socket],
) -> None:
    path, sock = listener

    Notifier(path).ready("reading 3 files")

    assert _received(sock) == b"READY=1\nSTATUS=reading 3 files"


@pytest.mark.parametrize(
    ("send", "expected"),
    [
        (
            lambda n: n.status("sink halted: key refused"),
            b"STATUS=sink halted: key refused",
        ),
        (lambda n: n.watchdog(), b"WATCHDOG=1"),
        (lambda n: n.stopping(), b"STOPPING=1"),
        (lambda n: n.extend_timeout(3.0), b"EXTEND_TIMEOUT_USEC=3000000"),
    ],
    ids=["status", "watchdog", "stopping", "extend-timeout"],
)
def test_each_message_is_one_exact_datagram(
    listener: tuple[str, socket.socket], send, expected: bytes
) -> None:
    path, sock = listener

    send(Notifier(path))

    assert _received(sock) == expected


def test_status_text_is_kept_on_one_line(listener: tuple[str, socket.socket]) -> None:
    path, sock = listener

    Notifier(path).status("rules rejected:\nrules/a.yaml:3:1\r\nbad\0value")

    assert _received(sock) == b"STATUS=rules rejected: rules/a.yaml:3:1  bad value"


def test_status_text_is_sent_as_utf8(listener: tuple[str, socket.socket]) -> None:
    path, sock = listener

    Notifier(path).status("envío pausado")

    assert _received(sock) == "STATUS=envío pausado".encode()


def test_reloading_sends_the_monotonic_time_of_the_request(
    listener: tuple[str, socket.socket],
) -> None:
    path, sock = listener
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000

    Notifier(path).reloading()

    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    first, second = _received(sock).split(b"\n")
    assert first == b"RELOADING=1"
    key, value = second.split(b"=")
    assert key == b"MONOTONIC_USEC"
    assert before <= int(value) <= after


def test_the_socket_comes_from_notify_socket_by_default(
    listener: tuple[str, socket.socket],
) -> None:
    path, sock = listener

    notifier = Notifier(environ={"NOTIFY_SOCKET": path})
    notifier.watchdog()

    assert notifier.enabled
    assert _received(sock) == b"WATCHDOG=1"


def test_an_abstract_socket_is_reached_through_an_at_sign() -> None:
    name = f"logbridge-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(1.0)

        Notifier(f"@{name}").ready()

        assert sock.recv(4096) == b"READY=1"


@pytest.mark.parametrize(
    "environ",
    [{}, {"NOTIFY_SOCKET": ""}, {"NOTIFY_SOCKET": "relative/notify"}],
    ids=["unset", "empty", "relative"],
)
def test_without_a_usable_notify_socket_every_call_is_a_no_op(
    environ: dict[str, str],
) -> None:
    notifier = Notifier(environ=environ)

    notifier.ready("up")
    notifier.status("x")
    notifier.watchdog()
    notifier.reloading()
    notifier.stopping()

    assert not notifier.enabled


def test_an_empty_socket_path_disables_even_when_the_environment_has_one(
    listener: tuple[str, socket.socket],
) -> None:
    path, _ = listener

    notifier = Notifier("", environ={"NOTIFY_SOCKET": path})

    assert not notifier.enabled


def test_a_dead_socket_path_raises_nothing_and_is_logged_once(tmp_path: Path) -> None:
    notifier = Notifier(str(tmp_path / "gone"))

    with capture_logs() as logs:
        notifier.ready()
        notifier.watchdog()
        notifier.stopping()

    assert notifier.enabled
    assert [(log["event"], log["log_level"]) for log in logs] == [
        ("systemd_notify_failed", "debug")
    ]
    assert logs[0]["error"] == "[Errno 2] No such file or directory"


def test_a_socket_whose_listener_closed_raises_nothing(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    path = str(tmp_path_factory.mktemp("sd") / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)

    Notifier(path).ready()


def test_a_full_socket_never_blocks_the_caller(
    listener: tuple[str, socket.socket],
) -> None:
    path, _ = listener
    notifier = Notifier(path)

    def flood() -> None:
        # Nobody reads: the queue fills up after a few hundred datagrams
        # (net.unix.max_dgram_qlen), and later sends fail at once instead of waiting.
        for _ in range(2000):
            notifier.status("x" * 1000)

    # A thread, so that a blocking send fails the test instead of hanging it.
    sender = threading.Thread(target=flood, daemon=True)
    sender.start()
    sender.join(timeout=5.0)

    assert not sender.is_alive()


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({}, None),
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "-5"}, None),
        ({"WATCHDOG_USEC": "30s"}, None),
    ],
    ids=["off", "half", "our-pid", "other-pid", "zero", "negative", "not-a-number"],
)
def test_watchdog_interval_is_half_of_watchdog_usec(
    extra: dict[str, str], expected: float | None
) -> None:
    notifier = Notifier(environ={"NOTIFY_SOCKET": "/run/systemd/notify", **extra})

    assert notifier.watchdog_interval_seconds() == expected


def test_watchdog_interval_is_none_without_a_notify_socket() -> None:
    notifier = Notifier(environ={"WATCHDOG_USEC": "30000000"})

    assert notifier.watchdog_interval_seconds() is None
