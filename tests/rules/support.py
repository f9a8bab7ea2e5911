"""Helpers for the rules tests: build rule files from snippets, run records."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bridge.errors import RuleFileError
from bridge.model import Event, Line, Record
from bridge.rules import RuleSet, compile_rules

READ_AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
FILE = "rules/a.yaml"

SOURCE = """\
sources:
  - name: app
    paths: [/var/log/app.log]
"""


def rule_file(
    *,
    when: str = "",
    distinct_id: str = "",
    properties: str = "",
    event: str = "e",
    name: str = "r",
) -> str:
    """A file with source 'app' and one rule; each option is a flow-YAML value."""
    lines = [SOURCE, "rules:", f"  - name: {name}", "    source: app"]
    lines.append(f"    event: {event}")
    if when:
        lines.append(f"    when: {when}")
    if distinct_id:
        lines.append(f"    distinct_id: {distinct_id}")
    if properties:
        lines.append(f"    properties: {properties}")
    return "\n".join(lines) + "\n"


def compile_text(text: str, **kwargs: Any) -> RuleSet:
    return compile_rules([(FILE, text)], **kwargs)


def record(
    fields: dict[str, Any],
    *,
    source: str = "app",
    file_id: str = "fp1",
    offset: int = 0,
) -> Record:
    return Record(Line(source, file_id, offset, "<line>"), fields, READ_AT)


def events(text: str, fields: dict[str, Any], **kwargs: Any) -> list[Event]:
    return compile_text(text).apply(record(fields, **kwargs))


def errors(*files: tuple[str, str] | str, strict: bool = False) -> list[str]:
    """str() of every problem compile_rules raises for the files."""
    pairs = [(FILE, f) if isinstance(f, str) else f for f in files]
    try:
        compile_rules(pairs, strict=strict)
    except RuleFileError as exc:
        return [str(problem) for problem in exc.problems]
    return []
