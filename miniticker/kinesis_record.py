"""What one Kinesis record of the stream holds, and the Kinesis limits the pipeline is sized by.

A record's data is one or more complete MiniTicker JSON lines, each ending in ``\\n``, in the
order the ingester read them. The ingester packs the lines it already holds into records of at
most `MAX_RECORD_BYTES` (data and partition key together) and never splits a line: a line longer
than the bound on its own (no valid record comes near it) travels alone. Firehose concatenates
records, so the raw archive stays gzip JSON lines; the consumer splits a record back into lines
(`lines_of`) and validates each on its own.

Why 25,000 bytes: Kinesis bills writes in PUT payload units of 25 KB, and Firehose bills
ingestion in 5 KB steps a record, so a record of at most 25,000 bytes costs one unit of each
whole, while holding dozens of lines: the whole market fits one shard's 1,000 records a second
with room to spare, and its bytes (the real limit then) are unchanged.

Standard library only, Python 3.9-compatible, like the rest of the contract.
"""

from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate

#: A record's data plus its partition key, at most (one PUT payload unit).
MAX_RECORD_BYTES = 25_000

# Kinesis Data Streams' own limits (the service quotas, which no setting raises).
SHARD_RECORDS_PER_SECOND = 1_000  # records written to one shard a second
SHARD_BYTES_PER_SECOND = 1024 * 1024  # data and partition keys written to one shard a second
MAX_RECORDS_PER_REQUEST = 500  # PutRecords
MAX_BYTES_PER_REQUEST = 5 * 1024 * 1024  # PutRecords, data and partition keys
MAX_BYTES_PER_RECORD = 1024 * 1024  # data and partition key

# Planning figures for sizing the stream (the capacity check and bench/cost.py use them).
#: Events a second of Binance's whole spot market on ``!miniTicker@arr`` (every symbol that
#: changed in the second; about 1,500 to 2,000 symbols trade), rounded up. Binance's figure,
#: not measured here: the generated market sends about half (bench/bench_whole_market.py).
WHOLE_MARKET_EVENTS_PER_SECOND = 2_000
#: Bytes of one event's JSON line, rounded up from the generated market's lines (checked by
#: tests/test_generator.py).
EVENT_LINE_BYTES = 400


def record_ends(sizes: Sequence[int], limit: int) -> list[int]:
    """Where each record ends when lines of these ``sizes`` are packed in order into records of
    at most ``limit`` bytes: indexes into ``sizes``, each one past a record's last line.

    Greedy: a record takes lines while they fit; a line that alone exceeds ``limit`` makes a
    record of its own. Cumulative sums and bisection keep the work per record, not per line.
    """
    if limit <= 0:
        raise ValueError(f"a record limit of {limit} bytes holds no line")
    totals = list(accumulate(sizes))
    ends: list[int] = []
    start, before = 0, 0
    while start < len(totals):
        end = bisect_right(totals, before + limit, start)
        if end == start:  # one line longer than the limit: alone
            end = start + 1
        ends.append(end)
        before = totals[end - 1]
        start = end
    return ends


def pack_lines(lines: Sequence[bytes], limit: int = MAX_RECORD_BYTES) -> list[bytes]:
    """Lines (each ending in ``\\n``) as record data of at most ``limit`` bytes each."""
    records = []
    start = 0
    for end in record_ends([len(line) for line in lines], limit):
        records.append(b"".join(lines[start:end]))
        start = end
    return records


def lines_of(data: bytes) -> list[bytes]:
    """A record's lines, without their ``\\n``, in order.

    A record from the ingester ends in ``\\n``; one that does not (another producer) still gives
    its last line. An empty line in the middle is returned as it is (empty): the reader rejects
    it like any other line that is not a record, so nothing goes unseen.
    """
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return lines
