"""What a stream list asks of the Kinesis stream and of the consumer's invocations, from the
record contract's sizing figures; `stacks.settings` refuses settings that cannot carry it, and
``bench/cost.py`` prices it.

The estimate is deliberately simple, a planning figure and not a measurement:

- events a second: ``!miniTicker@arr`` is the whole market (`WHOLE_MARKET_EVENTS_PER_SECOND`),
  and a single-symbol stream listed beside it adds nothing (the ingester drops the duplicate);
  otherwise each single-symbol stream sends one event a second, Binance's pace;
- bytes a second: events x `EVENT_LINE_BYTES`;
- records a second: the bytes in full records (`MAX_RECORD_BYTES`), but never fewer than the
  ingester's sends a second (each send makes a record at least), nor more than the events.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

from ingest.limits import LINGER_SECONDS
from miniticker import ALL_MARKET_STREAM
from miniticker.kinesis_record import (
    EVENT_LINE_BYTES,
    MAX_RECORD_BYTES,
    SHARD_BYTES_PER_SECOND,
    SHARD_RECORDS_PER_SECOND,
    WHOLE_MARKET_EVENTS_PER_SECOND,
)

#: The share of a provisioned shard's write limits the estimated load may take. The rest is for
#: catching up: after a Kinesis outage or throttling the ingester puts its backlog (memory and
#: spool) on top of the live flow, and only the spare capacity drains it. At 80 % the spare
#: fifth is a quarter of the live rate, so a backlog drains in four times as long as it took to
#: build; a thinner margin would leave the page minutes behind for each minute of outage.
SHARD_SHARE = 0.8

#: Lambda's invocation payload limit: 6 MB, read as decimal megabytes (the lower reading, so a
#: batch size this allows is within the limit either way).
LAMBDA_PAYLOAD_BYTES = 6_000_000
#: The Lambda event carries each record's data in base64: 4 characters for every 3 bytes.
BASE64_NUMERATOR, BASE64_DENOMINATOR = 4, 3

#: PutRecords calls the ingester makes a second at most while the feed is steady: between sends
#: its sender lingers for a fuller batch (`ingest.limits.LINGER_SECONDS`).
INGESTER_SENDS_PER_SECOND = 1 / LINGER_SECONDS


class StreamLoad(NamedTuple):
    """The write load a stream list puts on the stream, a second."""

    description: str  # what the list is, for messages: "3,000 single-symbol streams"
    events: int
    bytes: int
    records: int


def estimate_load(streams: Sequence[str]) -> StreamLoad:
    """The planning estimate of ``streams``' load (see the module's docstring)."""
    if ALL_MARKET_STREAM in streams:
        events = WHOLE_MARKET_EVENTS_PER_SECOND
        description = f"the whole market, {ALL_MARKET_STREAM}"
    else:
        events = len(streams)
        description = f"{events:,} single-symbol stream{'s' if events != 1 else ''}"
    size = events * EVENT_LINE_BYTES
    full_records = math.ceil(size / MAX_RECORD_BYTES)
    records = min(events, max(full_records, math.ceil(INGESTER_SENDS_PER_SECOND)))
    return StreamLoad(description, events, size, records)


class ShardCapacity(NamedTuple):
    """What ``shards`` provisioned shards take a second at `SHARD_SHARE` of their limits."""

    shards: int
    bytes: int
    records: int

    @classmethod
    def of(cls, shards: int) -> ShardCapacity:
        return cls(shards, int(shards * SHARD_BYTES_PER_SECOND * SHARD_SHARE),
                   int(shards * SHARD_RECORDS_PER_SECOND * SHARD_SHARE))


def shards_needed(load: StreamLoad) -> int:
    """The fewest provisioned shards that carry ``load`` within `SHARD_SHARE` of their limits."""
    return max(1, math.ceil(load.bytes / (SHARD_BYTES_PER_SECOND * SHARD_SHARE)),
               math.ceil(load.records / (SHARD_RECORDS_PER_SECOND * SHARD_SHARE)))


def batch_payload_bytes(batch_size: int) -> int:
    """The largest Lambda event a batch of ``batch_size`` records can make: each record's data
    (and partition key) of at most `MAX_RECORD_BYTES`, in base64."""
    return math.ceil(batch_size * MAX_RECORD_BYTES * BASE64_NUMERATOR / BASE64_DENOMINATOR)


def largest_batch_size() -> int:
    """The largest batch size whose worst-case event fits `LAMBDA_PAYLOAD_BYTES`."""
    return (LAMBDA_PAYLOAD_BYTES * BASE64_DENOMINATOR) // (MAX_RECORD_BYTES * BASE64_NUMERATOR)
