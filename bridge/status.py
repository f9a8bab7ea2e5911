"""What ``logbridge status`` and ``logbridge deadletter list`` show (pure rendering).

The command gathers facts from the state database (read-only, safe while the daemon
runs) and from ``stat`` of the files; this module turns them into a JSON-ready report
and into tables for a terminal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from bridge.model import Checkpoint
from bridge.parse.jsonl import decode_json
from bridge.spool.store import DamagedSegment, DeadLetter, SpoolStats

__all__ = [
    "DiskReport",
    "FileReport",
    "build_status",
    "deadletter_json",
    "render_deadletters",
    "render_status",
]


@dataclass(frozen=True, slots=True)
class FileReport:
    """One tracked file: where logbridge is in it, and how far behind."""

    checkpoint: Checkpoint
    size: int  # now, from stat


@dataclass(frozen=True, slots=True)
class DiskReport:
    """Room for the state database, and the room below which the daemon stops reading."""

    free_bytes: int
    headroom_bytes: int


def build_status(  # noqa: PLR0913 (keyword-only facts)
    *,
    state_db: str,
    files: Sequence[FileReport],
    files_gone: int,
    spool: SpoolStats,
    disk: DiskReport,
    damaged: Sequence[DamagedSegment],
    set_aside: Sequence[str],
    last_send_error: str | None,
    rules_status: str | None,
    now: float,
) -> dict[str, Any]:
    """
    Assemble the report ``status --json`` prints.

    ``files`` are the files still where they were last seen; ``files_gone`` counts
    the checkpoints of files deleted or replaced since, which are not listed.
    ``damaged``: spool segments quarantined; ``set_aside``: damaged databases renamed
    out of the way.
    """
    oldest = spool.oldest_created_at
    rules: Any = orjson.loads(rules_status) if rules_status else None
    return {
        "state_db": state_db,
        "files": [
            {
                "path": f.checkpoint.path,
                "source": f.checkpoint.source,
                "file_id": f.checkpoint.file_id,
                "offset": f.checkpoint.offset,
                "size": f.size,
                "lag_bytes": max(0, f.size - f.checkpoint.offset),
            }
            for f in files
        ],
        "files_gone": files_gone,
        "spool": {
            "events": spool.events,
            "bytes": spool.bytes,
            "oldest_age_seconds": None
            if oldest is None
            else round(max(0.0, now - oldest), 3),
        },
        "disk": {
            "free_bytes": disk.free_bytes,
            "headroom_bytes": disk.headroom_bytes,
            "full": disk.free_bytes < disk.headroom_bytes,
        },
        "deadletters": spool.deadletters,
        "damaged_segments": [
            {
                "id": segment.id,
                "events": segment.events,
                "salvaged": segment.salvaged,
                "error": segment.error,
                "spooled_at": _iso(segment.created_at),
                "quarantined_at": _iso(segment.quarantined_at),
            }
            for segment in damaged
        ],
        "set_aside": list(set_aside),
        "last_send_error": last_send_error,
        "rules": rules,
    }


def render_status(report: Mapping[str, Any]) -> str:
    """The report as text for a terminal."""
    spool = report["spool"]
    age = spool["oldest_age_seconds"]
    rules = report["rules"]
    if rules is None:
        rules_line = "unknown (the daemon has not run with this state yet)"
    elif rules["ok"]:
        rules_line = f"ok, hash {rules['hash']}, {len(rules['rules'])} rules, since {rules['at']}"
    else:
        first = (rules["error"] or "").splitlines()[0] if rules["error"] else ""
        rules_line = (
            f"REJECTED at {rules['at']}, old rules kept (hash {rules['hash']}): {first}"
        )
    disk = report["disk"]
    free, kept = _size(disk["free_bytes"]), _size(disk["headroom_bytes"])
    disk_line = (
        f"{free} free, below the {kept} kept free: FULL, reading paused"
        if disk["full"]
        else f"{free} free (reading pauses below {kept})"
    )
    lines = [
        f"state:          {report['state_db']}",
        f"rules:          {rules_line}",
        f"spool:          {spool['events']} events, {_size(spool['bytes'])}"
        + ("" if age is None else f", oldest {age:.0f} s old"),
        f"disk:           {disk_line}",
        f"dead letters:   {report['deadletters']}",
        *_damage_lines(report),
        f"last error:     {report['last_send_error'] or 'none'}",
        "",
    ]
    rows = [("PATH", "SOURCE", "OFFSET", "SIZE", "LAG")]
    for f in report["files"]:
        rows.append(
            (
                f["path"],
                f["source"],
                str(f["offset"]),
                str(f["size"]),
                _size(f["lag_bytes"]),
            )
        )
    lines.extend(_table(rows) if len(rows) > 1 else ["no files tracked"])
    if report["files_gone"]:
        lines.append(f"({report['files_gone']} files read before are gone)")
    return "\n".join(lines)


def _damage_lines(report: Mapping[str, Any]) -> list[str]:
    lines = []
    damaged = report["damaged_segments"]
    if damaged:
        events = sum(segment["events"] for segment in damaged)
        salvaged = sum(segment["salvaged"] for segment in damaged)
        lines.append(
            f"damaged:        {len(damaged)} spool segment(s) quarantined, {events}"
            f" events; {salvaged} recognisable, in the dead letters"
            " (logbridge deadletter retry)"
        )
    lines.extend(
        f"set aside:      {path} (damaged; a new database took over)"
        for path in report["set_aside"]
    )
    return lines


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


def render_deadletters(letters: Sequence[DeadLetter]) -> str:
    """Dead letters as a table for a terminal."""
    if not letters:
        return "no dead letters"
    rows = [("ID", "QUARANTINED", "RULE", "STATUS", "REASON", "UUID")]
    for letter in letters:
        when = datetime.fromtimestamp(letter.created_at, UTC).strftime(
            "%Y-%m-%d %H:%M:%S"
        )
        status = "-" if letter.status is None else str(letter.status)
        reason = (letter.response or letter.reason).replace("\n", " ")[:60]
        rows.append((str(letter.id), when, letter.rule, status, reason, letter.uuid))
    return "\n".join(_table(rows))


def deadletter_json(letter: DeadLetter) -> dict[str, Any]:
    """One dead letter as a JSON object, the event included."""
    return {
        "id": letter.id,
        "uuid": letter.uuid,
        "rule": letter.rule,
        "status": letter.status,
        "reason": letter.reason,
        "response": letter.response,
        "quarantined_at": datetime.fromtimestamp(letter.created_at, UTC).isoformat(),
        "event": decode_json(letter.body),
    }


def _table(rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover - the loop always returns
