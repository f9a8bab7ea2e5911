"""The ``logbridge`` command: the only place where errors become exit codes.

Exit codes: 0 ok, 1 runtime failure, 2 invalid configuration, rules or usage,
3 failing rule tests, 141 standard output closed early (``logbridge explain … |
head -1``): what a Unix tool killed by SIGPIPE reports (128 + 13), so that a
pipeline's ``pipefail`` sees it as such, without a traceback on the way.

Each command imports what it needs when it runs: ``status`` and ``deadletter`` read
the state database without importing asyncio, structlog, the rules compiler or the
daemon, so that they answer at once (``tests/test_architecture.py`` pins that).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bridge import __version__
from bridge.errors import (
    BridgeError,
    ConfigError,
    StartupError,
    StoreCorrupt,
    StoreError,
)

if TYPE_CHECKING:
    from datetime import datetime

    from bridge.model import Checkpoint
    from bridge.rules import RuleSet
    from bridge.settings import Settings
    from bridge.spool.store import DamagedSegment
    from bridge.tools.replay import Origin

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_INVALID = 2
EXIT_TESTS_FAILED = 3
# 128 + SIGPIPE: the shell's status for a process that SIGPIPE ended.
EXIT_STDOUT_CLOSED = 141

DEFAULT_CONFIG = "/etc/logbridge/bridge.yaml"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="logbridge",
        description="Turn log lines into PostHog events, once each.",
    )
    parser.add_argument(
        "--version", action="version", version=f"logbridge {__version__}"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    add_config = _add_config
    run = commands.add_parser("run", help="run the daemon")
    add_config(run)
    run.add_argument(
        "--once",
        action="store_true",
        help="read what the files hold now, deliver all of it, and exit",
    )
    run.add_argument("--state-dir", type=Path, help="override state_dir")
    run.add_argument("--log-format", choices=("auto", "json", "console"), default=None)

    check = commands.add_parser("check", help="validate the configuration and rules")
    add_config(check)
    check.add_argument(
        "rules", nargs="?", type=Path, help="rule file or folder (default: rules_dir)"
    )
    check.add_argument("--strict", action="store_true", help="treat warnings as errors")

    test = commands.add_parser("test", help="run the tests: of the rule files")
    add_config(test)
    test.add_argument(
        "rules", nargs="?", type=Path, help="rule file or folder (default: rules_dir)"
    )

    replay = commands.add_parser(
        "replay",
        help="dry run of rules over sample log files; nothing is sent or saved",
    )
    add_config(replay)
    replay.add_argument("rules", type=Path, help="rule file or folder")
    replay.add_argument("logfiles", nargs="+", type=Path, metavar="LOGFILE")
    replay.add_argument("--source", help="the source the files belong to")
    replay.add_argument(
        "--json", action="store_true", help="events as JSON lines even on a terminal"
    )
    replay.add_argument(
        "--explain",
        action="store_true",
        help="explain every line instead of the events",
    )
    replay.add_argument("--rule", help="only this rule")
    replay.add_argument(
        "--lines", metavar="FIRST-LAST", help="only these line numbers (120-180, 120-)"
    )

    explain = commands.add_parser(
        "explain", help="show, for one line, what each rule and condition made of it"
    )
    add_config(explain)
    explain.add_argument("rules", type=Path, help="rule file or folder")
    explain.add_argument("--line", required=True, help="the log line")
    explain.add_argument("--source", help="the source the line belongs to")

    _add_backfill(commands)

    status = commands.add_parser(
        "status", help="files, spool, dead letters and rules, from the state database"
    )
    add_config(status)
    status.add_argument("--state-dir", type=Path, help="override state_dir")
    status.add_argument(
        "--json",
        action="store_true",
        help="JSON even on a terminal (the default elsewhere)",
    )

    dead = commands.add_parser("deadletter", help="events PostHog refused for good")
    dead_commands = dead.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, text in (
        ("list", "show the dead letters"),
        ("retry", "put dead letters back in the spool (the given ids, or --all)"),
        ("drop", "delete dead letters for good (the given ids, or --all)"),
    ):
        sub = dead_commands.add_parser(action, help=text)
        add_config(sub)
        sub.add_argument("--state-dir", type=Path, help="override state_dir")
        if action == "list":
            sub.add_argument("--json", action="store_true", help="JSON lines")
            sub.add_argument("--limit", type=int, default=100)
        else:
            sub.add_argument("ids", nargs="*", type=int, metavar="ID")
            sub.add_argument(
                "--all", action="store_true", help="act on every dead letter"
            )
    return parser


def _add_config(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "-c",
        "--config",
        type=Path,
        default=None,
        help=f"configuration file (default: $LOGBRIDGE_CONFIG or {DEFAULT_CONFIG})",
    )


def _add_backfill(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    backfill = commands.add_parser(
        "backfill",
        help="send the history of the sources' files, rotated and gzip'd ones too",
    )
    _add_config(backfill)
    backfill.add_argument("--state-dir", type=Path, help="override state_dir")
    backfill.add_argument(
        "--since",
        metavar="DATE",
        help="only events from this date or time on (2026-11-01, 2026-11-01T08:00Z);"
        " files last written before it are not read",
    )
    backfill.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes (default: the cores, but one left for the application)",
    )
    backfill.add_argument(
        "--no-daemon",
        action="store_true",
        help="there is no daemon: read every file whole (see the README)",
    )
    backfill.add_argument(
        "--progress",
        choices=("auto", "json", "none"),
        default="auto",
        help="a bar on a terminal, JSON lines elsewhere (auto); on standard error",
    )
    backfill.add_argument(
        "--log-format", choices=("auto", "json", "console"), default=None
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``logbridge`` console script."""
    args = _parser().parse_args(argv)
    commands = {
        "run": _run,
        "check": _check,
        "test": _test,
        "replay": _replay,
        "explain": _explain,
        "backfill": _backfill,
        "status": _status,
        "deadletter": _deadletter,
    }
    try:
        code = commands[args.command](args)
        # Flushed here, not at exit, so that a reader gone early is caught below.
        sys.stdout.flush()
    except BrokenPipeError:
        _drop_stdout()
        return EXIT_STDOUT_CLOSED
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_INVALID
    except (StoreError, StartupError, BridgeError) as exc:
        print(f"logbridge: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    return code


def _drop_stdout() -> None:
    """
    Point standard output at /dev/null: Python flushes it again at exit, which
    would raise a second BrokenPipeError (the recipe of the docs of ``signal``,
    "Note on SIGPIPE").
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _run(args: argparse.Namespace) -> int:
    from bridge.daemon.control import catch_early_signals

    catch_early_signals()
    import asyncio

    from bridge.daemon.app import Daemon
    from bridge.logs import configure_logging
    from bridge.settings import load_settings

    settings = load_settings(args.config, state_dir=args.state_dir)
    configure_logging(settings.log_level, args.log_format or settings.log_format)
    daemon = Daemon(settings, once=args.once)
    return asyncio.run(daemon.run())


def _backfill(args: argparse.Namespace) -> int:
    from bridge.backfill.run import BackfillOptions, default_workers, run
    from bridge.backfill.summary import render_summary
    from bridge.logs import configure_logging
    from bridge.settings import load_settings

    settings = load_settings(args.config, state_dir=args.state_dir)
    # The progress and the summary say what each batch would: warnings and errors only,
    # unless the configuration asks for debug.
    level = "debug" if settings.log_level == "debug" else "warning"
    configure_logging(level, args.log_format or settings.log_format)
    workers = args.workers if args.workers is not None else default_workers()
    if workers < 1:
        print("logbridge: --workers: expected 1 or more", file=sys.stderr)
        return EXIT_INVALID
    try:
        since = _parse_since(args.since) if args.since else None
    except ValueError as exc:
        print(f"logbridge: --since: {exc}", file=sys.stderr)
        return EXIT_INVALID
    options = BackfillOptions(
        workers=workers,
        since=since,
        with_daemon=not args.no_daemon,
        progress=args.progress,
    )
    report = run(settings, options)
    print(render_summary(report), file=sys.stderr)
    return EXIT_OK if report.complete else EXIT_FAILURE


def _parse_since(text: str) -> datetime:
    """A date (midnight UTC) or a time with its zone (UTC when it has none)."""
    from datetime import UTC, datetime

    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        msg = f"expected a date or time such as 2026-11-01 or 2026-11-01T08:00Z, got {text!r}"
        raise ValueError(msg) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _check(args: argparse.Namespace) -> int:
    from bridge.daemon.rulefiles import load_ruleset
    from bridge.errors import format_problems

    settings = _tools_settings(args, args.rules)
    ruleset = load_ruleset(settings, strict=args.strict)
    if ruleset.warnings:
        print(format_problems(ruleset.warnings), file=sys.stderr)
    print(
        f"ok: {len(ruleset.rules)} rules, {len(ruleset.sources)} sources "
        f"(rules hash {ruleset.digest[:12]})"
    )
    return EXIT_OK


def _state_settings(args: argparse.Namespace) -> Settings:
    from bridge.settings import load_settings

    return load_settings(args.config, state_dir=args.state_dir)


def _state_dir(args: argparse.Namespace) -> Path:
    return _state_settings(args).state_dir


def _status(args: argparse.Namespace) -> int:
    import os
    import time

    import orjson

    from bridge.spool.store import (
        DB_NAME,
        LAST_SEND_ERROR,
        RULES_STATUS,
        SpoolStats,
        Store,
        disk_headroom,
        filesystem_free,
        set_aside_databases,
    )
    from bridge.status import DiskReport, FileReport, build_status, render_status

    settings = _state_settings(args)
    state_dir = settings.state_dir
    checkpoints: list[Checkpoint] = []
    spool = SpoolStats(events=0, bytes=0, oldest_created_at=None, deadletters=0)
    last_error = rules = None
    damaged: list[DamagedSegment] = []
    if (state_dir / DB_NAME).is_file():
        try:
            store = Store.open_readonly(state_dir)
            try:
                checkpoints = store.load_checkpoints()
                spool = store.stats()
                last_error = store.get_meta(LAST_SEND_ERROR)
                rules = store.get_meta(RULES_STATUS)
                room = store.room()
                damaged = store.list_damaged()
            finally:
                store.close()
        except StoreCorrupt as exc:
            msg = f"{exc} (the daemon sets it aside at its next start)"
            raise StoreCorrupt(msg) from None
    else:
        # The daemon has not run with this state directory yet: nothing to report.
        room = filesystem_free(state_dir)
    files = []
    gone = 0
    for checkpoint in checkpoints:
        # Rows of deleted files stay in the database (their ids must never be given
        # to another file) but are not shown: only files still at their path are.
        try:
            st = os.stat(checkpoint.path)  # noqa: PTH116 - st_ino and st_dev are needed
        except OSError:
            st = None
        if (
            checkpoint.gone
            or st is None
            or (st.st_dev, st.st_ino) != (checkpoint.dev, checkpoint.ino)
        ):
            gone += 1
            continue
        files.append(FileReport(checkpoint=checkpoint, size=st.st_size))
    report = build_status(
        state_db=str(state_dir / DB_NAME),
        files=files,
        files_gone=gone,
        spool=spool,
        disk=DiskReport(
            free_bytes=room, headroom_bytes=disk_headroom(settings.read.read_bytes)
        ),
        damaged=damaged,
        set_aside=[str(path) for path in set_aside_databases(state_dir)],
        last_send_error=last_error,
        rules_status=rules,
        now=time.time(),
    )
    if args.json or not sys.stdout.isatty():
        print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    else:
        print(render_status(report))
    return EXIT_OK


def _deadletter(args: argparse.Namespace) -> int:
    from bridge.spool.store import DB_NAME, Store
    from bridge.status import deadletter_json, render_deadletters

    state_dir = _state_dir(args)
    if args.action == "list":
        letters = []
        # No database: the daemon has not run yet, and nothing was refused.
        if (state_dir / DB_NAME).is_file():
            store = Store.open_readonly(state_dir)
            try:
                letters = store.list_deadletters(limit=args.limit)
            finally:
                store.close()
        if args.json or not sys.stdout.isatty():
            for letter in letters:
                print(_json_line(deadletter_json(letter)))
        else:
            print(render_deadletters(letters))
        return EXIT_OK
    if not args.ids and not args.all:
        print(
            f"logbridge: deadletter {args.action}: give the ids to act on, or --all",
            file=sys.stderr,
        )
        return EXIT_INVALID
    if not (state_dir / DB_NAME).exists():
        print(f"logbridge: no state database in {state_dir}", file=sys.stderr)
        return EXIT_FAILURE
    store = Store.open(state_dir)
    try:
        ids = args.ids or None
        if args.action == "retry":
            count = store.retry_deadletters(ids)
            print(f"{count} dead letter(s) put back in the spool")
        else:
            count = store.drop_deadletters(ids)
            print(f"{count} dead letter(s) dropped")
    finally:
        store.close()
    return EXIT_OK


def _tools_settings(args: argparse.Namespace, path: Path | None) -> Settings:
    """
    The settings for check/test/replay/explain: the configuration (optional when a
    rule file or folder is given), with ``path`` in place of its rules_dir.
    """
    from bridge.settings import load_settings, tool_settings

    config = args.config
    if config is None and path is None:
        return load_settings(None)
    return tool_settings(config, rules=path)


def _rules_for_tools(
    args: argparse.Namespace, path: Path | None
) -> tuple[RuleSet, Settings]:
    """The rule set for test/replay/explain, and the settings (config optional)."""
    from bridge.daemon.rulefiles import load_ruleset

    settings = _tools_settings(args, path)
    return load_ruleset(settings), settings


def _test(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from bridge.rules import render_case_results, run_cases

    ruleset, _ = _rules_for_tools(args, args.rules)
    results = run_cases(ruleset, read_at=datetime.now(UTC))
    print(render_case_results(results))
    return EXIT_OK if all(r.passed for r in results) else EXIT_TESTS_FAILED


def _explain(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from bridge.rules import explain, render_explanation
    from bridge.source.discover import group_sources
    from bridge.tools.replay import pick_source

    ruleset, _ = _rules_for_tools(args, args.rules)
    try:
        group = pick_source(ruleset, Path("-"), args.source)
        explanations = [
            explain(ruleset, source, args.line, read_at=datetime.now(UTC))
            for source in group_sources(group)
        ]
    except ValueError as exc:
        print(f"logbridge: {exc}", file=sys.stderr)
        return EXIT_INVALID
    print("\n\n".join(render_explanation(e) for e in explanations))
    return EXIT_OK


def _replay(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from bridge.tools.replay import (
        keep_rule,
        parse_line_range,
        pick_source,
        render_summary,
        replay,
    )

    ruleset, settings = _rules_for_tools(args, args.rules)
    try:
        files = [(p, pick_source(ruleset, p, args.source)) for p in args.logfiles]
        if args.rule is not None:
            ruleset = keep_rule(ruleset, args.rule)
        lines = parse_line_range(args.lines) if args.lines is not None else None
    except ValueError as exc:
        print(f"logbridge: {exc}", file=sys.stderr)
        return EXIT_INVALID
    missing = [str(p) for p, _ in files if not p.is_file()]
    if missing:
        print(f"logbridge: no such file: {', '.join(missing)}", file=sys.stderr)
        return EXIT_INVALID
    now = datetime.now(UTC)
    if args.explain:
        _explain_lines(ruleset, files, lines, now)
        return EXIT_OK
    report = replay(
        ruleset,
        files,
        read_at=now,
        max_line_bytes=settings.read.max_line_bytes,
        geoip_disable=settings.posthog.geoip_disable,
        lines=lines,
    )
    if args.json or not sys.stdout.isatty():
        for event, origin in zip(report.events, report.origins, strict=True):
            print(_json_line({"origin": origin.as_json(), "event": event}))
    else:
        print(_event_table(report.events, report.origins))
    print(render_summary(report), file=sys.stderr)
    return EXIT_OK


def _explain_lines(
    ruleset: RuleSet,
    files: list[tuple[Path, str]],
    lines: tuple[int, int | None] | None,
    now: datetime,
) -> None:
    """``replay --explain``: each line (of the range) explained, under its file:line."""
    from bridge.rules import explain, render_explanation
    from bridge.source.discover import group_sources

    first, last = lines if lines is not None else (1, None)
    for path, source in files:
        with path.open(encoding="utf-8", errors="replace") as f:
            for number, text in enumerate(f, start=1):
                if number < first:
                    continue
                if last is not None and number > last:
                    break
                line = text.rstrip("\r\n")
                if number == 1:
                    line = line.removeprefix("\ufeff")
                print(f"{path}:{number}")
                for name in group_sources(source):
                    explained = explain(ruleset, name, line, read_at=now)
                    print(render_explanation(explained))
                print()


def _event_table(events: list[dict[str, object]], origins: list[Origin]) -> str:
    rows = [("LINE", "TIMESTAMP", "EVENT", "DISTINCT_ID", "PROPERTIES")]
    for event, origin in zip(events, origins, strict=True):
        properties = {
            k: v
            for k, v in event["properties"].items()  # type: ignore[attr-defined]
            if not k.startswith("$")
        }
        shown = _json_line(properties)
        rows.append(
            (
                f"{origin.file}:{origin.line}" if origin.line else "(summary)",
                str(event["timestamp"])[:23],
                str(event["event"]),
                str(event["distinct_id"])[:36],
                shown if len(shown) <= 80 else shown[:77] + "...",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in rows
    )


def _json_line(value: object) -> str:
    """``value`` as one line of JSON, with integers beyond 64 bits as they are sent."""
    import orjson

    from bridge.model import JSON_OPTIONS, json_default

    return orjson.dumps(value, option=JSON_OPTIONS, default=json_default).decode()
