"""Error tracking: a rule's ``exception:`` → PostHog ``$exception`` events.

``exceptions`` compiles the mapping into what it adds to an event, ``chains`` reads
the exceptions a stack trace names (a Python chain, a Java ``Caused by:`` chain, a
Node error), ``traces`` its frames.
"""
