"""logbridge: turns an application's log lines into PostHog events."""

__all__ = ["__version__"]

__version__ = "0.1.0"
