"""A dry run of rules over sample log files, for ``logbridge replay``.

It reads the files as a backfill does (``bridge.source.archive``: plain or
gzip-compressed, a rotated copy as well as a live file) through the daemon's own
pipeline, so the events, uuids included, are those the daemon would deliver for these
files; it never opens the state database and never sends anything. Each event comes
with its origin: the rule, the file, the line number and the byte offset of the line
that made it. A replay may keep to one rule (``only_rule``) or to a range of line
numbers (``lines``), whose lines keep their offsets (and so their uuids).
"""

from __future__ import annotations

import bisect
import dataclasses
import fnmatch
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bridge.pipeline import Pipeline, PipelineStats, PreparedChunk
from bridge.rules import RuleSet
from bridge.source.archive import ArchiveReader, Span, inspect, read_bytes
from bridge.source.discover import SOURCE_SEPARATOR, group_sources
from bridge.spool.rows import decode_event
from bridge.tools.summary import (
    describe_counts,
    describe_projection,
    events_per_month,
)

__all__ = [
    "LineIndex",
    "Origin",
    "ReplayReport",
    "keep_rule",
    "parse_line_range",
    "pick_source",
    "render_summary",
    "replay",
]


@dataclass(frozen=True, slots=True)
class Origin:
    """Where an event comes from: its rule, and its line (number from 1, offset)."""

    rule: str
    file: str
    line: int
    offset: int

    def as_json(self) -> dict[str, Any]:
        """The origin as ``replay --json`` prints it."""
        return {
            "rule": self.rule,
            "file": self.file,
            "line": self.line,
            "offset": self.offset,
        }


@dataclass(slots=True)
class ReplayReport:
    """What a replay found: the events as sent, each with its origin."""

    events: list[dict[str, Any]] = field(default_factory=list)
    origins: list[Origin] = field(default_factory=list)
    stats: PipelineStats = field(default_factory=PipelineStats)
    dropped: Counter[str] = field(default_factory=Counter)

    def span_seconds(self) -> float:
        """Seconds between the first and the last event."""
        stamps = [datetime.fromisoformat(e["timestamp"]) for e in self.events]
        return (max(stamps) - min(stamps)).total_seconds() if len(stamps) > 1 else 0.0

    def events_per_month(self) -> float | None:
        """Events a month at the sample's rate, or None if it spans under a second."""
        return events_per_month(len(self.events), self.span_seconds())


def pick_source(ruleset: RuleSet, path: Path, wanted: str | None) -> str:
    """
    The source (or source group) a sample file belongs to: ``wanted``, the only
    source, or those whose globs' file-name part matches the file's name (several
    make a group, ``web+access``, read once, as the daemon reads such a file).

    Raises:
        ValueError: with a sentence saying why no source could be chosen.
    """
    names = [s.name for s in ruleset.sources]
    if wanted is not None:
        unknown = [name for name in group_sources(wanted) if name not in names]
        if unknown:
            msg = (
                f"unknown source {unknown[0]!r}; expected one of "
                f"{', '.join(names) or 'none'}"
            )
            raise ValueError(msg)
        return wanted
    if len(names) == 1:
        return names[0]
    matching = [
        s.name
        for s in ruleset.sources
        if any(fnmatch.fnmatch(path.name, Path(glob).name) for glob in s.paths)
    ]
    if matching:
        return SOURCE_SEPARATOR.join(matching)
    choices = ", ".join(names) or "no sources defined"
    if len(names) > 1:
        # A file several sources read: the daemon reads it once, for all of them.
        choices += f"; several read it together as {SOURCE_SEPARATOR.join(names[:2])}"
    msg = (
        f"{path}: cannot tell which source it belongs to; "
        f"name one with --source ({choices})"
    )
    raise ValueError(msg)


def keep_rule(ruleset: RuleSet, name: str) -> RuleSet:
    """
    The rule set reduced to one rule (its sources all kept).

    Raises:
        ValueError: no rule is called ``name``.
    """
    rule = ruleset.rule(name)
    if rule is None:
        known = ", ".join(r.name for r in ruleset.rules) or "none"
        msg = f"unknown rule {name!r}; expected one of {known}"
        raise ValueError(msg)
    return dataclasses.replace(ruleset, rules=(rule,))


def parse_line_range(text: str) -> tuple[int, int | None]:
    """
    ``"120-180"``, ``"120-"`` or ``"120"`` → the first and last line (None: to the end).

    Raises:
        ValueError: the text is not such a range.
    """
    first, dash, last = text.partition("-")
    try:
        start = int(first)
        end = (int(last) if last else None) if dash else start
    except ValueError:
        msg = f"expected a line range such as 120-180, 120- or 120, got {text!r}"
        raise ValueError(msg) from None
    if start < 1 or (end is not None and end < start):
        msg = (
            f"expected line numbers from 1, the first not after the last, got {text!r}"
        )
        raise ValueError(msg)
    return start, end


class LineIndex:
    """Where each line of a file starts: line numbers from byte offsets and back."""

    def __init__(self, blocks: Iterable[bytes]) -> None:
        """Index the file's (uncompressed) bytes, given in order."""
        # Offsets of every "\n", in an array: 8 bytes a line, for files of millions.
        self._newlines = array("q")
        self.size = 0
        for block in blocks:
            at = block.find(b"\n")
            while at >= 0:
                self._newlines.append(self.size + at)
                at = block.find(b"\n", at + 1)
            self.size += len(block)

    def line_of(self, offset: int) -> int:
        """The number (from 1) of the line starting at or holding ``offset``."""
        return bisect.bisect_left(self._newlines, offset) + 1

    def start_of(self, line: int) -> int:
        """The offset where line number ``line`` starts (the file's size past its end)."""
        if line <= 1:
            return 0
        if line - 2 < len(self._newlines):
            return self._newlines[line - 2] + 1
        return self.size


def replay(
    ruleset: RuleSet,
    files: Sequence[tuple[Path, str]],
    *,
    read_at: datetime,
    max_line_bytes: int,
    geoip_disable: bool = True,
    lines: tuple[int, int | None] | None = None,
) -> ReplayReport:
    """
    Run the rules over each (file, source name) from its first byte to its end, or
    over the line numbers ``lines`` (first, last; None: to the end).
    """
    report = ReplayReport()
    # Every line is parsed: a dry run is where a rule author wants to see each parse
    # error, and the prefilter never changes the events anyway.
    pipeline = Pipeline(
        ruleset, report.stats, geoip_disable=geoip_disable, prefilter=False
    )
    # By the path chunks carry (absolute): the index, and the path as given.
    indexes: dict[str, tuple[LineIndex, str]] = {}
    reader = ArchiveReader(max_line_bytes=max_line_bytes)
    for path, source in files:
        file = inspect(str(path.absolute()))
        index = LineIndex(read_bytes(file))
        indexes[file.path] = (index, str(path))
        # The id the daemon gives a file it meets first: its first line's fingerprint.
        file_id = file.fingerprint or "replay"
        span = Span()
        if lines is not None:
            first, last = lines
            stop = None if last is None else index.start_of(last + 1)
            span = Span(index.start_of(first), stop)
        for chunk in reader.chunks(file, source, file_id, span):
            for chunk_rows in pipeline.prepare([chunk], read_at, 0.0):
                _collect(report, chunk_rows, indexes)
    # The files end here: what is still being assembled or counted comes out.
    for chunk_rows in pipeline.flush(read_at, 0.0, force=True):
        _collect(report, chunk_rows, indexes)
    state = pipeline.state
    for name, counter in (
        ("sampled_out", state.sampled_out),
        ("over_limit", state.over_limit),
        ("late", state.late),
        ("window_overflow", state.window_overflow),
    ):
        if counter.total():
            report.dropped[name] = counter.total()
    return report


def _collect(
    report: ReplayReport,
    prepared: PreparedChunk,
    indexes: dict[str, tuple[LineIndex, str]],
) -> None:
    """Add a chunk's events, with their origins (no line: an aggregate's summary)."""
    checkpoint = prepared.checkpoint
    found = indexes.get(checkpoint.path) if checkpoint is not None else None
    for (_, body, rule), offset in zip(prepared.rows, prepared.offsets, strict=True):
        report.events.append(decode_event(body))
        if found is None or offset < 0:
            report.origins.append(Origin(rule, "", 0, offset))
        else:
            index, shown = found
            report.origins.append(Origin(rule, shown, index.line_of(offset), offset))


def render_summary(report: ReplayReport) -> str:
    """Counts and the monthly projection, for the rule author."""
    lines = describe_counts(report.stats, len(report.events))
    lines.extend(
        f"  not sent ({why}): {n}" for why, n in sorted(report.dropped.items())
    )
    lines.append(describe_projection(len(report.events), report.span_seconds()))
    return "\n".join(lines)
