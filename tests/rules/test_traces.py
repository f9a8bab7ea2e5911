"""Stack traces in log records → frames for PostHog's error tracking."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.rules.errortracking.traces import MAX_FRAMES, parse_frames

PYTHON = """\
Traceback (most recent call last):
  File "/app/billing/pay.py", line 88, in charge
    gateway.send(req)
  File "/usr/lib/python3/site-packages/requests/api.py", line 12, in send
    raise Timeout()
requests.Timeout: timed out"""

PYTHON_CHAINED = """\
Traceback (most recent call last):
  File "a.py", line 1, in first
    x()
KeyError: 'k'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "b.py", line 2, in second
  File "<frozen importlib._bootstrap>", line 3, in _load
ValueError: v"""

JAVA = """\
java.lang.IllegalStateException: boom
\tat com.acme.Billing.charge(Billing.java:42)
\tat java.base/java.lang.Thread.run(Thread.java:833)
\tat sun.reflect.Native.invoke(Native Method)
\tat com.acme.Kt.run(Kt.kt)
Caused by: java.io.IOException: disk
\tat com.acme.Io.read(Io.java:1)"""

NODE = """\
TypeError: x is undefined
    at charge (/srv/app/pay.js:10:5)
    at /srv/app/node_modules/express/index.js:3:1"""

NODE_ASYNC = """\
Error: card declined
    at Array.map (<anonymous>)
    at new Promise (<anonymous>)
    at async PaymentService.charge (/app/dist/payments/service.js:48:22)
    at async Promise.all (index 0)
    at async /app/dist/main.js:3:1"""

GO = """\
panic: boom

goroutine 1 [running]:
main.(*Biller).charge(0x1, {0x2, 0x3})
\t/src/app/pay.go:42 +0x1d
main.main()
\t/usr/local/go/src/runtime/proc.go:8
exit status 2"""

RUST = """\
thread 'main' panicked at src/main.rs:4:5:
stack backtrace:
   0: std::panicking::begin_panic::h0123456789abcdef
             at /rustc/abc/library/std/src/panicking.rs:616:12
   1: app::charge
             at ./src/main.rs:4:5
   2: app::main"""

TRACE_CASES = [
    (
        "python",
        PYTHON,
        [
            {
                "platform": "python",
                "filename": "/app/billing/pay.py",
                "abs_path": "/app/billing/pay.py",
                "function": "charge",
                "lineno": 88,
                "context_line": "gateway.send(req)",
                "in_app": True,
            },
            {
                "platform": "python",
                "filename": "/usr/lib/python3/site-packages/requests/api.py",
                "abs_path": "/usr/lib/python3/site-packages/requests/api.py",
                "function": "send",
                "lineno": 12,
                "context_line": "raise Timeout()",
                "in_app": False,
            },
        ],
    ),
    (
        "python-chained-keeps-the-last",
        PYTHON_CHAINED,
        [
            {
                "platform": "python",
                "filename": "b.py",
                "abs_path": "b.py",
                "function": "second",
                "lineno": 2,
                "in_app": True,
            },
            {
                "platform": "python",
                "filename": "<frozen importlib._bootstrap>",
                "abs_path": "<frozen importlib._bootstrap>",
                "function": "_load",
                "lineno": 3,
                "in_app": False,
            },
        ],
    ),
    (
        "java-newest-last-and-no-cause",
        JAVA,
        [
            {
                "platform": "custom",
                "lang": "java",
                "function": "com.acme.Kt.run",
                "filename": "Kt.kt",
                "resolved": True,
                "in_app": True,
            },
            {
                "platform": "custom",
                "lang": "java",
                "function": "sun.reflect.Native.invoke",
                "resolved": True,
                "in_app": False,
            },
            {
                "platform": "custom",
                "lang": "java",
                "function": "java.lang.Thread.run",
                "filename": "Thread.java",
                "lineno": 833,
                "resolved": True,
                "in_app": False,
            },
            {
                "platform": "custom",
                "lang": "java",
                "function": "com.acme.Billing.charge",
                "filename": "Billing.java",
                "lineno": 42,
                "resolved": True,
                "in_app": True,
            },
        ],
    ),
    (
        "node",
        NODE,
        [
            {
                "platform": "custom",
                "lang": "javascript",
                "function": "<anonymous>",
                "filename": "/srv/app/node_modules/express/index.js",
                "lineno": 3,
                "resolved": True,
                "in_app": False,
                "colno": 1,
            },
            {
                "platform": "custom",
                "lang": "javascript",
                "function": "charge",
                "filename": "/srv/app/pay.js",
                "lineno": 10,
                "resolved": True,
                "in_app": True,
                "colno": 5,
            },
        ],
    ),
    (
        "node-runtime-frames-and-async",
        NODE_ASYNC,
        [
            {
                "platform": "custom",
                "lang": "javascript",
                "function": "<anonymous>",
                "filename": "/app/dist/main.js",
                "lineno": 3,
                "resolved": True,
                "in_app": True,
                "colno": 1,
            },
            {
                "platform": "custom",
                "lang": "javascript",
                "function": "Promise.all",
                "resolved": True,
                "in_app": False,
            },
            {
                "platform": "custom",
                "lang": "javascript",
                "function": "PaymentService.charge",
                "filename": "/app/dist/payments/service.js",
                "lineno": 48,
                "resolved": True,
                "in_app": True,
                "colno": 22,
            },
            {
                "platform": "custom",
                "lang": "javascript",
                "function": "new Promise",
                "resolved": True,
                "in_app": False,
            },
            {
                "platform": "custom",
                "lang": "javascript",
                "function": "Array.map",
                "resolved": True,
                "in_app": False,
            },
        ],
    ),
    (
        "go",
        GO,
        [
            {
                "platform": "custom",
                "lang": "go",
                "function": "main.main",
                "filename": "/usr/local/go/src/runtime/proc.go",
                "lineno": 8,
                "resolved": True,
                "in_app": False,
            },
            {
                "platform": "custom",
                "lang": "go",
                "function": "main.(*Biller).charge",
                "filename": "/src/app/pay.go",
                "lineno": 42,
                "resolved": True,
                "in_app": True,
            },
        ],
    ),
    (
        "rust",
        RUST,
        [
            {
                "platform": "custom",
                "lang": "rust",
                "function": "app::main",
                "resolved": True,
                "in_app": True,
            },
            {
                "platform": "custom",
                "lang": "rust",
                "function": "app::charge",
                "filename": "./src/main.rs",
                "lineno": 4,
                "resolved": True,
                "in_app": True,
                "colno": 5,
            },
            {
                "platform": "custom",
                "lang": "rust",
                "function": "std::panicking::begin_panic",
                "filename": "/rustc/abc/library/std/src/panicking.rs",
                "lineno": 616,
                "resolved": True,
                "in_app": False,
                "colno": 12,
            },
        ],
    ),
    (
        "unknown-text-one-synthetic-frame",
        "\n  something odd happened  \nmore",
        [
            {
                "platform": "custom",
                "lang": "unknown",
                "function": "something odd happened",
                "resolved": True,
                "in_app": True,
                "synthetic": True,
            }
        ],
    ),
    (
        "blank-text-synthetic-frame",
        "",
        [
            {
                "platform": "custom",
                "lang": "unknown",
                "function": "<unknown>",
                "resolved": True,
                "in_app": True,
                "synthetic": True,
            }
        ],
    ),
    (
        "line-number-beyond-u32-left-out",
        '  File "a.py", line 99999999999, in f',
        [
            {
                "platform": "python",
                "filename": "a.py",
                "abs_path": "a.py",
                "function": "f",
                "in_app": True,
            }
        ],
    ),
    (
        "python-frame-followed-by-blank-line",
        '  File "a.py", line 1, in f\n    \n',
        [
            {
                "platform": "python",
                "filename": "a.py",
                "abs_path": "a.py",
                "function": "f",
                "lineno": 1,
                "in_app": True,
            }
        ],
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [case[1:] for case in TRACE_CASES],
    ids=[case[0] for case in TRACE_CASES],
)
def test_trace_text_becomes_frames_oldest_first(text, expected):
    frames = parse_frames(text)

    assert frames == expected


@pytest.mark.parametrize(
    ("line", "function"),
    [
        ("    at async charge (/srv/pay.js:10:5)", "charge"),
        ("    at async Billing.charge (file:///srv/pay.mjs:10:5)", "Billing.charge"),
        ("    at async Billing.charge (somewhere)", "Billing.charge"),
        ("    at native", "<anonymous>"),
    ],
    ids=["async-named", "async-file-url", "async-unknown-place", "native"],
)
def test_a_node_frame_is_javascript_and_named_without_async(line, function):
    (frame,) = parse_frames(line)

    assert (frame["lang"], frame["function"]) == ("javascript", function)


def test_long_fields_are_cut():
    (frame,) = parse_frames("x" * 1000)

    assert frame["function"] == "x" * 497 + "..."


def test_only_the_newest_frames_are_kept():
    text = "\n".join(f'  File "a.py", line {n}, in f' for n in range(MAX_FRAMES + 5))

    frames = parse_frames(text)

    assert [frame["lineno"] for frame in frames] == list(range(5, MAX_FRAMES + 5))


@given(st.text())
def test_any_text_gives_at_least_one_frame(text):
    frames = parse_frames(text)

    assert frames
    assert all("function" in frame and "platform" in frame for frame in frames)
