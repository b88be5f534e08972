"""The local stand-ins that read the stream (`local/event_source.py`, `local/firehose.py`) over
moto's Kinesis and S3, on records of many lines: counts in records and in lines, latencies per
line, set-aside records, and the raw objects holding every line once."""

from __future__ import annotations

import base64
import gzip
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from local.event_source import EventSourcePoller, event_times
from local.firehose import FirehoseDrain
from miniticker import layout, to_json_line
from tests.consumer_events import generated, records_of_lines
from tests.test_consumer import expected_table, invoke, load_handler, scan

ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/{}"


@pytest.fixture
def stream(aws: str) -> Iterator[tuple[str, Any]]:
    kinesis = boto3.client("kinesis")
    name = f"ticks-{uuid.uuid4().hex[:8]}"
    kinesis.create_stream(StreamName=name, ShardCount=2)
    kinesis.get_waiter("stream_exists").wait(StreamName=name,
                                             WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
    yield name, kinesis
    kinesis.delete_stream(StreamName=name)


def put(kinesis: Any, stream: str, datas: list[bytes]) -> None:
    for i, data in enumerate(datas):  # one at a time: each shard keeps the order put
        kinesis.put_record(StreamName=stream, Data=data, PartitionKey=f"key-{i % 7}")


def run(reader: Any) -> None:
    """Read until caught up (the runner stops once it is asked to and nothing is left)."""
    reader.start()
    reader.stop()
    reader.join(120)
    assert not reader.is_alive()
    assert reader.error is None


def test_the_poller_and_the_drain_count_records_and_lines(
    stream: tuple[str, Any], monkeypatch: pytest.MonkeyPatch, dynamodb: Any, table: str
):
    name, kinesis = stream
    records = generated(240)
    lines = [to_json_line(r) for r in records]
    groups = [lines[i:i + 20] for i in range(0, 240, 20)]
    groups[3] = [*groups[3][:5], b"not a record", *groups[3][5:]]  # set aside by the consumer
    datas = records_of_lines(groups)
    put(kinesis, name, datas)

    consumer = load_handler(monkeypatch, table)
    poller = EventSourcePoller(kinesis, stream=name, stream_arn=ARN.format(name),
                               handler=lambda event, context: invoke(consumer, event),
                               function_name="consumer", batch_size=4, batching_window=0.1,
                               retry_attempts=2, poll_seconds=0.05)
    run(poller)
    assert (poller.records_done, poller.events_done) == (len(datas), len(records) + 1)
    assert len(poller.latencies_ms) == len(records)  # one per valid line
    assert poller.set_aside == []
    assert poller.invocations >= len(datas) // 4
    assert scan(dynamodb, table) == expected_table(records)

    s3 = boto3.client("s3")
    bucket = f"raw-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    drain = FirehoseDrain(kinesis, s3, stream=name, bucket=bucket, name="archive",
                          buffer_bytes=30_000, buffer_seconds=60, poll_seconds=0.05)
    run(drain)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert len(keys) == drain.objects >= 1
    assert all(k.startswith(layout.RAW_PREFIX) for k in keys)
    stored = b"".join(gzip.decompress(s3.get_object(Bucket=bucket, Key=k)["Body"].read())
                      for k in keys)
    assert sorted(stored.splitlines()) == sorted(b"".join(datas).splitlines())
    assert (drain.records, drain.events) == (len(datas), len(records) + 1)


def test_a_batch_still_failing_after_its_retries_is_set_aside(stream: tuple[str, Any]):
    name, kinesis = stream
    records = generated(30)
    datas = records_of_lines([[to_json_line(r) for r in records[i:i + 10]]
                              for i in range(0, 30, 10)])
    kinesis.put_record(StreamName=name, Data=datas[0], PartitionKey="a",
                       ExplicitHashKey="0")  # all on the first shard, in order
    kinesis.put_record(StreamName=name, Data=datas[1], PartitionKey="a", ExplicitHashKey="0")
    kinesis.put_record(StreamName=name, Data=datas[2], PartitionKey="a", ExplicitHashKey="0")
    failing = datas[1]
    calls: list[int] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        calls.append(len(event["Records"]))
        return {"batchItemFailures": [
            {"itemIdentifier": r["kinesis"]["sequenceNumber"]} for r in event["Records"]
            if base64.b64decode(r["kinesis"]["data"]) == failing]}

    poller = EventSourcePoller(kinesis, stream=name, stream_arn=ARN.format(name),
                               handler=handler, function_name="consumer", batch_size=10,
                               batching_window=0.1, retry_attempts=2, poll_seconds=0.05)
    run(poller)
    # The first record is done; the failing one and the one after it are retried twice, then
    # set aside (a mapping resumes from the first failure, so what follows it waits with it).
    assert calls == [3, 2, 2]
    assert (poller.records_done, poller.events_done) == (1, 10)
    assert [r["Data"] for r in poller.set_aside] == datas[1:]
    assert poller.events_set_aside == 20
    assert len(poller.latencies_ms) == 10


def test_event_times_of_a_record():
    records = generated(3)
    data = b"".join([to_json_line(records[0]), b"[1]\n", b"\n", to_json_line(records[1]),
                     b'{"event_time": "1"}\n', to_json_line(records[2]).rstrip(b"\n")])
    assert event_times(data) == [records[0].event_time, None, None, records[1].event_time,
                                 None, records[2].event_time]
    assert event_times(b"") == [None]
