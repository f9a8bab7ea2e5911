"""From chunks of lines to spool rows: records, parsing, rules, encoding.

``Pipeline`` is given chunks one batch at a time (by the daemon's reader thread, by
``replay``) and gives back rows; it never touches a file, the event loop or the
store. It owns what must outlive one chunk: the
multi-line assemblers of each file (a record may span chunks) and the rules' state
(rate limits, aggregation windows).

Invariants:

- Nothing in a line can raise out of here: parse failures are counted per source and
  reason, and the rules core never raises on record content.
- A file's checkpoint never passes a line that has not yet given its events: the
  offset stored with a chunk is held back to the first line of a multi-line record
  still being assembled, and to the first line that still counts in an open
  aggregation window. A restart then reads those lines again and rebuilds the same
  records and windows, with the same uuids.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from bridge import __version__
from bridge.model import JSON_OPTIONS, Checkpoint, Event, Line, Record, json_default
from bridge.parse import Assembler, ParseFailure, scan_json_block
from bridge.pipeline.prefilter import (
    Needles,
    candidate_spans,
    candidates_of,
    is_utf8,
    literals_by_source,
)
from bridge.pipeline.stats import PipelineStats
from bridge.rules import CompiledRule, RuleSet, SourceDef
from bridge.rules.layers import Refiner
from bridge.rules.state import RuleState
from bridge.rules.values.failures import Issue
from bridge.source import Chunk
from bridge.source.discover import SOURCE_SEPARATOR, group_sources
from bridge.spool.rows import encode_event

__all__ = ["Pipeline", "PreparedChunk"]

Row = tuple[str, bytes, str]
# A UTF-8 byte-order mark, which only the start of a file may hold.
_BOM = b"\xef\xbb\xbf"
Matching = Callable[[Mapping[str, Any]], tuple[CompiledRule, ...]]


@dataclass(frozen=True, slots=True)
class PreparedChunk:
    """
    Rows and the checkpoint to store with them, in one transaction.

    ``checkpoint`` is None for rows that belong to no single file (the summaries of
    aggregation windows, the closing of windows of a removed rule). ``deadletters``
    are the events that could not be encoded: (uuid, body as shown, rule, reason).
    ``offsets`` says, for each row, where its line starts in the file (for replay).
    """

    checkpoint: Checkpoint | None
    rows: tuple[Row, ...]
    deadletters: tuple[tuple[str, bytes, str, str], ...] = ()
    offsets: tuple[int, ...] = ()


class Pipeline:
    """Turns chunks into events and rows; keeps per-file and per-rule state."""

    def __init__(
        self,
        ruleset: RuleSet,
        stats: PipelineStats,
        *,
        geoip_disable: bool,
        prefilter: bool = True,
        since: datetime | None = None,
    ) -> None:
        """
        Args:
            since: events timestamped earlier are not kept (counted per rule in
                ``stats.before_since``): a backfill's ``--since``.
        """
        self.ruleset = ruleset
        self.since = since
        # The earliest and the latest timestamp of the events made (None: none yet).
        self.first_event: datetime | None = None
        self.last_event: datetime | None = None
        self.stats = stats
        self.state = RuleState(ruleset)
        self.prefilter = prefilter
        self._literals = literals_by_source(ruleset) if prefilter else {}
        self._matching = _matching_by_source(ruleset, self.state.issues)
        self._geoip_disable = geoip_disable
        self._assemblers: dict[tuple[str, str], Assembler] = {}
        self._last: dict[str, Checkpoint] = {}
        # Per file id, when its file was last modified (for year-less times).
        self._file_times: dict[str, datetime | None] = {}

    def set_ruleset(self, ruleset: RuleSet) -> list[PreparedChunk]:
        """
        Use a reloaded rule set from the next chunk on.

        Returns the summaries of aggregation windows the new rules no longer keep open
        (their rule was removed or changed).
        """
        self.ruleset = ruleset
        self._literals = literals_by_source(ruleset) if self.prefilter else {}
        self._matching = _matching_by_source(ruleset, self.state.issues)
        closed = self.state.adopt(ruleset)
        self._drain_issues()
        return [self._prepared(None, closed)] if closed else []

    # -- the daemon's entry points -------------------------------------------------------

    def prepare(
        self, chunks: Sequence[Chunk], read_at: datetime, now: float
    ) -> list[PreparedChunk]:
        """Each chunk's rows and the checkpoint to store with them."""
        prepared = []
        for chunk in chunks:
            events = self.events_of(chunk, read_at, now)
            checkpoint = chunk.checkpoint
            self._last[checkpoint.file_id] = checkpoint
            self._file_times[checkpoint.file_id] = _file_time(chunk.mtime_ns)
            prepared.append(self._prepared(self._held_back(checkpoint), events))
        self._drain_issues()
        return prepared

    def flush(
        self, read_at: datetime, now: float, *, force: bool = False
    ) -> list[PreparedChunk]:
        """
        Close what has waited long enough, also when no new line came: multi-line
        records (``flush_seconds``) with their files' checkpoints, and aggregation
        windows past their end plus grace (summaries, with no checkpoint). With
        ``force``, all of them: the files end here.
        """
        prepared = []
        for (source, file_id), assembler in list(self._assemblers.items()):
            records = assembler.flush(now, force=force)
            if not records:
                continue
            events = self._apply(
                source, records, read_at, self._file_times.get(file_id)
            )
            last = self._last.get(file_id)
            checkpoint = self._held_back(last) if last is not None else None
            if checkpoint is not None:
                prepared.append(self._prepared(checkpoint, events))
        summaries = self.ruleset.flush(self.state, now=None if force else read_at)
        if summaries:
            prepared.append(self._prepared(None, summaries))
        self._drain_issues()
        return prepared

    def has_pending(self) -> bool:
        """Whether a record is being assembled or a window is open (a flush may emit)."""
        return bool(self.state.holdback()) or any(
            a.pending_offset() is not None for a in self._assemblers.values()
        )

    # -- shared with replay ------------------------------------------------------------

    def events_of(self, chunk: Chunk, read_at: datetime, now: float) -> list[Event]:
        """
        The events of one chunk, counting what happened to every line: for each
        source of the file's source group, in turn, with its parser and rules.
        """
        group = chunk.checkpoint.source
        if SOURCE_SEPARATOR not in group:
            return self._events_for(chunk, group, read_at, now)
        events: list[Event] = []
        for name in group_sources(group):
            events.extend(self._events_for(chunk, name, read_at, now))
        return events

    def _events_for(
        self, chunk: Chunk, name: str, read_at: datetime, now: float
    ) -> list[Event]:
        """The events the source ``name`` makes of a chunk of its file."""
        source = self.ruleset.source(name)
        block = chunk.block
        file_time = _file_time(chunk.mtime_ns)
        if (
            block
            and source is not None
            and source.joins is None
            and not (chunk.start == 0 and block.startswith(_BOM))
            and is_utf8(block)
        ):
            needles = self._literals.get(name)
            if source.format == "json":
                return self._json_block(chunk, source, needles, read_at, file_time)
            if needles is not None:
                candidates = candidates_of(chunk, needles, name)
                self._count_block(chunk, name, len(candidates))
                return self._apply(name, candidates, read_at, file_time)
        lines = chunk.lines_for(name)
        stats = self.stats
        stats.lines[name] += len(lines)
        stats.too_long[name] += chunk.too_long
        stats.invalid_utf8[name] += chunk.invalid_utf8
        if lines:
            stats.bytes[name] += chunk.checkpoint.offset - lines[0].offset
        if source is not None and source.joins is not None:
            key = (name, chunk.checkpoint.file_id)
            assembler = self._assemblers.get(key)
            if assembler is None:
                assembler = self._assemblers[key] = source.joins()
            records: list[Line] = []
            for line in lines:
                records.extend(assembler.feed(line, now))
            return self._apply(name, records, read_at, file_time)
        return self._apply(name, lines, read_at, file_time)

    def _count_block(self, chunk: Chunk, name: str, candidates: int | None) -> None:
        """Count a block's lines; ``candidates`` None: every line was parsed."""
        stats = self.stats
        total = chunk.block.count(b"\n")
        stats.lines[name] += total
        stats.too_long[name] += chunk.too_long
        stats.bytes[name] += len(chunk.block)
        if candidates is not None:
            stats.prefiltered[name] += total - candidates

    def _json_block(
        self,
        chunk: Chunk,
        source: SourceDef,
        needles: Needles | None,
        read_at: datetime,
        file_time: datetime | None,
    ) -> list[Event]:
        """
        The events of a block of JSON lines (valid UTF-8): the hot path.

        The lines are read from the raw bytes by orjson; a line orjson alone cannot
        settle goes through the source's parser, so the result is exactly what
        ``_apply`` gives for the same lines. A Line and a Record are built only for
        the lines some rule's condition accepts.
        """
        block = chunk.block
        name = source.name
        ruleset, state, stats = self.ruleset, self.state, self.stats
        matching = self._matching[name]
        layered: list[tuple[tuple[str, ...], bool]] = []
        if source.refine is not None:
            matching = _refined(matching, source.refine, layered)
        if needles is None:
            self._count_block(chunk, name, None)
            scan = scan_json_block(block, matching, max_depth=source.max_depth)
        else:
            candidates = candidate_spans(block, needles)
            self._count_block(chunk, name, len(candidates))
            scan = scan_json_block(block, matching, candidates, source.max_depth)
        for reason in scan.failures:
            stats.parse_errors[name, reason] += 1
        stats.blank[name] += scan.blank
        unmatched = scan.dropped
        for failed, skipped in layered:
            for label in failed:
                stats.parse_errors[name, label] += 1
            # A line a layer made a parse error is no unmatched line.
            unmatched -= skipped
        file_id, start = chunk.checkpoint.file_id, chunk.start
        events: list[Event] = []
        # A kept line matched a rule, even one that gives no event (see _apply).
        for begin, raw, fields, rules in scan.kept:
            line = Line(name, file_id, start + begin, raw.decode())
            record = Record(line, fields, read_at, file_time)
            events.extend(ruleset.emit(record, rules, state))
        stats.unmatched[name] += unmatched
        return events

    def _apply(
        self,
        name: str,
        lines: Iterable[Line],
        read_at: datetime,
        file_time: datetime | None = None,
    ) -> list[Event]:
        ruleset, state = self.ruleset, self.state
        source = ruleset.source(name)
        stats = self.stats
        events: list[Event] = []
        if source is None:
            # The source was removed by a reload while its file was still open.
            stats.unmatched[name] += sum(1 for _ in lines)
            return events
        matching = self._matching[name]
        for line in lines:
            text = line.text
            if not text or text.isspace():
                stats.blank[name] += 1
                continue
            fields, failed = source.read(text)
            for label in failed:
                stats.parse_errors[name, label] += 1
            if isinstance(fields, ParseFailure):
                stats.parse_errors[name, fields.reason] += 1
                continue
            # Unmatched means no rule accepts the line: one a rule accepts may still
            # give no event (a value or time that failed with on_error: skip, sample,
            # rate_limit, an aggregation), and that is counted where it happens.
            rules = matching(fields)
            if not rules:
                stats.unmatched[name] += 1
                continue
            record = Record(line, fields, read_at, file_time)
            events.extend(ruleset.emit(record, rules, state))
        return events

    def _drain_issues(self) -> None:
        """Count the values that failed since the last call (the state keeps none)."""
        issues = self.state.issues
        if issues:
            counts = self.stats.issues
            for issue in issues:
                counts[issue.rule, issue.label] += 1
            issues.clear()

    def _prepared(
        self, checkpoint: Checkpoint | None, events: Iterable[Event]
    ) -> PreparedChunk:
        """The events as rows, counted per rule; those JSON cannot hold, as letters."""
        geoip = self._geoip_disable
        counts = self.stats.events
        rows = []
        letters = []
        offsets = []
        since = self.since
        for event in events:
            if since is not None and event.timestamp < since:
                self.stats.before_since[event.rule] += 1
                continue
            try:
                body = encode_event(event, lib_version=__version__, geoip_disable=geoip)
            except (TypeError, ValueError) as exc:
                # A value JSON cannot hold must not stop the daemon (and, the line
                # being read again after a restart, stop it for good): the event is
                # kept as a dead letter with what can be shown of it, and counted.
                self.stats.issues[event.rule, "event: unencodable"] += 1
                reason = f"unencodable: {str(exc)[:200]}"
                letters.append((event.uuid, _shown(event), event.rule, reason))
                continue
            counts[event.rule] += 1
            rows.append((event.uuid, body, event.rule))
            stamp = event.timestamp
            if self.first_event is None or stamp < self.first_event:
                self.first_event = stamp
            if self.last_event is None or stamp > self.last_event:
                self.last_event = stamp
            offsets.append(event.offset)
        return PreparedChunk(checkpoint, tuple(rows), tuple(letters), tuple(offsets))

    def _held_back(
        self, checkpoint: Checkpoint, counted: dict[str, int] | None = None
    ) -> Checkpoint:
        offset = checkpoint.offset
        for name in group_sources(checkpoint.source):
            assembler = self._assemblers.get((name, checkpoint.file_id))
            pending = assembler.pending_offset() if assembler is not None else None
            if pending is not None:
                offset = min(offset, pending)
        if counted is None:
            counted = self.state.holdback()
        in_window = counted.get(checkpoint.file_id)
        if in_window is not None:
            offset = min(offset, in_window)
        if offset < checkpoint.offset:
            return dataclasses.replace(checkpoint, offset=offset)
        return checkpoint


def _matching_by_source(ruleset: RuleSet, issues: list[Issue]) -> dict[str, Matching]:
    """
    Per source, the function giving the rules that accept a record's fields; the
    rules a record leaves undecided are noted in ``issues`` (the state's).
    """
    return {
        source.name: ruleset.matching(source.name, issues) for source in ruleset.sources
    }


def _shown(event: Event) -> bytes:
    """What can be kept of an event JSON cannot hold: each property that cannot be
    written becomes its type and a note, so the letter says what went wrong."""
    properties: dict[str, Any] = {}
    for name, value in event.properties.items():
        try:
            orjson.dumps(value, option=JSON_OPTIONS, default=json_default)
        except (TypeError, ValueError):
            properties[name] = f"<not JSON: a {type(value).__name__} JSON cannot hold>"
        else:
            properties[name] = value
    shown = dataclasses.replace(event, properties=properties)
    try:
        return encode_event(shown, lib_version=__version__)
    except (TypeError, ValueError):
        return orjson.dumps({"uuid": event.uuid, "event": event.name})


def _refined(
    matching: Matching, refine: Refiner, failures: list[tuple[tuple[str, ...], bool]]
) -> Matching:
    """``matching`` after the source's ``parse:`` layers; what fails goes to failures."""

    def refined(fields: Mapping[str, Any]) -> tuple[CompiledRule, ...]:
        failed, skip = refine(fields)  # type: ignore[arg-type]  # a parser's dict
        if failed:
            failures.append((failed, skip))
            if skip:
                return ()
        return matching(fields)

    return refined


def _file_time(mtime_ns: int) -> datetime | None:
    return datetime.fromtimestamp(mtime_ns / 1e9, UTC) if mtime_ns else None
