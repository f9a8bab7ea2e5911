"""Keeping the API key out of texts that are stored or logged (pure).

PostHog's error answers, and the messages of network errors, are kept as dead-letter
responses and as the last send error, both readable by ``logbridge status`` and
``deadletter list``. An answer may quote the key, whole or cut: by our own cut to
``max_bytes``, or by a server or proxy that cut its own answer.

Invariants: the key is replaced before the text is cut, so a cut never splits a whole
key into a fragment left visible; and whatever survives the cut ends with no fragment
of the key's beginning of ``MIN_FRAGMENT_CHARS`` or more.
"""

from __future__ import annotations

__all__ = ["MIN_FRAGMENT_CHARS", "REDACTED", "redact_secret"]

REDACTED = "[redacted]"
# A text that ends with this many first characters of the key is taken to hold a cut
# key. Shorter endings give nothing away: 'phc_' and a few characters are public.
MIN_FRAGMENT_CHARS = 8


def redact_secret(text: str, secret: str, max_bytes: int | None = None) -> str:
    """
    Return ``text`` without ``secret``, cut to at most ``max_bytes`` of UTF-8.

    Every occurrence of the secret becomes ``[redacted]``, and so does a beginning
    of the secret that ends the text (a key cut short).
    """
    if not secret:
        return _cut(text, max_bytes)
    if max_bytes is not None:
        # Only what can survive the cut needs looking at: a key straddling the cut
        # starts before it.
        text = text[: max_bytes + len(secret)]
    text = _cut(text.replace(secret, REDACTED), max_bytes)
    for size in range(min(len(secret) - 1, len(text)), MIN_FRAGMENT_CHARS - 1, -1):
        if text.endswith(secret[:size]):
            text = text[:-size] + REDACTED
            break
    return text


def _cut(text: str, max_bytes: int | None) -> str:
    if max_bytes is None:
        return text
    return text.encode()[:max_bytes].decode(errors="ignore")
