"""Persons and identities: which distinct_ids make a person, and identity events.

- ``ids``: the policy for ids that cannot name a person (missing, blank,
  placeholder, too long) and ``person_profiles``;
- ``forms``: the ``identify``, ``alias`` and ``group_identify`` rule forms.

Modules are imported from where they stand; this package re-exports nothing.
"""
