"""A backfill's summary, in words, for standard error at its end."""

from __future__ import annotations

from collections import Counter

from bridge.backfill.run import BackfillReport
from bridge.tools.summary import FREE_TIER_EVENTS_PER_MONTH, describe_counts

__all__ = ["render_summary"]

_SECONDS_PER_DAY = 86_400.0
_DAYS_PER_MONTH = 30.44


def render_summary(report: BackfillReport) -> str:
    """What was read, made, sent and left, and what the history costs in quota."""
    plan = report.plan
    parts = len(plan.jobs) + plan.done
    earlier = f" ({plan.done} read by an earlier run)" if plan.done else ""
    lines = [
        f"backfill: {report.parts_read + plan.done} of {parts} parts of files read"
        f"{earlier}, {len(report.failed)} failed, {len(plan.skipped)} files skipped"
    ]
    reasons = Counter(skipped.reason for skipped in plan.skipped)
    lines.extend(f"  skipped ({reason}): {n}" for reason, n in sorted(reasons.items()))
    lines.extend(f"  failed: {failed.key}: {failed.error}" for failed in report.failed)
    lines.extend(describe_counts(report.stats, report.spooled))
    lines.append(
        f"sent {report.sent:,} events, {report.deadletters:,} dead letters,"
        f" {report.left_in_spool:,} left in the spool"
        + (" (PostHog refused the API key)" if report.halted else "")
    )
    lines.append(_quota(report))
    if report.interrupted:
        lines.append("interrupted: run the same command again to go on")
    elif report.worker_errors:
        lines.extend(f"a worker failed: {error}" for error in report.worker_errors)
    elif not report.complete:
        lines.append("not complete: run the same command again to go on")
    return "\n".join(lines)


def _quota(report: BackfillReport) -> str:
    """The history's span and rate, against PostHog's free tier."""
    first, last, events = report.first_event, report.last_event, report.spooled
    once = events / FREE_TIER_EVENTS_PER_MONTH
    sent_once = (
        f"{events:,} events at once: {once:.0%} of a month of PostHog's free tier"
        f" of {FREE_TIER_EVENTS_PER_MONTH:,}"
    )
    if first is None or last is None:
        return f"history: {sent_once}"
    days = (last - first).total_seconds() / _SECONDS_PER_DAY
    if days < 1:
        return f"history: less than a day of events; {sent_once}"
    per_month = events * _DAYS_PER_MONTH / days
    return (
        f"history: {first.date()} to {last.date()} ({days:.1f} days), {per_month:,.0f}"
        f" events a month at its rate"
        f" ({per_month / FREE_TIER_EVENTS_PER_MONTH:.0%} of the free tier); {sent_once}"
    )
