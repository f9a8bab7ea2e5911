"""Stack-trace text from a log record → frames for PostHog's ``$exception_list``.

Recognised, best effort, line by line (reference/posthog-capture.md §9 for the
frame shapes PostHog's cymbal accepts):

- Python: ``File "app/pay.py", line 88, in charge`` (+ the source line under it)
  → ``{"platform": "python", "filename", "abs_path", "function", "lineno",
  "context_line"}``. Only the last traceback of a chained one is kept: it is the
  exception that was finally raised.
- Java/Kotlin: ``at com.acme.Billing.charge(Billing.java:42)``; stops at the first
  ``Caused by:``, whose frames belong to another exception.
- JavaScript (Node): ``at charge (/srv/pay.js:10:5)`` or ``at /srv/pay.js:10:5``;
  V8's frames without a file, ``at Array.map (<anonymous>)``, ``at async
  Promise.all (index 0)``, ``(native)``, are the runtime's. The ``async`` V8 writes
  before an awaited call is not part of the function's name: it is left out, as
  PostHog's Node SDK does (posthog-js-lite — posthog-node/src/extensions/
  error-tracking/stack-trace.ts), so one function groups as one whether awaited or
  not.
- Go: ``main.charge(...)`` followed by a tab-indented ``/src/pay.go:42 +0x1d``.
- Rust: ``  3: app::charge`` followed by ``at ./src/pay.rs:42:5``.

Non-Python frames are ``{"platform": "custom", "lang", "function", "filename",
"lineno", "colno", "resolved": true}``. Every frame says ``in_app``: false only
for frames that are plainly the runtime or a dependency (site-packages, java.*,
Go's runtime, Rust's std/core), which PostHog leaves out of its grouping.

Invariants: frames come out oldest call first, newest (the one that raised) last,
as PostHog expects; text with no recognisable frame gives one synthetic custom
frame naming its first line; at most ``MAX_FRAMES`` frames (the newest) are kept;
nothing here raises for any text.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["MAX_FRAMES", "parse_frames"]

# Deep recursions print thousands of frames; the newest tell what went wrong, and
# an event must stay far below PostHog's ~1 MB per event (reference §4).
MAX_FRAMES = 200
# Frame fields are cut to this many characters.
_MAX_TEXT = 500
# cymbal reads line and column numbers as u32.
_MAX_NUMBER = 2**32 - 1

_PYTHON = re.compile(
    r'\s*File "(?P<file>[^"]+)", line (?P<line>[0-9]+), in (?P<func>.+)'
)
_PYTHON_START = "Traceback (most recent call last):"
_AT = re.compile(r"\s*at (?P<body>\S.*?)\s*")
_JS_LOC = re.compile(r"(?P<file>.+):(?P<line>[0-9]+):(?P<col>[0-9]+)")
# Where V8 says a frame has no file: a built-in, or an element of Promise.all.
_JS_RUNTIME = re.compile(r"<anonymous>|native|index [0-9]+")
_JS_ASYNC = "async "
_JAVA_LOC = re.compile(r"(?P<file>[^:]+):(?P<line>[0-9]+)")
_JAVA_CAUSE = re.compile(r"\s*Caused by: ")
_GO_FUNC = re.compile(r"(?P<func>[^\s(][^\s]*?)\((?P<args>[^)]*)\)")
_GO_LOC = re.compile(r"\t(?P<file>\S+\.go):(?P<line>[0-9]+)(?: \+0x[0-9a-f]+)?")
_RUST_FUNC = re.compile(r"\s*[0-9]+: (?P<func>\S.*?)\s*")
_RUST_LOC = re.compile(r"\s*at (?P<file>.+?):(?P<line>[0-9]+)(?::(?P<col>[0-9]+))?\s*")
_RUST_HASH = re.compile(r"::h[0-9a-f]{16}$")

# What marks a frame as the runtime's or a dependency's: prefixes of the function
# name, and parts of the file name.
_LIBRARY_FUNCTIONS = {
    "java": ("java.", "javax.", "jdk.", "sun.", "kotlin.", "kotlinx."),
    "go": ("runtime.",),
    "rust": ("std::", "core::", "alloc::", "<std::", "<core::", "<alloc::", "__rust"),
}
_LIBRARY_FILES = {
    "python": ("site-packages", "dist-packages", "<frozen "),
    "javascript": ("node:", "node_modules", "internal/"),
    "go": ("/src/runtime/",),
}


def parse_frames(text: str) -> list[dict[str, Any]]:
    """The frames of a stack trace, oldest call first; never empty for any text."""
    lines = text.splitlines()
    frames: list[dict[str, Any]] = []
    newest_first = True
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip() == _PYTHON_START:
            frames, newest_first = [], False
            i += 1
            continue
        if _JAVA_CAUSE.match(line):
            break
        frame, used = _frame_at(lines, i)
        if frame is not None:
            if not frames:
                newest_first = frame["platform"] != "python"
            frames.append(frame)
        i += used
    if not frames:
        return [_synthetic(text)]
    if newest_first:
        frames.reverse()
    return frames[-MAX_FRAMES:]


def _frame_at(lines: list[str], i: int) -> tuple[dict[str, Any] | None, int]:
    """The frame starting at line i, if any, and how many lines it spans."""
    line = lines[i]
    after = lines[i + 1] if i + 1 < len(lines) else ""
    match = _PYTHON.fullmatch(line)
    if match:
        return _python_frame(match, after)
    match = _RUST_FUNC.fullmatch(line)
    if match:
        return _rust_frame(match["func"], _RUST_LOC.fullmatch(after))
    match = _AT.fullmatch(line)
    if match:
        return _at_frame(match), 1
    match = _GO_FUNC.fullmatch(line)
    location = _GO_LOC.fullmatch(after)
    if match and location:
        frame = _custom("go", match["func"], location["file"], location["line"])
        return frame, 2
    return None, 1


def _python_frame(match: re.Match[str], after: str) -> tuple[dict[str, Any], int]:
    filename = _cut(match["file"])
    frame: dict[str, Any] = {
        "platform": "python",
        "filename": filename,
        "abs_path": filename,
        "function": _cut(match["func"].strip()),
    }
    _put_number(frame, "lineno", match["line"])
    used = 1
    # The source line follows, indented deeper, unless the file was not found.
    if after.startswith("    ") and not _PYTHON.fullmatch(after) and after.strip():
        frame["context_line"] = _cut(after.strip())
        used = 2
    frame["in_app"] = _in_app("python", "", filename)
    return frame, used


def _rust_frame(
    func: str, location: re.Match[str] | None
) -> tuple[dict[str, Any], int]:
    function = _RUST_HASH.sub("", func)
    if location is None:
        return _custom("rust", function, None, None), 1
    frame = _custom("rust", function, location["file"], location["line"])
    _put_number(frame, "colno", location["col"])
    return frame, 2


def _at_frame(match: re.Match[str]) -> dict[str, Any]:
    body = match["body"]
    awaited = body.startswith(_JS_ASYNC)
    body = body.removeprefix(_JS_ASYNC)
    func, paren, location = body.removesuffix(")").rpartition("(")
    if not (paren and body.endswith(")")):
        func, location = "", body
    func = func.strip() or "<anonymous>"
    js = _JS_LOC.fullmatch(location)
    if js:
        frame = _custom("javascript", func, js["file"], js["line"])
        _put_number(frame, "colno", js["col"])
        return frame
    if _JS_RUNTIME.fullmatch(location):
        frame = _custom("javascript", func, None, None)
        frame["in_app"] = False
        return frame
    if awaited:
        return _custom("javascript", func, location, None)
    java = _JAVA_LOC.fullmatch(location)
    # Java prints a module before the class: java.base/java.lang.Thread.run.
    function = func.rpartition("/")[2]
    if java:
        return _custom("java", function, java["file"], java["line"])
    # (Native Method), (Unknown Source), or a file without a line.
    filename = location if location.endswith((".java", ".kt", ".scala")) else None
    return _custom("java", function, filename, None)


def _custom(
    lang: str, function: str, filename: str | None, lineno: str | None
) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "platform": "custom",
        "lang": lang,
        "function": _cut(function),
    }
    if filename:
        frame["filename"] = _cut(filename)
    _put_number(frame, "lineno", lineno)
    frame["resolved"] = True
    frame["in_app"] = _in_app(lang, function, filename)
    return frame


def _synthetic(text: str) -> dict[str, Any]:
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return {
        "platform": "custom",
        "lang": "unknown",
        "function": _cut(first) or "<unknown>",
        "resolved": True,
        "in_app": True,
        "synthetic": True,
    }


def _in_app(lang: str, function: str, filename: str | None) -> bool:
    if function.startswith(_LIBRARY_FUNCTIONS.get(lang, ())):
        return False
    parts = _LIBRARY_FILES.get(lang, ())
    return not (filename and any(part in filename for part in parts))


def _put_number(frame: dict[str, Any], key: str, digits: str | None) -> None:
    if digits is not None and len(digits) <= 10 and int(digits) <= _MAX_NUMBER:
        frame[key] = int(digits)


def _cut(text: str) -> str:
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 3] + "..."
