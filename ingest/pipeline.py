"""Frames to delivery: parse, drop duplicates, count, submit. The path every frame takes.

Each connection reads through a `FrameLane` of its own: a frame is parsed at once (the
connection needs its kind and event times), and its records are held for a moment and handed
on in batches, so the shared steps (the duplicate filter, the counters, the delivery buffer,
each behind a lock) run once a batch rather than once a frame. A lane hands on what it holds
after `HOLD_RECORDS` records or `HOLD_MS` milliseconds, and whenever its connection finds no
frame waiting or ends (`flush`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from miniticker import MiniTicker

from .frames import DuplicateFilter, Frame, parse_frame
from .observability import IngestMetrics

# Enough records that the shared steps cost little a record, few enough that the records held
# are still in the CPU's cache when `Delivery` serialises them (a PutRecords batch's 500 were
# slower in scratch timings). `Delivery` gathers full requests from every lane's batches.
HOLD_RECORDS = 100
HOLD_MS = 50  # well below Delivery's own linger (LINGER_SECONDS)


class RecordSink(Protocol):
    """Where fresh records go: `Delivery`."""

    def submit(self, records: Sequence[MiniTicker]) -> None: ...


class FramePipeline:
    """What every connection's frames share: the duplicate filter, the metrics, delivery."""

    def __init__(self, delivery: RecordSink, metrics: IngestMetrics,
                 duplicates: DuplicateFilter | None = None) -> None:
        self._delivery = delivery
        self._metrics = metrics
        self._duplicates = duplicates or DuplicateFilter()

    def lane(self) -> FrameLane:
        """A way in for one reader thread (a lane is not shared between threads)."""
        return FrameLane(self)

    def deliver(self, records: list[MiniTicker]) -> None:
        """Drop what was seen already, count, and submit the rest. Safe from every lane."""
        fresh = self._duplicates.fresh(records)
        # One lag a batch, its first record's: the records of a batch were read together.
        first = fresh[0] if fresh else None
        self._metrics.received(len(records), len(records) - len(fresh),
                               first.received_at - first.event_time if first else None)
        self._delivery.submit(fresh)

    def malformed(self, frame: Frame) -> None:
        self._metrics.malformed(frame.kind, len(frame.rejected), frame.rejected[0])


class FrameLane:
    """One connection's `FrameHandler`, called by its reader thread only."""

    __slots__ = ("_held", "_held_since", "_pipeline")

    def __init__(self, pipeline: FramePipeline) -> None:
        self._pipeline = pipeline
        self._held: list[MiniTicker] = []
        self._held_since = 0  # received_at of the oldest record held

    def __call__(self, data: bytes, received_at: int) -> Frame:
        frame = parse_frame(data, received_at)
        records = frame.records
        if records:
            held = self._held
            if not held:
                self._held_since = received_at
            held += records
            if len(held) >= HOLD_RECORDS or received_at - self._held_since >= HOLD_MS:
                self.flush()
        if frame.rejected:
            self._pipeline.malformed(frame)
        return frame

    def flush(self) -> None:
        """Hand on every record held (the connection calls this when no frame is waiting)."""
        if self._held:
            held, self._held = self._held, []
            self._pipeline.deliver(held)
