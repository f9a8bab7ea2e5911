"""Rule files → one ``RuleSet``, or a ``RuleFileError`` with every problem found.

Invariants:

- All files are read before any rule is checked: a rule may use a source defined in
  any file, and source and rule names are unique across all files.
- Compilation keeps going after an error, so one run reports every problem of every
  file; nothing is logged, problems are raised or returned (warnings ride on
  ``RuleSet.warnings``; ``strict`` makes them errors).
- Pure: the result depends only on the arguments.

File shape (every key optional; an empty file is valid)::

    sources: [{name, paths, format, start_at, timestamp}, ...]
    rules:   [{name, source, when, event, distinct_id, properties}, ...]
    tests:   [{...}, ...]     # kept as plain data for ``logbridge test``
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import replace

from bridge.errors import Problem, RuleFileError
from bridge.rules.conditions import Predicate, compile_when
from bridge.rules.mappings import (
    ValueFn,
    ValueScope,
    compile_properties,
    compile_value,
    is_constant,
)
from bridge.rules.ruleset import CompiledRule, RuleCase, RuleSet
from bridge.rules.schema import (
    Item,
    Reporter,
    Site,
    check_keys,
    did_you_mean,
    expect_list,
    expect_map,
    expect_str,
    node_digest,
    one_of,
    unique_name,
)
from bridge.rules.sources import compile_sources
from bridge.rules.yamlnodes import (
    Map,
    Node,
    Scalar,
    child_path,
    describe,
    item_path,
    parse_document,
    to_plain,
)

__all__ = ["MAX_EVENT_NAME_CHARS", "compile_rules"]

# PostHog's ingestion cuts event names to 200 characters (reference/posthog-capture.md
# §10, sanitizeEventName).
MAX_EVENT_NAME_CHARS = 200

_TOP_KEYS = ("rules", "sources", "tests")
_RULE_KEYS = ("distinct_id", "event", "name", "properties", "source", "when")
_RULE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def _always(_fields: object) -> bool:
    return True


def compile_rules(
    files: Sequence[tuple[str, str]],
    *,
    hostname: str = "localhost",
    strict: bool = False,
) -> RuleSet:
    """
    Compile rule files, given as (display name, YAML text) pairs, into a RuleSet.

    Args:
        files: the display name is what problems print, e.g. "rules/orders.yaml".
        hostname: what ``{$hostname}`` stands for.
        strict: report warnings as errors.

    Raises:
        RuleFileError: with every problem of every file, sorted by position.
    """
    reporters: list[Reporter] = []
    items: dict[str, list[Item]] = {key: [] for key in _TOP_KEYS}
    for name, text in files:
        root, problems = parse_document(name, text)
        rep = Reporter(name, problems)
        reporters.append(rep)
        for key, found in _sections(rep, root):
            items[key].extend(found)

    sources, source_sites = compile_sources(items["sources"])
    rules = _compile_rules(items["rules"], source_sites, hostname)
    cases = _collect_cases(items["tests"])
    _warn_unused(files, rules, source_sites, reporters)

    problems = [problem for rep in reporters for problem in rep.problems]
    if strict:
        problems = [replace(problem, severity="error") for problem in problems]
    if any(problem.severity == "error" for problem in problems):
        raise RuleFileError(problems)
    return RuleSet(
        sources=tuple(sources),
        rules=tuple(rules),
        warnings=tuple(sorted(problems)),
        digest=_files_digest(files),
        cases=tuple(cases),
    )


def _sections(rep: Reporter, root: Node | None) -> Iterator[tuple[str, list[Item]]]:
    """Yield each top-level list of a file as its items."""
    if root is None or (isinstance(root, Scalar) and root.value is None):
        return
    if not isinstance(root, Map):
        message = f"expected a mapping of {one_of(_TOP_KEYS)}, got {describe(root)}"
        rep.error(root, "", message)
        return
    check_keys(rep, root, "", _TOP_KEYS)
    for key in _TOP_KEYS:
        node = root.get(key)
        # A section left empty (all entries commented out) reads as null: no entries.
        if node is None or (isinstance(node, Scalar) and node.value is None):
            continue
        seq = expect_list(rep, node, key)
        if seq is not None:
            yield (
                key,
                [
                    Item(rep, item, item_path(key, i))
                    for i, item in enumerate(seq.items)
                ],
            )


def _compile_rules(
    items: list[Item], source_sites: dict[str, Site], hostname: str
) -> list[CompiledRule]:
    rules: list[CompiledRule] = []
    rule_sites: dict[str, Site] = {}
    for item in items:
        rule = _compile_rule(item, source_sites, rule_sites, hostname)
        if rule is not None:
            rules.append(rule)
    return rules


def _compile_rule(
    item: Item,
    source_sites: dict[str, Site],
    rule_sites: dict[str, Site],
    hostname: str,
) -> CompiledRule | None:
    rep, path = item.rep, item.path
    mapping = expect_map(rep, item.node, path)
    if mapping is None:
        return None
    required = ("name", "source", "event")
    keys_ok = check_keys(rep, mapping, path, _RULE_KEYS, required=required)
    name = unique_name(rep, mapping, path, _RULE_NAME, "rule", rule_sites)
    source = _rule_source(rep, mapping, path, source_sites)
    event = _event_name(rep, mapping, path)
    scope = ValueScope(hostname=hostname, source=source or "", rule=name or "")
    matches = _rule_condition(rep, mapping, path)
    distinct_ok, distinct_id = _rule_distinct_id(rep, mapping, path, scope)
    properties: tuple[tuple[str, ValueFn], ...] | None = ()
    properties_node = mapping.get("properties")
    if properties_node is not None:
        where = child_path(path, "properties")
        properties = compile_properties(rep, properties_node, where, scope)
    if (
        not keys_ok
        or name is None
        or source is None
        or event is None
        or matches is None
        or not distinct_ok
        or properties is None
    ):
        return None
    return CompiledRule(
        name=name,
        source=source,
        event=event,
        digest=node_digest(mapping),
        matches=matches,
        distinct_id=distinct_id,
        properties=properties,
    )


def _rule_condition(rep: Reporter, mapping: Map, path: str) -> Predicate | None:
    node = mapping.get("when")
    if node is None:
        return _always
    return compile_when(rep, node, child_path(path, "when"))


def _rule_distinct_id(
    rep: Reporter, mapping: Map, path: str, scope: ValueScope
) -> tuple[bool, ValueFn | None]:
    """Return whether the distinct_id is valid, and its function (None: personless)."""
    node = mapping.get("distinct_id")
    if node is None:
        return True, None
    where = child_path(path, "distinct_id")
    value_of = compile_value(rep, node, where, scope)
    if value_of is not None and is_constant(node):
        # reference/posthog-capture.md §10: a single hot distinct_id is re-routed
        # to overflow and may lose person processing.
        message = "every event of this rule gets the same distinct_id"
        hint = "hint: omit distinct_id to send personless events"
        rep.warning(node, where, message, hint)
    return value_of is not None, value_of


def _rule_source(
    rep: Reporter, mapping: Map, path: str, source_sites: dict[str, Site]
) -> str | None:
    node = mapping.get("source")
    if node is None:
        return None
    where = child_path(path, "source")
    name = expect_str(rep, node, where, "a source name")
    if name is None or name in source_sites:
        return name
    hint = did_you_mean(name, source_sites)
    if not source_sites:
        hint = "hint: define it in a sources: list"
    rep.error(node, where, f"unknown source {name!r}", hint)
    return None


def _event_name(rep: Reporter, mapping: Map, path: str) -> str | None:
    node = mapping.get("event")
    if node is None:
        return None
    where = child_path(path, "event")
    event = expect_str(rep, node, where, "an event name")
    if event is not None and len(event) > MAX_EVENT_NAME_CHARS:
        message = (
            f"expected an event name of at most {MAX_EVENT_NAME_CHARS} characters, "
            f"got {len(event)}"
        )
        rep.warning(node, where, message, "hint: PostHog truncates longer names")
    return event


def _collect_cases(items: list[Item]) -> list[RuleCase]:
    cases: list[RuleCase] = []
    for item in items:
        mapping = expect_map(item.rep, item.node, item.path)
        if mapping is not None:
            data = to_plain(mapping)
            cases.append(RuleCase(item.rep.file, mapping.line, mapping.col, data))
    return cases


def _warn_unused(
    files: Sequence[tuple[str, str]],
    rules: list[CompiledRule],
    source_sites: dict[str, Site],
    reporters: list[Reporter],
) -> None:
    """
    Warn about a rule set without rules, and about sources no rule uses.

    Only when there is no error: a rule that failed to compile would otherwise make
    its source look unused.
    """
    if not files or any(rep.has_errors for rep in reporters):
        return
    if not rules:
        message = "no rules defined"
        reporters[0].problems.append(
            Problem(files[0][0], 1, 1, "", message, "", "warning")
        )
        return
    used = {rule.source for rule in rules}
    for name, site in source_sites.items():
        if name not in used:
            message = f"source {name!r} has no rules"
            site.rep.warning(
                site, site.path, message, "hint: its lines would be dropped"
            )


def _files_digest(files: Sequence[tuple[str, str]]) -> str:
    digest = hashlib.sha256()
    for name, text in files:
        # Length prefixes keep ("ab", "c") and ("a", "bc") apart.
        # surrogatepass: text decoded with surrogateescape still hashes.
        for part in (name, text):
            data = part.encode(errors="surrogatepass")
            digest.update(len(data).to_bytes(8, "big"))
            digest.update(data)
    return digest.hexdigest()
