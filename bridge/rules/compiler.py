"""Rule files → one ``RuleSet``, or a ``RuleFileError`` with every problem found.

Invariants:

- All files are read before any rule is checked: a rule may use a source defined in
  any file, and source and rule names are unique across all files.
- Compilation keeps going after an error, so one run reports every problem of every
  file; nothing is logged, problems are raised or returned (warnings ride on
  ``RuleSet.warnings``; ``strict`` makes them errors).
- Pure: the result depends only on the arguments (the hash salt is one of them).

File shape (every key optional; an empty file is valid)::

    sources: [{name, paths, format, start_at, timestamp, ...}, ...]
    rules:   [{name, source, when, event, distinct_id, properties,
               set, set_once, groups, exception, sample, rate_limit,
               aggregate, timestamp_on_error}, ...]
    tests:   [{name, source, line | lines, expect}, ...]   # bridge.rules.cases
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any, Literal

from bridge.errors import Problem, RuleFileError
from bridge.model import Record
from bridge.parse.jsonl import DEFAULT_MAX_DEPTH
from bridge.rules.cases import compile_cases
from bridge.rules.conditions import (
    FieldCond,
    GroupCond,
    Undecided,
    compile_when_tree,
    is_fallible,
    judge_of,
)
from bridge.rules.conditions import predicate_of as predicate_of_tree
from bridge.rules.errortracking.exceptions import EXCEPTION_EVENT
from bridge.rules.features import compile_extras, compile_limits
from bridge.rules.fieldpaths import FieldRef
from bridge.rules.identity.forms import IDENTITY_EVENTS, IDENTITY_KEYS
from bridge.rules.identity.person import PERSON_KEYS, compile_person
from bridge.rules.ruleset import CompiledRule, RuleSet, SourceDef
from bridge.rules.schema import (
    Item,
    Reporter,
    Site,
    check_keys,
    choice,
    did_you_mean,
    expect_list,
    expect_map,
    expect_str,
    node_digest,
    one_of,
    unique_name,
)
from bridge.rules.sources import compile_sources
from bridge.rules.timestamps import TIME_ON_ERROR_CHOICES, TimeOnError, read_time
from bridge.rules.values.captures import collect_captures
from bridge.rules.values.failures import Issue
from bridge.rules.values.forms import (
    ValueFn,
    ValueScope,
    compile_properties,
    on_error_choice,
)
from bridge.yamlnodes import (
    Map,
    Node,
    Scalar,
    child_path,
    describe,
    item_path,
    parse_document,
)

__all__ = ["MAX_EVENT_NAME_CHARS", "compile_rules"]

# PostHog's ingestion cuts event names to 200 characters (reference/posthog-capture.md
# §10, sanitizeEventName).
MAX_EVENT_NAME_CHARS = 200

_TOP_KEYS = ("rules", "sources", "tests")
_RULE_KEYS = (
    "aggregate",
    "event",
    "exception",
    "geoip",
    "groups",
    "name",
    "on_error",
    "properties",
    "rate_limit",
    "sample",
    "set",
    "set_once",
    "source",
    "timestamp_on_error",
    "when",
    *PERSON_KEYS,
)
# Events PostHog treats apart (reference/posthog-capture.md §10), and what to write
# instead of naming them in event:.
_SPECIAL_EVENTS = {
    "$identify": "hint: write identify: {anon_distinct_id: ...} with a distinct_id",
    "$create_alias": 'hint: write alias: "{old_id}" with a distinct_id',
    "$groupidentify": "hint: write group_identify: {type: ..., key: ..., set: {...}}",
    "$merge_dangerously": "hint: write alias: with a distinct_id",
    "$exception": "hint: write exception: {type: ..., value: ...} instead of event:",
    "$performance_event": "hint: PostHog discards these events",
}
_RULE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def _always(_fields: object) -> bool:
    return True


def compile_rules(
    files: Sequence[tuple[str, str]],
    *,
    hostname: str = "localhost",
    strict: bool = False,
    salt: bytes | None = None,
    max_depth: int = DEFAULT_MAX_DEPTH,
    properties: Mapping[str, Any] | None = None,
) -> RuleSet:
    """
    Compile rule files, given as (display name, YAML text) pairs, into a RuleSet.

    Args:
        files: the display name is what problems print, e.g. "rules/orders.yaml".
        hostname: what ``{$hostname}`` stands for.
        strict: report warnings as errors.
        salt: the key of ``hash: true`` values (``hash_salt`` in the
            configuration); a rule that hashes without one is an error.
        max_depth: how deep a JSON line may nest (``read.max_depth``).
        properties: added to every rule's events (the configuration's
            ``properties``); a rule's own property of the same name wins.

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

    sources, source_sites = compile_sources(items["sources"], max_depth=max_depth)
    by_name = {source.name: source for source in sources}
    rules = _compile_rules(items["rules"], source_sites, by_name, hostname, salt)
    if properties:
        rules = [_with_global_properties(rule, properties) for rule in rules]
    cases = compile_cases(items["tests"], source_sites)
    _warn_unused(files, rules, source_sites, reporters)

    problems = [problem for rep in reporters for problem in rep.problems]
    if strict:
        problems = [replace(problem, severity="error") for problem in problems]
    if any(problem.severity == "error" for problem in problems):
        raise RuleFileError(problems)
    return RuleSet(
        sources=tuple(sources),
        rules=tuple(rules),
        files=tuple(name for name, _ in files),
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
    items: list[Item],
    source_sites: dict[str, Site],
    sources: dict[str, SourceDef],
    hostname: str,
    salt: bytes | None,
) -> list[CompiledRule]:
    rules: list[CompiledRule] = []
    rule_sites: dict[str, Site] = {}
    # Sources whose events take the read time: their time never fails.
    untimed = frozenset(
        name for name, source in sources.items() if source.timestamp_of is read_time
    )
    for item in items:
        scope = ValueScope(hostname=hostname, source="", rule="", salt=salt)
        rule = _compile_rule(item, source_sites, rule_sites, scope, untimed)
        if rule is None:
            continue
        rules.append(rule)
        source = sources.get(rule.source)
        fields = None if source is None else source.fields
        if fields is not None:
            refs = [*scope.refs, *_condition_refs(rule.condition)]
            _warn_unknown_fields(item.rep, refs, rule.source, fields)
    return rules


def _with_global_properties(
    rule: CompiledRule, properties: Mapping[str, Any]
) -> CompiledRule:
    """The rule with the configuration's properties first; its own override them."""
    own = {name for name, _ in rule.properties}
    shared = tuple(
        (name, _constant(value))
        for name, value in properties.items()
        if name not in own
    )
    return replace(rule, properties=shared + rule.properties)


def _constant(value: Any) -> ValueFn:
    def constant(_record: Record) -> Any:
        return value

    return constant


def _compile_rule(
    item: Item,
    source_sites: dict[str, Site],
    rule_sites: dict[str, Site],
    blank: ValueScope,
    untimed: frozenset[str],
) -> CompiledRule | None:
    """
    Compile one rule; the field paths it names are added to ``blank.refs``.
    ``untimed`` names the sources without a ``timestamp``.
    """
    rep, path = item.rep, item.path
    mapping = expect_map(rep, item.node, path)
    if mapping is None:
        return None
    keys_ok = check_keys(rep, mapping, path, _RULE_KEYS, required=("name", "source"))
    name = unique_name(rep, mapping, path, _RULE_NAME, "rule", rule_sites)
    source = _rule_source(rep, mapping, path, source_sites)
    event = _event_name(rep, mapping, path)
    condition_ok, condition = _rule_condition(rep, mapping, path)
    geoip = _geoip(rep, mapping, path)
    time_on_error = _timestamp_on_error(rep, mapping, path, source, untimed)
    on_error = on_error_choice(rep, mapping, path, "default")
    scope = ValueScope(
        hostname=blank.hostname,
        source=source or "",
        rule=name or "",
        salt=blank.salt,
        refs=blank.refs,
        captures=collect_captures(rep, condition),
        on_error=on_error or "default",
        rule_path=path,
    )
    person = compile_person(rep, mapping, path, scope)
    properties: tuple[tuple[str, ValueFn], ...] | None = ()
    properties_node = mapping.get("properties")
    if properties_node is not None:
        where = child_path(path, "properties")
        properties = compile_properties(rep, properties_node, where, scope)
    extras = compile_extras(rep, mapping, path, scope)
    limits = compile_limits(rep, mapping, path, scope)
    if (
        not (keys_ok and condition_ok)
        or person is None
        or geoip is False
        or time_on_error is False
        or on_error is None
        or name is None
        or source is None
        or event is None
        or properties is None
        or extras is None
        or limits is None
    ):
        return None
    return CompiledRule(
        name=name,
        source=source,
        event=event,
        digest=node_digest(mapping),
        file=rep.file,
        traces=tuple(scope.traces),
        matches=_always if condition is None else predicate_of_tree(condition),
        distinct_id=person.distinct_id,
        properties=properties,
        id_policy=person.policy,
        identity=person.identity,
        geoip=geoip,
        timestamp_on_error=time_on_error,
        extras=extras,
        condition=condition,
        doubt=_doubt_of(name, path, condition),
        sample=limits.sample,
        rate_limit=limits.rate_limit,
        aggregate=limits.aggregate,
    )


def _doubt_of(
    rule: str, path: str, condition: GroupCond | None
) -> Callable[[Mapping[str, Any]], Issue | None] | None:
    """What to count when the rule's condition is undecided (None: it never is)."""
    if condition is None or not is_fallible(condition):
        return None
    judge = judge_of(condition)

    def doubt(fields: Mapping[str, Any]) -> Issue | None:
        verdict = judge(fields)
        if isinstance(verdict, Undecided):
            return Issue(rule, verdict.where_in(path), verdict.reason)
        return None

    return doubt


def _rule_condition(
    rep: Reporter, mapping: Map, path: str
) -> tuple[bool, GroupCond | None]:
    """Return whether ``when`` is valid, and its tree (None: no ``when``)."""
    node = mapping.get("when")
    if node is None:
        return True, None
    tree = compile_when_tree(rep, node, child_path(path, "when"))
    return tree is not None, tree


def _geoip(rep: Reporter, mapping: Map, path: str) -> bool | Literal[False] | None:
    """The rule's ``geoip`` (None: the configuration's), or False after an error."""
    node = mapping.get("geoip")
    if node is None:
        return None
    if isinstance(node, Scalar) and isinstance(node.value, bool):
        return node.value
    rep.error(node, child_path(path, "geoip"), "expected true or false for 'geoip'")
    return False


def _timestamp_on_error(
    rep: Reporter,
    mapping: Map,
    path: str,
    source: str | None,
    untimed: frozenset[str],
) -> TimeOnError | Literal[False] | None:
    """
    The rule's ``timestamp_on_error`` (None: its source's ``on_error``), or False
    after an error; a warning when its source has no ``timestamp`` (``untimed``).
    """
    node = mapping.get("timestamp_on_error")
    if node is None:
        return None
    key = "timestamp_on_error"
    name = choice(rep, mapping, path, key, TIME_ON_ERROR_CHOICES, "read_time")
    if source in untimed and name is not None:
        message = f"{key} has no effect: source {source!r} has no timestamp"
        hint = "hint: its events take the time the line was read"
        rep.warning(node, child_path(path, key), message, hint)
    for known in TIME_ON_ERROR_CHOICES:
        if known == name:
            return known
    return False


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
    made_by = [k for k in ("exception", *IDENTITY_KEYS) if mapping.get(k) is not None]
    if node is None:
        if not made_by:
            rep.error(mapping, path, "missing required key 'event'")
            return None
        return (
            EXCEPTION_EVENT
            if made_by[0] == "exception"
            else IDENTITY_EVENTS[made_by[0]]
        )
    where = child_path(path, "event")
    event = expect_str(rep, node, where, "an event name")
    if event is None:
        return None
    if made_by == ["exception"] and event == EXCEPTION_EVENT:
        return event
    if made_by:
        message = f"a rule with {made_by[0]} makes its own event, got event: {event!r}"
        rep.error(node, where, message, "hint: remove event:")
        return None
    return event if _is_sendable(rep, node, where, event) else None


def _is_sendable(rep: Reporter, node: Node, where: str, event: str) -> bool:
    """Whether PostHog takes an event of this name as a plain event (warnings too)."""
    if event in _SPECIAL_EVENTS:
        message = f"{event!r} is an event PostHog treats apart"
        rep.error(node, where, message, _SPECIAL_EVENTS[event])
        return False
    if event.startswith("$"):
        message = f"{event!r}: names starting with '$' are PostHog's"
        rep.warning(node, where, message, "hint: name your events without '$'")
    if len(event) > MAX_EVENT_NAME_CHARS:
        message = (
            f"expected an event name of at most {MAX_EVENT_NAME_CHARS} characters, "
            f"got {len(event)}"
        )
        rep.warning(node, where, message, "hint: PostHog truncates longer names")
    return True


def _condition_refs(condition: GroupCond | None) -> list[FieldRef]:
    """The field paths a condition tree tests, with their positions."""
    if condition is None:
        return []
    refs: list[FieldRef] = []
    for child in condition.children:
        if isinstance(child, FieldCond):
            where, line, col = child.where, child.line, child.col
            refs.append(FieldRef(child.path, child.top, where, line, col))
        else:
            refs.extend(_condition_refs(child))
    return refs


def _warn_unknown_fields(
    rep: Reporter, refs: list[FieldRef], source: str, fields: frozenset[str]
) -> None:
    """Warn about paths naming a field the source's parser never produces."""
    for ref in refs:
        if ref.top in fields:
            continue
        hint = did_you_mean(ref.top, fields)
        if not hint:
            hint = f"hint: its fields are {one_of(fields)}" if fields else ""
        message = f"source {source!r} has no field {ref.top!r}"
        rep.warning(Site(rep, ref.path, ref.line, ref.col), ref.path, message, hint)


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
