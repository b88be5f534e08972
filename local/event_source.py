"""An event-source-mapping-like poller: the stream to the consumer handler, in process.

Like Lambda's Kinesis mapping: per shard, batches of at most ``batch_size`` records gathered for
at most ``batching_window`` seconds, invoked with a Kinesis-shaped event and a context; a partial
batch response makes it invoke again from the first failed record (held in memory, as the
mapping's batch is), ``retry_attempts`` times,
after which that batch's records are set aside (the on-failure destination) and counted.

A record holds one or more JSON lines (`miniticker.kinesis_record`): the counts are kept in
records and in lines (events), and the end-to-end latency is taken per line, from its own
``event_time``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TextIO

from miniticker.kinesis_record import lines_of

from .lambda_context import LocalContext
from .lambda_events import kinesis_event
from .output import to
from .shards import StreamRunner

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


class EventSourcePoller(StreamRunner):
    def __init__(self, kinesis: Any, *, stream: str, stream_arn: str, handler: Handler,
                 function_name: str, batch_size: int, batching_window: float,
                 retry_attempts: int, poll_seconds: float = 0.2,
                 output: TextIO | None = None) -> None:
        super().__init__("event-source-mapping", kinesis, stream, poll_seconds)
        self.handler = handler
        self.stream_arn = stream_arn
        self.function_name = function_name
        self.batch_size = batch_size
        self.batching_window = batching_window
        self.retry_attempts = retry_attempts
        self.output = output  # where the function's standard output goes (logs, EMF)
        self.invocations = 0
        self.records_done = 0  # Kinesis records whose batch succeeded
        self.events_done = 0  # their lines (the consumer sets a bad line aside, not its record)
        self.set_aside: list[dict[str, Any]] = []  # what the on-failure destination would get
        self.latencies_ms: list[int] = []  # event time to items written, per valid line
        self._pending: dict[str, list[dict[str, Any]]] = {s: [] for s in self.reader.iterators}
        self._first_at: dict[str, float] = {}

    def poll(self, stopping: bool) -> int:
        read = 0
        for shard in self.reader.iterators:
            records = self.reader.read(shard, limit=self.batch_size)
            read += len(records)
            # Stopping and caught up on this shard: no batching window to wait for.
            self._gather(shard, records, flush=stopping and not records)
        return read

    def finished(self, read: int) -> bool:
        return not read and not any(self._pending.values())

    def _gather(self, shard: str, records: list[dict[str, Any]], *, flush: bool) -> None:
        pending = self._pending[shard]
        if records and not pending:
            self._first_at[shard] = time.monotonic()
        pending.extend(records)
        while pending and (len(pending) >= self.batch_size or flush or
                           time.monotonic() - self._first_at[shard] >= self.batching_window):
            batch = pending[:self.batch_size]
            del pending[:self.batch_size]
            self._invoke(shard, batch)
            self._first_at[shard] = time.monotonic()

    def _invoke(self, shard: str, batch: list[dict[str, Any]]) -> None:
        for _attempt in range(self.retry_attempts + 1):
            event = kinesis_event(batch, stream_arn=self.stream_arn, shard_id=shard,
                                  function_role_arn=f"arn:aws:iam::000000000000:role/"
                                                    f"{self.function_name}")
            with to(self.output):
                response = self.handler(event, LocalContext(self.function_name))
            self.invocations += 1
            written_at = int(time.time() * 1000)
            failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
            first_failed = next((i for i, r in enumerate(batch)
                                 if r["SequenceNumber"] in failed), len(batch))
            for record in batch[:first_failed]:
                self.records_done += 1
                for event_time in event_times(record["Data"]):
                    self.events_done += 1
                    if event_time is not None:
                        self.latencies_ms.append(written_at - event_time)
            batch = batch[first_failed:]  # Lambda resumes from the first failed record
            if not batch:
                return
        self.set_aside.extend(batch)

    @property
    def events_set_aside(self) -> int:
        """Lines of the records set aside."""
        return sum(len(lines_of(record["Data"]) or [b""]) for record in self.set_aside)


def event_times(data: bytes) -> list[int | None]:
    """Each line's ``event_time`` (None for a line that is not a JSON object holding one; the
    consumer set such a line aside), for a record's ``data``, as the consumer splits it."""
    times: list[int | None] = []
    for line in lines_of(data) or [data]:
        try:
            value = json.loads(line).get("event_time")
        except (ValueError, AttributeError):
            value = None
        times.append(value if type(value) is int else None)
    return times
