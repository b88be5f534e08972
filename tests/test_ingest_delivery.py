"""Delivery to Kinesis (moto's server, faults through tests/kinesis_proxy.py): aggregated
records within the bounds, partial failures, outage, spill, stop, replay, the sink's errors."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools import Logger, Metrics
from botocore.config import Config

import ingest.delivery
from ingest.delivery import Delivery
from ingest.kinesis_sink import CLIENT_CONFIG, KinesisSink, PutOutcome, PutRecordsEntry, failures
from ingest.metric_names import MetricName
from ingest.observability import IngestMetrics
from ingest.packing import (
    CALL_BYTES,
    PARTITION_KEY_CHARS,
    RECORD_DATA_BYTES,
    PartitionKeys,
    call_ends,
    pack,
)
from ingest.spool import TORN_LINES, Events, Spool
from market_sim import MarketDataGenerator
from miniticker import MiniTicker, normalize, parse_json_line, to_json_line
from miniticker.kinesis_record import (
    MAX_BYTES_PER_REQUEST,
    MAX_RECORD_BYTES,
    MAX_RECORDS_PER_REQUEST,
    lines_of,
)
from tests.kinesis import create_stream, read_all, read_lines, read_shards
from tests.kinesis_proxy import KinesisProxy, decoded
from tests.loopback import free_port
from tests.waiting import wait_for

THROTTLED = "ProvisionedThroughputExceededException"


def generated(count: int, seed: int = 1, received_at: int | None = None) -> list[MiniTicker]:
    return [normalize(p, received_at=p["E"] + 40 if received_at is None else received_at)
            for p in MarketDataGenerator(seed=seed).payloads(count)]


def lines(records: Sequence[MiniTicker]) -> list[bytes]:
    """The records' lines as read back from the stream (without their newline)."""
    return [to_json_line(r)[:-1] for r in records]


def now_ms() -> int:
    return int(time.time() * 1000)


def metrics() -> IngestMetrics:
    return IngestMetrics(Logger(service="test", level="ERROR"),
                         Metrics(namespace="Test", service="test"))


def oldest_events(spool: Spool) -> Events:
    oldest = spool.oldest()
    assert oldest is not None
    return oldest[1]


def submit_in_batches(delivery: Delivery, records: list[MiniTicker], size: int) -> None:
    for start in range(0, len(records), size):
        delivery.submit(records[start:start + size])


@pytest.fixture
def kinesis(aws: str) -> Any:
    return boto3.client("kinesis", config=CLIENT_CONFIG)


@pytest.fixture
def proxy(aws: str) -> Iterator[KinesisProxy]:
    with KinesisProxy(aws) as running:
        yield running


def sink_through(proxy: KinesisProxy, stream: str, config: Config = CLIENT_CONFIG) -> KinesisSink:
    return KinesisSink(stream, boto3.client("kinesis", endpoint_url=proxy.url, config=config))


def deliver(kinesis: Any, proxy: KinesisProxy, tmp_path: Path, shards: int = 1,
            **options: Any) -> tuple[Delivery, IngestMetrics, str]:
    stream = create_stream(kinesis, shards)
    observed = metrics()
    delivery = Delivery(sink_through(proxy, stream), Spool(tmp_path / "spool"), observed,
                        linger=0.01, retry_cap=0.05, **options)
    return delivery.start(), observed, stream


def total(observed: IngestMetrics, name: str) -> float:
    return observed.totals[name]


# --- packing ----------------------------------------------------------------------------------

def test_lines_are_packed_whole_within_the_record_bound_with_the_key():
    keys = PartitionKeys()
    events = [b"x" * (n % 700 + 1) + b"\n" for n in range(3_000)]
    events[1_234] = b"y" * (MAX_RECORD_BYTES + 10) + b"\n"  # longer than any record: alone
    records = pack(list(range(3_000)), events, keys)
    assert b"".join(r.entry["Data"] for r in records) == b"".join(events)
    over = [r for r in records if len(r.entry["Data"]) > RECORD_DATA_BYTES]
    assert [r.entry["Data"] for r in over] == [events[1_234]]
    for record in records:
        key = record.entry["PartitionKey"]
        assert len(key.encode()) == PARTITION_KEY_CHARS
        if record not in over:
            assert len(record.entry["Data"]) + len(key.encode()) <= MAX_RECORD_BYTES
        assert record.entry["Data"] == b"".join(events[record.start:record.end])
        assert record.oldest == record.start  # the receipt times given were 0, 1, 2, ...
    assert [r.entry["PartitionKey"] for r in records[:3]] == ["0000", "0001", "0002"]


def test_partition_keys_rotate_at_a_fixed_width():
    keys = PartitionKeys()
    seen = [keys.next() for _ in range(16**PARTITION_KEY_CHARS + 2)]
    assert seen[-3:] == ["ffff", "0000", "0001"]
    assert {len(key) for key in seen} == {PARTITION_KEY_CHARS}


def test_calls_hold_at_most_500_records_and_a_shards_second():
    assert call_ends([100] * 1_200) == [500, 1_000, 1_200]
    big = [900 * 1024] * 12
    ends = call_ends(big)
    starts = [0, *ends[:-1]]
    assert all(sum(big[s:e]) <= CALL_BYTES for s, e in zip(starts, ends))
    assert CALL_BYTES <= MAX_BYTES_PER_REQUEST
    assert ends == list(range(1, 13))  # a second record would exceed a shard's second
    assert call_ends([CALL_BYTES // 2] * 4) == [2, 4]
    assert call_ends([6 * 1024 * 1024, 10]) == [1, 2]  # too big for any call: alone (refused)
    assert call_ends([]) == []  # no empty call (Kinesis refuses one, and it would retry)


# --- delivery ---------------------------------------------------------------------------------

def test_every_line_arrives_once_in_order_within_every_bound(
    kinesis: Any, proxy: KinesisProxy, tmp_path: Path
):
    delivery, observed, stream = deliver(kinesis, proxy, tmp_path)
    started = now_ms()
    records = generated(25_000, received_at=started)
    # One line longer than a record may be: it travels alone, whole.
    records[9_000] = records[9_000]._replace(stream_type="x" * MAX_RECORD_BYTES)
    submit_in_batches(delivery, records[:300], 7)  # small takes, as lanes hand them on
    delivery.submit(records[300:])  # one take of more than a call
    assert delivery.stop(timeout=30) == 0

    assert read_lines(kinesis, stream) == lines(records)  # once each, in order
    stored = read_all(kinesis, stream)
    long_line = to_json_line(records[9_000])
    for key, data in stored:
        assert data.endswith(b"\n")  # whole lines only: a line is never split
        assert len(key) == PARTITION_KEY_CHARS
        assert len(data) + len(key.encode()) <= MAX_RECORD_BYTES or data == long_line
    calls = [decoded(call) for call in proxy.records_seen]
    assert max(len(call) for call in calls) > 30  # a call packed far more than one record
    # Full records reach a call's bytes long before 500 records; the count bound is exercised
    # with smaller records in test_calls_hold_at_most_500_records_and_a_shards_second.
    for call in calls:
        assert len(call) <= MAX_RECORDS_PER_REQUEST
        assert sum(len(data) + len(key.encode()) for key, data in call) <= CALL_BYTES
    assert total(observed, MetricName.EVENTS_PUT) == 25_000
    assert total(observed, MetricName.RECORDS_PUT) == len(stored)
    assert total(observed, MetricName.PUT_FAILURES) == 0
    assert delivery.backlog == 0


def test_records_spread_over_the_shards_each_in_order(
    kinesis: Any, proxy: KinesisProxy, tmp_path: Path
):
    delivery, _observed, stream = deliver(kinesis, proxy, tmp_path, shards=4)
    records = generated(20_000)
    submit_in_batches(delivery, records, 100)
    assert delivery.stop(timeout=60) == 0
    order = {line: position for position, line in enumerate(lines(records))}
    shards = read_shards(kinesis, stream)
    assert all(shards.values())  # every shard got records
    for stored in shards.values():
        positions = [order[line] for _, data in stored for line in lines_of(data)]
        assert positions == sorted(positions)  # a shard keeps the ingester's order
    assert sorted(read_lines(kinesis, stream)) == sorted(lines(records))


def test_only_the_failed_records_are_retried(
    kinesis: Any, proxy: KinesisProxy, tmp_path: Path
):
    delivery, observed, stream = deliver(kinesis, proxy, tmp_path)
    proxy.fail_every, proxy.failing_calls = 3, 5
    records = generated(20_000, received_at=now_ms())
    delivery.submit(records)
    assert delivery.stop(timeout=30) == 0

    stored = read_all(kinesis, stream)
    assert sorted(read_lines(kinesis, stream)) == sorted(lines(records))  # once each
    # Each throttling call is followed by one that resends exactly its throttled records.
    calls = [decoded(call) for call in proxy.records_seen]
    assert len(calls[0]) > 3**3  # enough records to throttle some in each of the five calls
    for call, retry in zip(calls[:4], calls[1:5]):
        assert retry == call[::3]
    refused = sum(len(call[::3]) for call in calls[:5])
    assert total(observed, MetricName.PUT_FAILURES) == refused
    assert total(observed, MetricName.THROTTLED_RECORDS) == refused
    assert total(observed, MetricName.RECORDS_PUT) == len(stored) == len({d for _, d in stored})
    assert total(observed, MetricName.EVENTS_PUT) == 20_000
    assert delivery.backlog == 0


def test_the_put_lag_is_published_a_sample_per_record(
    kinesis: Any, proxy: KinesisProxy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    delivery, observed, stream = deliver(kinesis, proxy, tmp_path)
    received = now_ms() - 2_000  # read two seconds ago
    delivery.submit(generated(3_000, received_at=received))
    assert delivery.stop(timeout=30) == 0
    capsys.readouterr()
    observed.flush(backlog=delivery.backlog)
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    (lags,) = [d[MetricName.PUT_LAG] for d in documents if MetricName.PUT_LAG in d]
    assert len(lags) == len(read_all(kinesis, stream)) > 1
    assert all(2_000 <= lag < 2_000 + 60_000 for lag in lags)
    (backlog,) = [d[MetricName.BACKLOG] for d in documents if MetricName.BACKLOG in d]
    assert backlog == [0]


def test_an_outage_spills_to_disk_and_replays_in_order(
    kinesis: Any, proxy: KinesisProxy, tmp_path: Path
):
    delivery, observed, stream = deliver(kinesis, proxy, tmp_path, memory_events=300)
    proxy.down = True
    records = generated(3_000)
    submit_in_batches(delivery, records, 50)
    # Memory (the sender's call included) holds at most 300 events: the spool the rest.
    assert total(observed, MetricName.EVENTS_SPILLED) >= 3_000 - 300
    assert delivery.backlog == 3_000
    assert list((tmp_path / "spool").glob("*.spool"))
    proxy.down = False
    assert delivery.stop(timeout=30) == 0
    assert read_lines(kinesis, stream) == lines(records)  # in submit order, once each
    assert not list((tmp_path / "spool").glob("*.spool"))
    assert total(observed, MetricName.EVENTS_PUT) == 3_000
    assert total(observed, MetricName.THROTTLED_RECORDS) == 0  # refused, but not throttled


def test_the_sender_outlasts_an_outage_of_more_than_1024_attempts(
    kinesis: Any, proxy: KinesisProxy, tmp_path: Path
):
    # The backoff's 2.0**attempt overflowed at attempt 1024 and killed the sender thread: every
    # later event would have waited in memory or on disk for good. One HTTP call an attempt
    # (botocore's own retries off), or the test would take many minutes.
    stream = create_stream(kinesis)
    observed = metrics()
    single = CLIENT_CONFIG.merge(Config(retries={"mode": "standard", "total_max_attempts": 1}))
    delivery = Delivery(sink_through(proxy, stream, single), Spool(tmp_path / "spool"),
                        observed, linger=0.01, retry_cap=1e-4).start()
    proxy.down = True
    records = generated(10)
    delivery.submit(records)
    wait_for(lambda: proxy.calls > 1100, timeout=120)
    proxy.down = False
    wait_for(lambda: total(observed, MetricName.EVENTS_PUT) == 10)
    assert delivery.stop(timeout=5) == 0
    assert read_lines(kinesis, stream) == lines(records)
    # One record, refused at each attempt; the last attempts may have come after the count.
    assert total(observed, MetricName.PUT_FAILURES) >= 1100


def test_submit_never_waits_for_kinesis(
    kinesis: Any, proxy: KinesisProxy, tmp_path: Path
):
    delivery, observed, stream = deliver(kinesis, proxy, tmp_path, memory_events=1_000)
    proxy.blocked.clear()  # the next PutRecords hangs until released
    records = generated(5_000)

    def submit_one_by_one() -> None:
        for record in records:
            delivery.submit([record])

    submitter = threading.Thread(target=submit_one_by_one)
    submitter.start()
    submitter.join(20)
    assert not submitter.is_alive(), "submit blocked behind a hung PutRecords"
    assert total(observed, MetricName.EVENTS_SPILLED) >= 4_000
    proxy.blocked.set()
    assert delivery.stop(timeout=30) == 0
    assert read_lines(kinesis, stream) == lines(records)


def test_a_stop_during_an_outage_leaves_everything_on_disk_for_the_next_run(
    kinesis: Any, proxy: KinesisProxy, tmp_path: Path
):
    delivery, _observed, stream = deliver(kinesis, proxy, tmp_path, memory_events=200)
    proxy.down = True
    records = generated(1_000)
    delivery.submit(records[:150])
    delivery.submit(records[150:])
    assert delivery.stop(timeout=0.5) == 1_000
    assert read_all(kinesis, stream) == []

    # The next run replays the spool first, then its own events.
    again = Delivery(KinesisSink(stream, kinesis), Spool(tmp_path / "spool"), metrics(),
                     linger=0.01).start()
    later = generated(100, seed=2)
    again.submit(later)
    assert again.stop(timeout=30) == 0
    stored = read_lines(kinesis, stream)
    assert sorted(stored) == sorted(lines(records + later))
    assert stored[-100:] == lines(later)


def test_a_stop_while_a_call_hangs_keeps_its_events_on_disk(
    kinesis: Any, proxy: KinesisProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(ingest.delivery, "STOP_GRACE_SECONDS", 0.2)
    delivery, _observed, _stream = deliver(kinesis, proxy, tmp_path)
    proxy.blocked.clear()
    records = generated(400)
    delivery.submit(records)
    wait_for(lambda: proxy.requests == 1)  # the sender is in its call
    assert delivery.stop(timeout=0.1) == 400  # the sender is still in its call
    spool = Spool(tmp_path / "spool")
    assert [line[:-1] for line in oldest_events(spool).lines] == lines(records)
    proxy.blocked.set()  # the call completes: the sender drops out, touching nothing
    wait_for(lambda: not any(t.name == "delivery" and t.is_alive()
                             for t in threading.enumerate()), timeout=30)
    assert len(Spool(tmp_path / "spool")) == 400


def test_events_submitted_after_the_stop_are_kept_on_disk(
    kinesis: Any, proxy: KinesisProxy, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    delivery, observed, stream = deliver(kinesis, proxy, tmp_path)
    assert delivery.stop(timeout=5) == 0
    late = generated(7)
    delivery.submit(late)  # a reader thread that outlived the stop
    assert total(observed, MetricName.EVENTS_SPILLED) == 7
    assert "7 events came after the stop" in caplog.text
    assert oldest_events(Spool(tmp_path / "spool")) == Events(
        [r.received_at for r in late], [to_json_line(r) for r in late])
    assert read_all(kinesis, stream) == []


def test_a_failing_sink_does_not_end_the_sender(
    kinesis: Any, proxy: KinesisProxy, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    stream = create_stream(kinesis)
    real = sink_through(proxy, stream)
    calls = []

    class Flaky:
        def put(self, records: Sequence[PutRecordsEntry]) -> PutOutcome:
            calls.append(len(records))
            if len(calls) == 1:
                raise RuntimeError("a bug in a sink")
            return real.put(records)

    observed = metrics()
    delivery = Delivery(Flaky(), Spool(tmp_path / "spool"), observed, linger=0.01,
                        retry_cap=0.05).start()
    records = generated(500)
    delivery.submit(records)
    assert delivery.stop(timeout=30) == 0
    assert read_lines(kinesis, stream) == lines(records)
    assert "a bug in a sink" in caplog.text
    assert len(calls) == 2


# --- the spool --------------------------------------------------------------------------------

def test_a_torn_spool_line_is_set_aside_not_sent(tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture):
    spool = Spool(tmp_path)
    spool.append(Events([1_700_000_000_000], [b'{"a":1}\n']))
    spool.close()
    (segment,) = tmp_path.glob("*.spool")
    with segment.open("ab") as torn:
        torn.write(b'1700000000001\t{"b":')
    reopened = Spool(tmp_path)
    assert len(reopened) == 1
    assert oldest_events(reopened) == Events([1_700_000_000_000], [b'{"a":1}\n'])
    assert "torn last line" in caplog.text
    # Kept apart, and cut off the segment: read once.
    assert (tmp_path / TORN_LINES).read_bytes() == (
        segment.name.encode() + b'\t1700000000001\t{"b":\n')
    assert segment.read_bytes() == b'1700000000000\t{"a":1}\n'


def test_a_spool_of_the_previous_version_is_replayed(
    kinesis: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    old = generated(30)
    new = generated(20, seed=2, received_at=now_ms())
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    # What the version before aggregated records wrote: the partition key (the symbol) first.
    (spool_dir / "000000000001.spool").write_bytes(
        b"".join(r.symbol.encode() + b"\t" + to_json_line(r) for r in old))
    spool = Spool(spool_dir)
    spool.append(Events([r.received_at for r in new], [to_json_line(r) for r in new]))
    spool.close()
    assert len(spool) == 50

    before = now_ms()
    replayed = oldest_events(Spool(spool_dir))
    assert replayed.lines == [to_json_line(r) for r in old]
    assert all(before <= received_at <= now_ms() for received_at in replayed.received_at)
    assert "30 events in the previous spool format" in caplog.text

    stream = create_stream(kinesis)
    delivery = Delivery(KinesisSink(stream, kinesis), Spool(spool_dir), metrics(),
                        linger=0.01).start()
    assert delivery.stop(timeout=30) == 0
    assert read_lines(kinesis, stream) == lines(old + new)
    assert [parse_json_line(line) for line in read_lines(kinesis, stream)] == old + new


# --- the sink ---------------------------------------------------------------------------------

def test_the_sink_reports_why_a_call_failed(kinesis: Any, proxy: KinesisProxy):
    batch: list[PutRecordsEntry] = [{"Data": to_json_line(r), "PartitionKey": "0000"}
                                    for r in generated(3)]
    everything = [0, 1, 2]
    outcome = sink_through(proxy, "no-such-stream").put(batch)
    assert outcome.failed == everything
    assert outcome.throttled == 0
    assert outcome.reason is not None
    assert outcome.reason.startswith("ResourceNotFoundException: ")

    stream = create_stream(kinesis)
    sink = sink_through(proxy, stream)
    assert sink.put(batch) == PutOutcome([], 0, None)
    proxy.down = True
    calls = proxy.calls
    assert sink.put(batch) == PutOutcome(everything, 0, "InternalFailure: injected outage")
    assert proxy.calls - calls == 3  # botocore's standard retry mode, before giving up
    proxy.down, proxy.garbage = False, True
    outcome = sink.put(batch)
    assert outcome.failed == everything
    assert outcome.reason == "unreadable PutRecords answer: no results for 3 records"
    proxy.garbage, proxy.fail_every, proxy.failing_calls = False, 2, 1
    assert sink.put(batch) == PutOutcome([0, 2], 2, f"{THROTTLED} x2")
    assert len(read_all(kinesis, stream)) == 3 + 1

    unreachable = KinesisSink("ticks", boto3.client(
        "kinesis", endpoint_url=f"http://127.0.0.1:{free_port()}", config=CLIENT_CONFIG))
    outcome = unreachable.put(batch)
    assert outcome.failed == everything
    assert outcome.reason is not None
    assert outcome.reason.startswith("EndpointConnectionError: Could not connect")


def test_an_answer_is_read_record_by_record():
    ok = {"SequenceNumber": "1", "ShardId": "shardId-000000000000"}
    throttled = {"ErrorCode": THROTTLED, "ErrorMessage": "Rate exceeded"}
    internal = {"ErrorCode": "InternalFailure", "ErrorMessage": "Internal service failure."}
    assert failures({"FailedRecordCount": 0, "Records": [ok, ok]}, 2) == PutOutcome([], 0, None)
    answer = {"FailedRecordCount": 3, "Records": [throttled, ok, internal, throttled]}
    assert failures(answer, 4) == PutOutcome(
        [0, 2, 3], 2, f"InternalFailure x1, {THROTTLED} x2")
    # Not an answer to this call: every record is resent (duplicates possible, no loss).
    assert failures({"FailedRecordCount": 0, "Records": [ok]}, 3) == PutOutcome(
        [0, 1, 2], 0, "unreadable PutRecords answer: 1 results for 3 records")

