"""The identity of a log file: a hash of its first line, read from its first bytes.

Invariants:

- The fingerprint depends only on the first complete line (``\\n`` included), capped at
  ``FINGERPRINT_BYTES``. Appending to a file never changes it, so the uuids of events
  built from it are the same after the state database is lost and the file re-read.
- A file whose first ``FINGERPRINT_BYTES`` hold no ``\\n`` is identified by those bytes.
- A shorter file without a complete first line has no fingerprint yet: there is nothing
  to read from it anyway, and it is looked at again on the next scan.

The first line names a file (its events' uuids are built from that name), but many logs
begin with the same header (a CSV header, a W3C ``#Version`` line, a "log opened"
banner), so the first line alone cannot tell whether a file is the one a checkpoint
was taken of. A checkpoint therefore also keeps ``head_digest`` of the file's first
``HEAD_CHECK_BYTES`` bytes as far as they had been read (``head_bytes``): a file
continues a checkpoint only if it begins with those very bytes.

Both functions are pure: ``bridge.source.tracked`` reads the bytes.
"""

from __future__ import annotations

import hashlib

__all__ = [
    "FINGERPRINT_BYTES",
    "HEAD_CHECK_BYTES",
    "file_fingerprint",
    "head_digest",
]

# Filebeat's and OTel's fingerprint length (shippers.md §1A): long enough to hold the
# first line of any sane log format, short enough to read on every scan.
FINGERPRINT_BYTES = 1024
# How much of a file's beginning a checkpoint remembers (as a digest): past any header
# of a real log format, so that two files sharing one differ within these bytes. Read
# again only while a file is shorter than this, and when a checkpoint is matched.
HEAD_CHECK_BYTES = 4096
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


def head_digest(head: bytes) -> str:
    """Return the digest a checkpoint keeps of a file's first bytes (``""`` for none)."""
    if not head:
        return ""
    return hashlib.blake2b(head, digest_size=_DIGEST_BYTES).hexdigest()
