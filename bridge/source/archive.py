"""Reading a finished log file whole, plain or gzip-compressed, as chunks of lines.

The tailer follows files that grow; a backfill (and ``replay``) reads files that are
complete: rotated copies, compressed or not, and the part of a live file that was
there before the daemon began to follow it. Their lines come out as the tailer's
``Chunk`` values, at the offsets they have in the uncompressed file, so the events
they make have the uuids the daemon gives the same lines.

Invariants:

- A gzip file is known by its first two bytes, not its name; its members are read one
  after the other, as ``gunzip`` does. Decompression is bounded: at most
  ``chunk_bytes`` of output per step, however well the input compressed.
- ``ArchiveReader.chunks`` gives the lines that start in ``[start, stop)`` (``stop``
  None: to the end); ``start`` and ``stop`` must be line starts. A last line without its
  newline is read all the same: the file is finished, so nothing will complete it.
- A damaged or truncated gzip file gives the lines before the damage, then raises
  ``ArchiveError`` saying where it stopped.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from bridge.model import Checkpoint
from bridge.source.fingerprint import (
    FINGERPRINT_BYTES,
    HEAD_CHECK_BYTES,
    file_fingerprint,
    head_digest,
)
from bridge.source.linebuffer import LineBuffer
from bridge.source.tailer import Chunk

__all__ = [
    "ArchiveError",
    "ArchiveReader",
    "ArchivedFile",
    "Span",
    "inspect",
    "read_bytes",
]

_GZIP_MAGIC = b"\x1f\x8b"
# Compressed bytes read at once.
_RAW_BYTES = 1 << 20
# gzip's wbits: a gzip header and trailer around a deflate stream.
_GZIP_WBITS = 16 + zlib.MAX_WBITS


class ArchiveError(Exception):
    """A file could not be read to its end (a damaged or truncated gzip stream)."""


@dataclass(frozen=True, slots=True)
class ArchivedFile:
    """
    What identifies a finished file: its first line's fingerprint and its first
    ``HEAD_CHECK_BYTES`` bytes (uncompressed), with where it lies on disk.
    """

    path: str
    dev: int
    ino: int
    # Bytes on disk (compressed, for a gzip file).
    size: int
    mtime_ns: int
    gzip: bool
    # None: the file holds no complete line (nothing to read).
    fingerprint: str | None
    head: bytes

    def continues(self, checkpoint: Checkpoint) -> bool:
        """True if this file begins as the checkpoint's file did (fingerprint.py)."""
        if checkpoint.head_bytes > len(self.head):
            # The checkpoint saw more of its file than this one holds: not the same.
            return False
        return head_digest(self.head[: checkpoint.head_bytes]) == checkpoint.head_hash


def inspect(path: str) -> ArchivedFile:
    """
    Read a file's identity.

    Raises:
        OSError: it cannot be opened or read.
        ArchiveError: it is a damaged gzip file.
    """
    with open(path, "rb") as f:  # noqa: PTH123 (a str path, an fd's stat)
        st = os.fstat(f.fileno())
        compressed = f.read(2) == _GZIP_MAGIC
        f.seek(0)
        head = b""
        for block in _blocks(f, compressed, HEAD_CHECK_BYTES):
            head += block
            if len(head) >= HEAD_CHECK_BYTES:
                break
    head = head[:HEAD_CHECK_BYTES]
    fingerprint = file_fingerprint(head[:FINGERPRINT_BYTES])
    if fingerprint is None and head and len(head) < FINGERPRINT_BYTES:
        # A finished file whose only line has no newline: it is still a line.
        fingerprint = file_fingerprint(head + b"\n")
    return ArchivedFile(
        path=path,
        dev=st.st_dev,
        ino=st.st_ino,
        size=st.st_size,
        mtime_ns=st.st_mtime_ns,
        gzip=compressed,
        fingerprint=fingerprint,
        head=head,
    )


@dataclass(frozen=True, slots=True)
class Span:
    """The lines to read: those starting at ``start`` up to ``stop`` (None: the end)."""

    start: int = 0
    stop: int | None = None


@dataclass(frozen=True, slots=True)
class ArchiveReader:
    """Reads finished files as chunks of at most ``chunk_bytes``."""

    chunk_bytes: int = 1 << 20
    max_line_bytes: int = 1 << 20

    def chunks(
        self,
        file: ArchivedFile,
        source: str,
        file_id: str,
        span: Span = Span(),
        on_read: Callable[[int], None] | None = None,
    ) -> Iterator[Chunk]:
        """
        The lines of ``span``, chunk by chunk; each chunk's checkpoint says how far
        the file has been read under ``file_id``. ``on_read`` is told how many bytes
        of the file on disk each step consumed (compressed bytes, for a gzip file).

        Raises:
            OSError: the file cannot be read.
            ArchiveError: a gzip stream is damaged or cut short (after the chunks
                before the damage).
        """
        buffer = LineBuffer(span.start, max_line_bytes=self.max_line_bytes)
        head_bytes = min(len(file.head), HEAD_CHECK_BYTES)
        base = Checkpoint(
            file_id=file_id,
            source=source,
            path=file.path,
            dev=file.dev,
            ino=file.ino,
            offset=span.start,
            size=file.size,
            head_bytes=head_bytes,
            head_hash=head_digest(file.head[:head_bytes]),
        )
        with open(file.path, "rb") as f:  # noqa: PTH123 (a str path)
            if not file.gzip:
                f.seek(span.start)
            blocks = _blocks(f, file.gzip, self.chunk_bytes, on_read)
            offset = span.start if not file.gzip else 0
            for block in _clipped(blocks, offset, span):
                cut = buffer.feed(block)
                if cut.too_long or cut.block or cut.lines:
                    yield Chunk(_at(base, buffer.consumed), cut, file.mtime_ns)
        # The file is finished: a last line without its newline is complete.
        if buffer.position > buffer.consumed and (
            span.stop is None or buffer.position <= span.stop
        ):
            cut = buffer.feed(b"\n")
            if cut.too_long or cut.block or cut.lines:
                yield Chunk(_at(base, buffer.consumed - 1), cut, file.mtime_ns)


def _clipped(blocks: Iterator[bytes], offset: int, span: Span) -> Iterator[bytes]:
    """The parts of ``blocks`` (the first at ``offset``) that lie within ``span``."""
    for block in blocks:
        end = offset + len(block)
        kept = block
        if offset < span.start:
            kept = block[span.start - offset :] if end > span.start else b""
        if span.stop is not None and end >= span.stop:
            kept = kept[: max(0, len(kept) - (end - span.stop))]
            if kept:
                yield kept
            return
        offset = end
        if kept:
            yield kept


def read_bytes(file: ArchivedFile, block_bytes: int = 1 << 20) -> Iterator[bytes]:
    """
    The file's bytes, uncompressed, in blocks of at most ``block_bytes``.

    Raises:
        OSError: the file cannot be read.
        ArchiveError: a gzip stream is damaged or cut short.
    """
    with open(file.path, "rb") as f:  # noqa: PTH123 (a str path)
        yield from _blocks(f, file.gzip, block_bytes)


def _at(checkpoint: Checkpoint, offset: int) -> Checkpoint:
    return Checkpoint(
        checkpoint.file_id,
        checkpoint.source,
        checkpoint.path,
        checkpoint.dev,
        checkpoint.ino,
        offset,
        checkpoint.size,
        checkpoint.head_bytes,
        checkpoint.head_hash,
    )


def _blocks(
    f: BinaryIO,
    compressed: bool,
    size: int,
    on_read: Callable[[int], None] | None = None,
) -> Iterator[bytes]:
    """The file's bytes (uncompressed), in blocks of at most ``size``."""
    if compressed:
        yield from _gunzip(f, size, on_read)
        return
    while block := f.read(size):
        if on_read is not None:
            on_read(len(block))
        yield block


def _gunzip(
    f: BinaryIO, size: int, on_read: Callable[[int], None] | None
) -> Iterator[bytes]:
    decompressor = zlib.decompressobj(_GZIP_WBITS)
    # Whether the current member has begun: a file must not end inside one.
    begun = False
    pending = b""
    while True:
        if not pending:
            pending = f.read(_RAW_BYTES)
            if not pending:
                break
            if on_read is not None:
                on_read(len(pending))
        try:
            block = decompressor.decompress(pending, size)
        except zlib.error as exc:
            msg = f"damaged gzip data near byte {f.tell()}: {exc}"
            raise ArchiveError(msg) from None
        begun = True
        pending = decompressor.unconsumed_tail
        if decompressor.eof:
            # The end of one member; what follows may be the next (``cat a.gz b.gz``),
            # or bytes that are no member, which gunzip ignores too.
            pending = decompressor.unused_data
            decompressor = zlib.decompressobj(_GZIP_WBITS)
            begun = False
            if not pending.startswith(_GZIP_MAGIC):
                pending = b""
        if block:
            yield block
    if begun:
        msg = f"the gzip data ends early, at byte {f.tell()} (a truncated file)"
        raise ArchiveError(msg)
