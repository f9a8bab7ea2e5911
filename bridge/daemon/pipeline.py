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
    """Running totals since the daemon started; read by logs, status and metrics."""

    lines: int = 0
    bytes: int = 0
    too_long: int = 0
    invalid_utf8: int = 0
    unmatched: int = 0
    parse_errors: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)

    def snapshot(self) -> dict[str, object]:
        """A plain copy for logging."""
        return {
            "lines": self.lines,
            "bytes": self.bytes,
            "too_long": self.too_long,
            "invalid_utf8": self.invalid_utf8,
            "unmatched": self.unmatched,
            "parse_errors": dict(self.parse_errors),
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
        source = ruleset.source(chunk.checkpoint.source)
        stats.lines += len(chunk.lines)
        stats.too_long += chunk.too_long
        stats.invalid_utf8 += chunk.invalid_utf8
        for line in chunk.lines:
            stats.bytes += len(line.text)
            if source is None:
                # The source was removed by a reload while its file was still open.
                stats.unmatched += 1
                continue
            fields = source.parse(line.text)
            if isinstance(fields, ParseFailure):
                stats.parse_errors[fields.reason] += 1
                continue
            events = ruleset.apply(Record(line=line, fields=fields, read_at=read_at))
            if not events:
                stats.unmatched += 1
            for event in events:
                stats.events[event.rule] += 1
                body = encode_event(
                    event, lib_version=__version__, geoip_disable=geoip_disable
                )
                rows.append((event.uuid, body, event.rule))
        prepared.append(PreparedChunk(checkpoint=chunk.checkpoint, rows=tuple(rows)))
    return prepared
