"""From chunks of lines to spool rows: records, parsing, rules, encoding; no I/O.

The daemon's reader, ``replay`` and ``backfill`` all run lines through one
``Pipeline``, so the events, uuids included, never depend on which one read them.
"""

from bridge.pipeline.pipeline import Pipeline, PreparedChunk
from bridge.pipeline.stats import PipelineStats

__all__ = ["Pipeline", "PipelineStats", "PreparedChunk"]
