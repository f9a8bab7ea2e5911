"""Values of a rule: how a property, a distinct_id or a person property is computed.

A value is taken (a field, a template, a static value, a capture of the rule's
regex conditions, or chosen by conditions), shaped by ordered steps, converted by
its type, and handled when it fails; ``forms`` assembles them:

- ``templates``: ``"user-{fields.user_id}"`` strings and the built-ins;
- ``captures``: the named groups of the rule's ``regex`` conditions;
- ``steps``: extract, replace, trim, split, query, basename, ... in order, and
  ``arithmetic``: multiply, divide, add, subtract, round;
- ``types`` and ``durations``: conversions and the comparisons conditions use;
- ``failures``: what a value that failed gives, and the author's ``on_error``;
- ``privacy``: ``hash`` and ``redact`` for personal data.

Modules are imported from where they stand (``bridge.rules.values.forms``); this
package re-exports nothing, because ``conditions`` uses ``types`` and ``forms``
uses ``conditions``.
"""
