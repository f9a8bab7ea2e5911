"""The rule author's tools that read files without a daemon: ``replay``."""
