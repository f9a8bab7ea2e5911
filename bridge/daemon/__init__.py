"""The imperative shell that wires the pipeline stages together; only ``cli`` imports it."""
