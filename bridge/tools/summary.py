"""What a run over log files counted, in words: shared by ``replay`` and ``backfill``.

Lines, events per rule, lines no rule matched, parse errors by reason, ids that
named no person and values that failed (per rule, where and why), and how many
events a month the files' rate comes to, against PostHog's free tier.
"""

from __future__ import annotations

from bridge.pipeline import PipelineStats

__all__ = [
    "FREE_TIER_EVENTS_PER_MONTH",
    "describe_counts",
    "describe_projection",
    "events_per_month",
]

# PostHog's free tier for product analytics events (posthog.com/pricing).
FREE_TIER_EVENTS_PER_MONTH = 1_000_000
_SECONDS_PER_MONTH = 30.44 * 24 * 3600
# Below this span there is no rate to speak of.
MIN_PROJECTION_SECONDS = 1.0
# A sample shorter than this says little about a month: the projection says so.
SHORT_SAMPLE_SECONDS = 3600.0
_ID_WHERE = "distinct_id: "
# What happened to a whole event (on_error: skip), not to one of its values.
_EVENT_WHERE = "event: "


def events_per_month(events: int, span_seconds: float) -> float | None:
    """Events a month at the rate of ``events`` over ``span_seconds``; None under 1 s."""
    if span_seconds < MIN_PROJECTION_SECONDS:
        return None
    return events * _SECONDS_PER_MONTH / span_seconds


def describe_counts(stats: PipelineStats, events: int) -> list[str]:
    """The counts of a run, a line each (indented lines detail the one above)."""
    snapshot = stats.snapshot()
    errors = snapshot["parse_errors"]
    lines = [
        f"{snapshot['lines']} lines, {events} events, "
        f"{snapshot['unmatched']} lines matched no rule, "
        f"{sum(errors.values())} did not parse" + (f" {errors}" if errors else ""),
    ]
    if len(stats.lines) > 1:
        # Several sources read the files (one file, read once for all): each its own.
        lines.extend(_per_source(stats, source) for source in sorted(stats.lines))
    if snapshot["too_long"] or snapshot["invalid_utf8"]:
        lines.append(
            f"{snapshot['too_long']} lines too long, "
            f"{snapshot['invalid_utf8']} with invalid UTF-8"
        )
    lines.extend(f"  {rule}: {n}" for rule, n in sorted(snapshot["events"].items()))
    if snapshot["before_since"]:
        lines.append(f"{snapshot['before_since']} events before --since, not sent")
    # A distinct_id that cannot name a person is handled by the rule's invalid_id
    # (personless by default): shown apart from the values that failed.
    issues = sorted(stats.issues.items())
    ids = [(key, n) for key, n in issues if key[1].startswith(_ID_WHERE)]
    skipped = [(key, n) for key, n in issues if key[1].startswith(_EVENT_WHERE)]
    values = [
        (key, n)
        for key, n in issues
        if not key[1].startswith((_ID_WHERE, _EVENT_WHERE))
    ]
    if ids:
        lines.append(
            f"{sum(n for _, n in ids)} distinct_ids named no person "
            "(rule: distinct_id: reason; see invalid_id):"
        )
        lines.extend(f"  {rule}: {label}: {n}" for (rule, label), n in ids)
    if values:
        lines.append(
            f"{sum(n for _, n in values)} values failed (rule: where: reason):"
        )
        lines.extend(f"  {rule}: {label}: {n}" for (rule, label), n in values)
    if skipped:
        # Whole events a failure kept from PostHog: a value's on_error: skip, a
        # failed time the rule skips on, an event that could not be encoded
        # (dead-lettered).
        lines.append(
            f"{sum(n for _, n in skipped)} events not sent (rule: event: reason):"
        )
        lines.extend(f"  {rule}: {label}: {n}" for (rule, label), n in skipped)
    return lines


def _per_source(stats: PipelineStats, source: str) -> str:
    errors = {
        reason: n for (name, reason), n in stats.parse_errors.items() if name == source
    }
    return (
        f"  source {source}: {stats.lines[source]} lines, "
        f"{stats.unmatched[source]} matched no rule, "
        f"{sum(errors.values())} did not parse" + (f" {errors}" if errors else "")
    )


def describe_projection(events: int, span_seconds: float) -> str:
    """How many events a month the rate comes to, and its share of the free tier."""
    per_month = events_per_month(events, span_seconds)
    if per_month is None:
        return "the sample spans less than a second: no monthly projection"
    share = per_month / FREE_TIER_EVENTS_PER_MONTH
    short = span_seconds < SHORT_SAMPLE_SECONDS
    rough = " (a rough figure: the sample is short)" if short else ""
    span = f"{span_seconds:.0f} s" if short else f"{span_seconds / 3600:.1f} h"
    return (
        f"projection: {per_month:,.0f} events/month at the sample's rate ({span} of"
        f" events), {share:.0%} of PostHog's free tier of"
        f" {FREE_TIER_EVENTS_PER_MONTH:,}{rough}"
    )
