"""Reading a Kinesis stream shard by shard, as Firehose and the event source mapping do."""

from __future__ import annotations

import threading
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


class StreamRunner(threading.Thread):
    """A thread that reads a stream until it is asked to stop and has caught up.

    Subclasses act on what `poll` reads (returning how many records it read) and say in
    `finished` whether, once stopping, nothing is left to do. An exception ends the thread and
    is kept in `error` for the run to report.
    """

    def __init__(self, name: str, kinesis: Any, stream: str, poll_seconds: float) -> None:
        super().__init__(name=name, daemon=True)
        self.reader = ShardReader(kinesis, stream)
        self.poll_seconds = poll_seconds
        self.error: BaseException | None = None
        self._stopping = threading.Event()

    def stop(self) -> None:
        """Finish what is in the stream, then stop."""
        self._stopping.set()

    def poll(self, stopping: bool) -> int:
        raise NotImplementedError

    def finished(self, read: int) -> bool:
        raise NotImplementedError

    def run(self) -> None:
        try:
            while True:
                stopping = self._stopping.is_set()
                read = self.poll(stopping)
                if stopping and self.finished(read):
                    return
                if not read:
                    self._stopping.wait(self.poll_seconds)
        except BaseException as error:  # reported by the run, which stops
            self.error = error
