"""Real files as they come, through the tail's line cutting and each source format.

Each file mixes what production logs hold: a byte-order mark, CRLF line endings,
invalid UTF-8 (replaced by the tail), NUL bytes, duplicate keys, huge numbers, deep
nesting and lines of megabytes. Every line comes out as fields or a counted failure.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from bridge.model import BigInt, Line
from bridge.parse import MultilineAssembler, ParseFailure
from bridge.rules import SourceDef
from bridge.source.linebuffer import LineBuffer
from bridge.source.tracked import decode_lines
from tests.rules.support import compile_text

BIG = 3 * 1024 * 1024
CHUNK_BYTES = 64 * 1024


def read_lines(path: Path) -> tuple[list[Line], int]:
    """Cut and decode a file the way the tail does; count lines with bad UTF-8."""
    buffer = LineBuffer(max_line_bytes=8 * 1024 * 1024)
    data = path.read_bytes()
    lines: list[Line] = []
    invalid = 0
    for start in range(0, len(data), CHUNK_BYTES):
        cut = buffer.feed(data[start : start + CHUNK_BYTES])
        decoded, bad = decode_lines("app", "fp", cut)
        lines.extend(decoded)
        invalid += bad
    return lines, invalid


def source(entry: str) -> SourceDef:
    text = f"sources:\n  - name: app\n    paths: /a.log\n{entry}"
    (compiled,) = compile_text(text).sources
    return compiled


def outcomes(src: SourceDef, lines: list[Line]) -> list[Any]:
    results = []
    for line in lines:
        result = src.parse(line.text)
        results.append(result.reason if isinstance(result, ParseFailure) else result)
    return results


def test_json_file_as_it_comes(tmp_path):
    path = tmp_path / "app.log"
    path.write_bytes(
        b"\xef\xbb\xbf" + b'{"n": 1}\r\n'
        b'{"a": 1, "a": 2}\r\n'
        b'{"id": 123456789012345678901234567890, "ok": true}\n'
        b'{"d": ' + b"[" * 2000 + b"]" * 2000 + b"}\n"
        b'{"s": "caf\xe9"}\n'
        b'{"a": "x\x00y"}\n'
        b'{"a": "x\\u0000y"}\n'
        b'{"big": "' + b"x" * BIG + b'"}\n'
        b"\n"
    )
    lines, invalid = read_lines(path)

    results = outcomes(source(""), lines)

    assert invalid == 1
    assert results[:7] == [
        {"n": 1},
        {"a": 2},
        {"id": BigInt(123456789012345678901234567890), "ok": True},
        "too_deep",
        {"s": "caf\ufffd"},
        "invalid_json",
        {"a": "x\x00y"},
    ]
    assert len(results[7]["big"]) == BIG
    assert results[8] == "invalid_json"


def test_logfmt_file_as_it_comes(tmp_path):
    path = tmp_path / "app.log"
    path.write_bytes(
        b"\xef\xbb\xbfa=1 b=2\r\n"
        b"a=1 a=2\r\n"
        b"n=123456789012345678901234567890\n"
        b'msg="caf\xe9 au lait"\n'
        b"a=x\x00y\n"
        b'k="' + b"v" * BIG + b'" tail=1\n'
        b'broken="x\n'
    )
    lines, invalid = read_lines(path)

    results = outcomes(source("    format: logfmt\n"), lines)

    assert invalid == 1
    assert results[:5] == [
        {"a": "1", "b": "2"},
        {"a": "2"},
        {"n": "123456789012345678901234567890"},
        {"msg": "caf\ufffd au lait"},
        {"a": "x\x00y"},
    ]
    assert results[5] == {"k": "v" * BIG, "tail": "1"}
    assert results[6] == "invalid_logfmt"


def test_regex_file_as_it_comes(tmp_path):
    path = tmp_path / "access.log"
    path.write_bytes(
        b'\xef\xbb\xbf1.2.3.4 "GET /a" 200\r\n'
        b'5.6.7.8 "GET /caf\xe9" 404\r\n'
        b'9.9.9.9 "GET /x\x00y" 500\n'
        b'1.1.1.1 "GET /' + b"p" * BIG + b'" 200\n'
        b"garbage\n"
    )
    lines, invalid = read_lines(path)
    regex = source(
        "    format: regex\n"
        '    pattern: \'^(?P<ip>\\S+) "(?P<method>\\S+) (?P<path>[^"]*)" '
        "(?P<status>\\d+)$'\n"
    )

    results = outcomes(regex, lines)

    assert invalid == 1
    assert results[:3] == [
        {"ip": "1.2.3.4", "method": "GET", "path": "/a", "status": "200"},
        {"ip": "5.6.7.8", "method": "GET", "path": "/caf\ufffd", "status": "404"},
        {"ip": "9.9.9.9", "method": "GET", "path": "/x\x00y", "status": "500"},
    ]
    assert len(results[3]["path"]) == BIG + 1
    assert Counter(r for r in results if isinstance(r, str)) == {
        "no_pattern_matched": 1
    }


def test_multiline_file_with_a_byte_order_mark_and_crlf(tmp_path):
    path = tmp_path / "worker.log"
    path.write_bytes(
        b'\xef\xbb\xbf{"level": "error", "msg": "boom"}\r\n'
        b"Traceback (most recent call last):\r\n"
        b'  File "w.py", line 1, in <module>\r\n'
        b'{"level": "info"}\r\n'
    )
    lines, _ = read_lines(path)
    worker = source("    multiline: {start: '^\\{', rest_field: trace}\n")
    assert worker.multiline is not None
    assembler = MultilineAssembler(worker.multiline)

    records = [r for line in lines for r in assembler.feed(line, 0.0)]
    records += assembler.flush(0.0, force=True)

    assert [worker.parse(record.text) for record in records] == [
        {
            "level": "error",
            "msg": "boom",
            "trace": 'Traceback (most recent call last):\n  File "w.py", line 1, '
            "in <module>",
        },
        {"level": "info"},
    ]
    assert [record.offset for record in records] == [0, lines[3].offset]
