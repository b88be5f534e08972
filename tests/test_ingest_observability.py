"""The ingester's metrics: counters folded into totals and EMF, and the lag sample's fairness."""

from __future__ import annotations

import json
import random
import statistics

import pytest
from aws_lambda_powertools import Logger, Metrics

from ingest.metric_names import COUNTERS, MetricName
from ingest.observability import LAG_SAMPLE, IngestMetrics


def metrics(seed: int = 1) -> IngestMetrics:
    return IngestMetrics(Logger(service="test", level="ERROR"),
                         Metrics(namespace="Test", service="test"), rng=random.Random(seed))


def emf_of(capsys: pytest.CaptureFixture[str]) -> dict[str, list[float]]:
    """The metrics of one flush (a full lag sample ends a document), values as lists."""
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    assert 1 <= len(documents) <= 3
    values: dict[str, list[float]] = {}
    for document in documents:
        for metric in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            name = metric["Name"]
            assert name not in values, f"{name} in two documents"
            value = document[name]
            values[name] = value if isinstance(value, list) else [value]
    return values


def test_counts_reach_the_totals_and_one_emf_document(capsys: pytest.CaptureFixture[str]):
    observed = metrics()
    observed.received(3, 1, 40)
    observed.received(5, 0, None)
    observed.put(2, 7, [30, 50])
    observed.put_failed(3, 1, "ProvisionedThroughputExceededException x1, InternalFailure x2")
    observed.put(3, 9, [70, 80, 90])
    observed.spilled(5)
    assert observed.totals[MetricName.EVENTS_RECEIVED] == 8
    assert observed.totals[MetricName.DUPLICATES_DROPPED] == 1
    observed.received(2, 2, 10)  # after a read of the totals: still counted once
    observed.flush(backlog=4)
    document = emf_of(capsys)
    assert document[MetricName.EVENTS_RECEIVED] == [10]
    assert document[MetricName.DUPLICATES_DROPPED] == [3]
    assert document[MetricName.EVENTS_PUT] == [16]
    assert document[MetricName.RECORDS_PUT] == [5]
    assert document[MetricName.PUT_FAILURES] == [3]
    assert document[MetricName.THROTTLED_RECORDS] == [1]
    assert document[MetricName.EVENTS_SPILLED] == [5]
    assert document[MetricName.BACKLOG] == [4]
    assert sorted(document[MetricName.LAG]) == [10, 40]
    assert sorted(document[MetricName.PUT_LAG]) == [30, 50, 70, 80, 90]
    assert observed.totals[MetricName.EVENTS_RECEIVED] == 10

    observed.flush(backlog=0)  # a quiet interval publishes zeros, and no lag
    document = emf_of(capsys)
    assert document[MetricName.EVENTS_RECEIVED] == [0]
    assert document[MetricName.THROTTLED_RECORDS] == [0]
    assert MetricName.LAG not in document
    assert MetricName.PUT_LAG not in document
    assert observed.totals[MetricName.EVENTS_RECEIVED] == 10


def test_every_counter_is_in_the_totals_from_the_start():
    totals = metrics().totals
    assert totals == dict.fromkeys(COUNTERS, 0)
    for name in (MetricName.EVENTS_PUT, MetricName.RECORDS_PUT, MetricName.PUT_FAILURES,
                 MetricName.THROTTLED_RECORDS, MetricName.EVENTS_SPILLED):
        assert totals[name] == 0


def test_both_full_lag_samples_and_the_counters_are_published(
    capsys: pytest.CaptureFixture[str]
):
    observed = metrics()
    for lag in range(3 * LAG_SAMPLE):
        observed.received(1, 0, lag)
    observed.put(3 * LAG_SAMPLE, 3 * LAG_SAMPLE, range(3 * LAG_SAMPLE))
    observed.flush(backlog=0)
    document = emf_of(capsys)  # each metric in one document only
    assert len(document[MetricName.LAG]) == len(document[MetricName.PUT_LAG]) == LAG_SAMPLE
    assert document[MetricName.RECORDS_PUT] == [3 * LAG_SAMPLE]


def test_the_lag_sample_is_bounded_and_fair(capsys: pytest.CaptureFixture[str]):
    """Every batch of an interval has the same chance to be in the published sample: over many
    intervals each tenth of the interval holds about a tenth of the sample."""
    observed = metrics(seed=7)
    batches = 5_000
    tenths = [0] * 10
    intervals = 200
    for _ in range(intervals):
        for lag in range(batches):
            observed.received(1, 0, lag)
        observed.flush(backlog=0)
        sample = emf_of(capsys)[MetricName.LAG]
        assert len(sample) == LAG_SAMPLE
        assert len(set(sample)) == LAG_SAMPLE  # each batch at most once
        for value in sample:
            tenths[int(value) * 10 // batches] += 1
    expected = intervals * LAG_SAMPLE / 10
    # A binomial count of 20,000 draws at p = 0.1 has a standard deviation of about 42.
    assert all(abs(count - expected) < 200 for count in tenths), tenths
    assert statistics.pstdev(tenths) < 100


def test_fewer_batches_than_the_sample_are_all_published(capsys: pytest.CaptureFixture[str]):
    observed = metrics()
    for lag in range(LAG_SAMPLE - 1):
        observed.received(1, 0, lag)
    observed.flush(backlog=0)
    assert emf_of(capsys)[MetricName.LAG] == list(range(LAG_SAMPLE - 1))
