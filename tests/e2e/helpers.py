"""Log writers and expectations shared by the end-to-end tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bridge.model import event_uuid
from bridge.source.fingerprint import file_fingerprint
from tests.yamlbombs import alias_bomb

ORDER_RULES = """\
sources:
  - name: shop
    paths: ["logs/{pattern}"]
    format: json
    start_at: {start_at}
    timestamp: {{field: ts}}

rules:
  - name: order
    source: shop
    when:
      event: order_processed
    event: pedido_procesado
    distinct_id: "{{user_id}}"
    properties:
      order_id: {{field: order_id}}
      amount: {{field: amount, type: float}}
      currency: {{field: currency, default: EUR}}
      n: {{field: n, type: int}}
"""

BASE_TIME = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def order_rules(pattern: str = "app.log", start_at: str = "end") -> str:
    return ORDER_RULES.format(pattern=pattern, start_at=start_at)


def bombed_order_rules() -> str:
    """The order rules, with a test whose expected properties are an alias bomb."""
    return (
        order_rules()
        + "tests:\n  - source: shop\n    line: '{}'\n    expect:\n"
        + "      - event: e\n        properties:\n"
        + alias_bomb(indent=" " * 10)
    )


# Where reading bombed_order_rules() stops: the first alias past the budget.
BOMB_PROBLEM = (
    "rules/app.yaml:30:18: error: tests[0].expect[0].properties.e[0]: aliases repeat"
    " more than 10000 values in all (hint: alias smaller values, or fewer times)"
)


def order_line(n: int, *, user: str | None = None) -> str:
    """One JSON log line; every third line is noise that no rule matches."""
    ts = (BASE_TIME + timedelta(milliseconds=n)).isoformat().replace("+00:00", "Z")
    if n % 3 == 2:
        return json.dumps({"ts": ts, "event": "cache_hit", "n": n})
    return json.dumps(
        {
            "ts": ts,
            "event": "order_processed",
            "order_id": f"o-{n}",
            "user_id": user if user is not None else f"u{n % 7}",
            "amount": f"{n}.50",
            "n": n,
        }
    )


def is_order(n: int) -> bool:
    return n % 3 != 2


@dataclass(frozen=True)
class Written:
    """Where a line landed: enough to compute the uuid its event must carry."""

    n: int
    offset: int


class LogWriter:
    """Appends lines to a log file and remembers each line's byte offset."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.written: list[Written] = []

    def append(self, ns: range | list[int]) -> None:
        with self.path.open("ab") as f:
            for n in ns:
                offset = f.tell()
                f.write(order_line(n).encode() + b"\n")
                self.written.append(Written(n, offset))

    def file_id(self) -> str:
        with self.path.open("rb") as f:
            fingerprint = file_fingerprint(f.read(1024))
        assert fingerprint is not None
        return fingerprint


def expected_uuid(
    file_id: str, offset: int, source: str = "shop", rule: str = "order"
) -> str:
    return event_uuid(source, file_id, offset, rule)
