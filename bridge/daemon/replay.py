"""A dry run of rules over sample log files, for ``logbridge replay``.

It reads the files with the daemon's own tail and pipeline (so the events, uuids
included, are those the daemon would deliver for these files) but never opens the
state database and never sends anything.
"""

from __future__ import annotations

import fnmatch
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bridge.daemon.pipeline import Pipeline, PipelineStats
from bridge.rules import RuleSet
from bridge.source import SourceSpec, Tailer
from bridge.spool.rows import decode_event

__all__ = [
    "FREE_TIER_EVENTS_PER_MONTH",
    "ReplayReport",
    "pick_source",
    "render_summary",
    "replay",
]

# PostHog's free tier for product analytics events (posthog.com/pricing).
FREE_TIER_EVENTS_PER_MONTH = 1_000_000
_SECONDS_PER_MONTH = 30.44 * 24 * 3600
# Below this span there is no rate to speak of.
MIN_PROJECTION_SECONDS = 1.0
# A sample shorter than this says little about a month: the projection says so.
SHORT_SAMPLE_SECONDS = 3600.0


@dataclass(slots=True)
class ReplayReport:
    """What a replay found."""

    events: list[dict[str, Any]] = field(default_factory=list)
    stats: PipelineStats = field(default_factory=PipelineStats)
    dropped: Counter[str] = field(default_factory=Counter)

    def span_seconds(self) -> float:
        """Seconds between the first and the last event."""
        stamps = [datetime.fromisoformat(e["timestamp"]) for e in self.events]
        return (max(stamps) - min(stamps)).total_seconds() if len(stamps) > 1 else 0.0

    def events_per_month(self) -> float | None:
        """Events a month at the sample's rate, or None if it spans under a second."""
        span = self.span_seconds()
        if span < MIN_PROJECTION_SECONDS:
            return None
        return len(self.events) * _SECONDS_PER_MONTH / span


def pick_source(ruleset: RuleSet, path: Path, wanted: str | None) -> str:
    """
    The source a sample file belongs to: ``wanted``, the only source, or the one
    whose globs' file-name part matches the file's name.

    Raises:
        ValueError: with a sentence saying why no source could be chosen.
    """
    names = [s.name for s in ruleset.sources]
    if wanted is not None:
        if wanted not in names:
            msg = f"unknown source {wanted!r}; expected one of {', '.join(names) or 'none'}"
            raise ValueError(msg)
        return wanted
    if len(names) == 1:
        return names[0]
    matching = [
        s.name
        for s in ruleset.sources
        if any(fnmatch.fnmatch(path.name, Path(glob).name) for glob in s.paths)
    ]
    if len(matching) == 1:
        return matching[0]
    msg = (
        f"{path}: cannot tell which source it belongs to; "
        f"name one with --source ({', '.join(names) or 'no sources defined'})"
    )
    raise ValueError(msg)


def replay(
    ruleset: RuleSet,
    files: Sequence[tuple[Path, str]],
    *,
    read_at: datetime,
    max_line_bytes: int,
    geoip_disable: bool = True,
) -> ReplayReport:
    """Run the rules over each (file, source name) from its first byte to its end."""
    report = ReplayReport()
    # Every line is parsed: a dry run is where a rule author wants to see each parse
    # error, and the prefilter never changes the events anyway.
    pipeline = Pipeline(
        ruleset, report.stats, geoip_disable=geoip_disable, prefilter=False
    )
    for path, source in files:
        spec = SourceSpec(
            name=source, globs=(str(path.absolute()),), start_at="beginning"
        )
        tailer = Tailer([spec], [], first_start=True, max_line_bytes=max_line_bytes)
        try:
            tailer.scan()
            for rows in _read_all(tailer, pipeline, read_at):
                report.events.extend(decode_event(body) for _, body, _ in rows)
        finally:
            tailer.close()
    for prepared in pipeline.flush(read_at, 0.0, force=True):
        report.events.extend(decode_event(body) for _, body, _ in prepared.rows)
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


def _read_all(
    tailer: Tailer, pipeline: Pipeline, read_at: datetime
) -> Iterator[tuple[tuple[str, bytes, str], ...]]:
    while True:
        chunks = tailer.read()
        if chunks:
            yield from (p.rows for p in pipeline.prepare(chunks, read_at, 0.0))
        if not tailer.has_backlog():
            return


def render_summary(report: ReplayReport) -> str:
    """Counts and the monthly projection, for the rule author."""
    snapshot = report.stats.snapshot()
    errors = snapshot["parse_errors"]
    lines = [
        f"{snapshot['lines']} lines, {len(report.events)} events, "
        f"{snapshot['unmatched']} lines matched no rule, "
        f"{sum(errors.values())} did not parse" + (f" {errors}" if errors else ""),
    ]
    if snapshot["too_long"] or snapshot["invalid_utf8"]:
        lines.append(
            f"{snapshot['too_long']} lines too long, "
            f"{snapshot['invalid_utf8']} with invalid UTF-8"
        )
    lines.extend(f"  {rule}: {n}" for rule, n in sorted(snapshot["events"].items()))
    lines.extend(
        f"  not sent ({why}): {n}" for why, n in sorted(report.dropped.items())
    )
    issues = report.stats.issues
    if issues:
        lines.append(f"{issues.total()} values failed (rule: where: reason):")
        lines.extend(
            f"  {rule}: {label}: {n}" for (rule, label), n in sorted(issues.items())
        )
    per_month = report.events_per_month()
    if per_month is None:
        lines.append("the sample spans less than a second: no monthly projection")
    else:
        span = report.span_seconds()
        share = per_month / FREE_TIER_EVENTS_PER_MONTH
        rough = (
            " (a rough figure: the sample is short)"
            if span < SHORT_SAMPLE_SECONDS
            else ""
        )
        lines.append(
            f"projection: {per_month:,.0f} events/month at the sample's rate "
            f"({f'{span:.0f} s' if span < SHORT_SAMPLE_SECONDS else f'{span / 3600:.1f} h'}"
            " of events), "
            f"{share:.0%} of PostHog's free tier of {FREE_TIER_EVENTS_PER_MONTH:,}{rough}"
        )
    return "\n".join(lines)
