"""The files logrotate leaves beside a log, known by name, oldest first."""

from __future__ import annotations

import pytest

from bridge.source.rotated import rotation_of


def _oldest_first(names: list[str], pattern: str) -> list[str]:
    found = {name: rotation_of(name, pattern) for name in names}
    return sorted(
        (name for name, rotation in found.items() if rotation is not None),
        key=lambda name: found[name].age,  # type: ignore[union-attr]
    )


def test_numbered_copies_come_before_the_live_file_the_highest_first() -> None:
    names = ["app.log", "app.log.1", "app.log.2.gz", "app.log.10.gz", "app.log.3.gz"]

    assert _oldest_first(names, "app.log") == [
        "app.log.10.gz",
        "app.log.3.gz",
        "app.log.2.gz",
        "app.log.1",
        "app.log",
    ]


@pytest.mark.parametrize(
    "names",
    [
        ["app.log-20261130.gz", "app.log-20261201", "app.log"],
        ["app.log-2026-11-30.gz", "app.log-2026-12-01", "app.log"],
        ["app.log-2026113023.gz", "app.log-2026120100", "app.log"],
        ["app.log-20261130-1764460800.gz", "app.log-20261201-1764547200", "app.log"],
        ["app-20261130.log.gz", "app-20261201.log", "app.log"],
    ],
    ids=["dateext", "dashes", "hourly", "epoch", "extension"],
)
def test_dated_copies_sort_by_their_date(names: list[str]) -> None:
    assert _oldest_first(list(reversed(names)), "app.log") == names


def test_a_pattern_with_a_wildcard_takes_the_copies_of_every_file_it_matches() -> None:
    names = ["api.log.1", "api.log", "web.log.2.gz", "notes.txt", "web.log"]

    assert _oldest_first(names, "*.log") == [
        "web.log.2.gz",
        "api.log.1",
        "api.log",
        "web.log",
    ]


def test_names_that_only_look_rotated_are_not_copies() -> None:
    assert rotation_of("app.log.bak", "app.log") is None
    assert rotation_of("other.log.1", "app.log") is None
    assert rotation_of("app.log-old", "app.log") is None


def test_a_daily_file_the_application_names_itself_is_a_live_file() -> None:
    rotation = rotation_of("app-2026-12-01.log", "app-*.log")

    assert rotation is not None
    assert rotation.is_live


def test_compressions_other_than_gzip_are_recognised_but_not_readable() -> None:
    gz, xz = (
        rotation_of("app.log.2.gz", "app.log"),
        rotation_of("app.log.3.xz", "app.log"),
    )

    assert gz is not None
    assert xz is not None
    assert (gz.compression, gz.readable) == ("gzip", True)
    assert (xz.compression, xz.readable) == ("xz", False)


def test_an_archive_without_a_number_or_date_is_the_oldest() -> None:
    names = ["app.log.1", "app.log.gz", "app.log"]

    assert _oldest_first(names, "app.log") == ["app.log.gz", "app.log.1", "app.log"]
