"""The ``logbridge`` command: the only place where errors become exit codes.

Exit codes: 0 ok, 1 runtime failure, 2 invalid configuration, rules or usage,
3 failing rule tests.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from bridge import __version__
from bridge.errors import ConfigError, StoreError
from bridge.logs import configure_logging

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_INVALID = 2
EXIT_TESTS_FAILED = 3

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

    def add_config(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "-c",
            "--config",
            type=Path,
            default=None,
            help=f"configuration file (default: $LOGBRIDGE_CONFIG or {DEFAULT_CONFIG})",
        )

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
    check.add_argument("--strict", action="store_true", help="treat warnings as errors")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``logbridge`` console script."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "check":
            return _check(args)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_INVALID
    except StoreError as exc:
        print(f"logbridge: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_INVALID  # pragma: no cover - argparse rejects unknown commands


def _run(args: argparse.Namespace) -> int:
    from bridge.daemon.control import catch_early_signals

    catch_early_signals()
    from bridge.daemon.app import Daemon
    from bridge.settings import load_settings

    settings = load_settings(args.config, state_dir=args.state_dir)
    configure_logging(settings.log_level, args.log_format or settings.log_format)
    daemon = Daemon(settings, once=args.once)
    return asyncio.run(daemon.run())


def _check(args: argparse.Namespace) -> int:
    from bridge.daemon.reload import load_ruleset
    from bridge.errors import format_problems
    from bridge.settings import load_settings

    settings = load_settings(args.config)
    ruleset = load_ruleset(settings, strict=args.strict)
    if ruleset.warnings:
        print(format_problems(ruleset.warnings), file=sys.stderr)
    print(
        f"ok: {len(ruleset.rules)} rules, {len(ruleset.sources)} sources "
        f"(rules hash {ruleset.digest[:12]})"
    )
    return EXIT_OK
