"""Which files the sources' glob patterns match, and which directories to watch.

Patterns mean what they mean to ``glob.glob(pattern, recursive=True)``: ``*``, ``?``
and ``[...]`` within one name, never matching a leading dot unless the pattern's name
starts with one, and ``**`` as a whole name matching zero or more directories. The walk
is ours rather than ``glob``'s because ``glob`` has no bounds: a ``**`` over a symbolic
link to a parent directory walks the loop until paths grow too long (two such links
make it exponential), and ``/proc/**`` leads, through ``/proc/*/root``, to every file
of the machine. The daemon then never finished its first scan.

Invariants:

- A path matched by several sources belongs to all of them, as one *source group*:
  their names joined by ``+`` in the order the rule files define them (``web`` or
  ``web+access``; a source name never holds a ``+``). The tailer reads the file once,
  under one checkpoint keyed by file identity; the pipeline gives its lines to each
  source of the group, with its own parser and rules.
- The directory to watch for a pattern is its longest prefix without glob characters;
  every file the pattern can match lies below it.
- The walk of one pattern is bounded: a ``**`` enters each directory once (by device
  and inode, however many symbolic links lead to it; the shallowest path wins), at
  most ``MAX_GLOB_DEPTH`` levels down, and the walk lists at most
  ``MAX_GLOB_ENTRIES`` directory entries. Whatever a bound left out is reported in a
  ``GlobLimit``; a walk cut short by the entry budget or by ``stop`` makes the
  ``Discovery`` incomplete: files not met may still be there.
"""

from __future__ import annotations

import fnmatch
import os
import re
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Literal

__all__ = [
    "MAX_GLOB_DEPTH",
    "MAX_GLOB_ENTRIES",
    "SOURCE_SEPARATOR",
    "Discovery",
    "GlobLimit",
    "SourceSpec",
    "find_files",
    "glob_root",
    "group_sources",
    "watched_dirs",
]

_GLOB_CHARS = frozenset("*?[")
# Joins the names of the sources that match one file (source names never hold it).
SOURCE_SEPARATOR = "+"


def group_sources(group: str) -> list[str]:
    """The names of the sources of a source group (``web+access`` → web, access)."""
    return group.split(SOURCE_SEPARATOR)


# How many directory levels one ``**`` descends. Filebeat expands ``**`` to 8 levels
# (prospector.scanner.recursive_glob); log trees deeper than 16 are not met in
# practice, and a symlink loop that escapes the device/inode check (a bind mount of a
# parent, say) ends here.
MAX_GLOB_DEPTH = 16
# How many directory entries the walk of one pattern lists per scan. A log tree has
# hundreds or thousands; listing 100,000 takes about a tenth of a second, and a
# pattern that reaches further (``/proc/**``) is not a log pattern.
MAX_GLOB_ENTRIES = 100_000


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """What the tailer needs of one rule-file source."""

    name: str
    # Absolute glob patterns; ``**`` matches any depth of directories.
    globs: tuple[str, ...]
    # Where to start in files present when the source is first watched.
    start_at: Literal["end", "beginning"]


@dataclass(frozen=True, slots=True)
class GlobLimit:
    """
    How a pattern's walk differed from an unbounded glob.

    ``revisited``: directories met again through a symbolic link and not walked again
    (their files were found under their first path); ``too_deep``: directories below
    ``MAX_GLOB_DEPTH`` levels of a ``**``, not walked; ``exhausted``: the walk stopped
    at ``MAX_GLOB_ENTRIES`` listed entries, so files further on were not seen.
    """

    pattern: str
    entries: int
    revisited: int
    too_deep: int
    exhausted: bool

    @property
    def reasons(self) -> frozenset[str]:
        """Which bounds were reached: ``revisited``, ``too_deep``, ``exhausted``."""
        return frozenset(
            name
            for name, hit in (
                ("revisited", self.revisited),
                ("too_deep", self.too_deep),
                ("exhausted", self.exhausted),
            )
            if hit
        )


@dataclass(frozen=True, slots=True)
class Discovery:
    """
    What one scan found: every matched path mapped to its source group (the name of
    its source, or of its sources joined by ``+``).

    ``complete`` is False when a walk was cut short (entry budget, or ``stop``): a
    file not in ``files`` may then still exist where it was. ``interrupted``: ``stop``
    ended the scan; ``limits`` then holds nothing, the bounds being unknown.
    """

    files: dict[str, str]
    limits: tuple[GlobLimit, ...]
    complete: bool
    interrupted: bool = False


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


def find_files(
    sources: Sequence[SourceSpec],
    *,
    stop: threading.Event | None = None,
    max_entries: int = MAX_GLOB_ENTRIES,
    max_depth: int = MAX_GLOB_DEPTH,
) -> Discovery:
    """
    Return every path the sources' patterns match now, and where a bound was reached.

    Args:
        stop: checked before each directory is listed; once set, the walks end at
            once and the discovery is incomplete.
    """
    claimed: dict[str, list[str]] = {}
    limits: list[GlobLimit] = []
    complete = True
    stopped = stop.is_set if stop is not None else _never
    for spec in sources:
        for pattern in spec.globs:
            walk = _Walk(stopped, max_entries, max_depth)
            # Sorted so that the order files are met in, and with it the tie-break
            # between files that share a first line, does not depend on the directory.
            for path in sorted(walk.match(pattern)):
                names = claimed.setdefault(path, [])
                if spec.name not in names:
                    names.append(spec.name)
            if walk.interrupted:
                return Discovery(_groups(claimed), (), complete=False, interrupted=True)
            limit = walk.limit(pattern)
            if limit.reasons:
                limits.append(limit)
            complete = complete and not walk.exhausted
    return Discovery(_groups(claimed), tuple(limits), complete)


def _groups(claimed: dict[str, list[str]]) -> dict[str, str]:
    """Each path's source group, in the sources' order (the first pattern first)."""
    return {path: SOURCE_SEPARATOR.join(names) for path, names in claimed.items()}


def _never() -> bool:
    return False


class _Walk:
    """The bounded walk of one pattern; each directory is listed once."""

    def __init__(
        self, stopped: Callable[[], bool], max_entries: int, max_depth: int
    ) -> None:
        self._stopped = stopped
        self._max_entries = max_entries
        self._max_depth = max_depth
        # Directory → its (name, is a directory) entries, sorted by name.
        self._listings: dict[str, list[tuple[str, bool]]] = {}
        self.entries = 0
        self.revisited = 0
        self.too_deep = 0
        self.exhausted = False
        self.interrupted = False

    def limit(self, pattern: str) -> GlobLimit:
        return GlobLimit(
            pattern, self.entries, self.revisited, self.too_deep, self.exhausted
        )

    def match(self, pattern: str) -> list[str]:
        """The paths ``pattern`` matches, within the bounds."""
        root, parts = _split(pattern)
        paths = [root]
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            if part == "**":
                paths = [found for top in paths for found in self._tree(top, last)]
            elif _GLOB_CHARS.intersection(part):
                paths = self._children(paths, part, last=last)
            elif last:
                paths = [
                    os.path.join(directory, part)  # noqa: PTH118 (str in, str out)
                    for directory in paths
                    if os.path.lexists(os.path.join(directory, part))  # noqa: PTH118
                ]
            else:
                paths = [os.path.join(d, part) for d in paths]  # noqa: PTH118
            if not paths:
                break
        return paths

    def _children(self, paths: list[str], part: str, *, last: bool) -> list[str]:
        """The entries of ``paths`` whose names match ``part`` (directories only, but
        for the last part)."""
        matches = re.compile(fnmatch.translate(part)).match
        hidden_too = part.startswith(".")
        return [
            os.path.join(directory, name)  # noqa: PTH118 (str in, str out)
            for directory in paths
            for name, is_dir in self._listing(directory)
            if (last or is_dir)
            and (hidden_too or not name.startswith("."))
            and matches(name)
        ]

    def _tree(self, top: str, with_files: bool) -> list[str]:
        """
        ``top`` and the directories below it, as ``**`` matches them (and, when ``**``
        ends the pattern, the other entries too), each directory once.
        """
        found = [top]
        visited = {_identity(top)}
        queue = deque([(top, 0)])
        # Breadth first: a directory is known by its shallowest path.
        while queue:
            directory, depth = queue.popleft()
            for name, is_dir in self._listing(directory):
                if name.startswith("."):
                    continue
                path = os.path.join(directory, name)  # noqa: PTH118 (str in, str out)
                if not is_dir:
                    if with_files:
                        found.append(path)
                    continue
                if depth >= self._max_depth:
                    self.too_deep += 1
                    continue
                identity = _identity(path)
                if identity is None:
                    continue
                if identity in visited:
                    self.revisited += 1
                    continue
                visited.add(identity)
                found.append(path)
                queue.append((path, depth + 1))
        return found

    def _listing(self, directory: str) -> list[tuple[str, bool]]:
        cached = self._listings.get(directory)
        if cached is not None:
            return cached
        if self.exhausted or self.interrupted:
            return []
        if self._stopped():
            self.interrupted = True
            return []
        names: list[tuple[str, bool]] = []
        try:
            with os.scandir(directory or os.curdir) as entries:
                for entry in entries:
                    if self.entries >= self._max_entries:
                        self.exhausted = True
                        break
                    self.entries += 1
                    names.append((entry.name, _is_dir(entry)))
        except OSError:
            pass  # gone, not a directory, or not ours to read: nothing matches in it
        names.sort()
        self._listings[directory] = names
        return names


def _split(pattern: str) -> tuple[str, list[str]]:
    """The pattern's leading directory without glob characters, and the other names."""
    path = PurePath(pattern)
    parts = list(path.parts)
    root = parts.pop(0) if path.anchor else ""
    # The last name stays a part even when literal: it must exist to match.
    while len(parts) > 1 and not _GLOB_CHARS.intersection(parts[0]):
        root = os.path.join(root, parts.pop(0))  # noqa: PTH118 (str in, str out)
    return root, parts


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()  # follows symbolic links, as glob does
    except OSError:
        return False


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path or os.curdir)  # noqa: PTH116 (st_dev and st_ino are needed)
    except OSError:
        return None
    return st.st_dev, st.st_ino
