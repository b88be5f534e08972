"""Kinesis helpers for tests: a fresh stream on the moto server, and reading it all back."""

from __future__ import annotations

import uuid
from typing import Any

from miniticker.kinesis_record import lines_of


def create_stream(client: Any, shards: int = 1) -> str:
    name = f"ticks-{uuid.uuid4().hex[:8]}"
    client.create_stream(StreamName=name, ShardCount=shards)
    client.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.1})
    return name


def read_shards(client: Any, stream: str) -> dict[str, list[tuple[str, bytes]]]:
    """Each shard's records as (partition key, data), in sequence order, by shard id."""
    shards: dict[str, list[tuple[str, bytes]]] = {}
    for shard in client.list_shards(StreamName=stream)["Shards"]:
        records = shards[shard["ShardId"]] = []
        iterator = client.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            response = client.get_records(ShardIterator=iterator, Limit=10_000)
            records.extend((r["PartitionKey"], r["Data"]) for r in response["Records"])
            if not response["Records"]:
                break
            iterator = response.get("NextShardIterator")
    return shards


def read_all(client: Any, stream: str) -> list[tuple[str, bytes]]:
    """Every record of every shard as (partition key, data), each shard in sequence order."""
    return [record for records in read_shards(client, stream).values() for record in records]


def read_lines(client: Any, stream: str) -> list[bytes]:
    """Every event line of every record (without its ``\\n``), shard by shard, each shard in
    sequence order and each record's lines in order."""
    return [line for _, data in read_all(client, stream) for line in lines_of(data)]
