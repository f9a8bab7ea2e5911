"""Multi-line records: lines joined into one record, e.g. an error and its trace.

A source's ``multiline`` spec says where records break: with ``start``, a line that
matches the pattern starts a new record and any other line continues the current
one; with ``continuation``, a line that matches continues the current record and
any other line starts a new one.

Invariants:

- ``MultilineAssembler`` is pure: time is passed in (a monotonic reading), so one
  sequence of lines and times always yields the same records, however often
  ``flush`` is called in between: ``feed`` first closes a record that has been idle
  for ``flush_seconds``, as ``flush`` would have.
- No line is lost or reordered: every line fed comes out in exactly one record, in
  order. A record's text is its lines joined with ``\\n``; its offset (and so its
  events' uuids) is that of its first line. A record of one line comes out as the
  very ``Line`` that was fed.
- The first line fed always opens a record, so lines before the first start line
  form a record of their own.
- A record holds at most ``max_lines`` lines: a line that would continue a full
  record closes it (counted in ``too_long``) and opens the next one.
- ``pending_offset()`` is the offset of the first line held back; the daemon keeps
  the file's checkpoint from passing it, so a restart reads the record again whole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from bridge.model import Line
from bridge.parse.failure import ParseFailure, Parser

__all__ = [
    "DEFAULT_FLUSH_SECONDS",
    "DEFAULT_MAX_LINES",
    "MultilineAssembler",
    "MultilineSpec",
    "record_parser",
]

# A Java trace with its "Caused by" chains rarely passes a few hundred frames;
# the bound keeps a runaway record (a pattern that never matches) small.
DEFAULT_MAX_LINES = 500
# Writers emit a trace in one burst; two idle seconds mean the record is complete.
DEFAULT_FLUSH_SECONDS = 2.0


@dataclass(frozen=True, slots=True, kw_only=True)
class MultilineSpec:
    """
    How one source's lines join into records.

    ``matches`` is the compiled ``pattern``; ``mode`` is what a matching line does.
    ``rest_field``, when set, is the field that receives a record's lines after the
    first when the parser read the first line alone (see ``record_parser``).
    """

    mode: Literal["start", "continuation"]
    pattern: str
    matches: Callable[[str], bool] = field(repr=False, compare=False)
    max_lines: int = DEFAULT_MAX_LINES
    flush_seconds: float = DEFAULT_FLUSH_SECONDS
    rest_field: str | None = None


class MultilineAssembler:
    """
    Joins the lines of one file, fed in order, into records; one per (source, file).

    ``too_long`` counts the records closed because they reached ``max_lines``.
    """

    __slots__ = ("_continuation", "_last_at", "_lines", "_spec", "too_long")

    def __init__(self, spec: MultilineSpec) -> None:
        self._spec = spec
        self._continuation = spec.mode == "continuation"
        self._lines: list[Line] = []
        self._last_at = 0.0
        self.too_long = 0

    def feed(self, line: Line, now: float) -> list[Line]:
        """
        Add the next line of the file, read at monotonic time ``now``.

        Returns:
            The records this line completed, oldest first (at most two: one closed
            by the idle timeout, one by this line).
        """
        done = self.flush(now)
        if self._lines and self._continues(line.text):
            if len(self._lines) < self._spec.max_lines:
                self._lines.append(line)
                self._last_at = now
                return done
            self.too_long += 1
        if self._lines:
            done.append(self._close())
        self._lines = [line]
        self._last_at = now
        return done

    def flush(self, now: float, *, force: bool = False) -> list[Line]:
        """
        Close the pending record if it has been idle ``flush_seconds`` (or ``force``).
        """
        if self._lines and (force or now - self._last_at >= self._spec.flush_seconds):
            return [self._close()]
        return []

    def pending_offset(self) -> int | None:
        """The offset of the first line held back, or None when nothing is."""
        return self._lines[0].offset if self._lines else None

    def _continues(self, text: str) -> bool:
        return self._spec.matches(text) == self._continuation

    def _close(self) -> Line:
        lines, self._lines = self._lines, []
        first = lines[0]
        if len(lines) == 1:
            return first
        text = "\n".join(line.text for line in lines)
        return Line(first.source, first.file_id, first.offset, text)


def record_parser(
    parser: Parser, *, whole_first: bool, rest_field: str | None
) -> Parser:
    """
    Wrap a line parser so that it reads multi-line records.

    A record without ``\\n`` goes to ``parser`` unchanged. Otherwise, with
    ``whole_first`` (JSON, where a record may be one pretty-printed object) the
    whole text is tried first; then the first line alone is parsed, and the lines
    after it go into ``rest_field`` when one is named (replacing a parsed field of
    that name). A record neither reading parses gives the first attempt's failure.
    """

    def parse_record(text: str) -> dict[str, Any] | ParseFailure:
        if "\n" not in text:
            return parser(text)
        first_failure: ParseFailure | None = None
        if whole_first:
            whole = parser(text)
            if not isinstance(whole, ParseFailure):
                return whole
            first_failure = whole
        head, _, rest = text.partition("\n")
        fields = parser(head)
        if isinstance(fields, ParseFailure):
            return first_failure or fields
        if rest_field is not None:
            fields[rest_field] = rest
        return fields

    return parse_record
