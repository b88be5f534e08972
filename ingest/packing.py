"""Events into Kinesis records, and records into PutRecords calls.

A record's data is consecutive JSON lines of the events `Delivery` holds, packed in order by
`miniticker.kinesis_record.record_ends` within `MAX_RECORD_BYTES` together with its partition
key, a line never split (one longer than the bound travels alone). A call holds at most
`MAX_RECORDS_PER_REQUEST` records and `CALL_BYTES` of data and keys: one shard's budget for a
second, below PutRecords' own limit, so that a backlog sent after throttling never asks a shard
for several seconds' worth at once (all but a second's worth would be throttled, and sent
again). The work done a line is C-level (sizes by ``map``, cumulative sums and bisection, one
``join`` a record); Python runs once a record.

Partition keys: a counter over `PARTITION_KEY_CHARS` hexadecimal digits, one value a record,
rotating. Kinesis maps a key to a shard by its MD5 hash, so successive records land on the
shards evenly whatever their number; the fixed width makes a record's data bound one constant
(`RECORD_DATA_BYTES`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from miniticker.kinesis_record import (
    MAX_BYTES_PER_REQUEST,
    MAX_RECORD_BYTES,
    MAX_RECORDS_PER_REQUEST,
    SHARD_BYTES_PER_SECOND,
    record_ends,
)

from .kinesis_sink import PutRecordsEntry

PARTITION_KEY_CHARS = 4
#: The data a record may hold: the record bound less its key (ASCII: a byte a character).
RECORD_DATA_BYTES = MAX_RECORD_BYTES - PARTITION_KEY_CHARS
#: A call's data and keys, at most.
CALL_BYTES = min(MAX_BYTES_PER_REQUEST, SHARD_BYTES_PER_SECOND)
_KEY_SPACE = 16**PARTITION_KEY_CHARS
_KEY_FORMAT = f"0{PARTITION_KEY_CHARS}x"


class PartitionKeys:
    """Each record's partition key, in turn: ``0000``, ``0001``, ... ``ffff``, ``0000``, ..."""

    __slots__ = ("_next",)

    def __init__(self) -> None:
        self._next = 0

    def next(self) -> str:
        key = format(self._next, _KEY_FORMAT)
        self._next = (self._next + 1) % _KEY_SPACE
        return key


class PackedRecord(NamedTuple):
    """One Kinesis record and the events it holds."""

    entry: PutRecordsEntry
    #: Its lines are the events ``[start, end)`` of those packed.
    start: int
    end: int
    #: The earliest receipt time of its events (epoch ms): its put lag is measured from here.
    oldest: int


def pack(received_at: Sequence[int], lines: Sequence[bytes],
         keys: PartitionKeys) -> list[PackedRecord]:
    """Events (each one's receipt time and JSON line) as records, in order."""
    records = []
    start = 0
    for end in record_ends(list(map(len, lines)), RECORD_DATA_BYTES):
        records.append(PackedRecord({"Data": b"".join(lines[start:end]),
                                     "PartitionKey": keys.next()},
                                    start, end, min(received_at[start:end])))
        start = end
    return records


def record_size(record: PackedRecord) -> int:
    """What Kinesis counts of a record against its limits: data and partition key."""
    return len(record.entry["Data"]) + len(record.entry["PartitionKey"])


def call_ends(sizes: Sequence[int]) -> list[int]:
    """Where each call ends when records of these ``sizes`` (data and key) are sent in order:
    indexes, each one past a call's last record."""
    ends: list[int] = []
    start = 0
    for end in record_ends(sizes, CALL_BYTES):
        ends.extend(range(start + MAX_RECORDS_PER_REQUEST, end, MAX_RECORDS_PER_REQUEST))
        ends.append(end)
        start = end
    return ends
