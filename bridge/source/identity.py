"""File ids, and the book of ids the tailer knows (no I/O).

A file id is one of

- ``F``: the fingerprint of the file's first line (the usual case);
- ``F-dev-ino``: a second file with the same first line, or the first file after a
  truncation that kept its first line;
- ``F-dev-ino-N`` (N = 2, 3, ...): the same inode truncated again.

Invariants:

- The fingerprint is recoverable from every id, and the ids of one inode grow with
  ``generation_of``.
- ``Identities.new_id`` never returns an id used before (loaded from a checkpoint or
  handed out), and, given the same history, always the same id: event uuids are built
  from the id and a line's offset, so a reused id would make PostHog collapse
  different events into one.
- A checkpoint is given to at most one file: claiming an id removes it from the
  stored and released checkpoints.
- A checkpoint goes only to a file that begins with the bytes it was taken of (the
  caller's ``fits``), and never to any file once its own file is gone: a new file
  that merely shares a header with a deleted one is read whole.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable

from bridge.model import Checkpoint

__all__ = ["Identities", "fingerprint_of", "generation_of", "next_file_id"]


def fingerprint_of(file_id: str) -> str:
    """Return the fingerprint part of a file id."""
    return file_id.split("-", 1)[0]


def generation_of(file_id: str) -> int:
    """Return 0 for ``F``, 1 for ``F-dev-ino``, N for ``F-dev-ino-N``."""
    parts = file_id.split("-")
    if len(parts) == 4 and parts[3].isdigit():
        return int(parts[3])
    return min(len(parts) - 1, 1)


def next_file_id(fingerprint: str, dev: int, ino: int, used: Container[str]) -> str:
    """
    Return the first id of ``F``, ``F-dev-ino``, ``F-dev-ino-2``, ... not in ``used``.
    """
    if fingerprint not in used:
        return fingerprint
    stem = f"{fingerprint}-{dev}-{ino}"
    if stem not in used:
        return stem
    generation = 2
    while f"{stem}-{generation}" in used:
        generation += 1
    return f"{stem}-{generation}"


class Identities:
    """
    Stored checkpoints not matched yet, checkpoints of files truncated under the
    tailer (for their copy to take over), and every id ever used.
    """

    __slots__ = ("_released", "_stored", "_used")

    def __init__(self, checkpoints: Iterable[Checkpoint]) -> None:
        # By fingerprint, then id: scans look up only the fingerprints they meet.
        self._stored: dict[str, dict[str, Checkpoint]] = {}
        self._released: dict[str, dict[str, Checkpoint]] = {}
        self._used: set[str] = set()
        for cp in checkpoints:
            if not cp.gone:
                self.keep(cp)
            self._used.add(cp.file_id)

    def stored_for_inode(
        self, fingerprint: str, dev: int, ino: int
    ) -> Checkpoint | None:
        """Return the stored checkpoint of this very file, if there is one."""
        stored = self._stored.get(fingerprint, {}).values()
        matches = [cp for cp in stored if (cp.dev, cp.ino) == (dev, ino)]
        # After truncations several ids may name one inode: the newest is current.
        return max(matches, key=lambda cp: generation_of(cp.file_id), default=None)

    def forget_stored(self, file_id: str) -> None:
        """Drop a stored checkpoint that no longer applies; its id stays used."""
        _pop(self._stored, file_id)

    def orphan_for(
        self,
        fingerprint: str,
        dev: int,
        ino: int,
        size: int,
        fits: Callable[[Checkpoint], bool],
    ) -> tuple[Checkpoint, int] | None:
        """
        Return a checkpoint no followed file holds that a file of ``size`` bytes with
        this fingerprint continues, and the offset to continue at.

        ``fits(cp)`` tells whether the file begins with the bytes ``cp`` was taken of.
        """
        for cp in reversed(self._released.get(fingerprint, {}).values()):
            if (cp.dev, cp.ino) != (dev, ino) and fits(cp):
                # The copy of a file truncated under us: the original may have been
                # read past the point where the copy was made.
                return cp, min(cp.offset, size)
        for cp in self._stored.get(fingerprint, {}).values():
            # A file moved or copied while we were stopped is at least as long as
            # what was read of it; a shorter one is another file with that first line.
            if cp.offset <= size and fits(cp):
                return cp, cp.offset
        return None

    def new_id(self, fingerprint: str, dev: int, ino: int) -> str:
        """Return a fresh id for a new file (not claimed yet)."""
        return next_file_id(fingerprint, dev, ino, self._used)

    def claim(self, file_id: str) -> None:
        """Record that a file now holds ``file_id``."""
        self._used.add(file_id)
        _pop(self._stored, file_id)
        _pop(self._released, file_id)

    def keep(self, checkpoint: Checkpoint) -> None:
        """Hold the checkpoint of a file no longer followed, like a stored one."""
        _put(self._stored, checkpoint)

    def release(self, checkpoint: Checkpoint) -> None:
        """Offer the checkpoint of a file truncated under the tailer to its copy."""
        _put(self._released, checkpoint)


def _put(index: dict[str, dict[str, Checkpoint]], checkpoint: Checkpoint) -> None:
    group = index.setdefault(fingerprint_of(checkpoint.file_id), {})
    group.pop(checkpoint.file_id, None)  # re-inserted last: the newest
    group[checkpoint.file_id] = checkpoint


def _pop(index: dict[str, dict[str, Checkpoint]], file_id: str) -> None:
    fingerprint = fingerprint_of(file_id)
    group = index.get(fingerprint)
    if group is not None:
        group.pop(file_id, None)
        if not group:
            del index[fingerprint]
