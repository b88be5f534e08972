"""A disk buffer for records Kinesis could not take yet, replayed in the order written.

Records are appended to segment files (``<sequence>.spool``, one ``symbol<TAB>line`` per record,
the line being the record's JSON line); a segment is closed at ``segment_bytes`` and a new one
started. The reader takes whole segments, oldest first, and deletes one only after every record
in it was acknowledged: a crash re-sends at most a segment (at-least-once; consumers are
idempotent). Segments left by a previous run are replayed first.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import IO

logger = logging.getLogger(__name__)

SEGMENT_BYTES = 8 * 1024 * 1024
_SUFFIX = ".spool"

Entry = tuple[str, bytes]  # (partition key, record line ending in "\n")


class Spool:
    def __init__(self, directory: Path, *, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        existing = sorted(directory.glob(f"*{_SUFFIX}"))
        self._sequence = int(existing[-1].stem) if existing else 0
        self._writing: Path | None = None
        self._file: IO[bytes] | None = None
        self._written = 0
        self._records = sum(_count_lines(p) for p in existing)  # records not yet acknowledged

    def __len__(self) -> int:
        return self._records

    def append(self, entries: list[Entry]) -> None:
        """Write entries after everything already spooled (flushed to the OS, not fsynced)."""
        with self._lock:
            for key, line in entries:
                if self._file is None or self._written >= self.segment_bytes:
                    self._start_segment()
                assert self._file is not None
                data = key.encode() + b"\t" + line
                self._file.write(data)
                self._written += len(data)
            if self._file is not None:
                self._file.flush()
            self._records += len(entries)

    def _start_segment(self) -> None:
        if self._file is not None:
            self._file.close()
        self._sequence += 1
        self._writing = self.directory / f"{self._sequence:012d}{_SUFFIX}"
        self._file = self._writing.open("ab")
        self._written = 0

    def oldest(self) -> tuple[Path, list[Entry]] | None:
        """The oldest segment and its entries; the segment being written is closed first."""
        with self._lock:
            segments = sorted(self.directory.glob(f"*{_SUFFIX}"))
            if not segments:
                return None
            path = segments[0]
            if path == self._writing and self._file is not None:
                self._file.close()
                self._file, self._writing = None, None
        return path, _read_entries(path)

    def acknowledge(self, path: Path, count: int) -> None:
        """Every record of segment ``path`` (``count`` of them) was delivered: delete it."""
        with self._lock:
            path.unlink()
            self._records -= count

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file, self._writing = None, None


def _read_entries(path: Path) -> list[Entry]:
    entries = []
    with path.open("rb") as lines:
        for raw in lines:
            if not raw.endswith(b"\n"):
                # Only a crash mid-write leaves this; that record was never acknowledged.
                logger.error("spool %s: torn last record (%d bytes) set aside: %r",
                             path.name, len(raw), raw[:200])
                continue
            key, _, line = raw.partition(b"\t")
            entries.append((key.decode(), line))
    return entries


def _count_lines(path: Path) -> int:
    with path.open("rb") as lines:
        return sum(1 for raw in lines if raw.endswith(b"\n"))
