"""Finished files read whole, plain or gzip-compressed, at their uncompressed offsets."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from bridge.source.archive import ArchiveError, ArchiveReader, Span, inspect
from bridge.source.fingerprint import file_fingerprint

LINES = [f'{{"n": {n}, "pad": "{"x" * (n % 7)}"}}' for n in range(200)]
TEXT = "".join(line + "\n" for line in LINES).encode()
WHOLE = Span()


def _lines(
    path: Path, span: Span = WHOLE, chunk_bytes: int = 512
) -> list[tuple[int, str]]:
    file = inspect(str(path))
    reader = ArchiveReader(chunk_bytes=chunk_bytes, max_line_bytes=1024)
    return [
        (line.offset, line.text)
        for chunk in reader.chunks(file, "app", "id", span)
        for line in chunk.lines
    ]


def _offsets() -> list[tuple[int, str]]:
    found, offset = [], 0
    for line in LINES:
        found.append((offset, line))
        offset += len(line) + 1
    return found


def test_a_gzip_file_gives_the_lines_and_offsets_of_the_plain_one(
    tmp_path: Path,
) -> None:
    plain, packed = tmp_path / "app.log.1", tmp_path / "app.log.2.gz"
    plain.write_bytes(TEXT)
    packed.write_bytes(gzip.compress(TEXT))

    assert _lines(plain) == _lines(packed) == _offsets()
    assert inspect(str(packed)).fingerprint == file_fingerprint(TEXT)
    assert inspect(str(packed)).head == inspect(str(plain)).head


def test_members_of_a_concatenated_gzip_file_are_read_in_turn(tmp_path: Path) -> None:
    half = len(TEXT) // 2
    cut = TEXT.rindex(b"\n", 0, half) + 1
    packed = tmp_path / "app.log.gz"
    packed.write_bytes(gzip.compress(TEXT[:cut]) + gzip.compress(TEXT[cut:]))

    assert _lines(packed) == _offsets()


@pytest.mark.parametrize("packed", [False, True], ids=["plain", "gzip"])
def test_a_span_gives_the_lines_that_start_in_it(tmp_path: Path, packed: bool) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(gzip.compress(TEXT) if packed else TEXT)
    expected = _offsets()
    start, stop = expected[40][0], expected[120][0]

    assert _lines(path, Span(start, stop), chunk_bytes=300) == expected[40:120]
    assert _lines(path, Span(stop), chunk_bytes=300) == expected[120:]
    assert _lines(path, Span(0, 0)) == []


def test_a_last_line_without_its_newline_is_read(tmp_path: Path) -> None:
    path = tmp_path / "app.log.1"
    path.write_bytes(b"one\ntwo")

    file = inspect(str(path))
    chunks = list(ArchiveReader().chunks(file, "app", "id"))

    assert [(line.offset, line.text) for c in chunks for line in c.lines] == [
        (0, "one"),
        (4, "two"),
    ]
    assert chunks[-1].checkpoint.offset == 7


def test_a_truncated_gzip_file_gives_its_lines_then_says_where_it_ends(
    tmp_path: Path,
) -> None:
    path = tmp_path / "app.log.2.gz"
    packed = gzip.compress(TEXT * 20)
    path.write_bytes(packed[: len(packed) - 8])  # the trailer cut off
    read: list[str] = []

    def read_all() -> None:
        reader = ArchiveReader(chunk_bytes=4096)
        for chunk in reader.chunks(inspect(str(path)), "a", "i"):
            read.extend(line.text for line in chunk.lines)

    with pytest.raises(ArchiveError, match="ends early"):
        read_all()

    assert read[:200] == LINES


def test_on_read_counts_the_bytes_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "app.log.2.gz"
    path.write_bytes(gzip.compress(TEXT))
    counted: list[int] = []

    for _ in ArchiveReader().chunks(
        inspect(str(path)), "a", "i", on_read=counted.append
    ):
        pass

    assert sum(counted) == path.stat().st_size
