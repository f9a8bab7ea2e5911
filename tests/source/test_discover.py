import pytest

from bridge.source.discover import SourceSpec, find_files, glob_root, watched_dirs


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


def test_find_files_gives_a_path_matched_twice_to_the_first_source(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.log").write_text("a\n")
    (tmp_path / "sub" / "b.log").write_text("b\n")
    sources = [
        SourceSpec("first", (str(tmp_path / "a.log"),), "end"),
        SourceSpec("second", (str(tmp_path / "**" / "*.log"),), "end"),
    ]

    found = find_files(sources)

    assert found == {
        str(tmp_path / "a.log"): "first",
        str(tmp_path / "sub" / "b.log"): "second",
    }
    assert watched_dirs(sources) == {str(tmp_path)}
