"""The pure zone stays pure: rules, parse and their YAML reader, checked on their AST.

STYLE.md §3: these packages import only the stdlib (minus I/O and clocks),
``bridge.model``, ``bridge.errors``, ``bridge.parse``, ``bridge.yamlnodes``, ``re2``
and ``orjson``; they never call ``open()`` or ``.now()``. ``bridge/yamlnodes.py``, the
one module that imports ``yaml``, is held to the same rules: the configuration file
and the rule files share that reader.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.spool.store import Store

ROOT = Path(__file__).resolve().parent.parent
PURE_PACKAGES = ("bridge/rules", "bridge/parse")
YAML_ALLOWED_IN = "bridge/yamlnodes.py"
FORBIDDEN_MODULES = frozenset(
    {
        "asyncio",
        "httpx",
        "io",
        "logging",
        "os",
        "pathlib",
        "random",
        "socket",
        "sqlite3",
        "structlog",
        "subprocess",
        "time",
        "watchfiles",
    }
)
FORBIDDEN_BRIDGE = (
    "bridge.cli",
    "bridge.clock",
    "bridge.daemon",
    "bridge.logs",
    "bridge.settings",
    "bridge.sink",
    "bridge.source",
    "bridge.spool",
)
# Reading the clock or the filesystem, whatever the receiver.
FORBIDDEN_CALLS = frozenset({"now", "utcnow", "today"})


def find_violations(source: str, relpath: str) -> list[str]:
    """Every purity violation in one module, as 'line: what' strings."""
    violations: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import | ast.ImportFrom):
            for module in imported_modules(node):
                if is_forbidden_import(module, relpath):
                    violations.append(f"{node.lineno}: imports {module}")
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id == "open":
                violations.append(f"{node.lineno}: calls open()")
            if isinstance(func, ast.Attribute) and func.attr in FORBIDDEN_CALLS:
                violations.append(f"{node.lineno}: calls .{func.attr}()")
    return violations


def imported_modules(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    # "from bridge import cli" imports bridge.cli: judge each imported name.
    base = "." * node.level + (node.module or "")
    separator = "" if base.endswith(".") else "."
    return [f"{base}{separator}{alias.name}" for alias in node.names]


def is_forbidden_import(module: str, relpath: str) -> bool:
    if module.startswith("."):
        return True  # relative imports are banned project-wide (STYLE.md §3)
    top = module.split(".", maxsplit=1)[0]
    if top in FORBIDDEN_MODULES:
        return True
    if top == "yaml":
        return relpath != YAML_ALLOWED_IN
    return any(module == b or module.startswith(b + ".") for b in FORBIDDEN_BRIDGE)


def pure_modules() -> list[Path]:
    packages = [path for pkg in PURE_PACKAGES for path in (ROOT / pkg).rglob("*.py")]
    return sorted([*packages, ROOT / YAML_ALLOWED_IN])


@pytest.mark.parametrize(
    "path", pure_modules(), ids=lambda path: path.relative_to(ROOT).as_posix()
)
def test_pure_module_imports_and_calls_nothing_impure(path):
    relpath = path.relative_to(ROOT).as_posix()

    violations = find_violations(path.read_text(encoding="utf-8"), relpath)

    assert violations == []


def test_pure_packages_are_not_empty():
    relpaths = {path.relative_to(ROOT).as_posix() for path in pure_modules()}

    assert {
        "bridge/rules/__init__.py",
        "bridge/parse/__init__.py",
        YAML_ALLOWED_IN,
    } <= relpaths


CHECKER_CASES = [
    ("import os\n", ["1: imports os"]),
    ("import os.path\n", ["1: imports os.path"]),
    ("from time import monotonic\n", ["1: imports time.monotonic"]),
    ("from pathlib import Path\n", ["1: imports pathlib.Path"]),
    ("import asyncio, socket\n", ["1: imports asyncio", "1: imports socket"]),
    ("import sqlite3\n", ["1: imports sqlite3"]),
    ("import httpx\n", ["1: imports httpx"]),
    ("import structlog\n", ["1: imports structlog"]),
    ("from watchfiles import awatch\n", ["1: imports watchfiles.awatch"]),
    ("from bridge.spool import store\n", ["1: imports bridge.spool.store"]),
    ("import bridge.source.tailer\n", ["1: imports bridge.source.tailer"]),
    ("from bridge.daemon.app import run\n", ["1: imports bridge.daemon.app.run"]),
    ("from bridge import cli\n", ["1: imports bridge.cli"]),
    ("from . import x\n", ["1: imports .x"]),
    ("from .model import Line\n", ["1: imports .model.Line"]),
    ("import yaml\n", ["1: imports yaml"]),
    ("x = open('f')\n", ["1: calls open()"]),
    ("from datetime import datetime\nx = datetime.now()\n", ["2: calls .now()"]),
    ("import re\nimport zoneinfo\nfrom bridge.model import Line\n", []),
    ("import orjson\nimport re2\nfrom bridge.errors import Problem\n", []),
    ("from bridge.yamlnodes import Map\n", []),
]


@pytest.mark.parametrize(
    ("source", "expected"), CHECKER_CASES, ids=[c[0] for c in CHECKER_CASES]
)
def test_checker_flags_impure_code(source, expected):
    violations = find_violations(source, "bridge/rules/example.py")

    assert violations == expected


def test_checker_allows_yaml_in_yamlnodes_only():
    violations = find_violations("import yaml\n", YAML_ALLOWED_IN)

    assert violations == []


# What the state-reading commands must not import: the daemon and what only it, the
# sink or the rules need (the rules compiler alone took 47 ms of a 130 ms ``status``).
NOT_FOR_STATE_COMMANDS = (
    "asyncio",
    "bridge.backfill",
    "bridge.daemon",
    "bridge.logs",
    "bridge.pipeline",
    "bridge.rules",
    "bridge.sink",
    "bridge.source",
    "bridge.spool.asyncstore",
    "httpx",
    "prometheus_client",
    "structlog",
    "watchfiles",
)
# Runs the command as ``python -m bridge`` does, then lists what it imported.
RUN_AND_LIST_MODULES = """
import sys
from bridge.cli import main
code = main(sys.argv[1:])
print(*sorted(sys.modules), sep="\\n", file=sys.stderr)
raise SystemExit(code)
"""


@pytest.mark.parametrize("has_database", [False, True], ids=["no-database", "database"])
@pytest.mark.parametrize(
    "command", [["status"], ["deadletter", "list"]], ids=["status", "deadletter-list"]
)
def test_state_commands_import_no_daemon_rules_or_asyncio(
    tmp_path: Path, command: list[str], has_database: bool
) -> None:
    state_dir = tmp_path / "state"
    config = tmp_path / "bridge.yaml"
    config.write_text(f"rules_dir: {tmp_path}\nstate_dir: {state_dir}\n")
    if has_database:
        Store.open(state_dir).close()

    result = subprocess.run(
        [sys.executable, "-c", RUN_AND_LIST_MODULES, *command, "-c", str(config)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        cwd=ROOT,
    )

    assert result.returncode == 0, result.stderr
    imported = result.stderr.split()
    assert "bridge.spool.store" in imported
    unwanted = [
        module
        for module in imported
        if any(
            module == m or module.startswith(m + ".") for m in NOT_FOR_STATE_COMMANDS
        )
    ]
    assert unwanted == []


PIPELINE_MAY_IMPORT = (
    "bridge.errors",
    "bridge.model",
    "bridge.parse",
    "bridge.pipeline",
    "bridge.rules",
    "bridge.source",  # the Chunk it is given, and how sources group
    "bridge.spool.rows",  # how an event is encoded, not the store
)


@pytest.mark.parametrize(
    "path",
    sorted((ROOT / "bridge/pipeline").rglob("*.py")),
    ids=lambda path: path.relative_to(ROOT).as_posix(),
)
def test_the_pipeline_does_no_io_and_knows_no_daemon(path: Path) -> None:
    relpath = path.relative_to(ROOT).as_posix()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    wrong = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            for module in imported_modules(node):
                top = module.split(".", maxsplit=1)[0]
                allowed = top not in FORBIDDEN_MODULES and top != "yaml"
                if top == "bridge" and module != "bridge.__version__":
                    allowed = any(
                        module == ok or module.startswith(ok + ".")
                        for ok in PIPELINE_MAY_IMPORT
                    )
                if not allowed:
                    wrong.append(f"{node.lineno}: imports {module}")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "open"
        ):
            wrong.append(f"{node.lineno}: calls open()")

    assert wrong == [], relpath


def test_rule_files_and_the_configuration_have_one_yaml_reader():
    readers = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "bridge").rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Import | ast.ImportFrom)
        and any(m.split(".")[0] == "yaml" for m in imported_modules(node))
    }

    assert readers == {YAML_ALLOWED_IN}
