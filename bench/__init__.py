"""The benchmark harness: logbridge against syslog-ng and the posthog SDK.

Run it with ``python -m bench.run``; see ``bench/README.md``. Nothing here is imported
by ``bridge``: the harness only drives the daemon as a user would, as a subprocess.
"""
