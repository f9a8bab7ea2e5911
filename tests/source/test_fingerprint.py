import hashlib

import pytest

from bridge.source.fingerprint import FINGERPRINT_BYTES, file_fingerprint


def _blake(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"first\nsecond\n", _blake(b"first\n")),
        (b"first\n", _blake(b"first\n")),
        (b"\nrest", _blake(b"\n")),
        (b"x" * 2000, _blake(b"x" * FINGERPRINT_BYTES)),
        (b"x" * 1023 + b"\n", _blake(b"x" * 1023 + b"\n")),
        (b"x" * 1024 + b"\n", _blake(b"x" * FINGERPRINT_BYTES)),
        (b"no newline yet", None),
        (b"", None),
    ],
    ids=[
        "first-line",
        "only-line",
        "empty-first-line",
        "no-newline-in-1024-bytes",
        "newline-at-byte-1024",
        "newline-after-byte-1024",
        "partial-first-line",
        "empty",
    ],
)
def test_fingerprint_is_a_hash_of_the_first_line_capped_at_1024_bytes(head, expected):
    assert file_fingerprint(head) == expected


def test_fingerprint_does_not_change_when_the_file_grows():
    first = file_fingerprint(b"2025-01-01 started\n")

    grown = file_fingerprint(b"2025-01-01 started\n" + b"more lines\n" * 200)

    assert grown == first
