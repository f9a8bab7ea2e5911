"""Container formats: Docker json-file and Kubernetes CRI lines, and the joining of
the parts of a long line."""

from __future__ import annotations

import json

import pytest

from bridge.model import Line
from bridge.parse import CRI, DOCKER, ParseFailure, PartialAssembler
from bridge.parse.containers import parse_cri, parse_docker


def docker(log: str, stream: str = "stdout", time: str = "2026-12-06T10:00:00.1Z"):
    return json.dumps({"log": log, "stream": stream, "time": time})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            docker('{"level":"info"}\n'),
            {
                "log": '{"level":"info"}',
                "stream": "stdout",
                "time": "2026-12-06T10:00:00.1Z",
            },
        ),
        (json.dumps({"log": "no newline"}), {"log": "no newline"}),
        (
            '{"log": 5}',
            ParseFailure(
                "invalid_docker", 'expected a JSON object with a string "log"'
            ),
        ),
        (
            "[1]",
            ParseFailure(
                "invalid_docker", 'expected a JSON object with a string "log"'
            ),
        ),
    ],
    ids=["line", "no-stream", "log-not-text", "not-an-object"],
)
def test_parse_docker(text, expected):
    assert parse_docker(text) == expected


def test_parse_docker_refuses_what_is_not_json():
    result = parse_docker("plain text")

    assert isinstance(result, ParseFailure)
    assert result.reason == "invalid_json"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "2026-12-06T10:00:00.669794202Z stdout F GET /health 200",
            {
                "time": "2026-12-06T10:00:00.669794202Z",
                "stream": "stdout",
                "log": "GET /health 200",
            },
        ),
        (
            "2026-12-06T10:00:00Z stderr P  two  spaces ",
            {
                "time": "2026-12-06T10:00:00Z",
                "stream": "stderr",
                "log": " two  spaces ",
            },
        ),
        (
            "2026-12-06T10:00:00Z stdout F",
            {"time": "2026-12-06T10:00:00Z", "stream": "stdout", "log": ""},
        ),
        (
            "2026-12-06T10:00:00Z stdout F:x text\r",
            {"time": "2026-12-06T10:00:00Z", "stream": "stdout", "log": "text"},
        ),
    ],
    ids=["full", "partial-keeps-spaces", "empty", "more-flags"],
)
def test_parse_cri(text, expected):
    assert parse_cri(text) == expected


@pytest.mark.parametrize(
    "text",
    ["GET /health", "2026 stdin F x", "2026 stdout X x", ""],
    ids=["no-header", "bad-stream", "bad-tag", "empty"],
)
def test_parse_cri_refuses_other_lines(text):
    result = parse_cri(text)

    assert isinstance(result, ParseFailure)
    assert result.reason == "invalid_cri"


def lines(*texts: str) -> list[Line]:
    offsets, at = [], 0
    for text in texts:
        offsets.append(at)
        at += len(text) + 1
    return [Line("k8s", "f", o, t) for o, t in zip(offsets, texts, strict=True)]


def feed_all(assembler: PartialAssembler, fed: list[Line], now: float = 0.0):
    return [joined for line in fed for joined in assembler.feed(line, now)]


def test_cri_parts_are_joined_per_stream_at_the_first_part_offset():
    fed = lines(
        "T1 stdout P first half, ",
        "T2 stderr F an error",
        "T3 stdout P second ",
        "T4 stdout F and last",
        "T5 stdout F next",
    )
    assembler = PartialAssembler(CRI)

    out = feed_all(assembler, fed)

    assert [(line.offset, line.text) for line in out] == [
        (fed[1].offset, "T2 stderr F an error"),
        (fed[0].offset, "T1 stdout F first half, second and last"),
        (fed[4].offset, "T5 stdout F next"),
    ]
    assert assembler.pending_offset() is None


def test_a_part_waiting_holds_the_checkpoint_and_closes_after_the_flush_time():
    fed = lines("T1 stdout P cut", "T2 stderr F other")
    assembler = PartialAssembler(CRI, flush_seconds=2.0)

    out = feed_all(assembler, fed, now=10.0)
    held = assembler.pending_offset()
    early = assembler.flush(11.0)
    late = assembler.flush(12.0)

    assert [line.text for line in out] == ["T2 stderr F other"]
    assert held == 0
    assert early == []
    assert [line.text for line in late] == ["T1 stdout F cut"]
    assert assembler.pending_offset() is None


def test_a_join_is_closed_at_its_size_cap_and_counted():
    fed = lines("T stdout P aaaa", "T stdout P bbbb", "T stdout F c")
    assembler = PartialAssembler(CRI, max_bytes=8)

    out = feed_all(assembler, fed)

    assert [line.text for line in out] == ["T stdout F aaaabbbb", "T stdout F c"]
    assert assembler.too_long == 1


def test_docker_parts_are_joined_into_one_json_file_line():
    fed = lines(
        docker("x" * 5, time="T1"),
        docker("y" * 5, time="T2"),
        docker("z\n", time="T3"),
        "not json at all",
    )
    assembler = PartialAssembler(DOCKER)

    out = feed_all(assembler, fed)

    assert [parse_docker(line.text) for line in out[:1]] == [
        {"log": "xxxxxyyyyyz", "stream": "stdout", "time": "T1"}
    ]
    assert out[1].text == "not json at all"
    assert out[0].offset == 0
