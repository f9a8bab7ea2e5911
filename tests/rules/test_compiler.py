"""Every error a rule author can meet, with its exact message and position."""

from __future__ import annotations

import time

import pytest

from bridge.errors import RuleFileError
from bridge.rules import compile_rules
from tests.rules.support import FILE, SOURCE, compile_text, errors, record, rule_file
from tests.yamlbombs import alias_bomb

# A valid rule that cases extend with one more key.
# The keys a value mapping accepts, as error messages list them.
VALUE_KEYS = (
    "cases, default, extract, field, hash, match, number_unit, on_error, redact, "
    "required, steps, template, type, unit, value, when"
)
R = SOURCE + "rules:\n  - name: a\n    source: app\n    event: e\n"
# The same, on a source whose events take their time from the line.
TIMED = R.replace("app.log]\n", "app.log]\n    timestamp: {field: ts}\n")

ERROR_CASES = [
    pytest.param(
        "rules:\n  - name: a\n    source: [x\n",
        [
            (
                "rules/a.yaml:4:1: error: invalid YAML: expected ',' or ']', but "
                "got '<stream end>' (while parsing a flow sequence at line 3)"
            ),
        ],
        id="yaml-unclosed-flow",
    ),
    pytest.param(
        "rules:\n\t- a\n",
        [
            (
                "rules/a.yaml:2:1: error: invalid YAML: found character '\\t' that "
                "cannot start any token"
            ),
        ],
        id="yaml-tab",
    ),
    pytest.param(
        "rules:\n  - name: a: b\n",
        [
            (
                "rules/a.yaml:2:12: error: invalid YAML: mapping values are not "
                "allowed here"
            ),
        ],
        id="yaml-mapping-value",
    ),
    pytest.param(
        'rules: "abc\n',
        [
            (
                "rules/a.yaml:2:1: error: invalid YAML: found unexpected end of "
                "stream (while scanning a quoted scalar at line 1)"
            ),
        ],
        id="yaml-unclosed-quote",
    ),
    pytest.param(
        "rules:\n  - name: a\n source: b\n",
        [
            (
                "rules/a.yaml:3:2: error: invalid YAML: expected <block end>, but "
                "found '<block mapping start>' (while parsing a block mapping at "
                "line 1)"
            ),
        ],
        id="yaml-bad-indent",
    ),
    pytest.param(
        "rules: []\n---\nrules: []\n",
        [
            (
                "rules/a.yaml:3:1: error: expected one YAML document, got more "
                "than one (hint: split the documents into separate files)"
            ),
        ],
        id="two-docs",
    ),
    pytest.param(
        SOURCE + "rules:\n  - name: a\n    source: app\n    name: b\n    event: e\n",
        [
            (
                "rules/a.yaml:7:5: error: rules[0]: duplicate key 'name' (first "
                "defined at line 5)"
            ),
        ],
        id="dup-key",
    ),
    pytest.param(
        SOURCE + "sources: []\n",
        [
            (
                "rules/a.yaml:4:1: error: duplicate key 'sources' (first defined "
                "at line 1)"
            ),
        ],
        id="dup-top",
    ),
    pytest.param(
        SOURCE + "rules:\n  - name: a\n    source: app\n    event: !!binary aGk=\n",
        [
            (
                "rules/a.yaml:7:12: error: rules[0].event: unsupported YAML tag "
                "'!!binary'"
            ),
        ],
        id="tag-binary",
    ),
    pytest.param(
        SOURCE + "rules:\n  - name: a\n    source: app\n    event: !thing x\n",
        [
            "rules/a.yaml:7:12: error: rules[0].event: unsupported YAML tag '!thing'",
        ],
        id="tag-custom",
    ),
    pytest.param(
        (
            SOURCE
            + "rules:\n  - name: a\n    source: app\n    event: e\n    properties: "
            "{n: !!int ten}\n"
        ),
        [
            (
                "rules/a.yaml:8:21: error: rules[0].properties.n: cannot read "
                "'ten' as !!int"
            ),
        ],
        id="bad-int",
    ),
    pytest.param(
        SOURCE + "rules:\n  - &r [*r]\n",
        [
            "rules/a.yaml:5:5: error: rules[0]: expected a mapping, got a list",
            "rules/a.yaml:5:5: error: rules[0][0]: an alias refers to its own anchor",
        ],
        id="recursive",
    ),
    pytest.param(
        (
            SOURCE
            + "rules:\n  - name: a\n    source: app\n    event: e\n    when: {[a]: 1}\n"
        ),
        [
            (
                "rules/a.yaml:8:12: error: rules[0].when: expected a string key, "
                "got a list"
            ),
        ],
        id="list-key",
    ),
    pytest.param(
        SOURCE + "rules:\n  - <<: [1]\n    name: a\n    source: app\n    event: e\n",
        [
            (
                "rules/a.yaml:5:9: error: rules[0].<<: expected a mapping or a "
                "list of mappings to merge"
            ),
        ],
        id="bad-merge",
    ),
    pytest.param(
        "rules:\n  - name: a\x07\n",
        [
            (
                "rules/a.yaml:2:12: error: invalid YAML: unacceptable character "
                "#x0007 (special characters are not allowed)"
            ),
        ],
        id="reader",
    ),
    pytest.param(
        "- a\n- b\n",
        [
            (
                "rules/a.yaml:1:1: error: expected a mapping of rules, sources, "
                "tests, got a list"
            ),
        ],
        id="top-list",
    ),
    pytest.param(
        "hello\n",
        [
            (
                "rules/a.yaml:1:1: error: expected a mapping of rules, sources, "
                "tests, got 'hello'"
            ),
        ],
        id="top-scalar",
    ),
    pytest.param(
        SOURCE + "rule: []\n",
        [
            (
                "rules/a.yaml:4:1: error: unknown key 'rule'; expected one of "
                "rules, sources, tests (did you mean 'rules'?)"
            ),
        ],
        id="top-unknown",
    ),
    pytest.param(
        "sources: {name: app}\n",
        [
            "rules/a.yaml:1:10: error: sources: expected a list, got a mapping",
        ],
        id="sources-map",
    ),
    pytest.param(
        "sources:\n  - app\n",
        [
            "rules/a.yaml:2:5: error: sources[0]: expected a mapping, got 'app'",
        ],
        id="sources-item",
    ),
    pytest.param(
        "sources:\n  - format: json\n",
        [
            "rules/a.yaml:2:5: error: sources[0]: missing required key 'name'",
            "rules/a.yaml:2:5: error: sources[0]: missing required key 'paths'",
        ],
        id="src-missing",
    ),
    pytest.param(
        "sources:\n  - name: app\n    paths: /a.log\n    formt: json\n",
        [
            (
                "rules/a.yaml:4:5: error: sources[0]: unknown key 'formt'; "
                "expected one of format, multiline, name, parse, paths, pattern, patterns, "
                "start_at, timestamp (did you mean 'format'?)"
            ),
        ],
        id="src-unknown",
    ),
    pytest.param(
        "sources:\n  - name: TL Engine\n    paths: /a.log\n",
        [
            (
                "rules/a.yaml:2:11: error: sources[0].name: expected a source name "
                "of lowercase letters, digits, '_', '.' and '-' starting with a "
                "letter or digit, got 'TL Engine'"
            ),
        ],
        id="src-name",
    ),
    pytest.param(
        "sources:\n  - name: 42\n    paths: /a.log\n",
        [
            (
                "rules/a.yaml:2:11: error: sources[0].name: expected a source "
                "name, got 42 (hint: quote it to make it a string: '42')"
            ),
        ],
        id="src-name-int",
    ),
    pytest.param(
        "sources:\n  - name: app\n    paths: []\n",
        [
            (
                "rules/a.yaml:3:12: error: sources[0].paths: expected a glob or a "
                "non-empty list of globs, got an empty list"
            ),
        ],
        id="src-paths-empty",
    ),
    pytest.param(
        "sources:\n  - name: app\n    paths: {a: 1}\n",
        [
            (
                "rules/a.yaml:3:12: error: sources[0].paths: expected a glob or a "
                "non-empty list of globs, got a mapping"
            ),
        ],
        id="src-paths-map",
    ),
    pytest.param(
        "sources:\n  - name: app\n    paths: [/a.log, 3, '']\n",
        [
            (
                "rules/a.yaml:3:21: error: sources[0].paths[1]: expected a "
                "non-empty glob, got 3 (hint: quote it to make it a string: '3')"
            ),
            (
                "rules/a.yaml:3:24: error: sources[0].paths[2]: expected a "
                "non-empty glob, got ''"
            ),
        ],
        id="src-paths-item",
    ),
    pytest.param(
        "sources:\n  - name: app\n    paths: /a.log\n    format: jsn\n",
        [
            (
                "rules/a.yaml:4:13: error: sources[0].format: unknown format "
                "'jsn'; expected one of cri, docker, json, logfmt, regex (did you mean 'json'?)"
            ),
        ],
        id="src-format",
    ),
    pytest.param(
        "sources:\n  - name: app\n    paths: /a.log\n    format: [json]\n",
        [
            (
                "rules/a.yaml:4:13: error: sources[0].format: expected one of "
                "cri, docker, json, logfmt, regex, got a list"
            ),
        ],
        id="src-format-type",
    ),
    pytest.param(
        "sources:\n  - name: app\n    paths: /a.log\n    start_at: begin\n",
        [
            (
                "rules/a.yaml:4:15: error: sources[0].start_at: unknown start_at "
                "'begin'; expected one of beginning, end (did you mean "
                "'beginning'?)"
            ),
        ],
        id="src-start",
    ),
    pytest.param(
        "sources:\n  - name: app\n    paths: /a.log\n    timestamp: [t]\n",
        [
            (
                "rules/a.yaml:4:16: error: sources[0].timestamp: expected a "
                "mapping, got a list"
            ),
        ],
        id="ts-list",
    ),
    pytest.param(
        "sources:\n  - name: app\n    paths: /a.log\n    timestamp: {format: unix}\n",
        [
            (
                "rules/a.yaml:4:16: error: sources[0].timestamp: missing required "
                "key 'field'"
            ),
        ],
        id="ts-missing-field",
    ),
    pytest.param(
        (
            "sources:\n  - name: app\n    paths: /a.log\n    timestamp: {field: t, "
            "format: unixms}\n"
        ),
        [
            (
                "rules/a.yaml:4:35: error: sources[0].timestamp.format: unknown "
                "format 'unixms'; expected one of auto, iso8601, rfc3339, syslog, "
                "unix, unix_ms, unix_ns, unix_us, or a strptime pattern (did you "
                "mean 'unix_ms'?)"
            ),
        ],
        id="ts-format",
    ),
    pytest.param(
        (
            "sources:\n  - name: app\n    paths: /a.log\n    timestamp: {field: t, "
            "timezone: Europe/Madird}\n"
        ),
        [
            (
                "rules/a.yaml:4:37: error: sources[0].timestamp.timezone: unknown "
                "time zone 'Europe/Madird' (did you mean 'Europe/Madrid'?)"
            ),
        ],
        id="ts-zone",
    ),
    pytest.param(
        (
            "sources:\n  - name: app\n    paths: /a.log\n    timestamp: {field: t, "
            "timezone: utc}\n"
        ),
        [
            (
                "rules/a.yaml:4:37: error: sources[0].timestamp.timezone: unknown "
                "time zone 'utc' (did you mean 'UTC'?)"
            ),
        ],
        id="ts-zone-case",
    ),
    pytest.param(
        (
            "sources:\n  - name: app\n    paths: /a.log\n    timestamp: {field: t, "
            "timezone: /etc/passwd}\n"
        ),
        [
            (
                "rules/a.yaml:4:37: error: sources[0].timestamp.timezone: unknown "
                "time zone '/etc/passwd'"
            ),
        ],
        id="ts-zone-path",
    ),
    pytest.param(
        (
            "sources:\n  - name: app\n    paths: /a.log\n    timestamp: {field: t, "
            "timezone: Nowhere}\n"
        ),
        [
            (
                "rules/a.yaml:4:37: error: sources[0].timestamp.timezone: unknown "
                "time zone 'Nowhere'"
            ),
        ],
        id="ts-zone-nohint",
    ),
    pytest.param(
        (
            "sources:\n  - name: app\n    paths: /a.log\n"
            "    timestamp: {field: t, timezone: 2}\n"
        ),
        [
            "rules/a.yaml:4:37: error: sources[0].timestamp.timezone: expected an IANA "
            "time zone name, got 2 (hint: quote it to make it a string: '2')"
        ],
        id="ts-zone-int",
    ),
    pytest.param(
        (
            "sources:\n  - name: app\n    paths: /a.log\n    timestamp: {field: "
            "'a..b', fmt: x}\n"
        ),
        [
            (
                "rules/a.yaml:4:24: error: sources[0].timestamp.field: empty "
                "segment in field path 'a..b'"
            ),
            (
                "rules/a.yaml:4:32: error: sources[0].timestamp: unknown key "
                "'fmt'; expected one of field, format, on_error, timezone, year (did "
                "you mean 'format'?)"
            ),
        ],
        id="ts-field",
    ),
    pytest.param(
        "sources:\n  - name: app\n    paths: /a.log\n    timestamp: {field: 3}\n",
        [
            (
                "rules/a.yaml:4:24: error: sources[0].timestamp.field: expected a "
                "field path, got 3 (hint: quote it to make it a string: '3')"
            ),
        ],
        id="ts-field-type",
    ),
    pytest.param(
        SOURCE + "rules:\n  - when: {}\n",
        [
            "rules/a.yaml:5:5: error: rules[0]: missing required key 'event'",
            "rules/a.yaml:5:5: error: rules[0]: missing required key 'name'",
            "rules/a.yaml:5:5: error: rules[0]: missing required key 'source'",
        ],
        id="missing",
    ),
    pytest.param(
        R + "    propertes: {}\n",
        [
            (
                "rules/a.yaml:8:5: error: rules[0]: unknown key 'propertes'; "
                "expected one of aggregate, alias, distinct_id, event, exception, "
                "geoip, group_identify, groups, identify, invalid_id, name, on_error, "
                "person_profiles, properties, rate_limit, sample, set, set_once, "
                "source, timestamp_on_error, when (did you mean 'properties'?)"
            ),
        ],
        id="unknown",
    ),
    pytest.param(
        TIMED + "    timestamp_on_error: skp\n",
        [
            (
                "rules/a.yaml:9:25: error: rules[0].timestamp_on_error: unknown "
                "timestamp_on_error 'skp'; expected one of read_time, skip (did you "
                "mean 'skip'?)"
            ),
        ],
        id="timestamp-on-error",
    ),
    pytest.param(
        TIMED + "    timestamp_on_error: [skip]\n",
        [
            (
                "rules/a.yaml:9:25: error: rules[0].timestamp_on_error: expected one "
                "of read_time, skip, got a list"
            ),
        ],
        id="timestamp-on-error-type",
    ),
    pytest.param(
        SOURCE + "rules:\n  - name: -bad\n    source: app\n    event: e\n",
        [
            (
                "rules/a.yaml:5:11: error: rules[0].name: expected a rule name of "
                "letters, digits, '_', '.' and '-' starting with a letter or "
                "digit, got '-bad'"
            ),
        ],
        id="name",
    ),
    pytest.param(
        SOURCE + "rules:\n  - name: a\n    source: ap\n    event: e\n",
        [
            (
                "rules/a.yaml:6:13: error: rules[0].source: unknown source 'ap' "
                "(did you mean 'app'?)"
            ),
        ],
        id="source-unknown",
    ),
    pytest.param(
        "rules:\n  - name: a\n    source: app\n    event: e\n",
        [
            (
                "rules/a.yaml:3:13: error: rules[0].source: unknown source 'app' "
                "(hint: define it in a sources: list)"
            ),
        ],
        id="source-none",
    ),
    pytest.param(
        SOURCE + "rules:\n  - name: a\n    source: zzzzz\n    event: e\n",
        [
            "rules/a.yaml:6:13: error: rules[0].source: unknown source 'zzzzz'",
        ],
        id="source-nohint",
    ),
    pytest.param(
        SOURCE + "rules:\n  - name: a\n    source: app\n    event: ''\n",
        [
            "rules/a.yaml:7:12: error: rules[0].event: expected an event name, got ''",
        ],
        id="event-empty",
    ),
    pytest.param(
        SOURCE + "rules:\n  - name: a\n    source: app\n    event: true\n",
        [
            (
                "rules/a.yaml:7:12: error: rules[0].event: expected an event name, "
                "got true (hint: quote it to make it a string: 'true')"
            ),
        ],
        id="event-bool",
    ),
    pytest.param(
        R + "    when: [a]\n",
        [
            "rules/a.yaml:8:11: error: rules[0].when: expected a mapping, got a list",
        ],
        id="when-list",
    ),
    pytest.param(
        R + "    when:\n",
        [
            "rules/a.yaml:8:10: error: rules[0].when: expected a mapping, got null",
        ],
        id="when-null",
    ),
    pytest.param(
        R + "    when: {level: [a, b]}\n",
        [
            (
                "rules/a.yaml:8:19: error: rules[0].when.level: a list is "
                "ambiguous here (hint: write {in: [...]})"
            ),
        ],
        id="cond-list",
    ),
    pytest.param(
        R + "    when: {n: {gtt: 1}}\n",
        [
            (
                "rules/a.yaml:8:16: error: rules[0].when.n: unknown operator "
                "'gtt'; expected one of contains, endswith, eq, exists, gt, gte, "
                "in, lt, lte, ne, not, regex, startswith (did you mean 'gt'?)"
            ),
        ],
        id="op-unknown",
    ),
    pytest.param(
        R + "    when: {fields: {message: x}}\n",
        [
            (
                "rules/a.yaml:8:21: error: rules[0].when.fields: unknown operator "
                "'message'; expected one of contains, endswith, eq, exists, gt, "
                "gte, in, lt, lte, ne, not, regex, startswith (hint: to test a "
                "nested field, write 'fields.message')"
            ),
        ],
        id="op-nested",
    ),
    pytest.param(
        R + "    when: {n: {}}\n",
        [
            (
                "rules/a.yaml:8:15: error: rules[0].when.n: expected at least one "
                "operator, got an empty mapping"
            ),
        ],
        id="op-empty",
    ),
    pytest.param(
        R + "    when: {n: {eq: [1]}}\n",
        [
            (
                "rules/a.yaml:8:20: error: rules[0].when.n: expected a scalar for "
                "'eq', got a list"
            ),
        ],
        id="eq-list",
    ),
    pytest.param(
        R + "    when: {n: {ne: {a: 1}}}\n",
        [
            (
                "rules/a.yaml:8:20: error: rules[0].when.n: expected a scalar for "
                "'ne', got a mapping"
            ),
        ],
        id="ne-map",
    ),
    pytest.param(
        R + "    when: {n: {in: a}}\n",
        [
            (
                "rules/a.yaml:8:20: error: rules[0].when.n: expected a list for "
                "'in', got 'a'"
            ),
        ],
        id="in-scalar",
    ),
    pytest.param(
        R + "    when: {n: {in: []}}\n",
        [
            (
                "rules/a.yaml:8:20: error: rules[0].when.n: expected at least one "
                "value for 'in', got an empty list"
            ),
        ],
        id="in-empty",
    ),
    pytest.param(
        R + "    when: {n: {in: [a, {b: 1}]}}\n",
        [
            (
                "rules/a.yaml:8:24: error: rules[0].when.n: expected a scalar for "
                "'in', got a mapping"
            ),
        ],
        id="in-map-item",
    ),
    pytest.param(
        R + "    when: {n: {exists: 'yes'}}\n",
        [
            (
                "rules/a.yaml:8:24: error: rules[0].when.n: expected true or false "
                "for 'exists', got 'yes'"
            ),
        ],
        id="exists",
    ),
    pytest.param(
        R + "    when: {message: {regex: '(?<=x)y'}}\n",
        [
            (
                "rules/a.yaml:8:29: error: rules[0].when.message: RE2 cannot "
                "compile '(?<=x)y': invalid perl operator: (?<="
            ),
        ],
        id="regex",
    ),
    pytest.param(
        R + "    when: {message: {regex: 'a('}}\n",
        [
            (
                "rules/a.yaml:8:29: error: rules[0].when.message: RE2 cannot "
                "compile 'a(': missing ): a("
            ),
        ],
        id="regex-paren",
    ),
    pytest.param(
        R + "    when: {message: {regex: 5}}\n",
        [
            (
                "rules/a.yaml:8:29: error: rules[0].when.message: expected a "
                "pattern for 'regex', got 5 (hint: quote it to make it a string: "
                "'5')"
            ),
        ],
        id="regex-int",
    ),
    pytest.param(
        R + "    when: {message: {contains: 5}}\n",
        [
            (
                "rules/a.yaml:8:32: error: rules[0].when.message: expected a "
                "non-empty string for 'contains', got 5 (hint: quote it to make it "
                "a string: '5')"
            ),
        ],
        id="contains-int",
    ),
    pytest.param(
        R + "    when: {message: {startswith: ''}}\n",
        [
            (
                "rules/a.yaml:8:34: error: rules[0].when.message: expected a "
                "non-empty string for 'startswith', got ''"
            ),
        ],
        id="startswith-empty",
    ),
    pytest.param(
        R + "    when: {n: {gt: '5'}}\n",
        [
            (
                "rules/a.yaml:8:20: error: rules[0].when.n: expected a number or a "
                "duration for 'gt', got '5' (hint: write a number, or a duration with its "
                "unit: 1s, 500ms, 1m30s)"
            ),
        ],
        id="gt-str",
    ),
    pytest.param(
        R + "    when: {n: {lte: true}}\n",
        [
            (
                "rules/a.yaml:8:21: error: rules[0].when.n: expected a number or a "
                "duration for 'lte', got true (hint: write a number, or a duration with its "
                "unit: 1s, 500ms, 1m30s)"
            ),
        ],
        id="gt-bool",
    ),
    pytest.param(
        R + "    when: {n: {lt: [1]}}\n",
        [
            (
                "rules/a.yaml:8:20: error: rules[0].when.n: expected a number or a "
                "duration for 'lt', got a list (hint: write a number, or a duration with its "
                "unit: 1s, 500ms, 1m30s)"
            ),
        ],
        id="gt-list",
    ),
    pytest.param(
        R + "    when: {any: {a: 1}}\n",
        [
            (
                "rules/a.yaml:8:17: error: rules[0].when.any: expected a list of "
                "condition mappings, got a mapping"
            ),
        ],
        id="any-map",
    ),
    pytest.param(
        R + "    when: {any: []}\n",
        [
            (
                "rules/a.yaml:8:17: error: rules[0].when.any: expected at least "
                "one condition mapping, got an empty list"
            ),
        ],
        id="any-empty",
    ),
    pytest.param(
        R + "    when: {all: [a]}\n",
        [
            (
                "rules/a.yaml:8:18: error: rules[0].when.all[0]: expected a "
                "mapping, got 'a'"
            ),
        ],
        id="all-item",
    ),
    pytest.param(
        R + "    when: {not: [a]}\n",
        [
            (
                "rules/a.yaml:8:17: error: rules[0].when.not: expected a mapping, "
                "got a list"
            ),
        ],
        id="not-list",
    ),
    pytest.param(
        R + "    when: {n: {not: [a]}}\n",
        [
            (
                "rules/a.yaml:8:21: error: rules[0].when.n: a list is ambiguous "
                "here (hint: write {in: [...]})"
            ),
        ],
        id="not-op-list",
    ),
    pytest.param(
        R + "    when: {'a..b': 1}\n",
        [
            (
                "rules/a.yaml:8:12: error: rules[0].when.a..b: empty segment in "
                "field path 'a..b'"
            ),
        ],
        id="path-key",
    ),
    pytest.param(
        R + "    when: {'': 1}\n",
        [
            "rules/a.yaml:8:12: error: rules[0].when.: empty field path",
        ],
        id="path-key-empty",
    ),
    pytest.param(
        R + "    when: {'a.': {gtt: 1}}\n",
        [
            (
                "rules/a.yaml:8:12: error: rules[0].when.a.: empty segment in "
                "field path 'a.'"
            ),
            (
                "rules/a.yaml:8:19: error: rules[0].when.a.: unknown operator "
                "'gtt'; expected one of contains, endswith, eq, exists, gt, gte, "
                "in, lt, lte, ne, not, regex, startswith (did you mean 'gt'?)"
            ),
        ],
        id="path-and-cond",
    ),
    pytest.param(
        R + "    properties: [a]\n",
        [
            (
                "rules/a.yaml:8:17: error: rules[0].properties: expected a "
                "mapping, got a list"
            ),
        ],
        id="props-list",
    ),
    pytest.param(
        R + "    properties: {amount: {fild: x}}\n",
        [
            (
                "rules/a.yaml:8:27: error: rules[0].properties.amount: unknown key "
                f"'fild'; expected one of {VALUE_KEYS} (did you mean 'field'?)"
            ),
        ],
        id="prop-fild",
    ),
    pytest.param(
        R + "    properties: {x: {fields.user_id}}\n",
        [
            (
                "rules/a.yaml:8:22: error: rules[0].properties.x: unknown key "
                f"'fields.user_id'; expected one of {VALUE_KEYS} "
                '(hint: quote a template: "{fields.user_id}")'
            ),
        ],
        id="prop-unquoted",
    ),
    pytest.param(
        R + "    properties: {x: {field: a, value: 1}}\n",
        [
            (
                "rules/a.yaml:8:21: error: rules[0].properties.x: expected exactly "
                "one of cases, field, match, template, value, when, got field and value"
            ),
        ],
        id="prop-two",
    ),
    pytest.param(
        R + "    properties: {x: {type: int}}\n",
        [
            (
                "rules/a.yaml:8:21: error: rules[0].properties.x: expected exactly "
                "one of cases, field, match, template, value, when, got none"
            ),
        ],
        id="prop-none",
    ),
    pytest.param(
        R + "    properties: {x: {field: a, type: flaot}}\n",
        [
            (
                "rules/a.yaml:8:38: error: rules[0].properties.x.type: unknown "
                "type 'flaot'; expected one of bool, duration, float, int, str (did "
                "you mean 'float'?)"
            ),
        ],
        id="prop-type",
    ),
    pytest.param(
        R + "    properties: {x: {field: a, type: 1}}\n",
        [
            (
                "rules/a.yaml:8:38: error: rules[0].properties.x.type: expected a "
                "type name, got 1 (hint: quote it to make it a string: '1')"
            ),
        ],
        id="prop-type-int",
    ),
    pytest.param(
        R + "    properties: {x: {field: 'a.\"b'}}\n",
        [
            (
                "rules/a.yaml:8:29: error: rules[0].properties.x.field: unclosed "
                "quote in field path 'a.\"b'"
            ),
        ],
        id="prop-field-path",
    ),
    pytest.param(
        R + "    properties: {x: {field: [a]}}\n",
        [
            (
                "rules/a.yaml:8:29: error: rules[0].properties.x.field: expected a "
                "field path, got a list"
            ),
        ],
        id="prop-field-type",
    ),
    pytest.param(
        R + "    properties: {x: 'order-{id'}\n",
        [
            (
                "rules/a.yaml:8:21: error: rules[0].properties.x: unclosed '{' in "
                "template 'order-{id' (hint: write {{ for a literal brace)"
            ),
        ],
        id="tpl-open",
    ),
    pytest.param(
        R + "    properties: {x: 'order-}'}\n",
        [
            (
                "rules/a.yaml:8:21: error: rules[0].properties.x: unmatched '}' in "
                "template 'order-}' (hint: write }} for a literal brace)"
            ),
        ],
        id="tpl-close",
    ),
    pytest.param(
        R + "    properties: {x: 'order-{}'}\n",
        [
            (
                "rules/a.yaml:8:21: error: rules[0].properties.x: empty "
                "placeholder {} in template 'order-{}' (hint: write {{}} for "
                "literal braces)"
            ),
        ],
        id="tpl-empty",
    ),
    pytest.param(
        R + "    properties: {x: '{$hostnme}'}\n",
        [
            (
                "rules/a.yaml:8:21: error: rules[0].properties.x: unknown built-in "
                "'$hostnme'; expected one of $file_id, $hostname, $offset, $rule, "
                "$source, $text, $trace (did you mean '$hostname'?)"
            ),
        ],
        id="tpl-builtin",
    ),
    pytest.param(
        R + "    properties: {x: '{$zz}'}\n",
        [
            (
                "rules/a.yaml:8:21: error: rules[0].properties.x: unknown built-in "
                "'$zz'; expected one of $file_id, $hostname, $offset, $rule, "
                "$source, $text, $trace"
            ),
        ],
        id="tpl-builtin-nohint",
    ),
    pytest.param(
        R + "    properties: {x: '{a..b}-{$zz}'}\n",
        [
            (
                "rules/a.yaml:8:21: error: rules[0].properties.x: empty segment in "
                "field path 'a..b'"
            ),
            (
                "rules/a.yaml:8:21: error: rules[0].properties.x: unknown built-in "
                "'$zz'; expected one of $file_id, $hostname, $offset, $rule, "
                "$source, $text, $trace"
            ),
        ],
        id="tpl-path",
    ),
    pytest.param(
        R + "    properties: {x: {template: 5}}\n",
        [
            (
                "rules/a.yaml:8:32: error: rules[0].properties.x.template: "
                "expected a template, got 5 (hint: quote it to make it a string: "
                "'5')"
            ),
        ],
        id="tpl-form-int",
    ),
    pytest.param(
        R + "    properties: {x: {template: '{'}}\n",
        [
            (
                "rules/a.yaml:8:32: error: rules[0].properties.x.template: "
                "unclosed '{' in template '{' (hint: write {{ for a literal brace)"
            ),
        ],
        id="tpl-form-bad",
    ),
    pytest.param(
        R + "    properties: {x: [1, 2]}\n",
        [
            (
                "rules/a.yaml:8:21: error: rules[0].properties.x: expected a "
                "string, number, boolean, null or mapping, got a list (hint: write "
                "{value: [...]} for a list value)"
            ),
        ],
        id="prop-listval",
    ),
    pytest.param(
        R + "    properties: {'': 1}\n",
        [
            (
                "rules/a.yaml:8:18: error: rules[0].properties: expected a "
                "property name, got an empty string"
            ),
        ],
        id="prop-empty-name",
    ),
    pytest.param(
        R + "    distinct_id: [a]\n",
        [
            (
                "rules/a.yaml:8:18: error: rules[0].distinct_id: expected a "
                "string, number, boolean, null or mapping, got a list (hint: write "
                "{value: [...]} for a list value)"
            ),
        ],
        id="did-list",
    ),
    pytest.param(
        R + "tests: {a: 1}\n",
        [
            "rules/a.yaml:8:8: error: tests: expected a list, got a mapping",
        ],
        id="tests-map",
    ),
    pytest.param(
        R + "tests: [a]\n",
        [
            "rules/a.yaml:8:9: error: tests[0]: expected a mapping, got 'a'",
        ],
        id="tests-item",
    ),
]


@pytest.mark.parametrize(("text", "expected"), ERROR_CASES)
def test_invalid_rule_file_reports_every_problem_with_its_position(text, expected):
    result = errors(text)

    assert result == expected


def warnings_of(*files: tuple[str, str]) -> list[str]:
    return [str(problem) for problem in compile_rules(list(files)).warnings]


WARNING_CASES = [
    pytest.param(
        [(FILE, "")],
        ["rules/a.yaml:1:1: warning: no rules defined"],
        id="empty-file",
    ),
    pytest.param(
        [(FILE, "# nothing yet\n")],
        ["rules/a.yaml:1:1: warning: no rules defined"],
        id="comments-only",
    ),
    pytest.param(
        [(FILE, "---\n")],
        ["rules/a.yaml:1:1: warning: no rules defined"],
        id="null-document",
    ),
    pytest.param(
        [(FILE, "sources:\nrules:\ntests:\n")],
        ["rules/a.yaml:1:1: warning: no rules defined"],
        id="null-sections",
    ),
    pytest.param(
        [(FILE, SOURCE), ("rules/b.yaml", "tests: []\n")],
        ["rules/a.yaml:1:1: warning: no rules defined"],
        id="sources-only",
    ),
    pytest.param(
        [(FILE, R.replace("event: e", "event: " + "x" * 201))],
        [
            "rules/a.yaml:7:12: warning: rules[0].event: expected an event name of "
            "at most 200 characters, got 201 (hint: PostHog truncates longer names)"
        ],
        id="long-event-name",
    ),
    pytest.param(
        [(FILE, R + "    distinct_id: system\n")],
        [
            "rules/a.yaml:8:18: warning: rules[0].distinct_id: every event of this "
            "rule gets the same distinct_id (hint: omit distinct_id to send "
            "personless events)"
        ],
        id="static-distinct-id",
    ),
    pytest.param(
        [(FILE, R + "    distinct_id: {value: 7}\n")],
        [
            "rules/a.yaml:8:18: warning: rules[0].distinct_id: every event of this "
            "rule gets the same distinct_id (hint: omit distinct_id to send "
            "personless events)"
        ],
        id="static-distinct-id-mapping",
    ),
    pytest.param(
        [(FILE, R + "    distinct_id: {field: u, default: anon}\n")],
        [],
        id="distinct-id-with-default-is-fine",
    ),
    pytest.param(
        [(FILE, R), ("rules/b.yaml", "sources:\n  - {name: idle, paths: /i.log}\n")],
        [
            "rules/b.yaml:2:12: warning: sources[0].name: source 'idle' has no rules "
            "(hint: its lines would be dropped)"
        ],
        id="source-without-rules",
    ),
    pytest.param(
        [(FILE, R + "    timestamp_on_error: skip\n")],
        [
            "rules/a.yaml:8:25: warning: rules[0].timestamp_on_error: "
            "timestamp_on_error has no effect: source 'app' has no timestamp (hint: "
            "its events take the time the line was read)"
        ],
        id="timestamp-on-error-untimed",
    ),
    pytest.param([(FILE, TIMED + "    timestamp_on_error: skip\n")], [], id="timed"),
]


@pytest.mark.parametrize(("files", "expected"), WARNING_CASES)
def test_valid_rule_files_may_carry_warnings(files, expected):
    result = warnings_of(*files)

    assert result == expected


def test_strict_turns_warnings_into_errors():
    text = R + "    distinct_id: system\n"

    result = errors(text, strict=True)

    assert result == [
        "rules/a.yaml:8:18: error: rules[0].distinct_id: every event of this "
        "rule gets the same distinct_id (hint: omit distinct_id to send "
        "personless events)"
    ]


def test_no_files_is_valid_and_silent():
    ruleset = compile_rules([], strict=True)

    assert ruleset.warnings == ()


def test_unused_source_warning_is_held_back_while_rules_have_errors():
    text = R + "  - {name: b, source: app, event: e, when: {x: [1]}}\n"
    text += "sources:\n  - {name: idle, paths: /i.log}\n"

    result = errors(
        text.replace("sources:\n  - {name: idle", "extra:\n  - {name: idle")
    )

    assert result == [
        "rules/a.yaml:8:48: error: rules[1].when.x: a list is ambiguous here "
        "(hint: write {in: [...]})",
        "rules/a.yaml:9:1: error: unknown key 'extra'; expected one of rules, "
        "sources, tests",
    ]


def test_names_are_unique_across_files_and_sources_are_shared():
    first = R
    second = """\
sources:
  - name: app
    paths: /other.log
rules:
  - name: a
    source: app
    event: e
  - name: uses-first-files-source
    source: app
    event: e
"""

    result = errors((FILE, first), ("rules/b.yaml", second))

    assert result == [
        "rules/b.yaml:2:11: error: sources[0].name: duplicate source name 'app' "
        "(first defined at rules/a.yaml:2:11)",
        "rules/b.yaml:5:11: error: rules[0].name: duplicate rule name 'a' "
        "(first defined at rules/a.yaml:5:11)",
    ]


def test_problems_of_all_files_are_reported_together_and_sorted():
    broken_yaml = "rules: [\n"
    bad_rule = SOURCE + "rules:\n  - {name: x, source: nope, event: e}\n"

    with pytest.raises(RuleFileError) as caught:
        compile_rules([("z.yaml", broken_yaml), ("a.yaml", bad_rule)])

    assert str(caught.value) == "\n".join(
        [
            "a.yaml:5:23: error: rules[0].source: unknown source 'nope'",
            "z.yaml:2:1: error: invalid YAML: expected the node content, but found "
            "'<stream end>'",
            "2 errors in 2 files",
        ]
    )


def test_error_report_includes_warnings_of_the_same_run():
    text = R + "    distinct_id: system\n    when: {x: [1]}\n"

    with pytest.raises(RuleFileError) as caught:
        compile_text(text)

    assert str(caught.value).splitlines()[-1] == "1 error and 1 warning in 1 file"


def test_relative_paths_are_kept_as_written():
    text = R.replace("[/var/log/app.log]", "[logs/*.log, ../x/*.log]")

    ruleset = compile_text(text, strict=True)

    assert [s.paths for s in ruleset.sources] == [("logs/*.log", "../x/*.log")]


def test_merge_keys_share_definitions_and_own_keys_win():
    text = (
        SOURCE
        + """\
rules:
  - &base
    name: a
    source: app
    event: e
    when: {level: INFO}
  - <<: *base
    name: b
    event: e2
"""
    )

    ruleset = compile_text(text)

    assert [(r.name, r.event) for r in ruleset.rules] == [("a", "e"), ("b", "e2")]


def test_an_alias_bomb_is_refused_before_anything_expands_it():
    # The expected properties of a test are read as plain data: expanded, the bomb
    # took 33 s and 2.9 GB before a MemoryError.
    text = (
        SOURCE
        + "tests:\n  - source: app\n    line: '{}'\n    expect:\n      - event: e\n"
        + "        properties:\n"
        + alias_bomb(indent=" " * 10)
    )
    started = time.monotonic()

    with pytest.raises(RuleFileError) as caught:
        compile_rules([(FILE, text)])

    assert time.monotonic() - started < 5
    assert [str(p) for p in caught.value.problems] == [
        "rules/a.yaml:14:18: error: tests[0].expect[0].properties.e[0]: aliases"
        " repeat more than 10000 values in all (hint: alias smaller values, or"
        " fewer times)"
    ]


def test_a_document_nested_too_deep_for_python_is_an_error_not_a_crash():
    # Composing recursed per level: this was a RecursionError, out of check and reload.
    text = "rules: " + "[" * 5000 + "]" * 5000 + "\n"

    with pytest.raises(RuleFileError) as caught:
        compile_rules([(FILE, text)])

    assert [str(p) for p in caught.value.problems] == [
        f"rules/a.yaml:1:71: error: rules{'[0]' * 63}: values nest more than 64"
        " levels deep"
    ]


def test_the_configurations_properties_go_on_every_event_and_a_rule_overrides_them() -> (
    None
):
    text = rule_file(properties="{region: {value: us-east}, n: {field: n}}")
    ruleset = compile_text(text, properties={"service": "shop", "region": "eu-west"})

    (event,) = ruleset.apply(record({"n": 3}))

    assert event.properties == {
        "service": "shop",
        "region": "us-east",
        "n": 3,
        "$process_person_profile": False,
    }
