"""A disk buffer for events Kinesis could not take yet, replayed in the order written.

Events are appended to segment files (``<sequence>.spool``, one ``received_at<TAB>line`` an
event: its receipt time in epoch ms and its JSON line); a segment is closed at
``segment_bytes`` and a new one started. The reader takes whole segments, oldest first, and
deletes one only after every event in it was acknowledged: a crash re-sends at most a segment
(at-least-once; consumers are idempotent). Segments left by a previous run are replayed first,
also those of the version before aggregated records, whose lines start with the event's symbol
(``symbol<TAB>line``): their receipt time is unknown and taken as the time they are read.

A crash in the middle of a write leaves a torn last line: it is set aside, logged and appended
to ``torn-lines`` in the spool directory (never replayed: it is not a whole event).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

logger = logging.getLogger(__name__)

SEGMENT_BYTES = 8 * 1024 * 1024
_SUFFIX = ".spool"

TORN_LINES = "torn-lines"  # in the spool directory: torn last lines set aside


@dataclass(slots=True)
class Events:
    """Events in order: each one's receipt time (epoch ms) and its JSON line (ending in
    ``\n``), as two columns. Not a tuple an event: on the ingester's path, building and then
    collecting a tuple for each event cost more than all the rest of the sender's own work."""

    received_at: list[int] = field(default_factory=list)
    lines: list[bytes] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.lines)

    def extend(self, received_at: Sequence[int], lines: Sequence[bytes]) -> None:
        self.received_at += received_at
        self.lines += lines


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
        self._events = sum(_count_lines(p) for p in existing)  # events not yet acknowledged

    def __len__(self) -> int:
        return self._events

    def append(self, events: Events) -> None:
        """Write events after everything already spooled (flushed to the OS, not fsynced)."""
        with self._lock:
            for received_at, line in zip(events.received_at, events.lines):
                if self._file is None or self._written >= self.segment_bytes:
                    self._start_segment()
                assert self._file is not None
                data = b"%d\t%b" % (received_at, line)
                self._file.write(data)
                self._written += len(data)
            if self._file is not None:
                self._file.flush()
            self._events += len(events)

    def _start_segment(self) -> None:
        if self._file is not None:
            self._file.close()
        self._sequence += 1
        self._writing = self.directory / f"{self._sequence:012d}{_SUFFIX}"
        self._file = self._writing.open("ab")
        self._written = 0

    def oldest(self) -> tuple[Path, Events] | None:
        """The oldest segment and its events; the segment being written is closed first."""
        with self._lock:
            segments = sorted(self.directory.glob(f"*{_SUFFIX}"))
            if not segments:
                return None
            path = segments[0]
            if path == self._writing and self._file is not None:
                self._file.close()
                self._file, self._writing = None, None
        return path, _read_events(path)

    def acknowledge(self, path: Path, count: int) -> None:
        """Every event of segment ``path`` (``count`` of them) was delivered: delete it."""
        with self._lock:
            path.unlink()
            self._events -= count

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file, self._writing = None, None


def _read_events(path: Path) -> Events:
    events = Events()
    received_ats, event_lines = events.received_at, events.lines
    legacy = 0
    now = int(time.time() * 1000)
    offset = 0  # of the line being read
    with path.open("rb") as lines:
        for raw in lines:
            if not raw.endswith(b"\n"):
                _set_aside_torn(path, offset, raw)  # only the last line can lack its end
                break
            offset += len(raw)
            first, _, line = raw.partition(b"\t")
            if first.isdigit():
                received_ats.append(int(first))
            else:  # the previous version's symbol: the receipt time is unknown
                received_ats.append(now)
                legacy += 1
            event_lines.append(line)
    if legacy:
        logger.warning("spool %s: %d events in the previous spool format (symbol first): "
                       "receipt time unknown, taken as now", path.name, legacy)
    return events


def _set_aside_torn(path: Path, offset: int, raw: bytes) -> None:
    """A crash mid-write tore the segment's last line (that event was never acknowledged,
    nor whole): keep its bytes apart, then cut it off the segment so it is read once."""
    torn = path.with_name(TORN_LINES)
    with torn.open("ab") as kept:
        kept.write(b"%b\t%b\n" % (path.name.encode(), raw))
    with path.open("r+b") as segment:
        segment.truncate(offset)
    logger.error("spool %s: torn last line (%d bytes) set aside in %s: %r",
                 path.name, len(raw), torn, raw[:200])


def _count_lines(path: Path) -> int:
    with path.open("rb") as lines:
        return sum(1 for raw in lines if raw.endswith(b"\n"))
