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
    extra: str = "",
) -> str:
    """
    A file with source 'app' and one rule; each option is a flow-YAML value.

    ``extra`` holds more keys of the rule, one ``key: value`` per line (``event=""``
    leaves the event out).
    """
    lines = [SOURCE, "rules:", f"  - name: {name}", "    source: app"]
    if event:
        lines.append(f"    event: {event}")
    if when:
        lines.append(f"    when: {when}")
    if distinct_id:
        lines.append(f"    distinct_id: {distinct_id}")
    if properties:
        lines.append(f"    properties: {properties}")
    lines.extend(f"    {line}" for line in extra.splitlines())
    return "\n".join(lines) + "\n"


def compile_text(text: str, **kwargs: Any) -> RuleSet:
    return compile_rules([(FILE, text)], **kwargs)


def record(
    fields: dict[str, Any],
    *,
    source: str = "app",
    file_id: str = "fp1",
    offset: int = 0,
    text: str = "<line>",
    read_at: datetime = READ_AT,
) -> Record:
    return Record(Line(source, file_id, offset, text), fields, read_at)


def warnings_of(text: str, **kwargs: Any) -> list[str]:
    """str() of every warning of a valid file."""
    return [str(problem) for problem in compile_text(text, **kwargs).warnings]


def events(text: str, fields: dict[str, Any], **kwargs: Any) -> list[Event]:
    return compile_text(text).apply(record(fields, **kwargs))


def errors(
    *files: tuple[str, str] | str, strict: bool = False, salt: bytes | None = None
) -> list[str]:
    """str() of every problem compile_rules raises for the files."""
    pairs = [(FILE, f) if isinstance(f, str) else f for f in files]
    try:
        compile_rules(pairs, strict=strict, salt=salt)
    except RuleFileError as exc:
        return [str(problem) for problem in exc.problems]
    return []
