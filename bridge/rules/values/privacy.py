"""Personal data in mapped values: ``hash`` (salted SHA-256) and ``redact``.

``hash: true`` replaces a value by the hex HMAC-SHA256 of its text, keyed with the
configured salt: the same input always gives the same 64-character string, so an
analyst can still count and join on it, but nobody can recompute it without the
salt (a bare SHA-256 of an email can be reversed by hashing a list of emails).
Non-string values hash their JSON text, so the user id 123 and "123" agree; null
stays null.

``redact: [kind or {pattern, replacement}, ...]`` replaces what each entry
recognises, in the order listed, in every string of the value (lists and mappings
are walked; their keys are kept):

- ``email``: local@domain.tld → ``[EMAIL]``;
- ``card``: 13-19 digits starting with 2-6, optionally grouped by single spaces
  or hyphens, that pass the Luhn check → ``[CARD]``;
- ``ipv4``, ``ipv6``, ``ip`` (both) → ``[IP]``;
- ``{pattern: 'RE2', replacement: '...'}`` → the replacement, ``[REDACTED]`` by
  default.

Invariants: nothing here raises for any value; a number whose text holds a card
becomes the redacted string; a structure nested deeper than ``MAX_REDACT_DEPTH``
is replaced whole by ``[REDACTED]`` (fail closed rather than leak or recurse
without bound).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Callable, Sequence
from typing import Any

import re2

from bridge.rules.fieldpaths import MISSING
from bridge.rules.patterns import compile_pattern
from bridge.rules.schema import (
    Reporter,
    check_keys,
    did_you_mean,
    expect_str,
    one_of,
)
from bridge.rules.values.types import render_text
from bridge.yamlnodes import (
    Map,
    Node,
    Scalar,
    Seq,
    child_path,
    describe,
    item_path,
    show,
)

__all__ = [
    "MAX_REDACT_DEPTH",
    "REDACTED",
    "REDACTION_KINDS",
    "Transform",
    "compile_hash",
    "compile_redact",
    "hash_text",
    "luhn_ok",
]

Transform = Callable[[Any], Any]
TextFn = Callable[[str], str]

REDACTED = "[REDACTED]"
# JSON lines nest far less than this in practice; orjson accepts up to 1024 levels,
# deeper than Python's recursion limit would allow us to walk.
MAX_REDACT_DEPTH = 64

_ATEXT = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~\pL\pN-"
_LABEL = r"[A-Za-z0-9\pL\pN](?:[A-Za-z0-9\pL\pN-]*[A-Za-z0-9\pL\pN])?"
_EMAIL = rf"[{_ATEXT}](?:[{_ATEXT}.]*[{_ATEXT}])?@{_LABEL}(?:\.{_LABEL})+"
# 13 or more digits with single separators; card_windows() finds the cards inside.
_DIGIT_RUN = r"[0-9](?:[ -]?[0-9]){12,}"
_IPV4 = r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}"
_IPV6 = r"(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f.]*"
_CARD_DIGITS = range(13, 20)
# Issuer prefixes of the card networks (Visa 4, Mastercard 2 and 5, Amex and JCB
# 3, Discover and UnionPay 6); excluding 1 keeps 13-digit millisecond epochs out.
_CARD_FIRST = frozenset("23456")
_WORD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


def _regex(pattern: str) -> re2._Regexp[str]:
    options = re2.Options()
    options.log_errors = False
    return re2.compile(pattern, options)


_EMAIL_RE = _regex(_EMAIL)
_DIGIT_RUN_RE = _regex(_DIGIT_RUN)
_IPV4_RE = _regex(_IPV4)
_IPV6_RE = _regex(_IPV6)


def hash_text(salt: bytes, value: Any) -> Any:
    """HMAC-SHA256 of a value's text, keyed with the salt; null and MISSING pass."""
    if value is None or value is MISSING:
        return value
    text = render_text(value)
    if text is MISSING:
        return MISSING
    data = text.encode(errors="surrogatepass")
    return hmac.new(salt, data, hashlib.sha256).hexdigest()


def compile_hash(
    rep: Reporter, node: Node, path: str, salt: bytes | None
) -> tuple[bool, Transform | None]:
    """Return whether ``hash:`` is valid, and its transform (None: no hashing)."""
    if not (isinstance(node, Scalar) and isinstance(node.value, bool)):
        message = f"expected true or false for 'hash', got {describe(node)}"
        rep.error(node, path, message)
        return False, None
    if not node.value:
        return True, None
    if not salt:
        hint = (
            "hint: set hash_salt or hash_salt_file in the configuration, "
            "LOGBRIDGE_HASH_SALT, or the systemd credential hash_salt"
        )
        rep.error(node, path, "hash needs a salt", hint)
        return False, None
    return True, lambda value: hash_text(salt, value)


def luhn_ok(digits: str) -> bool:
    """Whether a string of ASCII digits passes the Luhn check."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        digit = ord(char) - 48
        if i % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def _card_windows(groups: Sequence[tuple[int, int, str]]) -> list[tuple[int, int]]:
    """
    Spans (start, end) of cards among a run's digit groups.

    A card is a stretch of whole groups; from each group, the longest stretch that
    is a card wins, so a card next to other numbers is still found.
    """
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(groups):
        found = -1
        digits = ""
        for j in range(i, len(groups)):
            digits += groups[j][2]
            if len(digits) > _CARD_DIGITS[-1]:
                break
            if len(digits) in _CARD_DIGITS and digits[0] in _CARD_FIRST:
                found = j if luhn_ok(digits) else found
        if found < 0:
            i += 1
            continue
        spans.append((groups[i][0], groups[found][1]))
        i = found + 1
    return spans


def _redact_cards(text: str) -> str:
    out: list[str] = []
    done = 0
    for match in _DIGIT_RUN_RE.finditer(text):
        run, base = match.group(), match.start()
        groups: list[tuple[int, int, str]] = []
        start = 0
        for k, char in enumerate(run + " "):
            if char in " -":
                groups.append((base + start, base + k, run[start:k]))
                start = k + 1
        for begin, end in _card_windows(groups):
            out.append(text[done:begin])
            out.append("[CARD]")
            done = end
    out.append(text[done:])
    return "".join(out)


def _redact_emails(text: str) -> str:
    if "@" not in text:
        return text
    return _EMAIL_RE.sub(lambda _match: "[EMAIL]", text)


def _is_ipv4(text: str, start: int, end: int) -> bool:
    """An IPv4 address not glued to digits or to more dotted numbers."""
    before = text[max(0, start - 1) : start]
    after = text[end : end + 2]
    # A digit and a dot before the match cannot occur: scanning left to right, the
    # match would have started there, and a refused match is skipped whole.
    if before[-1:].isdigit() or after[:1].isdigit():
        return False
    if after[:1] == "." and after[1:].isdigit():
        return False
    return all(int(part) <= 255 for part in text[start:end].split("."))


def _redact_ipv4(text: str) -> str:
    out: list[str] = []
    done = 0
    for match in _IPV4_RE.finditer(text):
        if _is_ipv4(text, match.start(), match.end()):
            out.append(text[done : match.start()])
            out.append("[IP]")
            done = match.end()
    out.append(text[done:])
    return "".join(out)


def _ipv6_end(text: str, start: int, end: int) -> int:
    """Where the IPv6 address matched at start ends, or -1 when it is none."""
    if start and (text[start - 1] in _WORD or text[start - 1] in ":."):
        return -1
    candidate = text[start:end]
    # A sentence may end right after an address, or a port follow it.
    while candidate and not _is_ipv6(candidate):
        candidate = candidate[:-1] if candidate[-1] in ".:" else ""
    end = start + len(candidate)
    if not candidate or (end < len(text) and text[end] in _WORD):
        return -1
    return end


def _is_ipv6(candidate: str) -> bool:
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    return True


def _redact_ipv6(text: str) -> str:
    if ":" not in text:
        return text
    out: list[str] = []
    done = 0
    for match in _IPV6_RE.finditer(text):
        end = _ipv6_end(text, match.start(), match.end())
        if end >= 0:
            out.append(text[done : match.start()])
            out.append("[IP]")
            done = end
    out.append(text[done:])
    return "".join(out)


def _redact_ips(text: str) -> str:
    # IPv6 first: an IPv4-mapped address (::ffff:1.2.3.4) is then one [IP].
    return _redact_ipv4(_redact_ipv6(text))


_KINDS: dict[str, TextFn] = {
    "card": _redact_cards,
    "email": _redact_emails,
    "ip": _redact_ips,
    "ipv4": _redact_ipv4,
    "ipv6": _redact_ipv6,
}
REDACTION_KINDS = tuple(sorted(_KINDS))
_PATTERN_KEYS = ("pattern", "replacement")


def compile_redact(rep: Reporter, node: Node, path: str) -> Transform | None:
    """
    Compile ``redact:`` (a kind, or a list of kinds and ``{pattern}`` mappings).

    Returns:
        The transform, or None after reporting what is wrong.
    """
    if isinstance(node, Seq):
        if not node.items:
            rep.error(node, path, "expected at least one redaction, got an empty list")
            return None
        entries = [(item, item_path(path, i)) for i, item in enumerate(node.items)]
    else:
        entries = [(node, path)]
    steps = [_compile_entry(rep, item, where) for item, where in entries]
    funcs = tuple(step for step in steps if step is not None)
    if len(funcs) != len(steps):
        return None

    def redact_text(text: str) -> str:
        for func in funcs:
            text = func(text)
        return text

    return lambda value: _redact_value(redact_text, value, 0)


def _compile_entry(rep: Reporter, node: Node, path: str) -> TextFn | None:
    if isinstance(node, Map):
        return _compile_custom(rep, node, path)
    what = f"one of {one_of(REDACTION_KINDS)} or a {{pattern: ...}} mapping"
    kind = expect_str(rep, node, path, what)
    if kind is None:
        return None
    func = _KINDS.get(kind)
    if func is None:
        message = f"unknown redaction {show(kind)}; expected {what}"
        rep.error(node, path, message, did_you_mean(kind, REDACTION_KINDS))
    return func


def _compile_custom(rep: Reporter, mapping: Map, path: str) -> TextFn | None:
    keys_ok = check_keys(rep, mapping, path, _PATTERN_KEYS, required=("pattern",))
    pattern_node = mapping.get("pattern")
    regex = None
    if pattern_node is not None:
        regex = _custom_pattern(rep, pattern_node, child_path(path, "pattern"))
    replacement: str | None = REDACTED
    replacement_node = mapping.get("replacement")
    if replacement_node is not None:
        replacement = _replacement(
            rep, replacement_node, child_path(path, "replacement")
        )
    if not keys_ok or regex is None or replacement is None:
        return None
    sub = regex.sub
    text = replacement
    # A function, not a template: the replacement is taken literally (no \1).
    return lambda value: sub(lambda _match: text, value)


def _custom_pattern(rep: Reporter, node: Node, path: str) -> re2._Regexp[str] | None:
    regex = compile_pattern(rep, node, path, "an RE2 pattern")
    if regex is not None and regex.search("") is not None:
        message = f"pattern {show(regex.pattern)} matches the empty string"
        hint = "hint: it would insert the replacement between characters"
        rep.error(node, path, message, hint)
        return None
    return regex


def _replacement(rep: Reporter, node: Node, path: str) -> str | None:
    if isinstance(node, Scalar) and isinstance(node.value, str):
        return node.value
    rep.error(node, path, f"expected a string, got {describe(node)}")
    return None


def _redact_value(redact_text: TextFn, value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if depth >= MAX_REDACT_DEPTH:
        return REDACTED if isinstance(value, dict | list) else value
    if isinstance(value, dict):
        return {k: _redact_value(redact_text, v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_value(redact_text, v, depth + 1) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        text = render_text(value)
        if isinstance(text, str):
            redacted = redact_text(text)
            return value if redacted == text else redacted
    return value
