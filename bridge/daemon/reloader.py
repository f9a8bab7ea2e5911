"""The reloader: notices rule-file changes, reads the files again, acts on the outcome.

A wake-up (an inotify event, or the periodic backstop) only queues a reload when the
files' names, sizes or modification times differ from the last look, and only once
they have held still for ``RULES_SETTLE_SECONDS``: a burst of edits, an editor's temp
files or a save in two steps coalesce into one reload. SIGHUP queues one at once.

What a reload does is decided by ``bridge.daemon.reload.plan_reload`` (pure); here it
is carried out: an adopted rule set is handed to the reader, which swaps it in between
two chunks; a refused one is logged, counted, shown by ``logbridge status``, and the
running rules stay.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import orjson

from bridge.daemon.reload import Adopt, plan_reload
from bridge.daemon.rulefiles import load_ruleset, rule_files_signature, source_specs
from bridge.daemon.runtime import Runtime
from bridge.errors import Problem, RuleFileError, StoreFull
from bridge.logs import get_logger
from bridge.rules import RuleSet
from bridge.source import watch_changes
from bridge.spool.store import RULES_STATUS

__all__ = ["Reloader"]

# Names, sizes and modification times of the rule files (rule_files_signature).
Signature = tuple[tuple[str, int, int], ...]

# The backstop for rule-file changes inotify missed.
RULES_RESCAN_SECONDS = 5.0
# A change of the rule files is reloaded once they have held still this long: an
# editor that truncates and then writes, or removes and then creates, is done by then.
RULES_SETTLE_SECONDS = 1.0
# The rule watch's polling step: an edit waits a second to settle anyway, so a
# quarter of one more costs nothing, and an idle daemon wakes this thread 4 times a
# second instead of 20.
RULES_STEP_MS = 250


class Reloader:
    """Reloads of one run's rules."""

    def __init__(self, rt: Runtime, loaded: Signature = ()) -> None:
        """
        Args:
            loaded: the rule files' signature (``rule_files_signature``) taken before
                the running rules were read: a change made since is reloaded, even one
                made before this watch began.
        """
        self.rt = rt
        self._loaded = loaded
        self._log = get_logger()

    async def watch(self) -> None:
        """Queue a reload when the rule files have changed and settled."""
        rt = self.rt
        if rt.once:
            return
        rules_dir = rt.settings.rules_dir
        # A change made between reading the rules and watching them counts too.
        last = await self._look(self._loaded)
        changes = watch_changes(
            {str(rules_dir)}, rt.stop, RULES_RESCAN_SECONDS, step_ms=RULES_STEP_MS
        )
        async for _ in changes:
            last = await self._look(last)

    async def _look(self, last: Signature) -> Signature:
        """Queue a reload if the files differ from ``last`` once settled; the new look."""
        rt = self.rt
        rules_dir = rt.settings.rules_dir
        current = await asyncio.to_thread(rule_files_signature, rules_dir)
        if current == last:
            return last
        # Wait for the files to hold still: a save in two steps is not over yet.
        while not rt.stop.is_set():
            await rt.clock.sleep(RULES_SETTLE_SECONDS)
            settled = await asyncio.to_thread(rule_files_signature, rules_dir)
            if settled == current:
                break
            current = settled
        if current != last:
            rt.request_reload(explicit=False)
        return current

    async def reload(self, explicit: bool) -> None:
        """Read the rule files again and adopt them, or keep the running rules."""
        rt = self.rt
        rt.notifier.reloading()
        loaded: RuleSet | RuleFileError
        try:
            loaded = await asyncio.to_thread(load_ruleset, rt.settings)
        except RuleFileError as exc:
            loaded = exc
        outcome = plan_reload(rt.ruleset, loaded, explicit=explicit)
        if not isinstance(outcome, Adopt):
            await self._reject(outcome.problems, outcome.error)
            return
        ruleset, diff = outcome.ruleset, outcome.diff
        rt.ruleset = ruleset
        rt.specs = rt.pending_specs = source_specs(ruleset, rt.settings)
        rt.wake.set()
        rt.health.reload_counted(ok=True)
        await self.rules_active()
        rt.notifier.ready()
        self._log.info(
            "rules_reloaded",
            added=list(diff.added),
            changed=list(diff.changed),
            removed=list(diff.removed),
            rules_hash=ruleset.digest[:12],
            explicit=explicit,
        )

    async def rules_active(self) -> None:
        """The running rules are those of ``rt.ruleset``: say so to health and status."""
        self.rt.health.rules_loaded(self.rt.ruleset.digest)
        await self._save_rules_status(ok=True, error=None)

    async def _reject(self, problems: Sequence[Problem], error: str) -> None:
        """Keep the running rules; report why the reloaded ones were not taken."""
        rt = self.rt
        for problem in problems:
            log = (
                self._log.warning if problem.severity == "warning" else self._log.error
            )
            log("rules_rejected", error=str(problem))
        rt.health.reload_counted(ok=False)
        first = str(problems[0]) if problems else "invalid rules"
        rt.health.rules_rejected(first)
        await self._save_rules_status(ok=False, error=error)
        rt.notifier.ready()
        rt.notifier.status(f"rules rejected, old rules kept: {first}")

    async def _save_rules_status(self, *, ok: bool, error: str | None) -> None:
        rt = self.rt
        status = orjson.dumps(
            {
                "ok": ok,
                "hash": rt.ruleset.digest[:12],
                "rules": [rule.name for rule in rt.ruleset.rules],
                "at": rt.clock.now().isoformat(),
                "error": error,
            }
        ).decode()
        try:
            await rt.store.call(lambda s: s.set_meta(RULES_STATUS, status))
        except StoreFull as exc:
            rt.writes_skipped += 1
            self._log.warning("rules_status_skipped", error=str(exc))
