"""Values of a rule: how a property, a distinct_id or a person property is computed.

A value is taken (a field, a template, a static value), then shaped by steps, then
converted by its type, then handled when it fails (``forms`` assembles them):

- ``templates``: ``"user-{fields.user_id}"`` strings and the built-ins;
- ``types``: conversions (int, float, bool, str) and the comparisons conditions use;
- ``privacy``: ``hash`` and ``redact`` for personal data.
"""

from __future__ import annotations

from bridge.rules.values.forms import (
    Extra,
    ValueFn,
    ValueScope,
    compile_properties,
    compile_value,
    is_constant,
)

__all__ = [
    "Extra",
    "ValueFn",
    "ValueScope",
    "compile_properties",
    "compile_value",
    "is_constant",
]
