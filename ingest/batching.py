"""Frames to delivery: each connection's batcher, and the de-duplication step they all share.

Each connection reads through a `ConnectionBatcher` of its own (its `FrameHandler`): a frame is
parsed at once (the connection needs its kind and event times), and its records are held for a
moment and handed on in batches to the one `SharedDeduplicator`, so that its steps (the
duplicate filter, the counters, the delivery buffer, each behind a lock) run once a batch rather
than once a frame. A batcher hands on what it holds after `HOLD_RECORDS` records or `HOLD_MS`
milliseconds, and whenever its connection finds no frame waiting or ends (`flush`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from miniticker import MiniTicker

from .frames import DuplicateFilter, Frame, parse_frame
from .observability import IngestMetrics

# Enough records that the shared steps cost little a record, few enough that the records held
# are still in the CPU's cache when `Delivery` serialises them (a PutRecords batch's 500 were
# slower in scratch timings). `Delivery` gathers full requests from every batcher's batches.
HOLD_RECORDS = 100
HOLD_MS = 50  # well below Delivery's own linger (LINGER_SECONDS)


class RecordSink(Protocol):
    """Where fresh records go: `Delivery`."""

    def submit(self, records: Sequence[MiniTicker]) -> None: ...


class SharedDeduplicator:
    """The step every connection's records share: drop what another connection (or another
    stream of the same symbol) delivered already, count, and submit the rest to delivery."""

    def __init__(self, delivery: RecordSink, metrics: IngestMetrics,
                 duplicates: DuplicateFilter | None = None) -> None:
        self._delivery = delivery
        self._metrics = metrics
        self._duplicates = duplicates or DuplicateFilter()

    def batcher(self) -> ConnectionBatcher:
        """A new connection's `FrameHandler` (a batcher is not shared between threads): the
        ``handler_factory`` of a `ConnectionSupervisor`."""
        return ConnectionBatcher(self)

    def deliver(self, records: list[MiniTicker]) -> None:
        """Drop what was seen already, count, and submit the rest. Safe from every batcher."""
        fresh = self._duplicates.fresh(records)
        # One lag a batch, its first record's: the records of a batch were read together.
        first = fresh[0] if fresh else None
        self._metrics.received(len(records), len(records) - len(fresh),
                               first.received_at - first.event_time if first else None)
        self._delivery.submit(fresh)

    def malformed(self, frame: Frame) -> None:
        self._metrics.malformed(frame.kind, len(frame.rejected), frame.rejected[0])


class ConnectionBatcher:
    """One connection's `FrameHandler`, called by its reader thread only: parses each frame and
    hands its records to the `SharedDeduplicator` in batches."""

    __slots__ = ("_deduplicator", "_held", "_held_since")

    def __init__(self, deduplicator: SharedDeduplicator) -> None:
        self._deduplicator = deduplicator
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
            self._deduplicator.malformed(frame)
        return frame

    def flush(self) -> None:
        """Hand on every record held (the connection calls this when no frame is waiting)."""
        if self._held:
            held, self._held = self._held, []
            self._deduplicator.deliver(held)
