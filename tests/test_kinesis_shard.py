"""The shard-limited local Kinesis endpoint (local/kinesis_shard.py), through real boto3 clients
over loopback, with a clock the test sets: exact counts, no timing. Then the ingester's own
delivery against it, throttled, with every line delivered once and the throttled entries
counted exactly."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools import Logger, Metrics
from botocore.config import Config

from ingest.delivery import Delivery
from ingest.kinesis_sink import CLIENT_CONFIG, KinesisSink
from ingest.metric_names import MetricName
from ingest.observability import IngestMetrics
from ingest.spool import Spool
from local.kinesis_shard import SHARD_ID, KinesisShard, Limits
from market_sim import POPULAR, MarketDataGenerator
from miniticker import normalize, to_json_line
from miniticker.kinesis_record import (
    MAX_BYTES_PER_RECORD,
    MAX_BYTES_PER_REQUEST,
    MAX_RECORD_BYTES,
    MAX_RECORDS_PER_REQUEST,
    SHARD_BYTES_PER_SECOND,
    SHARD_RECORDS_PER_SECOND,
    lines_of,
)

REPO = Path(__file__).resolve().parents[1]
STREAM = "ticks"
START = 1_767_225_600.0  # a whole second, epoch seconds
RATE_EXCEEDED = (f"Rate exceeded for shard {SHARD_ID} in stream {STREAM} "
                 "under account 000000000000.")


class ManualClock:
    """Epoch seconds that change only when the test says so."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class SteppingClock:
    """Moves one second on every reading: each call the endpoint takes has a second, and so a
    whole budget, of its own."""

    def __init__(self, now: float = START) -> None:
        self.now = now
        self.readings = 0

    def __call__(self) -> float:
        self.readings += 1
        self.now += 1.0
        return self.now


def client_of(url: str) -> Any:
    """A boto3 client of the endpoint: one attempt a call (boto3's standard retries would retry
    a throttled PutRecord), and its parameter checks off, so that what the endpoint refuses is
    what the test sees."""
    return boto3.client(
        "kinesis", endpoint_url=url, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1},
                      parameter_validation=False))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def shard(clock: ManualClock) -> Iterator[KinesisShard]:
    with KinesisShard(STREAM, clock=clock) as running:
        yield running


@pytest.fixture
def kinesis(shard: KinesisShard) -> Any:
    return client_of(shard.url)


def entries(count: int, size: int = 10, key: str = "BTCUSDT") -> list[dict[str, Any]]:
    """``count`` PutRecords entries of ``size`` bytes of data and partition key together."""
    return [{"PartitionKey": key, "Data": f"{index:0{size - len(key)}d}".encode()}
            for index in range(count)]


def error_of(raised: pytest.ExceptionInfo[Exception]) -> tuple[str, str, int]:
    response = raised.value.response  # type: ignore[attr-defined]
    return (response["Error"]["Code"], response["Error"]["Message"],
            response["ResponseMetadata"]["HTTPStatusCode"])


def throttled_indexes(answer: dict[str, Any]) -> list[int]:
    return [index for index, result in enumerate(answer["Records"]) if "ErrorCode" in result]


# --- the shard's budget -------------------------------------------------------------------------


def test_three_calls_of_500_in_one_second_put_1000_and_throttle_the_third(
        shard: KinesisShard, kinesis: Any, clock: ManualClock):
    answers = []
    for call in range(3):
        clock.now = START + 0.1 + 0.3 * call  # all within one whole second
        answers.append(kinesis.put_records(StreamName=STREAM, Records=entries(500)))

    assert [a["FailedRecordCount"] for a in answers] == [0, 0, 500]
    assert throttled_indexes(answers[0]) == throttled_indexes(answers[1]) == []
    assert throttled_indexes(answers[2]) == list(range(500))  # the whole third call
    for result in answers[2]["Records"]:
        assert result == {"ErrorCode": "ProvisionedThroughputExceededException",
                          "ErrorMessage": RATE_EXCEEDED}
    sequence_numbers = [int(r["SequenceNumber"]) for a in answers[:2] for r in a["Records"]]
    assert sequence_numbers == sorted(set(sequence_numbers))  # unique and rising
    assert {r["ShardId"] for a in answers[:2] for r in a["Records"]} == {SHARD_ID}
    assert 2 * MAX_RECORDS_PER_REQUEST == SHARD_RECORDS_PER_SECOND  # the arithmetic above

    clock.now = START + 0.999  # still the same second: nothing more
    assert kinesis.put_records(StreamName=STREAM, Records=entries(1))["FailedRecordCount"] == 1
    clock.now = START + 1.0  # the next whole second: a fresh budget
    assert kinesis.put_records(StreamName=STREAM, Records=entries(500))["FailedRecordCount"] == 0

    assert shard.counters() == {
        "accepted_records": 1500, "accepted_bytes": 1500 * 10, "throttled_entries": 501,
        "calls": {"PutRecords": 5}, "errors": {}}


def test_a_second_limited_by_bytes_takes_whole_records_that_fit(
        shard: KinesisShard, kinesis: Any, clock: ManualClock):
    fitting = SHARD_BYTES_PER_SECOND // MAX_RECORD_BYTES
    left = SHARD_BYTES_PER_SECOND - fitting * MAX_RECORD_BYTES
    records = [*entries(fitting + 9, size=MAX_RECORD_BYTES), *entries(1, size=left)]

    answer = kinesis.put_records(StreamName=STREAM, Records=records)

    # Each entry on its own, in index order: the big ones up to the budget, then the small
    # last one, which still fits what is left of the second's bytes.
    assert throttled_indexes(answer) == list(range(fitting, fitting + 9))
    assert answer["FailedRecordCount"] == 9
    assert shard.counters()["accepted_bytes"] == SHARD_BYTES_PER_SECOND
    assert kinesis.put_records(StreamName=STREAM, Records=entries(1))["FailedRecordCount"] == 1
    clock.now += 1
    assert kinesis.put_records(StreamName=STREAM, Records=entries(1))["FailedRecordCount"] == 0


def test_put_record_shares_the_budget_and_fails_whole(
        shard: KinesisShard, kinesis: Any, clock: ManualClock):
    kinesis.put_records(StreamName=STREAM, Records=entries(500))
    kinesis.put_records(StreamName=STREAM, Records=entries(499))
    last = kinesis.put_record(StreamName=STREAM, PartitionKey="ETHUSDT", Data=b"the 1000th")
    assert last["ShardId"] == SHARD_ID

    with pytest.raises(kinesis.exceptions.ProvisionedThroughputExceededException) as raised:
        kinesis.put_record(StreamName=STREAM, PartitionKey="ETHUSDT", Data=b"the 1001st")
    assert error_of(raised) == ("ProvisionedThroughputExceededException", RATE_EXCEEDED, 400)

    clock.now += 1
    kinesis.put_record(StreamName=STREAM, PartitionKey="ETHUSDT", Data=b"next second")
    counters = shard.counters()
    assert (counters["accepted_records"], counters["throttled_entries"]) == (1001, 1)
    assert counters["errors"] == {"ProvisionedThroughputExceededException": 1}


def test_what_was_accepted_is_kept_with_its_time(
        shard: KinesisShard, kinesis: Any, clock: ManualClock):
    clock.now = START + 0.25
    answer = kinesis.put_records(StreamName=STREAM, Records=[
        {"PartitionKey": "BTCUSDT", "Data": b"one\n"}, {"PartitionKey": "ETHUSDT", "Data": b""}])
    clock.now = START + 2.5
    single = kinesis.put_record(StreamName=STREAM, PartitionKey="SOLUSDT", Data=b"three\n")

    kept = [(r.partition_key, r.data, r.sequence_number, r.accepted_at) for r in shard.records]
    assert kept == [
        ("BTCUSDT", b"one\n", answer["Records"][0]["SequenceNumber"], int(START * 1000) + 250),
        ("ETHUSDT", b"", answer["Records"][1]["SequenceNumber"], int(START * 1000) + 250),
        ("SOLUSDT", b"three\n", single["SequenceNumber"], int(START * 1000) + 2500)]


def test_a_squeezed_budget_applies_from_the_next_call(
        shard: KinesisShard, kinesis: Any, clock: ManualClock):
    shard.set_limits(records_per_second=3)
    answer = kinesis.put_records(StreamName=STREAM, Records=entries(5))
    assert throttled_indexes(answer) == [3, 4]
    shard.set_limits(bytes_per_second=25)  # 2 records of 10 bytes a second
    clock.now += 1
    assert throttled_indexes(kinesis.put_records(StreamName=STREAM,
                                                 Records=entries(5))) == [2, 3, 4]
    assert shard.limits == Limits(records_per_second=3, bytes_per_second=25)
    with pytest.raises(ValueError, match="records_per_second"):
        shard.set_limits(records_per_second=0)


# --- the request limits ------------------------------------------------------------------------


def test_the_request_limits_are_refused_as_kinesis_refuses_them(
        shard: KinesisShard, kinesis: Any):
    too_many = entries(MAX_RECORDS_PER_REQUEST + 1)
    big_data = [{"PartitionKey": "A", "Data": b"x" * (MAX_BYTES_PER_RECORD + 1)}]
    key_over = [{"PartitionKey": "AB", "Data": b"x" * (MAX_BYTES_PER_RECORD - 1)}]
    # Six records within the record limit, over the request's.
    per_record = MAX_BYTES_PER_REQUEST // 5
    too_much = [{"PartitionKey": "A", "Data": b"x" * (per_record - 1)}] * 6
    assert per_record <= MAX_BYTES_PER_RECORD
    assert 6 * per_record > MAX_BYTES_PER_REQUEST

    expected = {
        "too many": (too_many, "ValidationException",
                     "1 validation error detected: Value at 'records' failed to satisfy "
                     "constraint: Member must have length less than or equal to 500"),
        "big data": (big_data, "ValidationException",
                     "1 validation error detected: Value at 'records.1.member.data' failed to "
                     "satisfy constraint: Member must have length less than or equal to "
                     f"{MAX_BYTES_PER_RECORD}"),
        "data and key": (key_over, "InvalidArgumentException",
                         f"Record 1 has {MAX_BYTES_PER_RECORD + 1} bytes of data and partition "
                         f"key; a record holds at most {MAX_BYTES_PER_RECORD}"),
        "request": (too_much, "InvalidArgumentException", "Records size exceeds 5 MB limit"),
    }
    for name, (records, code, message) in expected.items():
        with pytest.raises(kinesis.exceptions.ClientError) as raised:
            kinesis.put_records(StreamName=STREAM, Records=records)
        assert error_of(raised) == (code, message, 400), name

    with pytest.raises(kinesis.exceptions.ClientError) as raised:
        kinesis.put_record(StreamName=STREAM, PartitionKey="", Data=b"x")
    assert error_of(raised)[0] == "ValidationException"
    assert "'partitionKey' failed to satisfy constraint" in error_of(raised)[1]

    # Refused calls take nothing, of the stream or of the second's budget.
    assert shard.counters()["accepted_records"] == 0
    answers = [kinesis.put_records(StreamName=STREAM, Records=entries(500)) for _ in range(2)]
    assert [a["FailedRecordCount"] for a in answers] == [0, 0]
    assert shard.counters()["errors"] == {"ValidationException": 3,
                                          "InvalidArgumentException": 2}


# --- the stream -------------------------------------------------------------------------------


def test_the_ingesters_start_check_and_another_stream(shard: KinesisShard, kinesis: Any):
    shards = kinesis.list_shards(StreamName=STREAM, MaxResults=1)["Shards"]
    assert [s["ShardId"] for s in shards] == [SHARD_ID]
    assert shards[0]["HashKeyRange"] == {"StartingHashKey": "0",
                                         "EndingHashKey": str(2**128 - 1)}
    summary = kinesis.describe_stream_summary(StreamName=STREAM)["StreamDescriptionSummary"]
    assert (summary["StreamName"], summary["StreamStatus"], summary["OpenShardCount"]) == (
        STREAM, "ACTIVE", 1)
    assert kinesis.list_shards(StreamARN=summary["StreamARN"])["Shards"] == shards

    missing = "Stream other under account 000000000000 not found."
    calls: list[tuple[Any, dict[str, Any]]] = [
        (kinesis.list_shards, {"MaxResults": 1}),
        (kinesis.describe_stream_summary, {}),
        (kinesis.put_records, {"Records": entries(1)}),
        (kinesis.put_record, {"PartitionKey": "A", "Data": b"x"}),
    ]
    for operation, arguments in calls:
        with pytest.raises(kinesis.exceptions.ResourceNotFoundException) as raised:
            operation(StreamName="other", **arguments)
        assert error_of(raised) == ("ResourceNotFoundException", missing, 400)
    assert shard.counters()["accepted_records"] == 0


def test_an_operation_it_does_not_serve_is_named(kinesis: Any):
    with pytest.raises(kinesis.exceptions.ClientError) as raised:
        kinesis.list_streams()
    code, message, status = error_of(raised)
    assert (code, status) == ("UnknownOperationException", 400)
    assert "ListStreams" in message


# --- line figures -------------------------------------------------------------------------------


def line(symbol: str, event_time: int, received_at: int) -> bytes:
    return json.dumps({"symbol": symbol, "event_time": event_time,
                       "received_at": received_at}).encode() + b"\n"


def test_line_figures_count_lines_duplicates_and_lags(clock: ManualClock):
    accepted_at = int(START * 1000) + 500
    clock.now = START + 0.5
    # 100 lines received 10, 20, ... 1,000 ms before they are accepted, packed 25 a record.
    lines = [line("BTCUSDT", index, accepted_at - 10 * index) for index in range(1, 101)]
    records = [{"PartitionKey": "BTCUSDT", "Data": b"".join(lines[i:i + 25])}
               for i in range(0, 100, 25)]
    records.append({"PartitionKey": "BTCUSDT", "Data": lines[0] + b"not json\n"})
    with KinesisShard(STREAM, clock=clock, keep_records=False, line_stats=True) as shard:
        client_of(shard.url).put_records(StreamName=STREAM, Records=records)
        with urllib.request.urlopen(f"{shard.url}/stats") as answer:
            stats = json.load(answer)
        window = f"received_from={accepted_at - 500}&received_to={accepted_at}"
        with urllib.request.urlopen(f"{shard.url}/stats?{window}") as answer:
            recent = json.load(answer)["lag_ms"]
        keys = shard.line_keys()
        assert shard.records == []  # not kept

    # Nearest rank over the 101 lags (10 twice): p50 the 51st, p99 the 100th.
    assert stats["lag_ms"] == {"lines": 101, "p50": 500, "p99": 990, "max": 1000}
    assert recent == {"lines": 51, "p50": 250, "p99": 500, "max": 500}  # lags 10..500
    assert (stats["lines"], stats["duplicate_lines"], stats["unreadable_lines"]) == (101, 1, 1)
    assert stats["unreadable_samples"] == ["not json"]
    assert stats["accepted_records"] == 5
    assert keys == [("BTCUSDT", index) for index in range(1, 101)] + [("BTCUSDT", 1)]


def test_as_a_process_it_prints_its_url_and_serves_figures():
    process = subprocess.Popen(
        [sys.executable, "-m", "local.kinesis_shard", "--stream", STREAM,
         "--records-per-second", "3"],
        cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        kinesis = client_of(url)
        assert kinesis.list_shards(StreamName=STREAM, MaxResults=1)["Shards"]
        records = [{"PartitionKey": "BTCUSDT", "Data": line("BTCUSDT", index, 0)}
                   for index in range(3)]
        records.insert(1, records[0])
        # One clock reading a call: the budget of 3 takes the first three entries.
        answer = kinesis.put_records(StreamName=STREAM, Records=records)
        assert throttled_indexes(answer) == [3]
        request = urllib.request.Request(f"{url}/limits", data=b'{"bytes_per_second": 1000}')
        with urllib.request.urlopen(request) as limits:
            assert json.load(limits) == {"records_per_second": 3, "bytes_per_second": 1000}
        with urllib.request.urlopen(f"{url}/stats") as response:
            stats = json.load(response)
        with urllib.request.urlopen(f"{url}/keys") as response:
            keys = json.load(response)
        assert stats["accepted_records"] == stats["lines"] == 3
        assert keys == [["BTCUSDT", 0], ["BTCUSDT", 0], ["BTCUSDT", 1]]
        assert (stats["duplicate_lines"], stats["throttled_entries"]) == (1, 1)
        assert stats["limits"]["bytes_per_second"] == 1000
        bad = urllib.request.Request(f"{url}/limits", data=b'{"records_per_second": -1}')
        with pytest.raises(urllib.error.HTTPError, match="400"):
            urllib.request.urlopen(bad)
    finally:
        process.terminate()
        assert process.wait(10) == 0  # SIGTERM: a clean stop


# --- the ingester's delivery against it ---------------------------------------------------------


def test_the_ingesters_delivery_is_throttled_and_loses_nothing(tmp_path: Path):
    """Faster than the shard allows: every call the endpoint takes is in a second of its own
    with a budget of 2 records, and the records (aggregated lines) come many to a call, so
    every call but the last few is partly throttled. Whatever the retries' timing, each line
    is in the stream once and the ingester's counts equal the endpoint's."""
    generator = MarketDataGenerator(POPULAR, seed=14)
    records = [normalize(payload, received_at=payload["E"] + 40)
               for tick in generator.ticks(300) for payload in tick]
    submitted = Counter(to_json_line(record)[:-1] for record in records)
    assert len(submitted) == len(records)  # distinct lines: "once" is checkable
    clock = SteppingClock()
    metrics = IngestMetrics(Logger(service="test", level="ERROR"),
                            Metrics(namespace="Test", service="test"))

    with KinesisShard(STREAM, clock=clock, limits=Limits(records_per_second=2)) as shard:
        sink = KinesisSink(STREAM, boto3.client(
            "kinesis", endpoint_url=shard.url, region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
            config=CLIENT_CONFIG))  # the service's own client settings
        delivery = Delivery(sink, Spool(tmp_path / "spool"), metrics,
                            linger=0.01, retry_cap=0.01).start()
        delivery.submit(records)
        left = delivery.stop(timeout=120)
        kept = shard.records
        counters = shard.counters()

    delivered = Counter(line for record in kept for line in lines_of(record.data))
    assert left == 0
    assert delivered == submitted  # every line, once
    assert counters["throttled_entries"] > 0, "the run never met the shard's limit"
    totals = metrics.totals
    assert totals[MetricName.THROTTLED_RECORDS] == counters["throttled_entries"]
    assert totals[MetricName.PUT_FAILURES] == counters["throttled_entries"]
    assert totals[MetricName.EVENTS_PUT] == len(records)
    assert totals[MetricName.RECORDS_PUT] == counters["accepted_records"] == len(kept)
