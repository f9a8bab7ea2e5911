"""Which files the sources' glob patterns match, and which directories to watch.

Invariants:

- A path matched by several sources belongs to the first source that lists it, so a
  file is read once and its checkpoint (keyed by file identity) has one owner.
- The directory to watch for a pattern is its longest prefix without glob characters;
  every file the pattern can match lies below it.
"""

from __future__ import annotations

import glob
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Literal

__all__ = ["SourceSpec", "find_files", "glob_root", "watched_dirs"]

_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """What the tailer needs of one rule-file source."""

    name: str
    # Absolute glob patterns; ``**`` matches any depth of directories.
    globs: tuple[str, ...]
    # Where to start in files present when the source is first watched.
    start_at: Literal["end", "beginning"]


def glob_root(pattern: str) -> str:
    """
    Return the deepest directory of ``pattern`` that contains no glob characters.
    """
    path = PurePath(pattern)
    for index, part in enumerate(path.parts):
        if _GLOB_CHARS.intersection(part):
            return str(PurePath(*path.parts[:index])) if index else "."
    return str(path.parent)


def watched_dirs(sources: Sequence[SourceSpec]) -> set[str]:
    """Return the directories under which every file of ``sources`` lies."""
    return {glob_root(pattern) for spec in sources for pattern in spec.globs}


def find_files(sources: Sequence[SourceSpec]) -> dict[str, str]:
    """
    Return every path the sources' patterns match now, mapped to its source's name.
    """
    found: dict[str, str] = {}
    for spec in sources:
        for pattern in spec.globs:
            # Sorted so that the order files are met in, and with it the tie-break
            # between files that share a first line, does not depend on the directory.
            for path in sorted(glob.glob(pattern, recursive=True)):  # noqa: PTH207
                found.setdefault(path, spec.name)
    return found
