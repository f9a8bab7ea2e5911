"""The identity of a log file: a hash of its first line, read from its first bytes.

Invariants:

- The fingerprint depends only on the first complete line (``\\n`` included), capped at
  ``FINGERPRINT_BYTES``. Appending to a file never changes it, so the uuids of events
  built from it are the same after the state database is lost and the file re-read.
- A file whose first ``FINGERPRINT_BYTES`` hold no ``\\n`` is identified by those bytes.
- A shorter file without a complete first line has no fingerprint yet: there is nothing
  to read from it anyway, and it is looked at again on the next scan.

``file_fingerprint`` is pure; ``read_fingerprint`` reads the head of an open descriptor.
"""

from __future__ import annotations

import hashlib
import os

__all__ = ["FINGERPRINT_BYTES", "file_fingerprint", "read_fingerprint"]

# Filebeat's and OTel's fingerprint length (shippers.md §1A): long enough to hold the
# first line of any sane log format, short enough to read on every scan.
FINGERPRINT_BYTES = 1024
# 16 bytes of blake2b: collisions between unrelated first lines are not a concern.
_DIGEST_BYTES = 16


def file_fingerprint(head: bytes) -> str | None:
    """
    Return the fingerprint of a file whose first bytes are ``head``.

    Returns:
        32 hex digits, or None while the file has no complete first line and is
        shorter than ``FINGERPRINT_BYTES``.
    """
    head = head[:FINGERPRINT_BYTES]
    end = head.find(b"\n")
    if end >= 0:
        key = head[: end + 1]
    elif len(head) == FINGERPRINT_BYTES:
        key = head
    else:
        return None
    return hashlib.blake2b(key, digest_size=_DIGEST_BYTES).hexdigest()


def read_fingerprint(fd: int) -> str | None:
    """Return the fingerprint of the file open as ``fd`` (read without moving it)."""
    return file_fingerprint(os.pread(fd, FINGERPRINT_BYTES, 0))
