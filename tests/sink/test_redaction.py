"""``redact_secret``: no whole key, and no cut key, survives in a kept text."""

from __future__ import annotations

import pytest

from bridge.sink.redaction import redact_secret

KEY = "phc_0123456789abcdefghijklmnopqrstuvwxyzABCD"


@pytest.mark.parametrize(
    ("text", "max_bytes", "expected"),
    [
        (f"bad key {KEY}!", None, "bad key [redacted]!"),
        (f"{KEY} and {KEY}", None, "[redacted] and [redacted]"),
        ("a" * 10 + KEY, 20, "a" * 10 + "[redacted]"),
        ("a" * 10 + KEY + "tail", 12, "a" * 10 + "[r"),
        (f"cut: {KEY[:20]}", None, "cut: [redacted]"),
        (f"cut: {KEY[:8]}", None, "cut: [redacted]"),
        (f"cut: {KEY[:7]}", None, f"cut: {KEY[:7]}"),
        ("\u00e9" * 3 + KEY, 7, "\u00e9" * 3 + "["),
        ("no key here", 5, "no ke"),
    ],
    ids=[
        "whole",
        "twice",
        "cut-after-redaction",
        "cut-inside-the-marker",
        "server-cut",
        "shortest-fragment",
        "too-short-to-tell",
        "multi-byte-cut",
        "no-key",
    ],
)
def test_redact_secret(text, max_bytes, expected):
    assert redact_secret(text, KEY, max_bytes) == expected


def test_without_a_secret_the_text_is_only_cut():
    assert redact_secret("phc_abcdefgh", "", 6) == "phc_ab"
