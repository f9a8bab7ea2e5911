"""From a chunk of lines to spool rows: parse, apply the rules, encode.

This runs in a worker thread, one chunk at a time, so it must not touch the event loop or
the store. Nothing in a line can raise out of here: parse failures are counted per reason,
and the rules core never raises on record content.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bridge import __version__
from bridge.model import Checkpoint, Record
from bridge.parse import ParseFailure
from bridge.rules import RuleSet
from bridge.source import Chunk
from bridge.spool.rows import encode_event

__all__ = ["PipelineStats", "PreparedChunk", "prepare_chunks"]

Row = tuple[str, bytes, str]


@dataclass(slots=True)
class PipelineStats:
    """
    Running totals since the daemon started, per source (events: per rule).

    The single count of what happened to lines: logs, metrics, ``health_check`` events
    and the systemd status line are all derived from it.
    """

    lines: Counter[str] = field(default_factory=Counter)
    bytes: Counter[str] = field(default_factory=Counter)
    too_long: Counter[str] = field(default_factory=Counter)
    invalid_utf8: Counter[str] = field(default_factory=Counter)
    unmatched: Counter[str] = field(default_factory=Counter)
    parse_errors: Counter[tuple[str, str]] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)

    def snapshot(self) -> dict[str, Any]:
        """Totals over all sources, as plain values for logs and events."""
        errors: Counter[str] = Counter()
        for (_, reason), count in self.parse_errors.items():
            errors[reason] += count
        return {
            "lines": self.lines.total(),
            "bytes": self.bytes.total(),
            "too_long": self.too_long.total(),
            "invalid_utf8": self.invalid_utf8.total(),
            "unmatched": self.unmatched.total(),
            "parse_errors": dict(errors),
            "events": dict(self.events),
        }


@dataclass(frozen=True, slots=True)
class PreparedChunk:
    """The rows a chunk produced and the checkpoint to store with them."""

    checkpoint: Checkpoint
    rows: tuple[Row, ...]


def prepare_chunks(
    chunks: Sequence[Chunk],
    ruleset: RuleSet,
    read_at: datetime,
    stats: PipelineStats,
    *,
    geoip_disable: bool,
) -> list[PreparedChunk]:
    """Turn each chunk into its spool rows, counting what happened to every line."""
    prepared = []
    for chunk in chunks:
        rows: list[Row] = []
        name = chunk.checkpoint.source
        source = ruleset.source(name)
        stats.lines[name] += len(chunk.lines)
        stats.too_long[name] += chunk.too_long
        stats.invalid_utf8[name] += chunk.invalid_utf8
        if chunk.lines:
            stats.bytes[name] += chunk.checkpoint.offset - chunk.lines[0].offset
        for line in chunk.lines:
            if source is None:
                # The source was removed by a reload while its file was still open.
                stats.unmatched[name] += 1
                continue
            fields = source.parse(line.text)
            if isinstance(fields, ParseFailure):
                stats.parse_errors[name, fields.reason] += 1
                continue
            events = ruleset.apply(Record(line=line, fields=fields, read_at=read_at))
            if not events:
                stats.unmatched[name] += 1
            for event in events:
                stats.events[event.rule] += 1
                body = encode_event(
                    event, lib_version=__version__, geoip_disable=geoip_disable
                )
                rows.append((event.uuid, body, event.rule))
        prepared.append(PreparedChunk(checkpoint=chunk.checkpoint, rows=tuple(rows)))
    return prepared
