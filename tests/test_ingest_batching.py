"""Connection batchers: records held briefly, handed on in batches, duplicates dropped across
connections by the shared de-duplication step."""

from __future__ import annotations

import json
from collections.abc import Sequence

from aws_lambda_powertools import Logger, Metrics

from ingest.batching import HOLD_MS, HOLD_RECORDS, SharedDeduplicator
from ingest.metric_names import MetricName
from ingest.observability import IngestMetrics
from market_sim import MarketDataGenerator, combined
from miniticker import MiniTicker


class Submitted:
    def __init__(self) -> None:
        self.batches: list[list[MiniTicker]] = []

    def submit(self, records: Sequence[MiniTicker]) -> None:
        self.batches.append(list(records))


def frames(count: int) -> list[bytes]:
    payloads = MarketDataGenerator(["BTCUSDT", "ETHUSDT"], seed=3).payloads(count)
    return [json.dumps(combined(p)).encode() for p in payloads]


def deduplicator() -> tuple[SharedDeduplicator, Submitted, IngestMetrics]:
    submitted = Submitted()
    metrics = IngestMetrics(Logger(service="test", level="ERROR"),
                            Metrics(namespace="Test", service="test"))
    return SharedDeduplicator(submitted, metrics), submitted, metrics


def test_a_batcher_hands_on_a_full_batch_at_once():
    shared, submitted, _ = deduplicator()
    batcher = shared.batcher()
    data = frames(HOLD_RECORDS + 3)
    for frame in data[:HOLD_RECORDS - 1]:
        batcher(frame, 1_000)  # read within the same millisecond: nothing is old enough
    assert submitted.batches == []
    batcher(data[HOLD_RECORDS - 1], 1_000)
    assert [len(b) for b in submitted.batches] == [HOLD_RECORDS]
    for frame in data[HOLD_RECORDS:]:
        batcher(frame, 1_000)
    batcher.flush()
    batcher.flush()  # nothing held: nothing sent
    assert [len(b) for b in submitted.batches] == [HOLD_RECORDS, 3]
    assert [r.event_time for b in submitted.batches for r in b] == [
        json.loads(f)["data"]["E"] for f in data]


def test_a_batcher_hands_on_what_it_held_for_long_enough():
    shared, submitted, _ = deduplicator()
    batcher = shared.batcher()
    first, second, third = frames(3)
    batcher(first, 1_000)
    batcher(second, 1_000 + HOLD_MS - 1)
    assert submitted.batches == []
    batcher(third, 1_000 + HOLD_MS)  # the oldest record held has waited HOLD_MS
    assert [len(b) for b in submitted.batches] == [3]


def test_duplicates_are_dropped_across_connections_and_counted():
    shared, submitted, metrics = deduplicator()
    one, other = shared.batcher(), shared.batcher()
    data = frames(10)
    for frame in data[:6]:
        one(frame, 5_000)
    for frame in data[4:]:  # the overlap of a rotation: two frames read by both
        other(frame, 5_000)
    one.flush()
    other.flush()
    assert [len(b) for b in submitted.batches] == [6, 4]
    assert metrics.totals[MetricName.EVENTS_RECEIVED] == 12
    assert metrics.totals[MetricName.DUPLICATES_DROPPED] == 2


def test_set_aside_frames_are_counted_at_once():
    shared, submitted, metrics = deduplicator()
    batcher = shared.batcher()
    batcher(b"{not json", 1)
    batcher(b'{"result":null,"id":1}', 1)
    assert metrics.totals[MetricName.MALFORMED_FRAMES] == 2
    assert submitted.batches == []
