"""Kinesis batches for the consumer tests: contract lines as the event source mapping delivers,
one line a record or many (packed as the ingester packs them, `pack_lines`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from moto.core.models import DEFAULT_ACCOUNT_ID

from local.lambda_events import kinesis_event
from market_sim import POPULAR, MarketDataGenerator
from miniticker import MiniTicker, normalize, to_json_line
from miniticker.kinesis_record import MAX_RECORD_BYTES, pack_lines, record_ends

STREAM_ARN = f"arn:aws:kinesis:us-east-1:{DEFAULT_ACCOUNT_ID}:stream/ticks"
ROLE_ARN = f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/consumer"
SHARD = "shardId-000000000000"


def generated(count: int, seed: int = 1, symbols: Sequence[str] | None = None
              ) -> list[MiniTicker]:
    generator = MarketDataGenerator(symbols or POPULAR, seed=seed)
    return [normalize(p, received_at=p["E"] + 35) for p in generator.payloads(count)]


def sequence_number(index: int) -> str:
    # Kinesis sequence numbers are 56-digit decimal strings that grow along the shard.
    return str(49_590_338_271_490_256_608_559_692_538_361_571_095_921_575_989_136_588_898
               + index * 2**40)


def event_of(datas: Sequence[bytes], keys: Sequence[str] | None = None) -> dict[str, Any]:
    """The event for records of these ``datas``, read from one shard in this order; record i
    has `sequence_number` (i)."""
    arrival = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)
    return kinesis_event(
        [{"Data": data, "PartitionKey": keys[i] if keys else "BTCUSDT",
          "SequenceNumber": sequence_number(i), "ApproximateArrivalTimestamp": arrival}
         for i, data in enumerate(datas)],
        stream_arn=STREAM_ARN, shard_id=SHARD, function_role_arn=ROLE_ARN)


def event_for(records: Sequence[MiniTicker]) -> dict[str, Any]:
    """One record per event (a producer that does not aggregate)."""
    return event_of([to_json_line(r) for r in records], [r.symbol for r in records])


def lines_per_record(records: Sequence[MiniTicker], limit: int = MAX_RECORD_BYTES
                     ) -> list[list[MiniTicker]]:
    """``records`` grouped as the ingester packs their lines into Kinesis records
    (`record_ends`), in order."""
    ends = record_ends([len(to_json_line(r)) for r in records], limit)
    return [list(records[start:end]) for start, end in zip([0, *ends], ends)]


def packed_event(records: Sequence[MiniTicker], limit: int = MAX_RECORD_BYTES
                 ) -> dict[str, Any]:
    """The event of ``records`` packed as the ingester packs them (`pack_lines`); record i holds
    ``lines_per_record(records, limit)[i]``, its partition key is its first line's symbol."""
    datas = pack_lines([to_json_line(r) for r in records], limit)
    groups = lines_per_record(records, limit)
    assert [len(d.splitlines()) for d in datas] == [len(g) for g in groups]
    return event_of(datas, [group[0].symbol for group in groups])


def records_of_lines(groups: Sequence[Sequence[bytes]]) -> list[bytes]:
    """Record data holding each group's lines in order (a ``\\n`` added where one is missing),
    for records with chosen lines, bad ones included."""
    return [b"".join(line if line.endswith(b"\n") else line + b"\n" for line in group)
            for group in groups]
