"""Which files a backfill reads, which part of each, and under which file id.

A backfill reads what the daemon will never read, and nothing it reads or has read:

- the copies logrotate left (``bridge.source.rotated``), gzip-compressed or not;
- the part of a file that was already there when the daemon began following it with
  ``start_at: end`` (its checkpoint's ``origin``), and, for a file the daemon no
  longer follows (rotated away and compressed while it was down), the part after
  where it stopped.

A file is known to the daemon when one of its checkpoints names the file's first line
and first bytes (``ArchivedFile.continues``), whatever its path, name or compression
now. Its lines then get the daemon's file id, so the events have the uuids the daemon
gives, or would have given, the same lines: a part read twice (a checkpoint stored
before origins were kept, or a file the daemon still follows under a new name) is
sent twice under the same uuids, which PostHog keeps once. A file the daemon never
knew is named ``<fingerprint>-h<digest of its first bytes>``: an id the daemon never
gives, stable across renames and compression, so a resumed backfill finds its
progress; two such files with the same first bytes are told apart by ``-2``, ``-3``
in age order.

A live file (one the sources' globs match, not a copy) the daemon has no checkpoint
for is the daemon's to read whole, as it does every file that appears after its
first start: it is skipped. Without the daemon's state (``--no-daemon``) every file
is read whole.

Progress is kept per part, keyed ``<file id>@<first offset>``: a part already read
to its end is skipped, one begun goes on from its last committed offset.

``plan_files`` is pure; ``find_files`` and ``inspect_files`` do the I/O.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath

from bridge.model import Checkpoint
from bridge.source.archive import ArchivedFile, ArchiveError, Span, inspect
from bridge.source.discover import SOURCE_SEPARATOR, SourceSpec
from bridge.source.discover import find_files as find_globbed
from bridge.source.identity import fingerprint_of
from bridge.source.rotated import Rotation, rotation_of

__all__ = [
    "Found",
    "Job",
    "Plan",
    "Skipped",
    "find_files",
    "inspect_files",
    "plan_files",
    "progress_key",
]


@dataclass(frozen=True, slots=True)
class Found:
    """A file of a source, rotated or live, as the search met it."""

    path: str
    source: str
    rotation: Rotation


@dataclass(frozen=True, slots=True)
class Job:
    """One part of one file to read: its lines in ``span``, under ``file_id``."""

    key: str
    file: ArchivedFile
    source: str
    file_id: str
    span: Span
    # Bytes on disk still to read, as far as they are known (for progress and ETA).
    size: int


@dataclass(frozen=True, slots=True)
class Skipped:
    """A file, or a part of one, the backfill does not read, and why."""

    path: str
    reason: str


@dataclass(slots=True)
class Plan:
    """The parts to read, oldest first, and what is not read."""

    jobs: list[Job] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    # Parts read to their end by an earlier run.
    done: int = 0


def progress_key(file_id: str, start: int) -> str:
    """The key a part's progress is kept under."""
    return f"{file_id}@{start}"


def find_files(specs: Sequence[SourceSpec]) -> list[Found]:
    """
    The sources' live files and their rotated copies, each with its source group,
    the copies of one log before it, the oldest first.
    """
    claimed: dict[str, list[str]] = {}
    rotations: dict[str, Rotation] = {}
    for spec in specs:
        for glob in spec.globs:
            # Every file of the folders the glob reaches; their names tell the rest.
            wide = SourceSpec(
                spec.name, (str(PurePath(glob).with_name("*")),), spec.start_at
            )
            pattern = PurePath(glob).name
            for path in find_globbed([wide]).files:
                rotation = rotation_of(PurePath(path).name, pattern)
                if rotation is None or not os.path.isfile(path):  # noqa: PTH113
                    continue
                names = claimed.setdefault(path, [])
                if spec.name not in names:
                    names.append(spec.name)
                rotations.setdefault(path, rotation)
    found = [
        Found(path, SOURCE_SEPARATOR.join(names), rotations[path])
        for path, names in claimed.items()
    ]
    found.sort(key=lambda f: (str(PurePath(f.path).parent), f.rotation.age, f.path))
    return found


def inspect_files(
    found: Iterable[Found],
) -> tuple[list[tuple[Found, ArchivedFile]], list[Skipped]]:
    """Each readable file's identity; what cannot be read, with why."""
    inspected = []
    skipped = []
    for item in found:
        if not item.rotation.readable:
            skipped.append(
                Skipped(item.path, f"compressed with {item.rotation.compression}")
            )
            continue
        try:
            inspected.append((item, inspect(item.path)))
        except (OSError, ArchiveError) as exc:
            skipped.append(Skipped(item.path, f"cannot be read: {exc}"))
    return inspected, skipped


def plan_files(
    files: Sequence[tuple[Found, ArchivedFile]],
    *,
    daemon: Sequence[Checkpoint] | None,
    progress: Sequence[Checkpoint],
    daemon_follows: Callable[[Checkpoint], bool],
    since_ns: int | None = None,
) -> Plan:
    """
    Decide what to read of each file.

    Args:
        files: the files found, oldest first, with their identities.
        daemon: the daemon's checkpoints; None: no daemon (read every file whole).
        progress: this backfill's own, from earlier runs (``progress_key`` ids).
        daemon_follows: whether the daemon still follows a checkpoint's file (it
            will read what follows the checkpoint itself).
        since_ns: files last modified before this (Unix ns) are skipped.
    """
    plan = Plan()
    stored = {cp.file_id: cp for cp in progress}
    by_fingerprint: dict[str, list[Checkpoint]] = {}
    for cp in daemon or ():
        by_fingerprint.setdefault(fingerprint_of(cp.file_id), []).append(cp)
    taken: set[str] = set()
    for found, file in files:
        if file.fingerprint is None:
            plan.skipped.append(Skipped(found.path, "no complete line"))
            continue
        if since_ns is not None and file.mtime_ns < since_ns:
            plan.skipped.append(Skipped(found.path, "last written before --since"))
            continue
        known = _daemon_checkpoint(file, by_fingerprint.get(file.fingerprint, []))
        if known is not None:
            file_id, spans = (
                known.file_id,
                _spans_before_and_after(known, daemon_follows(known)),
            )
            if not spans:
                plan.skipped.append(Skipped(found.path, "read by the daemon"))
                continue
        elif daemon is not None and found.rotation.is_live and not file.gzip:
            plan.skipped.append(Skipped(found.path, "the daemon reads it"))
            continue
        else:
            file_id = _own_id(file, taken)
            spans = [Span()]
        taken.add(file_id)
        for span in spans:
            key = progress_key(file_id, span.start)
            before = stored.get(key)
            if before is not None and before.gone:
                plan.done += 1
                continue
            start = max(span.start, before.offset) if before is not None else span.start
            plan.jobs.append(
                Job(
                    key=key,
                    file=file,
                    source=found.source,
                    file_id=file_id,
                    span=Span(start, span.stop),
                    size=_left(file, span, start),
                )
            )
    return plan


def _daemon_checkpoint(
    file: ArchivedFile, candidates: Sequence[Checkpoint]
) -> Checkpoint | None:
    """The daemon's checkpoint of this file (the same inode first), if it has one."""
    fitting = [cp for cp in candidates if file.continues(cp)]
    if not fitting:
        return None
    return max(
        fitting,
        key=lambda cp: (
            (cp.dev, cp.ino) == (file.dev, file.ino),
            not cp.gone,
            cp.offset,
        ),
    )


def _spans_before_and_after(cp: Checkpoint, follows: bool) -> list[Span]:
    """
    What the daemon did not read of its file: before its origin (all it had read, if
    the origin is unknown), and after its offset when it no longer follows the file.
    """
    before = cp.offset if cp.origin < 0 else min(cp.origin, cp.offset)
    spans = []
    if follows:
        if before > 0:
            spans.append(Span(0, before))
        return spans
    if before >= cp.offset:
        return [Span()]
    if before > 0:
        spans.append(Span(0, before))
    spans.append(Span(cp.offset))
    return spans


def _own_id(file: ArchivedFile, taken: set[str]) -> str:
    """An id the daemon never gives: the fingerprint and a digest of the first bytes."""
    digest = hashlib.blake2b(file.head, digest_size=8).hexdigest()
    base = f"{file.fingerprint}-h{digest}"
    file_id, n = base, 1
    while file_id in taken:
        n += 1
        file_id = f"{base}-{n}"
    return file_id


def _left(file: ArchivedFile, span: Span, start: int) -> int:
    """Bytes on disk left to read, as far as they can be told without reading."""
    if file.gzip:
        return file.size if start == span.start else 0
    end = file.size if span.stop is None else min(span.stop, file.size)
    return max(0, end - start)
