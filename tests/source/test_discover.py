import glob
import threading
from pathlib import Path

import pytest

from bridge.source.discover import (
    GlobLimit,
    SourceSpec,
    find_files,
    glob_root,
    watched_dirs,
)


@pytest.mark.parametrize(
    ("pattern", "root"),
    [
        ("/var/log/app/*.log", "/var/log/app"),
        ("/var/log/app/**/*.log", "/var/log/app"),
        ("/var/log/app-[0-9]/x.log", "/var/log"),
        ("/var/log/app.log", "/var/log"),
        ("/*.log", "/"),
    ],
    ids=["star", "recursive", "class-in-dir", "literal", "root"],
)
def test_glob_root_is_the_longest_prefix_without_glob_characters(pattern, root):
    assert glob_root(pattern) == root


def test_a_path_matched_by_two_sources_belongs_to_both_in_their_order(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.log").write_text("a\n")
    (tmp_path / "sub" / "b.log").write_text("b\n")
    sources = [
        SourceSpec("first", (str(tmp_path / "a.log"),), "end"),
        SourceSpec("second", (str(tmp_path / "**" / "*.log"),), "end"),
    ]

    found = find_files(sources).files

    assert found == {
        str(tmp_path / "a.log"): "first+second",
        str(tmp_path / "sub" / "b.log"): "second",
    }
    assert watched_dirs(sources) == {str(tmp_path)}


def _tree(root: Path, paths: list[str]) -> None:
    for name in paths:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x\n")


GLOB_TREE = [
    "a.log",
    ".hidden.log",
    "sub/b.log",
    "sub/c.txt",
    "sub/deeper/d.log",
    ".dot/e.log",
    "sub/.dot/f.log",
    "other/g.log",
]


@pytest.mark.parametrize(
    "pattern",
    [
        "*.log",
        ".*.log",
        "**/*.log",
        "**",
        "sub/**",
        "*/*.log",
        "s?b/[bc].*",
        "**/deeper/*.log",
        ".dot/*.log",
        "**/.dot/*.log",
        "sub/b.log",
        "sub/missing.log",
        "nowhere/**/*.log",
    ],
)
def test_find_files_matches_what_glob_matches(tmp_path, pattern):
    _tree(tmp_path, GLOB_TREE)
    full = str(tmp_path / pattern)
    expected = {
        path.rstrip("/")
        for path in glob.glob(full, recursive=True)  # noqa: PTH207
        if Path(path).is_file()
    }

    found = find_files([SourceSpec("s", (full,), "end")])

    assert {path for path in found.files if Path(path).is_file()} == expected
    assert found.complete


def test_a_symlink_loop_under_double_star_is_walked_once(tmp_path):
    _tree(tmp_path, ["logs/a/app.log"])
    # Two ways back up at each level: an unbounded glob walks 2**40 paths.
    for name in ("up", "up2"):
        (tmp_path / "logs" / "a" / name).symlink_to("..")
    (tmp_path / "logs" / "a" / "self").symlink_to(".")
    pattern = str(tmp_path / "logs" / "**" / "*.log")

    found = find_files([SourceSpec("s", (pattern,), "end")])

    assert found.files == {str(tmp_path / "logs" / "a" / "app.log"): "s"}
    assert found.complete
    assert found.limits == (
        GlobLimit(pattern, entries=5, revisited=3, too_deep=0, exhausted=False),
    )


def test_double_star_descends_at_most_max_depth_levels(tmp_path):
    _tree(tmp_path, ["1/in.log", "1/2/in.log", "1/2/3/out.log", "1/2/3/4/out.log"])
    pattern = str(tmp_path / "**" / "*.log")

    found = find_files([SourceSpec("s", (pattern,), "end")], max_depth=2)

    assert sorted(found.files) == [
        str(tmp_path / "1" / "2" / "in.log"),
        str(tmp_path / "1" / "in.log"),
    ]
    assert found.complete
    assert [(limit.too_deep, limit.exhausted) for limit in found.limits] == [(1, False)]


def test_a_walk_stops_at_its_entry_budget_and_says_it_is_incomplete(tmp_path):
    _tree(tmp_path, [f"d{i}/app.log" for i in range(10)])
    pattern = str(tmp_path / "**" / "*.log")

    found = find_files([SourceSpec("s", (pattern,), "end")], max_entries=12)

    assert len(found.files) < 10
    assert not found.complete
    assert [(limit.entries, limit.exhausted) for limit in found.limits] == [(12, True)]


def test_a_set_stop_ends_the_walk_at_once(tmp_path):
    _tree(tmp_path, ["a/app.log"])
    stop = threading.Event()
    stop.set()

    found = find_files(
        [SourceSpec("s", (str(tmp_path / "**" / "*.log"),), "end")], stop=stop
    )

    assert found.files == {}
    assert not found.complete
    assert found.limits == ()
    assert found.interrupted
