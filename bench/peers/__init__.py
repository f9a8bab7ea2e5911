"""The peers logbridge is measured against: syslog-ng, and a script around the SDK."""
