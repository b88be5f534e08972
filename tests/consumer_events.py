"""Kinesis batches for the consumer tests: contract lines as the event source mapping delivers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from moto.core.models import DEFAULT_ACCOUNT_ID

from local.lambda_events import kinesis_event
from market_sim import POPULAR, MarketDataGenerator
from miniticker import MiniTicker, normalize, to_json_line

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


def event_of(lines: Sequence[bytes], keys: Sequence[str] | None = None) -> dict[str, Any]:
    """The event for ``lines`` (Kinesis record data), read from one shard in this order."""
    arrival = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)
    return kinesis_event(
        [{"Data": line, "PartitionKey": keys[i] if keys else "BTCUSDT",
          "SequenceNumber": sequence_number(i), "ApproximateArrivalTimestamp": arrival}
         for i, line in enumerate(lines)],
        stream_arn=STREAM_ARN, shard_id=SHARD, function_role_arn=ROLE_ARN)


def event_for(records: Sequence[MiniTicker]) -> dict[str, Any]:
    return event_of([to_json_line(r) for r in records], [r.symbol for r in records])
