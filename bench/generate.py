"""A deterministic generator of a realistic JSON-lines web-application log.

Each line is what a Python shop logs through structlog's JSON renderer (~280 bytes):
timestamp, level, event, logger, host, pid, user_id, request_id, method, path, status,
duration_ms, plus per-event fields (amount, currency, order_id, …).

Invariants:

- The same seed gives the same lines, byte for byte, and the same expectations. The
  timestamp is not drawn from the random stream, so a live writer that stamps lines
  with the wall clock (W5) still produces the same fields for the same seed.
- Exactly one line in every block of ten is an ``order_processed`` line, so a file of
  ``10 * k`` lines holds exactly ``k`` orders.
- About 2% of the other lines are decoys: they carry the text ``order_processed`` in
  another field (a webhook topic, a task name), which a substring prefilter lets
  through and a correct rule must reject.
- The expectations say, per order line (W1) and per line with ``duration_ms > 1000``
  (W2), which event the sink must receive: its name, distinct_id, timestamp and the
  properties the rules map.
- Rotated logs (W6, ``generate_rotated``) are named as logrotate leaves them with
  ``compress`` and ``delaycompress`` (``app.log``, ``app.log.1``, ``app.log.2.gz`` …);
  each copy has its own seed and its own day, so no two copies share an order id, a
  request id or a first line, and the gzip-compressed ones are the same bytes for the
  same seed (no time or name in their gzip header but the file's own name).
"""

from __future__ import annotations

import argparse
import functools
import gzip
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import orjson

__all__ = [
    "ORDER_EVENT",
    "ORDER_KEY",
    "ROTATED_LOG_NAME",
    "SLOW_EVENT",
    "SLOW_KEY",
    "SLOW_THRESHOLD_MS",
    "Expectations",
    "GeneratedLogs",
    "LogGenerator",
    "format_timestamp",
    "generate_logs",
    "generate_rotated",
    "live_expectations",
    "live_generator",
    "load_expectations",
    "log_file_name",
    "main",
    "rotated_file_name",
    "save_expectations",
]

# What the W1 rule turns an order line into, and the property that names it uniquely.
ORDER_EVENT = "pedido_procesado"
ORDER_KEY = "order_id"
# What the W2 rule (a numeric condition on every line) emits.
SLOW_EVENT = "slow_request"
SLOW_KEY = "request_id"
SLOW_THRESHOLD_MS = 1000

# The synthetic clock of a generated file: 2026-11-20T09:00:00Z plus one millisecond a
# line, so a million lines span about 17 minutes of application time.
BASE_EPOCH_MS = int(datetime(2026, 11, 20, 9, tzinfo=UTC).timestamp() * 1000)
# One order line in every block of this many lines (10% exactly).
ORDER_BLOCK_LINES = 10
# Share of the non-order lines that are decoys: 0.9 * 0.0222 ≈ 2% of all lines.
DECOY_SHARE = 0.0222
# Write this many lines at a time: large sequential writes keep generation fast.
WRITE_BATCH_LINES = 20_000

# W6: the live log whose rotated copies a backfill reads.
ROTATED_LOG_NAME = "app.log"
# logrotate's `delaycompress` leaves the newest copy plain: copies from this age on are
# gzip-compressed.
FIRST_COMPRESSED_AGE = 2
# gzip -6: what logrotate's `compress` runs by default (logrotate(8), compressoptions).
GZIP_LEVEL = 6
# `daily`: copy k holds the lines logged k days before the live file's.
ROTATION_PERIOD_MS = 86_400_000
# The rotated copies' seed streams start past every file index `generate_logs` uses
# (W3's 1,000 files), so no copy repeats a file of another workload.
_ROTATED_FIRST_INDEX = 100_000

_HOSTS = tuple(f"web-{i:02d}" for i in range(1, 9))
_CURRENCIES = ("EUR", "EUR", "EUR", "USD", "GBP", "MXN")
# (event, level, logger, method, path prefix, weight): what a shop's request log holds.
_NOISE = (
    ("request_finished", "info", "shop.http", "GET", "/api/v1/products/", 50),
    ("cache_hit", "debug", "shop.cache", "GET", "/api/v1/catalog/", 12),
    ("db_query", "debug", "shop.db", "GET", "/api/v1/search/", 10),
    ("cart_updated", "info", "shop.cart", "PUT", "/api/v1/cart/", 9),
    ("user_login", "info", "shop.auth", "POST", "/api/v1/session/", 6),
    ("payment_authorized", "info", "shop.payments", "POST", "/api/v1/payments/", 5),
    ("rate_limited", "warning", "shop.http", "GET", "/api/v1/products/", 4),
    ("upstream_timeout", "error", "shop.http", "POST", "/api/v1/shipping/", 4),
)
# One entry per unit of weight: a uniform pick from it is a weighted pick, and far
# cheaper than random.choices on the hot path.
_NOISE_TABLE = tuple(item for item in _NOISE for _ in range(item[5]))
_DECOYS = (
    ("webhook_delivered", "topic", "order_processed"),
    ("task_enqueued", "task", "notify.order_processed"),
    ("audit_logged", "note", "replayed order_processed from outbox"),
)


def format_timestamp(epoch_ms: int) -> str:
    """Render milliseconds since the epoch as ``2026-11-20T09:00:00.123Z``."""
    seconds, millis = divmod(epoch_ms, 1000)
    return f"{_second_prefix(seconds)}.{millis:03d}Z"


@functools.lru_cache(maxsize=4)
def _second_prefix(seconds: int) -> str:
    # A thousand consecutive lines share their second: format it once.
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")


@dataclass(slots=True)
class Expectations:
    """Which events a workload's rule must produce, keyed by a unique property."""

    event: str
    key: str
    # key -> [distinct_id, timestamp or None (not checked), properties]
    expected: dict[str, list[Any]] = field(default_factory=dict)

    def to_json(self) -> bytes:
        """Serialise for ``capture_sink --expect``."""
        return orjson.dumps(
            {"event": self.event, "key": self.key, "expected": self.expected}
        )


def save_expectations(path: Path, expectations: Expectations) -> None:
    """Write expectations where the sink will read them."""
    path.write_bytes(expectations.to_json())


def load_expectations(path: Path) -> Expectations:
    """Read expectations written by ``save_expectations``."""
    raw = orjson.loads(path.read_bytes())
    return Expectations(raw["event"], raw["key"], raw["expected"])


class LogGenerator:
    """An endless, seeded stream of log lines and the events they must become."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)  # noqa: S311 - test data, not secrets
        self._count = 0
        self._order_slot = 0

    def next_line(
        self, timestamp: str
    ) -> tuple[bytes, list[Any] | None, list[Any] | None]:
        """
        Return the next line (with its newline) and what it must produce.

        Returns:
            ``(line, order, slow)``: ``order`` is ``[order_id, distinct_id, properties]``
            when the line is an order, ``slow`` likewise with the request id when its
            duration is over the W2 threshold; ``None`` otherwise.
        """
        rng = self._rng
        rnd = rng.random
        if self._count % ORDER_BLOCK_LINES == 0:
            self._order_slot = int(rnd() * ORDER_BLOCK_LINES)
        is_order = self._count % ORDER_BLOCK_LINES == self._order_slot
        self._count += 1
        user_id = 1 + int(rnd() * 249_999)
        request_id = f"{rng.getrandbits(128):032x}"
        host = _HOSTS[int(rnd() * len(_HOSTS))]
        # Log-normal latencies: median ~55 ms, about 2% of requests over a second.
        duration_ms = int(rng.lognormvariate(4.0, 1.4))
        record: dict[str, Any] = {"timestamp": timestamp}
        order = None
        if is_order:
            order_id = f"ord-{rng.getrandbits(48):012x}"
            amount = f"{199 + int(rnd() * 249_801) / 100:.2f}"
            currency = _CURRENCIES[int(rnd() * len(_CURRENCIES))]
            record.update(
                level="info",
                event="order_processed",
                logger="shop.orders",
                host=host,
                pid=1000 + int(rnd() * 64),
                user_id=user_id,
                request_id=request_id,
                method="POST",
                path="/api/v1/orders",
                status=201,
                duration_ms=duration_ms,
                order_id=order_id,
                amount=amount,
                currency=currency,
                items=1 + int(rnd() * 8),
            )
            properties = {
                "amount": float(amount),
                "currency": currency,
                "order_id": order_id,
                "host": host,
            }
            order = [order_id, str(user_id), properties]
        else:
            self._noise(record, host, user_id, request_id, duration_ms)
        slow = None
        if duration_ms > SLOW_THRESHOLD_MS:
            properties = {
                "duration_ms": duration_ms,
                "path": record["path"],
                "status": record["status"],
                "request_id": request_id,
            }
            slow = [request_id, str(user_id), properties]
        return orjson.dumps(record) + b"\n", order, slow

    def _noise(
        self,
        record: dict[str, Any],
        host: str,
        user_id: int,
        request_id: str,
        duration_ms: int,
    ) -> None:
        rng = self._rng
        rnd = rng.random
        event, level, logger, method, path, _ = _NOISE_TABLE[
            int(rnd() * len(_NOISE_TABLE))
        ]
        decoy = None
        if rng.random() < DECOY_SHARE:
            decoy = _DECOYS[int(rnd() * len(_DECOYS))]
            event = decoy[0]
        status = 200 if level in ("info", "debug") else (429, 502, 504)[int(rnd() * 3)]
        record.update(
            level=level,
            event=event,
            logger=logger,
            host=host,
            pid=1000 + int(rnd() * 64),
            user_id=user_id,
            request_id=request_id,
            method=method,
            path=f"{path}{1 + int(rnd() * 99_998)}",
            status=status,
            duration_ms=duration_ms,
            bytes=200 + int(rnd() * 89_800),
        )
        if decoy is not None:
            record[decoy[1]] = decoy[2]


@dataclass(frozen=True, slots=True)
class GeneratedLogs:
    """What ``generate_logs`` wrote."""

    files: tuple[Path, ...]
    lines: int
    bytes: int
    orders: Expectations
    slow: Expectations


def log_file_name(index: int) -> str:
    """The name of the ``index``-th generated log file."""
    return f"app-{index:04d}.log"


def _file_seed(seed: int, index: int) -> int:
    # Each file has its own stream, so file k is the same whatever the file count.
    return seed * 1_000_003 + index


def generate_logs(
    directory: Path, *, lines: int, files: int = 1, seed: int = 1
) -> GeneratedLogs:
    """
    Write ``lines`` lines spread evenly over ``files`` files in ``directory``.

    Returns the files and the events the W1 (order) and W2 (slow request) rules must
    produce from them.
    """
    directory.mkdir(parents=True, exist_ok=True)
    orders = Expectations(ORDER_EVENT, ORDER_KEY)
    slow = Expectations(SLOW_EVENT, SLOW_KEY)
    paths = []
    total_bytes = 0
    per_file, extra = divmod(lines, files)
    for index in range(files):
        path = directory / log_file_name(index)
        count = per_file + (1 if index < extra else 0)
        generator = LogGenerator(_file_seed(seed, index))
        with path.open("wb") as out:
            total_bytes += _write_lines(
                out, generator, count, BASE_EPOCH_MS, (orders, slow)
            )
        paths.append(path)
    return GeneratedLogs(tuple(paths), lines, total_bytes, orders, slow)


def rotated_file_name(age: int) -> str:
    """
    The name logrotate gives the copy ``age`` rotations old (0: the live file) with
    ``compress`` and ``delaycompress``: ``app.log``, ``app.log.1``, ``app.log.2.gz`` ….
    """
    if age == 0:
        return ROTATED_LOG_NAME
    suffix = ".gz" if age >= FIRST_COMPRESSED_AGE else ""
    return f"{ROTATED_LOG_NAME}.{age}{suffix}"


def generate_rotated(
    directory: Path, *, lines_per_file: int, files: int, seed: int = 1
) -> GeneratedLogs:
    """
    Write a live log and its rotated copies, ``files`` in all, ``lines_per_file`` each.

    Returns the files (the live one first, then older and older copies; the byte
    count is of the lines, uncompressed) and the events the W1 (order) and W2 (slow
    request) rules must produce from all of them.
    """
    directory.mkdir(parents=True, exist_ok=True)
    orders = Expectations(ORDER_EVENT, ORDER_KEY)
    slow = Expectations(SLOW_EVENT, SLOW_KEY)
    paths = []
    total_bytes = 0
    for age in range(files):
        path = directory / rotated_file_name(age)
        generator = LogGenerator(_file_seed(seed, _ROTATED_FIRST_INDEX + age))
        base_ms = BASE_EPOCH_MS - age * ROTATION_PERIOD_MS
        with path.open("wb") as raw:
            if age < FIRST_COMPRESSED_AGE:
                total_bytes += _write_lines(
                    raw, generator, lines_per_file, base_ms, (orders, slow)
                )
            else:
                # mtime=0: the same bytes for the same seed, whenever they are made.
                with gzip.GzipFile(
                    fileobj=raw, mode="wb", compresslevel=GZIP_LEVEL, mtime=0
                ) as out:
                    total_bytes += _write_lines(
                        out, generator, lines_per_file, base_ms, (orders, slow)
                    )
        paths.append(path)
    return GeneratedLogs(
        tuple(paths), lines_per_file * files, total_bytes, orders, slow
    )


class _Output(Protocol):
    """A binary file, plain or gzip."""

    def write(self, data: bytes, /) -> int: ...


def _write_lines(
    out: _Output,
    generator: LogGenerator,
    count: int,
    base_ms: int,
    expectations: tuple[Expectations, Expectations],
) -> int:
    """
    Write ``count`` lines one millisecond apart from ``base_ms``; add what they must
    produce to the (orders, slow) expectations. Returns the bytes written.

    Raises:
        ValueError: a line's order id is already expected (the sink would count the
            second as a duplicate).
    """
    orders, slow = expectations
    written = 0
    buffer: list[bytes] = []
    for n in range(count):
        timestamp = format_timestamp(base_ms + n)
        text, order, slow_one = generator.next_line(timestamp)
        buffer.append(text)
        written += len(text)
        if order is not None:
            if order[0] in orders.expected:
                msg = f"order id {order[0]!r} drawn twice; choose another seed"
                raise ValueError(msg)
            orders.expected[order[0]] = [order[1], timestamp, order[2]]
        if slow_one is not None:
            slow.expected[slow_one[0]] = [slow_one[1], timestamp, slow_one[2]]
        if len(buffer) >= WRITE_BATCH_LINES:
            out.write(b"".join(buffer))
            buffer.clear()
    out.write(b"".join(buffer))
    return written


def live_expectations(seed: int, lines: int) -> Expectations:
    """
    The order events a live writer (W5) will produce: timestamps are not checked.
    """
    orders = Expectations(ORDER_EVENT, ORDER_KEY)
    generator = LogGenerator(_file_seed(seed, 0))
    for _ in range(lines):
        _, order, _ = generator.next_line("")
        if order is not None:
            orders.expected[order[0]] = [order[1], None, order[2]]
    return orders


def live_generator(seed: int) -> LogGenerator:
    """The generator whose lines ``live_expectations`` describes."""
    return LogGenerator(_file_seed(seed, 0))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench.generate DIR --lines N --files F --seed S [--rotated]``."""
    parser = argparse.ArgumentParser(prog="python -m bench.generate")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--rotated",
        action="store_true",
        help="app.log and its logrotate copies (W6) instead of app-NNNN.log files",
    )
    args = parser.parse_args(argv)
    if args.rotated:
        logs = generate_rotated(
            args.directory,
            lines_per_file=args.lines // args.files,
            files=args.files,
            seed=args.seed,
        )
    else:
        logs = generate_logs(
            args.directory, lines=args.lines, files=args.files, seed=args.seed
        )
    save_expectations(args.directory / "expect-W1.json", logs.orders)
    save_expectations(args.directory / "expect-W2.json", logs.slow)
    summary = {
        "files": len(logs.files),
        "lines": logs.lines,
        "bytes": logs.bytes,
        "bytes_per_line": round(logs.bytes / max(logs.lines, 1), 1),
        "orders": len(logs.orders.expected),
        "slow": len(logs.slow.expected),
    }
    print(orjson.dumps(summary).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
