"""Delivery to Kinesis (moto server): batching, partial failures, outage, spill, stop, replay."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import pytest

from ingest.delivery import Delivery
from ingest.kinesis_sink import CLIENT_CONFIG, KinesisSink, batches
from ingest.spool import Spool
from market_sim import MarketDataGenerator
from miniticker import MiniTicker, normalize, to_json_line
from tests.kinesis import create_stream, read_all


class Counts:
    def __init__(self) -> None:
        self.counter: Counter[str] = Counter()
        self.reasons: list[str] = []

    def put(self, count: int) -> None:
        self.counter["put"] += count

    def put_failed(self, count: int, reason: str) -> None:
        self.counter["failed"] += count
        self.reasons.append(reason)

    def spilled(self, count: int) -> None:
        self.counter["spilled"] += count


class FaultyClient:
    """The real client, with faults on demand: an outage, or a share of records throttled."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.down = False
        self.fail_every = 0  # fail every n-th record of a request (0: none)
        self.failing_calls = 0  # how many more calls fail records that way
        self.blocked = threading.Event()
        self.blocked.set()
        self.calls = 0

    def put_records(self, **request: Any) -> dict[str, Any]:
        self.blocked.wait()
        self.calls += 1
        if self.down:
            raise ConnectionError("Kinesis is unreachable")
        if self.failing_calls <= 0 or not self.fail_every:
            response: dict[str, Any] = self.client.put_records(**request)
            return response
        self.failing_calls -= 1
        records = request["Records"]
        failing = set(range(0, len(records), self.fail_every))
        passed = [r for i, r in enumerate(records) if i not in failing]
        results = iter(self.client.put_records(
            StreamName=request["StreamName"], Records=passed)["Records"] if passed else [])
        throttled = {"ErrorCode": "ProvisionedThroughputExceededException",
                     "ErrorMessage": "Rate exceeded for shard"}
        return {"FailedRecordCount": len(failing),
                "Records": [throttled if i in failing else next(results)
                            for i in range(len(records))]}


def generated(count: int, seed: int = 1) -> list[MiniTicker]:
    return [normalize(p, received_at=p["E"] + 40)
            for p in MarketDataGenerator(seed=seed).payloads(count)]


@pytest.fixture
def kinesis(aws: str) -> Any:
    return boto3.client("kinesis", config=CLIENT_CONFIG)


def deliver(kinesis: Any, tmp_path: Path, **options: Any) -> tuple[Delivery, FaultyClient,
                                                                    Counts, str]:
    stream = create_stream(kinesis)
    client, counts = FaultyClient(kinesis), Counts()
    delivery = Delivery(KinesisSink(stream, client), Spool(tmp_path / "spool"), counts,
                        linger=0.01, retry_cap=0.05, **options)
    return delivery.start(), client, counts, stream


def assert_stream_holds_exactly(kinesis: Any, stream: str, records: list[MiniTicker]) -> None:
    stored = read_all(kinesis, stream)
    assert stored == [(r.symbol, to_json_line(r)) for r in records]


def test_batches_respect_the_request_limits():
    small = [("BTCUSDT", b"x" * 100)] * 1200
    assert [len(b) for b in batches(small)] == [500, 500, 200]
    big = [("BTCUSDT", b"x" * (900 * 1024))] * 12
    sizes = [sum(len(k) + len(d) for k, d in b) for b in batches(big)]
    assert all(size <= 5 * 1024 * 1024 for size in sizes)
    assert sum(len(b) for b in batches(big)) == 12
    with pytest.raises(ValueError, match="1 MiB"):
        list(batches([("K", b"x" * (1024 * 1024))]))


def test_every_record_arrives_once_in_order(kinesis: Any, tmp_path: Path):
    delivery, _, counts, stream = deliver(kinesis, tmp_path)
    records = generated(1234)
    for start in range(0, len(records), 7):
        delivery.submit(records[start:start + 7])
    assert delivery.stop(timeout=30) == 0
    assert_stream_holds_exactly(kinesis, stream, records)
    assert counts.counter == {"put": 1234}


def test_only_the_failed_records_are_retried(kinesis: Any, tmp_path: Path):
    delivery, client, counts, stream = deliver(kinesis, tmp_path)
    client.fail_every, client.failing_calls = 3, 5
    records = generated(1500)
    delivery.submit(records)
    assert delivery.stop(timeout=30) == 0
    stored = read_all(kinesis, stream)
    assert sorted(stored) == sorted((r.symbol, to_json_line(r)) for r in records)
    assert len(stored) == len(set(stored)) == 1500  # nothing twice
    assert counts.counter["put"] == 1500
    assert counts.counter["failed"] > 0
    assert all("ProvisionedThroughputExceededException" in r for r in counts.reasons)


def test_an_outage_spills_to_disk_and_replays_in_order(kinesis: Any, tmp_path: Path):
    delivery, client, counts, stream = deliver(kinesis, tmp_path, memory_records=300)
    client.down = True
    records = generated(3000)
    for start in range(0, len(records), 50):
        delivery.submit(records[start:start + 50])
    assert counts.counter["spilled"] >= 3000 - 300 - 500  # memory and one batch in flight
    assert list((tmp_path / "spool").glob("*.spool"))
    client.down = False
    assert delivery.stop(timeout=30) == 0
    assert_stream_holds_exactly(kinesis, stream, records)  # in submit order, once each
    assert not list((tmp_path / "spool").glob("*.spool"))


def test_submit_never_waits_for_kinesis(kinesis: Any, tmp_path: Path):
    delivery, client, counts, stream = deliver(kinesis, tmp_path, memory_records=1000)
    client.blocked.clear()  # the next PutRecords hangs until released
    records = generated(5000)
    def submit_one_by_one() -> None:
        for record in records:
            delivery.submit([record])

    submitter = threading.Thread(target=submit_one_by_one)
    submitter.start()
    submitter.join(20)
    assert not submitter.is_alive(), "submit blocked behind a hung PutRecords"
    assert counts.counter["spilled"] > 0
    client.blocked.set()
    assert delivery.stop(timeout=30) == 0
    assert_stream_holds_exactly(kinesis, stream, records)


def test_a_stop_during_an_outage_leaves_everything_on_disk(kinesis: Any, tmp_path: Path):
    delivery, client, _counts, stream = deliver(kinesis, tmp_path, memory_records=200)
    client.down = True
    records = generated(1000)
    delivery.submit(records[:150])
    delivery.submit(records[150:])
    assert delivery.stop(timeout=0.5) == 1000
    assert read_all(kinesis, stream) == []

    # The next run replays the spool first, then its own records.
    counts2 = Counts()
    again = Delivery(KinesisSink(stream, kinesis), Spool(tmp_path / "spool"), counts2,
                     linger=0.01).start()
    later = generated(100, seed=2)
    again.submit(later)
    assert again.stop(timeout=30) == 0
    stored = read_all(kinesis, stream)
    assert sorted(stored) == sorted((r.symbol, to_json_line(r)) for r in records + later)
    assert len(stored) == 1100
    assert stored[-100:] == [(r.symbol, to_json_line(r)) for r in later]


def test_a_torn_spool_line_is_reported_not_sent(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    spool = Spool(tmp_path)
    spool.append([("BTCUSDT", b'{"a":1}\n')])
    spool.close()
    (segment,) = tmp_path.glob("*.spool")
    with segment.open("ab") as torn:
        torn.write(b'ETHUSDT\t{"b":')
    reopened = Spool(tmp_path)
    assert len(reopened) == 1
    _, entries = reopened.oldest() or (None, [])
    assert entries == [("BTCUSDT", b'{"a":1}\n')]
    assert "torn last record" in caplog.text
