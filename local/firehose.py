"""A Firehose-like drain: the stream into gzip JSON-lines objects under Firehose's keys.

Like Firehose with a Kinesis source: records are buffered until the buffer holds
``buffer_bytes`` or its oldest record is ``buffer_seconds`` old, then written as one gzip
object under ``raw/miniticker/dt=YYYY-MM-DD/hour=HH/``, dated by the oldest record's arrival
time (UTC), named like Firehose names its objects.

A record holds one or more complete JSON lines (`miniticker.kinesis_record`) and Firehose adds no
delimiter, so the objects are JSON lines as they were; `events` counts their lines.
"""

from __future__ import annotations

import gzip
import time
import uuid
from datetime import datetime, timezone
from typing import Any

from miniticker import layout
from miniticker.kinesis_record import lines_of

from .shards import StreamRunner


class FirehoseDrain(StreamRunner):
    def __init__(self, kinesis: Any, s3: Any, *, stream: str, bucket: str, name: str,
                 buffer_bytes: int, buffer_seconds: float, poll_seconds: float = 0.2) -> None:
        super().__init__("firehose-drain", kinesis, stream, poll_seconds)
        self.s3 = s3
        self.bucket = bucket
        self.name_prefix = name
        self.buffer_bytes = buffer_bytes
        self.buffer_seconds = buffer_seconds
        self.records = 0  # Kinesis records written to S3
        self.events = 0  # their lines
        self.objects = 0
        self._buffer: list[bytes] = []
        self._size = 0
        self._lines = 0
        self._oldest: datetime | None = None
        self._buffered_at = 0.0

    def poll(self, stopping: bool) -> int:
        read = sum(self._take(self.reader.read(shard)) for shard in self.reader.iterators)
        if self._buffer and (self._size >= self.buffer_bytes or
                             time.monotonic() - self._buffered_at >= self.buffer_seconds):
            self._flush()
        return read

    def finished(self, read: int) -> bool:
        if read:
            return False
        if self._buffer:  # caught up: what is buffered goes out now
            self._flush()
        return True

    def _take(self, records: list[dict[str, Any]]) -> int:
        for record in records:
            if not self._buffer:
                self._oldest = record["ApproximateArrivalTimestamp"]
                self._buffered_at = time.monotonic()
            self._buffer.append(record["Data"])
            self._size += len(record["Data"])
            self._lines += len(lines_of(record["Data"]))
        return len(records)

    def _flush(self) -> None:
        oldest = (self._oldest or datetime.now(timezone.utc)).astimezone(timezone.utc)
        key = (f"{layout.RAW_PREFIX}dt={oldest:%Y-%m-%d}/hour={oldest:%H}/"
               f"{self.name_prefix}-1-{oldest:%Y-%m-%d-%H-%M-%S}-{uuid.uuid4()}.gz")
        self.s3.put_object(Bucket=self.bucket, Key=key,
                           Body=gzip.compress(b"".join(self._buffer)))
        self.records += len(self._buffer)
        self.events += self._lines
        self.objects += 1
        self._buffer, self._size, self._lines, self._oldest = [], 0, 0, None
