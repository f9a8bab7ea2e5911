"""The tailer on real files: start positions, resume, rotation, truncation, odd lines."""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import os
import random
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest

from bridge.model import Checkpoint
from bridge.source import Chunk, FileState, Notice, SourceSpec, Tailer
from bridge.source.fingerprint import file_fingerprint
from tests.conftest import FakeClock

StartAt = Literal["end", "beginning"]
_OPEN: list[Tailer] = []


@pytest.fixture(autouse=True)
def _close_tailers() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def _spec(tmp_path: Path, pattern: str = "*.log", start_at: StartAt = "beginning"):
    return SourceSpec("app", (str(tmp_path / pattern),), start_at)


def _tailer(tmp_path: Path, pattern: str = "*.log", **kwargs) -> Tailer:
    kwargs.setdefault("first_start", True)
    start_at = kwargs.pop("start_at", "beginning")
    checkpoints = kwargs.pop("checkpoints", [])
    tailer = Tailer([_spec(tmp_path, pattern, start_at)], checkpoints, **kwargs)
    _OPEN.append(tailer)
    return tailer


def _read_all(tailer: Tailer) -> list[Chunk]:
    chunks: list[Chunk] = []
    while True:
        chunks.extend(tailer.read())
        if not tailer.has_backlog():
            return chunks


def _texts(chunks: list[Chunk]) -> list[str]:
    return [line.text for chunk in chunks for line in chunk.lines]


def _append(path: Path, text: str | bytes) -> None:
    data = text.encode() if isinstance(text, str) else text
    with path.open("ab") as f:
        f.write(data)


def _fp(first_line: str) -> str:
    fingerprint = file_fingerprint(first_line.encode())
    assert fingerprint is not None
    return fingerprint


HEADER = _fp("#header\n")


def _kinds(tailer: Tailer) -> list[str]:
    return [notice.kind for notice in tailer.drain_notices()]


def _last_checkpoints(chunks: list[Chunk]) -> list[Checkpoint]:
    return list({c.checkpoint.file_id: c.checkpoint for c in chunks}.values())


# -- start positions and resume -------------------------------------------------------


def test_first_start_at_end_skips_existing_lines_and_reads_appended_ones(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("old 1\nold 2\n")
    tailer = _tailer(tmp_path, start_at="end")

    tailer.scan()
    first = _read_all(tailer)
    _append(log, "new 1\n")
    second = _read_all(tailer)

    assert _texts(first) == []
    assert first[0].checkpoint.offset == 12
    assert _texts(second) == ["new 1"]


def test_checkpoints_keep_where_reading_began_across_a_restart(tmp_path):
    (tmp_path / "old.log").write_text("old 1\nold 2\n")
    tailer = _tailer(tmp_path, start_at="end")
    tailer.scan()
    skipped = _last_checkpoints(_read_all(tailer))
    (tmp_path / "new.log").write_text("new\n")
    tailer.scan()
    later = _last_checkpoints(_read_all(tailer))
    _append(tmp_path / "old.log", "old 3\n")
    resumed = _tailer(tmp_path, start_at="end", checkpoints=skipped + later)
    resumed.scan()

    assert [(cp.path, cp.origin) for cp in skipped + later] == [
        (str(tmp_path / "old.log"), 12),
        (str(tmp_path / "new.log"), 0),
    ]
    assert {cp.origin for cp in _last_checkpoints(_read_all(resumed))} == {12}


def test_first_start_at_end_starts_after_the_last_complete_line(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("old\nhalf a li")
    tailer = _tailer(tmp_path, start_at="end")

    tailer.scan()
    _read_all(tailer)
    _append(log, "ne\n")

    assert _texts(_read_all(tailer)) == ["half a line"]


def test_first_start_at_end_inside_an_over_long_last_line_skips_its_rest(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("ok\n" + "x" * 100)
    tailer = _tailer(tmp_path, start_at="end", max_line_bytes=16)

    tailer.scan()
    _read_all(tailer)
    _append(log, "yyy\nnext\n")
    chunks = _read_all(tailer)

    assert _texts(chunks) == ["next"]
    assert sum(chunk.too_long for chunk in chunks) == 1


def test_first_start_at_beginning_reads_existing_lines(tmp_path):
    (tmp_path / "app.log").write_text("one\ntwo\n")
    tailer = _tailer(tmp_path, start_at="beginning")

    tailer.scan()

    assert _texts(_read_all(tailer)) == ["one", "two"]


def test_a_file_appearing_after_the_first_scan_is_read_from_zero(tmp_path):
    (tmp_path / "app.log").write_text("old\n")
    tailer = _tailer(tmp_path, start_at="end")
    tailer.scan()
    _read_all(tailer)

    (tmp_path / "later.log").write_text("first\nsecond\n")
    tailer.scan()

    assert _texts(_read_all(tailer)) == ["first", "second"]


def test_without_first_start_a_file_with_no_checkpoint_is_read_from_zero(tmp_path):
    (tmp_path / "app.log").write_text("one\ntwo\n")
    tailer = _tailer(tmp_path, start_at="end", first_start=False)

    tailer.scan()

    assert _texts(_read_all(tailer)) == ["one", "two"]


def test_a_new_tailer_resumes_from_the_stored_checkpoints(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("one\ntwo\n")
    first = _tailer(tmp_path)
    first.scan()
    stored = _last_checkpoints(_read_all(first))
    first.close()
    _append(log, "three\n")

    second = _tailer(tmp_path, checkpoints=stored, first_start=False)
    second.scan()
    chunks = _read_all(second)

    assert _texts(chunks) == ["three"]
    assert chunks[0].lines[0].file_id == stored[0].file_id == _fp("one\n")
    assert chunks[0].lines[0].offset == 8


def test_a_checkpoint_follows_its_file_not_its_path(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("one\ntwo\n")
    first = _tailer(tmp_path)
    first.scan()
    stored = _last_checkpoints(_read_all(first))
    first.close()
    log.rename(tmp_path / "renamed.log")
    _append(tmp_path / "renamed.log", "three\n")

    second = _tailer(tmp_path, checkpoints=stored, first_start=False)
    second.scan()
    chunks = _read_all(second)

    assert _texts(chunks) == ["three"]
    assert chunks[-1].checkpoint.path == str(tmp_path / "renamed.log")


def test_a_file_truncated_while_stopped_is_read_again_under_a_new_id(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("header\nline one\nline two\n")
    first = _tailer(tmp_path)
    first.scan()
    stored = _last_checkpoints(_read_all(first))
    first.close()
    log.write_text("header\nnew\n")
    st = log.stat()

    second = _tailer(tmp_path, checkpoints=stored, first_start=False)
    second.scan()
    chunks = _read_all(second)

    assert _texts(chunks) == ["header", "new"]
    header = _fp("header\n")
    assert chunks[0].checkpoint.file_id == f"{header}-{st.st_dev}-{st.st_ino}"
    assert _kinds(second) == ["file_truncated", "file_added"]


def test_a_file_moved_while_stopped_keeps_its_checkpoint(tmp_path):
    # A move across file systems is a copy and a delete: the inode changes, the
    # identity (first line) does not.
    log = tmp_path / "app.log"
    log.write_text("one\ntwo\n")
    first = _tailer(tmp_path)
    first.scan()
    stored = _last_checkpoints(_read_all(first))
    first.close()
    shutil.copyfile(log, tmp_path / "moved.log")
    log.unlink()
    _append(tmp_path / "moved.log", "three\n")

    second = _tailer(tmp_path, checkpoints=stored, first_start=False)
    second.scan()

    assert _texts(_read_all(second)) == ["three"]


# -- lines -------------------------------------------------------------------------------


def test_a_partial_last_line_waits_for_its_newline(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("one\npart")
    tailer = _tailer(tmp_path)
    tailer.scan()

    before = _read_all(tailer)
    _append(log, "ial\n")
    after = _read_all(tailer)

    assert _texts(before) == ["one"]
    assert before[-1].checkpoint.offset == 4
    assert _texts(after) == ["partial"]
    assert after[-1].checkpoint.offset == 12
    assert after[0].lines[0].offset == 4


def test_a_last_line_without_its_newline_is_reported_unfinished(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("one\ntwo")
    tailer = _tailer(tmp_path)
    tailer.scan()
    _read_all(tailer)

    unfinished = tailer.unfinished_lines()
    _append(log, "\n")
    tailer.scan()
    _read_all(tailer)

    assert unfinished == [FileState(str(log), _fp("one\n"), 4, 7, "app")]
    assert tailer.unfinished_lines() == []


def test_crlf_line_endings_are_stripped(tmp_path):
    (tmp_path / "app.log").write_bytes(b"one\r\ntwo\r\n")
    tailer = _tailer(tmp_path)
    tailer.scan()

    assert _texts(_read_all(tailer)) == ["one", "two"]


def test_an_over_long_line_in_the_middle_is_skipped_and_counted(tmp_path):
    (tmp_path / "app.log").write_text("first\n" + "x" * 100 + "\nlast\n")
    tailer = _tailer(tmp_path, max_line_bytes=16, chunk_bytes=8)
    tailer.scan()

    chunks = _read_all(tailer)

    assert _texts(chunks) == ["first", "last"]
    assert sum(chunk.too_long for chunk in chunks) == 1
    assert [line.offset for chunk in chunks for line in chunk.lines] == [0, 107]
    assert chunks[-1].checkpoint.offset == 112


def test_a_chunk_is_returned_when_only_skipped_lines_advanced_the_file(tmp_path):
    (tmp_path / "app.log").write_text("x" * 40 + "\n")
    tailer = _tailer(tmp_path, max_line_bytes=16)
    tailer.scan()

    chunks = _read_all(tailer)

    assert [(c.lines, c.too_long, c.checkpoint.offset) for c in chunks] == [((), 1, 41)]


def test_invalid_utf8_is_replaced_and_counted_and_nul_bytes_pass(tmp_path):
    (tmp_path / "app.log").write_bytes(b"caf\xe9\nok\x00nul\n\xff\xfe\n")
    tailer = _tailer(tmp_path)
    tailer.scan()

    chunks = _read_all(tailer)

    assert _texts(chunks) == ["caf\ufffd", "ok\x00nul", "\ufffd\ufffd"]
    assert sum(chunk.invalid_utf8 for chunk in chunks) == 2


def test_an_empty_file_is_picked_up_once_it_has_a_first_line(tmp_path):
    log = tmp_path / "app.log"
    log.touch()
    tailer = _tailer(tmp_path, start_at="end")
    tailer.scan()
    _read_all(tailer)

    _append(log, "first")
    tailer.scan()
    partial = _read_all(tailer)
    _append(log, " line\nsecond\n")
    tailer.scan()

    assert partial == []
    assert _texts(_read_all(tailer)) == ["first line", "second"]


# -- rotation ----------------------------------------------------------------------------


def test_rename_and_create_drains_the_old_file_outside_the_pattern(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("a1\na2\n")
    tailer = _tailer(tmp_path, pattern="app.log")
    tailer.scan()
    first = _read_all(tailer)
    _kinds(tailer)
    with log.open("a") as writer:
        writer.write("a3\n")
        log.rename(tmp_path / "app.log.1")
        log.write_text("b1\n")
        writer.write("a4\n")  # the application has not reopened its log yet

    tailer.scan()
    chunks = _read_all(tailer)

    by_file: dict[str, list[str]] = {}
    for line in [line for chunk in first + chunks for line in chunk.lines]:
        by_file.setdefault(line.file_id, []).append(line.text)
    assert list(by_file.values()) == [["a1", "a2", "a3", "a4"], ["b1"]]
    assert _kinds(tailer) == ["file_rotated", "file_added"]


def test_files_written_and_rotated_between_two_scans_are_read_too(tmp_path):
    log = tmp_path / "app.log"
    (tmp_path / "app.log.9").write_text("history, before the first scan\n")
    log.write_text("a1\n")
    time.sleep(0.1)  # history is older than the slack a scan allows for
    tailer = _tailer(tmp_path, pattern="app.log")
    tailer.scan()
    first = _read_all(tailer)
    # Two rotations before the next scan: "b" lived at app.log and was never seen.
    log.rename(tmp_path / "app.log.1")
    log.write_text("b1\nb2\n")
    log.rename(tmp_path / "app.log.2")
    log.write_text("c1\n")

    tailer.scan()
    chunks = _read_all(tailer)
    tailer.scan()
    later = _read_all(tailer)

    texts = sorted(_texts(first + chunks + later))
    assert texts == ["a1", "b1", "b2", "c1"]
    assert len({c.checkpoint.file_id for c in first + chunks}) == 3


@pytest.mark.parametrize("start_at", ["beginning", "end"])
def test_a_generation_rotated_away_before_its_path_was_followed_is_read_too(
    tmp_path, start_at
):
    log = tmp_path / "app.log"
    log.touch()  # empty: nothing to follow yet, so no rotation of it can be seen
    tailer = _tailer(tmp_path, pattern="app.log", start_at=start_at)
    tailer.scan()
    assert _read_all(tailer) == []
    # Written, rotated and replaced before the next scan.
    log.write_text("a1\na2\n")
    log.rename(tmp_path / "app.log.1")
    log.write_text("b1\n")

    tailer.scan()
    chunks = _read_all(tailer)

    assert sorted(_texts(chunks)) == ["a1", "a2", "b1"]


def test_a_copy_made_by_copytruncate_is_not_read_twice(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("a1\na2\n")
    tailer = _tailer(tmp_path, pattern="app.log")
    tailer.scan()
    first = _read_all(tailer)
    shutil.copyfile(log, tmp_path / "app.log.1")
    log.write_text("")  # truncated in place: the same inode
    _append(log, "b1\n")

    tailer.scan()
    chunks = _read_all(tailer)

    assert _texts(first) + _texts(chunks) == ["a1", "a2", "b1"]


def test_a_copy_already_read_is_not_read_again_after_a_second_rotation(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("a1\n")
    tailer = _tailer(tmp_path, pattern="app.log")
    tailer.scan()
    _read_all(tailer)
    log.rename(tmp_path / "app.log.1")
    log.write_text("b1\n")
    tailer.scan()
    _read_all(tailer)
    (tmp_path / "app.log.1").rename(tmp_path / "app.log.2")
    log.rename(tmp_path / "app.log.1")
    log.write_text("c1\n")

    tailer.scan()
    chunks = _read_all(tailer)

    assert _texts(chunks) == ["c1"]


@pytest.mark.parametrize(
    "pattern", ["app.log", "app.log*"], ids=["rotated-leave", "rotated-stay"]
)
def test_rotation_while_lines_are_appended_reads_every_line_once_in_order(
    tmp_path, pattern
):
    rng = random.Random(7)
    log = tmp_path / "app.log"
    tailer = _tailer(tmp_path, pattern=pattern, start_at="end", chunk_bytes=64)
    tailer.scan()
    written: list[str] = []
    read: list[tuple[str, int, str]] = []
    writer = log.open("a")
    try:
        for n in range(400):
            line = f"line {n:04d} " + "x" * rng.randrange(30)
            writer.write(line + "\n")
            writer.flush()
            written.append(line)
            if n % 50 == 49:
                # Rename, a few more lines into the renamed file, then create.
                log.rename(tmp_path / f"app.log.{n}")
                for extra in range(3):
                    writer.write(f"late {n}-{extra}\n")
                    written.append(f"late {n}-{extra}")
                writer.close()
                writer = log.open("a")
            if rng.random() < 0.2:
                tailer.scan()
            if rng.random() < 0.3:
                read += [
                    (x.file_id, x.offset, x.text)
                    for c in tailer.read()
                    for x in c.lines
                ]
    finally:
        writer.close()
    tailer.scan()
    read += [(x.file_id, x.offset, x.text) for c in _read_all(tailer) for x in c.lines]

    assert sorted(text for _, _, text in read) == sorted(written)
    per_file: dict[str, list[int]] = {}
    for file_id, offset, _ in read:
        per_file.setdefault(file_id, []).append(offset)
    assert all(offsets == sorted(offsets) for offsets in per_file.values())


def test_a_rotated_file_is_closed_once_drained_and_idle(tmp_path, clock: FakeClock):
    log = tmp_path / "app.log"
    log.write_text("one\n")
    tailer = _tailer(
        tmp_path, pattern="app.log", clock=clock.monotonic, idle_close_seconds=60
    )
    tailer.scan()
    _read_all(tailer)
    old_id = _fp("one\n")
    log.rename(tmp_path / "app.log.1")
    tailer.scan()
    _kinds(tailer)

    clock.advance(59)
    tailer.scan()
    still_open = _kinds(tailer)
    clock.advance(1)
    tailer.scan()

    assert still_open == []
    assert tailer.drain_notices() == [Notice("file_closed", str(log), old_id, 4)]
    assert tailer.file_states() == []


def test_a_deleted_file_is_drained_then_closed(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("one\n")
    tailer = _tailer(tmp_path, chunk_bytes=4)
    tailer.scan()
    tailer.read()
    _kinds(tailer)
    _append(log, "two\nthree\n")
    log.unlink()

    tailer.scan()
    removed = _kinds(tailer)
    chunks = _read_all(tailer)
    tailer.scan()

    assert removed == ["file_removed"]
    assert _texts(chunks) == ["two", "three"]
    assert _kinds(tailer) == ["file_closed"]


def test_an_idle_file_is_closed_and_reopened_when_it_grows(tmp_path, clock: FakeClock):
    log = tmp_path / "app.log"
    log.write_text("one\n")
    tailer = _tailer(tmp_path, clock=clock.monotonic, idle_close_seconds=10)
    tailer.scan()
    _read_all(tailer)
    fds_before = len(list(Path("/proc/self/fd").iterdir()))

    clock.advance(10)
    tailer.scan()
    fds_idle = len(list(Path("/proc/self/fd").iterdir()))
    _append(log, "two\n")
    tailer.scan()
    chunks = _read_all(tailer)

    assert fds_idle == fds_before - 1
    assert _texts(chunks) == ["two"]
    assert tailer.file_states() == [FileState(str(log), _fp("one\n"), 8, 8, "app")]


def test_an_idle_closed_file_renamed_in_its_directory_is_still_drained(
    tmp_path, clock: FakeClock
):
    log = tmp_path / "app.log"
    log.write_text("one\n")
    tailer = _tailer(
        tmp_path, pattern="app.log", clock=clock.monotonic, idle_close_seconds=10
    )
    tailer.scan()
    _read_all(tailer)
    clock.advance(10)
    tailer.scan()  # closes the idle file

    log.rename(tmp_path / "app.log.1")
    _append(tmp_path / "app.log.1", "late\n")
    tailer.scan()

    assert _texts(_read_all(tailer)) == ["late"]


def test_a_file_idle_before_its_rotation_is_kept_open_after_it(
    tmp_path, clock: FakeClock
):
    log = tmp_path / "app.log"
    log.write_text("one\n")
    tailer = _tailer(
        tmp_path, pattern="app.log", clock=clock.monotonic, idle_close_seconds=10
    )
    tailer.scan()
    _read_all(tailer)
    clock.advance(9)

    log.rename(tmp_path / "app.log.1")
    tailer.scan()
    clock.advance(9)
    tailer.scan()
    _append(tmp_path / "app.log.1", "late\n")

    assert _texts(_read_all(tailer)) == ["late"]


def test_a_closed_file_that_comes_back_resumes_where_it_was(tmp_path, clock):
    log = tmp_path / "app.log"
    log.write_text("one\n")
    tailer = _tailer(tmp_path, clock=clock.monotonic, idle_close_seconds=5)
    tailer.scan()
    _read_all(tailer)
    tailer.set_sources([SourceSpec("other", (str(tmp_path / "*.txt"),), "end")])
    tailer.scan()
    clock.advance(5)
    tailer.scan()  # drained and closed: no source matches it

    tailer.set_sources([_spec(tmp_path)])
    _append(log, "two\n")
    tailer.scan()
    chunks = _read_all(tailer)

    assert _texts(chunks) == ["two"]
    assert chunks[0].checkpoint.file_id == _fp("one\n")


# -- copytruncate ------------------------------------------------------------------------


def test_copytruncate_restarts_at_zero_under_a_new_identity(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("old 1\nold 2\n")
    tailer = _tailer(tmp_path, pattern="app.log")
    tailer.scan()
    _read_all(tailer)
    _kinds(tailer)

    with log.open("r+") as f:
        f.truncate(0)
    _append(log, "new 1\n")
    tailer.scan()
    chunks = _read_all(tailer)

    assert _texts(chunks) == ["new 1"]
    assert chunks[0].checkpoint.file_id == _fp("new 1\n")
    assert _kinds(tailer) == ["file_truncated", "file_added"]


def test_a_truncation_that_keeps_the_first_line_gets_a_new_id(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("#header\nold 1\nold 2\n")
    tailer = _tailer(tmp_path, pattern="app.log")
    tailer.scan()
    _read_all(tailer)

    log.write_text("#header\nnew\n")
    tailer.scan()
    chunks = _read_all(tailer)

    st = log.stat()
    assert _texts(chunks) == ["#header", "new"]
    assert chunks[0].checkpoint.file_id == f"{HEADER}-{st.st_dev}-{st.st_ino}"


def test_a_file_truncated_and_regrown_between_scans_is_not_read_mid_line(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("old\n")
    tailer = _tailer(tmp_path, pattern="app.log")
    tailer.scan()
    _read_all(tailer)

    log.write_text("a much longer first line\nsecond\n")
    without_scan = _read_all(tailer)
    tailer.scan()

    assert without_scan == []
    assert _texts(_read_all(tailer)) == ["a much longer first line", "second"]


def test_a_copy_inside_the_pattern_is_not_read_again(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("old 1\nold 2\n")
    tailer = _tailer(tmp_path, pattern="app.log*")
    tailer.scan()
    _read_all(tailer)

    shutil.copyfile(log, tmp_path / "app.log.1")
    tailer.scan()
    during_copy = _read_all(tailer)
    with log.open("r+") as f:
        f.truncate(0)
    _append(log, "new 1\n")
    tailer.scan()
    chunks = _read_all(tailer)

    assert during_copy == []
    assert _texts(chunks) == ["new 1"]
    copy = next(s for s in tailer.file_states() if s.path.endswith(".1"))
    assert (copy.file_id, copy.offset) == (_fp("old 1\n"), 12)


def test_a_copy_met_after_the_truncation_takes_over_the_checkpoint(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("old 1\nold 2\n")
    tailer = _tailer(tmp_path, pattern="app.log*")
    tailer.scan()
    _read_all(tailer)
    _append(log, "old 3\n")  # written before the copy, not read yet

    shutil.copyfile(log, tmp_path / "app.log.1")
    with log.open("r+") as f:
        f.truncate(0)
    tailer.scan()

    assert _texts(_read_all(tailer)) == ["old 3"]


def test_a_copy_of_an_idle_closed_file_is_not_read_again(tmp_path, clock):
    log = tmp_path / "app.log"
    log.write_text("old 1\nold 2\n")
    tailer = _tailer(
        tmp_path, pattern="app.log*", clock=clock.monotonic, idle_close_seconds=5
    )
    tailer.scan()
    _read_all(tailer)
    clock.advance(5)
    tailer.scan()  # closes the idle file

    shutil.copyfile(log, tmp_path / "app.log.1")
    tailer.scan()

    assert _read_all(tailer) == []


# -- identity ----------------------------------------------------------------------------


def test_two_files_with_the_same_first_line_are_told_apart_and_stay_so(tmp_path):
    (tmp_path / "a.log").write_text("#header\na 1\n")
    (tmp_path / "b.log").write_text("#header\nb 1\n")
    b = (tmp_path / "b.log").stat()
    first = _tailer(tmp_path)
    first.scan()
    chunks = _read_all(first)
    first.close()
    _append(tmp_path / "a.log", "a 2\n")
    _append(tmp_path / "b.log", "b 2\n")

    second = _tailer(tmp_path, checkpoints=_last_checkpoints(chunks), first_start=False)
    second.scan()
    later = _read_all(second)

    ids = {c.checkpoint.path: c.checkpoint.file_id for c in chunks}
    assert _texts(chunks) == ["#header", "a 1", "#header", "b 1"]
    assert ids == {
        str(tmp_path / "a.log"): HEADER,
        str(tmp_path / "b.log"): f"{HEADER}-{b.st_dev}-{b.st_ino}",
    }
    assert {c.checkpoint.path: c.checkpoint.file_id for c in later} == ids
    assert _texts(later) == ["a 2", "b 2"]


# -- fairness, sources, odd files --------------------------------------------------------


def test_each_read_takes_at_most_chunk_bytes_from_each_file(tmp_path):
    (tmp_path / "a.log").write_text("".join(f"a{n}\n" for n in range(100)))
    (tmp_path / "b.log").write_text("".join(f"b{n}\n" for n in range(100)))
    tailer = _tailer(tmp_path, chunk_bytes=32)
    tailer.scan()

    chunks = tailer.read()

    assert [c.checkpoint.path for c in chunks] == [
        str(tmp_path / "a.log"),
        str(tmp_path / "b.log"),
    ]
    assert all(c.checkpoint.offset <= 32 for c in chunks)
    assert tailer.has_backlog()


def test_max_bytes_continues_round_robin_where_the_last_read_stopped(tmp_path):
    for name in ("a", "b", "c"):
        (tmp_path / f"{name}.log").write_text(f"{name}1\n{name}2\n")
    tailer = _tailer(tmp_path, chunk_bytes=3)
    tailer.scan()

    order = [_texts(tailer.read(max_bytes=3)) for _ in range(4)]

    assert order == [["a1"], ["b1"], ["c1"], ["a2"]]


def test_max_bytes_lets_many_small_chunks_share_a_read(tmp_path):
    for name in ("a", "b", "c", "d"):
        (tmp_path / f"{name}.log").write_text(f"{name}1\n")
    tailer = _tailer(tmp_path, chunk_bytes=64)
    tailer.scan()

    first, second = _texts(tailer.read(max_bytes=7)), _texts(tailer.read(max_bytes=7))

    assert (first, second) == (["a1", "b1", "c1"], ["d1"])


def test_a_new_source_after_a_reload_starts_where_its_start_at_says(tmp_path):
    (tmp_path / "app.log").write_text("app\n")
    (tmp_path / "web.txt").write_text("old web\n")
    tailer = _tailer(tmp_path, first_start=False)
    tailer.scan()
    _read_all(tailer)

    tailer.set_sources(
        [_spec(tmp_path), SourceSpec("web", (str(tmp_path / "*.txt"),), "end")]
    )
    tailer.scan()
    skipped = _texts(_read_all(tailer))
    _append(tmp_path / "web.txt", "new web\n")

    assert skipped == []
    assert _texts(_read_all(tailer)) == ["new web"]


def test_a_file_no_source_matches_any_more_is_drained_and_closed(tmp_path, clock):
    (tmp_path / "app.log").write_text("one\n")
    tailer = _tailer(tmp_path, clock=clock.monotonic, idle_close_seconds=5)
    tailer.scan()
    _read_all(tailer)
    _kinds(tailer)

    tailer.set_sources([_spec(tmp_path, "*.txt")])
    tailer.scan()
    clock.advance(5)
    tailer.scan()

    assert _kinds(tailer) == ["file_rotated", "file_closed"]


def test_a_scan_stopped_before_its_glob_ends_keeps_every_tracked_file(tmp_path, clock):
    (tmp_path / "app.log").write_text("one\n")
    tailer = _tailer(tmp_path, clock=clock.monotonic, idle_close_seconds=5)
    tailer.scan()
    _read_all(tailer)
    _kinds(tailer)
    stop = threading.Event()
    stop.set()

    tailer.scan(stop)
    clock.advance(5)
    tailer.scan(stop)
    _append(tmp_path / "app.log", "two\n")
    tailer.scan(stop)

    assert _kinds(tailer) == []
    assert _texts(_read_all(tailer)) == ["two"]


def test_each_bound_a_pattern_reaches_is_reported_once(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "app.log").write_text("one\n")
    (tmp_path / "a" / "loop").symlink_to("..")
    tailer = _tailer(tmp_path, pattern="**/*.log")

    tailer.scan()
    first = tailer.drain_glob_limits()
    tailer.scan()
    again = tailer.drain_glob_limits()

    assert [(limit.pattern, limit.revisited) for limit in first] == [
        (str(tmp_path / "**" / "*.log"), 1)
    ]
    assert again == []
    assert [state.path for state in tailer.file_states()] == [
        str(tmp_path / "a" / "app.log")
    ]


def test_fifos_and_directories_matched_by_a_pattern_are_ignored(tmp_path):
    os.mkfifo(tmp_path / "pipe.log")
    (tmp_path / "dir.log").mkdir()
    tailer = _tailer(tmp_path)

    tailer.scan()

    assert tailer.file_states() == []
    assert tailer.drain_notices() == []


def test_an_unreadable_file_is_reported_once_and_read_when_it_becomes_readable(
    tmp_path,
):
    log = tmp_path / "app.log"
    log.write_text("secret\n")
    log.chmod(0)
    tailer = _tailer(tmp_path)

    with _without_override():
        tailer.scan()
        tailer.scan()
    unreadable = tailer.drain_notices()
    log.chmod(0o644)
    tailer.scan()

    assert unreadable == [Notice("file_unreadable", str(log), "", 0)]
    assert _texts(_read_all(tailer)) == ["secret"]


@contextlib.contextmanager
def _without_override() -> Iterator[None]:
    """Let permission bits apply to this thread even when it runs as root."""
    if os.geteuid() != 0:
        yield
        return
    caps = _ThreadCapabilities()
    if not caps.drop_override():
        pytest.skip("cannot drop CAP_DAC_OVERRIDE to test permissions as root")
    try:
        yield
    finally:
        caps.restore()


class _Header(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _Data(ctypes.Structure):
    _fields_ = (
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    )


class _ThreadCapabilities:
    """capget/capset (Linux): capabilities belong to the calling thread only."""

    _VERSION_3 = 0x20080522
    # CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH: what lets root ignore mode bits.
    _OVERRIDE = (1 << 1) | (1 << 2)

    def __init__(self) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._header = _Header(self._VERSION_3, 0)
        self._data = (_Data * 2)()
        self._saved = 0

    def drop_override(self) -> bool:
        if self._libc.capget(ctypes.byref(self._header), self._data) != 0:
            return False
        self._saved = self._data[0].effective
        self._data[0].effective &= ~self._OVERRIDE
        return bool(self._libc.capset(ctypes.byref(self._header), self._data) == 0)

    def restore(self) -> None:
        self._data[0].effective = self._saved
        self._libc.capset(ctypes.byref(self._header), self._data)


# -- files that begin with the same header -----------------------------------------------

BANNER = '{"msg":"logfile opened"}\n'


def _order(n: int) -> str:
    return f'{{"event":"order","n":{n:04d}}}\n'


def _rotate(log: Path, to: Path, *, header: str = BANNER) -> None:
    """logrotate's create: rename (replacing an older rotated file), then a new file."""
    log.rename(to)
    log.write_text(header)


def test_a_new_file_never_takes_the_position_of_a_deleted_one_with_its_header(
    tmp_path,
):
    log = tmp_path / "app.log"
    log.write_text(BANNER + _order(1))
    tailer = _tailer(tmp_path, pattern="app.log")
    tailer.scan()
    _read_all(tailer)

    _rotate(log, tmp_path / "app.log.1")
    tailer.scan()
    _append(log, _order(2))
    tailer.scan()
    second = _read_all(tailer)
    # The second rotation replaces app.log.1: the first file is deleted.
    _rotate(log, tmp_path / "app.log.1")
    tailer.scan()
    _read_all(tailer)
    _append(log, _order(3) + _order(4))
    tailer.scan()
    third = _read_all(tailer)

    assert _texts(second) == [BANNER.strip(), _order(2).strip()]
    assert _texts(third) == [BANNER.strip(), _order(3).strip(), _order(4).strip()]


def test_after_a_restart_a_new_file_with_the_same_header_is_read_whole(tmp_path):
    log = tmp_path / "app.log"
    log.write_text(BANNER + _order(1))
    first = _tailer(tmp_path, pattern="app.log")
    first.scan()
    stored = _last_checkpoints(_read_all(first))
    first.close()
    log.unlink()
    log.write_text(BANNER + _order(2) + _order(3))

    second = _tailer(tmp_path, pattern="app.log", checkpoints=stored, first_start=False)
    second.scan()

    assert _texts(_read_all(second)) == [
        BANNER.strip(),
        _order(2).strip(),
        _order(3).strip(),
    ]


def test_a_reused_inode_with_the_same_header_is_read_whole_after_a_restart(tmp_path):
    log = tmp_path / "app.log"
    log.write_text(BANNER + _order(1))
    first = _tailer(tmp_path, pattern="app.log")
    first.scan()
    (stored,) = _last_checkpoints(_read_all(first))
    first.close()
    log.unlink()
    log.write_text(BANNER + _order(2) + _order(3))
    st = log.stat()
    # The file system gave the new file the deleted file's inode.
    reused = dataclasses.replace(stored, dev=st.st_dev, ino=st.st_ino)

    second = _tailer(
        tmp_path, pattern="app.log", checkpoints=[reused], first_start=False
    )
    second.scan()
    chunks = _read_all(second)

    assert _texts(chunks) == [BANNER.strip(), _order(2).strip(), _order(3).strip()]
    assert chunks[0].checkpoint.file_id != stored.file_id


def test_a_reused_inode_with_the_same_header_is_read_whole_while_running(tmp_path):
    log = tmp_path / "app.log"
    log.write_text(BANNER + _order(1) + _order(2))
    tailer = _tailer(tmp_path, pattern="app.log")
    tailer.scan()
    _read_all(tailer)
    # Rewritten in place, as a file system reusing the inode at once would leave it:
    # same inode, same first line, longer than what was read.
    with log.open("r+") as f:
        f.write(BANNER + _order(7) + _order(8) + _order(9))
    tailer.scan()

    assert _texts(_read_all(tailer)) == [
        BANNER.strip(),
        _order(7).strip(),
        _order(8).strip(),
        _order(9).strip(),
    ]


def test_a_file_moved_while_stopped_still_resumes_past_its_header(tmp_path):
    log = tmp_path / "app.log"
    log.write_text(BANNER + _order(1))
    first = _tailer(tmp_path)
    first.scan()
    stored = _last_checkpoints(_read_all(first))
    first.close()
    shutil.copyfile(log, tmp_path / "moved.log")
    log.unlink()
    _append(tmp_path / "moved.log", _order(2))

    second = _tailer(tmp_path, checkpoints=stored, first_start=False)
    second.scan()

    assert _texts(_read_all(second)) == [_order(2).strip()]


def test_a_deleted_file_is_reported_gone_and_its_checkpoint_never_adopted(tmp_path):
    log = tmp_path / "app.log"
    log.write_text(BANNER + _order(1))
    tailer = _tailer(tmp_path, pattern="app.log")
    tailer.scan()
    _read_all(tailer)
    log.unlink()
    tailer.scan()
    gone = _read_all(tailer)
    tailer.scan()

    assert [c.checkpoint.gone for c in gone] == [True]
    assert tailer.file_states() == []


def test_a_reload_that_adds_a_source_to_a_file_keeps_its_position(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("one\ntwo\n")
    tailer = _tailer(tmp_path, pattern="app.log")
    tailer.scan()
    _read_all(tailer)

    tailer.set_sources(
        [
            _spec(tmp_path, "app.log"),
            SourceSpec("raw", (str(tmp_path / "*.log"),), "end"),
        ]
    )
    tailer.scan()
    moved = _read_all(tailer)
    _append(log, "three\n")
    later = _read_all(tailer)

    assert [c.checkpoint.source for c in moved] == ["app+raw"]
    assert moved[0].checkpoint.offset == 8
    assert _texts(later) == ["three"]
