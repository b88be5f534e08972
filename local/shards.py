"""Reading a Kinesis stream shard by shard, as Firehose and the event source mapping do."""

from __future__ import annotations

from typing import Any


class ShardReader:
    """One iterator per shard, from the oldest record (TRIM_HORIZON); `read` returns what is
    new on each shard, in order."""

    def __init__(self, kinesis: Any, stream: str) -> None:
        self.kinesis = kinesis
        self.stream = stream
        self.iterators = {
            shard["ShardId"]: kinesis.get_shard_iterator(
                StreamName=stream, ShardId=shard["ShardId"],
                ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
            for shard in kinesis.list_shards(StreamName=stream)["Shards"]}

    def read(self, shard: str, limit: int = 10_000) -> list[dict[str, Any]]:
        response = self.kinesis.get_records(ShardIterator=self.iterators[shard], Limit=limit)
        self.iterators[shard] = response["NextShardIterator"]
        records: list[dict[str, Any]] = response["Records"]
        return records

    def rewind(self, shard: str, sequence_number: str) -> None:
        """Read ``shard`` again from ``sequence_number`` (a retried batch)."""
        self.iterators[shard] = self.kinesis.get_shard_iterator(
            StreamName=self.stream, ShardId=shard, ShardIteratorType="AT_SEQUENCE_NUMBER",
            StartingSequenceNumber=sequence_number)["ShardIterator"]
