from __future__ import annotations

import pytest

from bridge.parse import parse_query

QUERY_CASES = [
    # Each case: id, text, parameters.
    ("url", "/search?q=red+shoes&page=2", {"q": "red shoes", "page": "2"}),
    ("bare-query-string", "q=red+shoes&page=2", {"q": "red shoes", "page": "2"}),
    ("fragment-left-out", "/search?q=a#top", {"q": "a"}),
    ("percent-escapes", "/s?q=caf%C3%A9%20au%20lait", {"q": "café au lait"}),
    ("first-value-kept", "/s?a=1&a=2", {"a": "1"}),
    ("blank-value-kept", "/s?a=&b", {"a": "", "b": ""}),
    ("absolute-url", "https://example.com/s?utm_source=mail", {"utm_source": "mail"}),
    ("path-without-query", "/api/products/42", {}),
    ("path-with-fragment", "/docs/intro#install", {}),
    ("word-without-equals", "checkout", {}),
    ("empty-text", "", {}),
    ("question-mark-alone", "/api/products?", {}),
    ("flag-after-question-mark", "/api/products?preview", {"preview": ""}),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [case[1:] for case in QUERY_CASES],
    ids=[case[0] for case in QUERY_CASES],
)
def test_parse_query(text, expected):
    result = parse_query(text)

    assert result == expected
