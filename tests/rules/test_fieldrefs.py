"""Warnings for rules naming fields their regex source can never produce."""

from __future__ import annotations

import pytest

from tests.rules.support import warnings_of

NGINX = """\
sources:
  - name: nginx
    paths: [/var/log/nginx/access.log]
    format: regex
    pattern: '^(?P<ip>\\S+) (?P<user>\\S+) "(?P<method>\\S+) (?P<path>\\S+)" (?P<status>\\d+)'
rules:
  - name: r
    source: nginx
    event: e
"""

CASES = [
    pytest.param(
        "    properties: {who: '{user}', s: {field: status}}\n", [], id="known"
    ),
    pytest.param(
        "    distinct_id: '{usr}'\n",
        [
            "rules/a.yaml:10:18: warning: rules[0].distinct_id: source 'nginx' has "
            "no field 'usr' (did you mean 'user'?)"
        ],
        id="template-typo",
    ),
    pytest.param(
        "    when: {any: [{stauts: 200}]}\n",
        [
            "rules/a.yaml:10:19: warning: rules[0].when.any[0].stauts: source "
            "'nginx' has no field 'stauts' (did you mean 'status'?)"
        ],
        id="condition-typo",
    ),
    pytest.param(
        "    properties: {b: {field: bytes.total}}\n",
        [
            "rules/a.yaml:10:29: warning: rules[0].properties.b.field: source "
            "'nginx' has no field 'bytes' (hint: its fields are ip, method, path, "
            "status, user)"
        ],
        id="no-close-match",
    ),
    pytest.param(
        "    aggregate: {window_seconds: 60, group_by: [pth], count: n}\n",
        [
            "rules/a.yaml:10:48: warning: rules[0].aggregate.group_by[0]: source "
            "'nginx' has no field 'pth' (did you mean 'path'?)"
        ],
        id="aggregate-typo",
    ),
    pytest.param("    properties: {h: '{$hostname}'}\n", [], id="builtins-are-fine"),
]


@pytest.mark.parametrize(("rule_keys", "expected"), CASES)
def test_paths_a_regex_source_cannot_produce_are_warned(rule_keys, expected):
    result = warnings_of(NGINX + rule_keys)

    assert result == expected


def test_json_sources_may_have_any_field():
    text = NGINX.replace("format: regex", "format: json").replace(
        "    pattern: ", "    # pattern: "
    )

    result = warnings_of(text + "    distinct_id: '{anything}'\n")

    assert result == []
