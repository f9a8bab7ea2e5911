"""The README's rule-file examples compile: the documentation cannot drift from the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bridge.rules import compile_rules

README = Path(__file__).resolve().parents[1] / "README.md"

# Sources the rule fragments of the README refer to.
SOURCES = """\
sources:
  - {name: app, paths: [a.log], format: logfmt}
  - {name: worker, paths: [w.log], multiline: {start: '^\\S'}}
  - {name: tl-engine, paths: [t.log]}
"""


def _blocks() -> list[tuple[int, str]]:
    text = README.read_text()
    section = text[text.index("## Rule files") : text.index("## Commands")]
    offset = text[: text.index("## Rule files")].count("\n")
    return [
        (offset + section[: m.start()].count("\n") + 1, m.group(1))
        for m in re.finditer(r"```yaml\n(.*?)```", section, re.S)
    ]


def _as_rule_file(block: str) -> str | None:
    if block.startswith(("sources:", "rules:", "tests:")):
        return block if "sources:" in block else SOURCES + block
    if block.startswith("  - name:"):
        return SOURCES + "rules:\n" + block
    if block.startswith(("properties:", "when:")):
        rule = "  - name: r\n    source: tl-engine\n    event: e\n"
        return (
            SOURCES
            + "rules:\n"
            + rule
            + "\n".join("    " + line for line in block.splitlines())
        )
    if block.startswith("timestamp:"):
        return None  # alternatives of one key, shown side by side
    pytest.fail(f"README block not recognised:\n{block}")


@pytest.mark.parametrize(("line", "block"), _blocks(), ids=lambda v: str(v)[:20])
def test_readme_rule_examples_compile(line: int, block: str) -> None:
    text = _as_rule_file(block)
    if text is None:
        return

    ruleset = compile_rules([(f"README.md:{line}", text)], salt=b"readme")

    assert ruleset.rules or ruleset.sources
