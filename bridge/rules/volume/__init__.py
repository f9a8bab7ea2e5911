"""How many events a rule sends: ``sample``, ``rate_limit`` and ``aggregate``.

``limits`` holds sampling (by a stable hash of the event's uuid) and token buckets,
``aggregate`` compiles an aggregation, ``windows`` keeps its time windows and the
uuids of their summaries.
"""
