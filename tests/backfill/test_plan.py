"""What a backfill reads of each file, and under which id: ``plan_files``, pure."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from bridge.backfill.plan import Found, Plan, plan_files, progress_key
from bridge.model import Checkpoint
from bridge.source.archive import ArchivedFile, Span
from bridge.source.fingerprint import file_fingerprint, head_digest
from bridge.source.rotated import rotation_of

HEAD = b'{"msg": "log opened"}\n{"order": 1}\n'
FP = file_fingerprint(HEAD) or ""
NS = 1_000_000_000


def _file(
    name: str, head: bytes = HEAD, *, ino: int = 1, size: int = 10_000
) -> tuple[Found, ArchivedFile]:
    rotation = rotation_of(name, "app.log")
    assert rotation is not None
    path = f"/logs/{name}"
    archived = ArchivedFile(
        path=path,
        dev=8,
        ino=ino,
        size=size,
        mtime_ns=1_800_000_000 * NS,
        gzip=name.endswith(".gz"),
        fingerprint=file_fingerprint(head),
        head=head,
    )
    return Found(path, "app", rotation), archived


def _checkpoint(file: ArchivedFile, file_id: str, **fields: Any) -> Checkpoint:
    cp = Checkpoint(
        file_id=file_id,
        source="app",
        path=file.path,
        dev=file.dev,
        ino=file.ino,
        offset=6_000,
        size=6_000,
        head_bytes=len(file.head),
        head_hash=head_digest(file.head),
    )
    return dataclasses.replace(cp, **fields)


def _plan(
    files: list[tuple[Found, ArchivedFile]],
    daemon: list[Checkpoint] | None = None,
    progress: Sequence[Checkpoint] = (),
    follows: bool = True,
    since_ns: int | None = None,
) -> Plan:
    return plan_files(
        files,
        daemon=daemon,
        progress=progress,
        daemon_follows=lambda _cp: follows,
        since_ns=since_ns,
    )


def _spans(plan: Plan) -> list[tuple[str, str, int, int | None]]:
    return [(j.file.path, j.file_id, j.span.start, j.span.stop) for j in plan.jobs]


def test_the_live_file_is_read_up_to_where_the_daemon_began() -> None:
    live = _file("app.log")
    daemon = [_checkpoint(live[1], FP, origin=4_000)]

    plan = _plan([live], daemon)

    assert _spans(plan) == [("/logs/app.log", FP, 0, 4_000)]


def test_a_file_the_daemon_read_from_its_beginning_is_not_read() -> None:
    live = _file("app.log")

    plan = _plan([live], [_checkpoint(live[1], FP, origin=0)])

    assert plan.jobs == []
    assert [s.reason for s in plan.skipped] == ["read by the daemon"]


def test_a_compressed_copy_of_a_file_the_daemon_lost_is_read_around_what_it_read() -> (
    None
):
    copy = _file("app.log.2.gz", ino=99)
    gone = dataclasses.replace(_checkpoint(copy[1], FP, origin=1_000), ino=5, gone=True)

    plan = _plan([copy], [gone], follows=False)

    assert _spans(plan) == [
        ("/logs/app.log.2.gz", FP, 0, 1_000),
        ("/logs/app.log.2.gz", FP, 6_000, None),
    ]


def test_an_unknown_origin_reads_again_what_the_daemon_read() -> None:
    live = _file("app.log")

    plan = _plan([live], [_checkpoint(live[1], FP, origin=-1)])

    assert _spans(plan) == [("/logs/app.log", FP, 0, 6_000)]


def test_files_the_daemon_never_knew_get_ids_it_never_gives() -> None:
    old, older = _file("app.log.1", ino=2), _file("app.log.2.gz", ino=3)
    other = _file("app.log.3.gz", b'{"msg": "log opened"}\n{"order": 2}\n', ino=4)

    plan = _plan([older, old, other], [])

    ids = [job.file_id for job in plan.jobs]
    assert all(file_id.startswith(f"{FP}-h") for file_id in ids)
    assert ids[1] == ids[0] + "-2"  # the same first bytes, another file
    assert ids[2] != ids[0]
    assert all(job.span == Span() for job in plan.jobs)


def test_a_live_file_the_daemon_has_not_met_is_left_to_it() -> None:
    plan = _plan([_file("app.log")], [])

    assert plan.jobs == []
    assert [s.reason for s in plan.skipped] == ["the daemon reads it"]


def test_without_a_daemon_every_file_is_read_whole() -> None:
    plan = _plan([_file("app.log.1", ino=2), _file("app.log", ino=3)], None)

    assert [job.span for job in plan.jobs] == [Span(), Span()]


def test_progress_skips_parts_done_and_resumes_parts_begun() -> None:
    done, begun = _file("app.log.2.gz", ino=3), _file("app.log.1", HEAD + b"x\n", ino=2)
    first = _plan([done, begun], [])
    done_id, begun_id = (job.file_id for job in first.jobs)
    progress = [
        _checkpoint(done[1], progress_key(done_id, 0), gone=True),
        _checkpoint(begun[1], progress_key(begun_id, 0), offset=2_500),
    ]

    plan = _plan([done, begun], [], progress)

    assert plan.done == 1
    assert _spans(plan) == [("/logs/app.log.1", begun_id, 2_500, None)]
    assert plan.jobs[0].size == 10_000 - 2_500


def test_files_last_written_before_since_are_skipped() -> None:
    plan = _plan([_file("app.log.1")], [], since_ns=1_900_000_000 * NS)

    assert plan.jobs == []
    assert [s.reason for s in plan.skipped] == ["last written before --since"]
