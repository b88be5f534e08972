"""Kinesis helpers for tests: a fresh stream on the moto server, and reading it all back."""

from __future__ import annotations

import uuid
from typing import Any


def create_stream(client: Any, shards: int = 1) -> str:
    name = f"ticks-{uuid.uuid4().hex[:8]}"
    client.create_stream(StreamName=name, ShardCount=shards)
    client.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.1})
    return name


def read_all(client: Any, stream: str) -> list[tuple[str, bytes]]:
    """Every record of every shard as (partition key, data), each shard in sequence order."""
    records: list[tuple[str, bytes]] = []
    for shard in client.list_shards(StreamName=stream)["Shards"]:
        iterator = client.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            response = client.get_records(ShardIterator=iterator, Limit=10_000)
            records.extend((r["PartitionKey"], r["Data"]) for r in response["Records"])
            if not response["Records"]:
                break
            iterator = response.get("NextShardIterator")
    return records
