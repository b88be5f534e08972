"""Frames to delivery: parse, drop duplicates, count, submit. The path every frame takes."""

from __future__ import annotations

from .delivery import Delivery
from .frames import DuplicateFilter, Frame, parse_frame
from .observability import IngestMetrics


class FramePipeline:
    """The ``on_frame`` callback of every feed (called from the reader threads)."""

    def __init__(self, delivery: Delivery, metrics: IngestMetrics,
                 duplicates: DuplicateFilter | None = None) -> None:
        self._delivery = delivery
        self._metrics = metrics
        self._duplicates = duplicates or DuplicateFilter()

    def __call__(self, data: bytes, received_at: int) -> Frame:
        frame = parse_frame(data, received_at)
        if frame.rejected:
            self._metrics.malformed(frame.kind, len(frame.rejected), frame.rejected[0])
        records = frame.records
        if records:
            fresh = self._duplicates.fresh(records)
            # One lag a frame (its first record's): the records of one frame were read together.
            self._metrics.received(len(records), len(records) - len(fresh),
                                   received_at - fresh[0].event_time if fresh else None)
            self._delivery.submit(fresh)
        return frame
