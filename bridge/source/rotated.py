"""The files logrotate leaves beside a log, recognised by name, and their age order.

For a log matched by a source's pattern (``app.log`` for ``*.log``), logrotate leaves:

- numbered copies: ``app.log.1``, ``app.log.2.gz`` ... (``rotate N``; with
  ``compress`` each but, with ``delaycompress``, the newest is gzip-compressed); the
  higher the number, the older;
- dated copies (``dateext``): ``app.log-20261201``, ``app.log-20261201.gz``, and with
  a ``dateformat`` such as ``-%Y-%m-%d``, ``-%Y%m%d%H`` or ``-%Y%m%d-%s``:
  ``app.log-2026-12-01``, ``app.log-2026120114``, ``app.log-20261201-1764547200``;
  with ``extension .log`` the date goes before the extension: ``app-20261201.log``;
  the earlier the date, the older;
- a compressed file without a number or date (``app.log.gz``: an ``olddir`` of
  archives), taken as the oldest.

``rotation_of(name, pattern)`` says whether a file name is such a copy of a name the
pattern (the last name of a source's glob) matches, or a name the pattern matches
itself (the live file, newest). Only gzip is read (``.gz``); a copy compressed with
anything else (``.xz``, ``.bz2``, ``.zst``, ``.lz4``) is recognised and reported as
unreadable rather than passed over in silence.

Invariants: pure; the sort key puts every copy of one log before the live file, the
oldest first; a name is judged as a copy only when what remains once the rotation
suffix is taken off matches the pattern.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

__all__ = ["COMPRESSIONS", "Rotation", "rotation_of"]

# The suffixes of compressed logs: gzip is read; the others are recognised only.
COMPRESSIONS = {
    ".gz": "gzip",
    ".xz": "xz",
    ".bz2": "bzip2",
    ".zst": "zstd",
    ".lz4": "lz4",
}
_NUMBERED = re.compile(r"(?P<base>.+)\.(?P<n>[0-9]{1,6})")
# -%Y%m%d, -%Y%m%d%H, -%Y-%m-%d, -%Y-%m-%d-%H, -%Y%m%d-%s (and -%s alone).
_DATE = (
    r"(?P<date>[0-9]{8}(?:[0-9]{2})?(?:-[0-9]{9,11})?"
    r"|[0-9]{4}-[0-9]{2}-[0-9]{2}(?:-[0-9]{2})?"
    r"|[0-9]{10})"
)
_DATED = re.compile(r"(?P<base>.+?)-" + _DATE)
_DATED_BEFORE_EXTENSION = re.compile(r"(?P<stem>.+?)-" + _DATE + r"(?P<ext>\.[^.]+)")


@dataclass(frozen=True, slots=True)
class Rotation:
    """
    A log file's place among its copies: ``age`` sorts oldest first (the live file
    last); ``compression``: None, or the name of its compression (``gzip`` ...).
    """

    age: tuple[int, int, str]
    compression: str | None

    @property
    def is_live(self) -> bool:
        """The file the pattern matches itself, not a rotated copy."""
        return self.age[0] == _LIVE

    @property
    def readable(self) -> bool:
        """Whether logbridge can read it: plain, or gzip-compressed."""
        return self.compression in (None, "gzip")


_UNNAMED, _DATED_AGE, _NUMBERED_AGE, _LIVE = range(4)


def rotation_of(name: str, pattern: str) -> Rotation | None:
    """
    Where ``name`` stands among the copies of the logs ``pattern`` matches, or None
    when it is not one of them.

    Args:
        name: a file name (no directory).
        pattern: the last name of a source's glob (``*.log``, ``app.log``).
    """
    compression = None
    bare = name
    for suffix, kind in COMPRESSIONS.items():
        if name.endswith(suffix) and len(name) > len(suffix):
            compression, bare = kind, name[: -len(suffix)]
            break
    found = _NUMBERED.fullmatch(bare)
    if found is not None and fnmatch.fnmatchcase(found["base"], pattern):
        return Rotation((_NUMBERED_AGE, -int(found["n"]), ""), compression)
    found = _DATED.fullmatch(bare)
    if found is not None and fnmatch.fnmatchcase(found["base"], pattern):
        return Rotation((_DATED_AGE, 0, _sortable(found["date"])), compression)
    found = _DATED_BEFORE_EXTENSION.fullmatch(bare)
    if found is not None and fnmatch.fnmatchcase(found["stem"] + found["ext"], pattern):
        return Rotation((_DATED_AGE, 0, _sortable(found["date"])), compression)
    if fnmatch.fnmatchcase(bare, pattern):
        if compression is not None:
            return Rotation((_UNNAMED, 0, ""), compression)
        return Rotation((_LIVE, 0, ""), None)
    return None


def _sortable(date: str) -> str:
    """The date's digits, so that ``2026-12-01`` and ``20261201`` sort together."""
    return date.replace("-", "")
