"""Numbers read from strings: exactly the decimal spellings, nothing Python adds."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from bridge.rules.values.types import to_number

# The decimal numbers a string may spell (what to_number accepts), written out.
DECIMAL = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")


def _reference(text: str) -> int | float | None:
    if not DECIMAL.fullmatch(text):
        return None
    try:
        return float(text) if any(c in text for c in ".eE") else int(text)
    except ValueError:
        return None


@given(st.text(alphabet="0123456789.eE+-_ in٣", max_size=8))
def test_numeric_strings_read_as_the_decimal_grammar_says(text: str) -> None:
    assert to_number(text) == _reference(text)


def test_other_spellings_python_accepts_are_not_numbers() -> None:
    assert [to_number(t) for t in ["1_000", " 1", "1 ", "inf", "nan", "٣", "0x10"]] == [
        None
    ] * 7
    assert [to_number(t) for t in ["+.5", "5.", "-1e3", "007"]] == [
        0.5,
        5.0,
        -1000.0,
        7,
    ]
