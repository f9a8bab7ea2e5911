"""The tail stage: files matched by the sources' patterns become complete ``Line`` values.

Synchronous I/O (the daemon runs it in a thread) and no SQLite: the daemon hands the
tailer the stored checkpoints and stores the ones its chunks carry. ``watch_changes``
is the only async part: it says when to scan again.
"""

from bridge.source.discover import SourceSpec
from bridge.source.fingerprint import file_fingerprint
from bridge.source.linebuffer import Cut, LineBuffer
from bridge.source.tailer import Chunk, FileState, Notice, NoticeKind, Tailer
from bridge.source.watcher import watch_changes

__all__ = [
    "Chunk",
    "Cut",
    "FileState",
    "LineBuffer",
    "Notice",
    "NoticeKind",
    "SourceSpec",
    "Tailer",
    "file_fingerprint",
    "watch_changes",
]
