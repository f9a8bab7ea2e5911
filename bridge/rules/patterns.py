"""Rule authors' regular expressions → compiled RE2 patterns, with located errors.

Invariant: every pattern a rule file supplies is compiled here, once, at load, by
RE2 (linear time: no pattern and no line can make matching hang). A pattern RE2
refuses is reported with RE2's own reason and compilation goes on.
"""

from __future__ import annotations

import re2

from bridge.rules.schema import Reporter, expect_str
from bridge.yamlnodes import Node

__all__ = ["compile_pattern"]


def compile_pattern(
    rep: Reporter, node: Node, path: str, what: str = "a pattern"
) -> re2._Regexp[str] | None:
    """
    Compile the RE2 pattern a node holds.

    Returns:
        The compiled pattern, or None after reporting what is wrong.
    """
    text = expect_str(rep, node, path, what)
    if text is None:
        return None
    options = re2.Options()
    # RE2 would also print the error to stderr; the Problem reports it instead.
    options.log_errors = False
    try:
        return re2.compile(text, options)
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args else ""
        rep.error(node, path, f"RE2 cannot compile {text!r}: {reason}")
        return None
