"""The hot DynamoDB table's layout: one definition of its keys and of the three item families.

The table keeps the original prototype's key schema (partition key ``stream_type``, sort key
``iso_timestamp``, both strings) and holds three families of items, told apart by the partition
key's value:

- **event items**, one per event: ``stream_type`` = the symbol's stream (``btcusdt@miniTicker``),
  ``iso_timestamp`` = the event's time. Every field of the record, numbers as exact decimals.
  At a coarser resolution (`event_item_key`, the consumer's ``HOT_TABLE_RESOLUTION_SECONDS``),
  one item per symbol and N-second bucket of event time instead: its sort key is the bucket's
  start and it holds the bucket's newest event (with that event's own ``event_time``), so every
  writer, however batches split the bucket, writes the same key and the newest one stays.
- **latest items**, one per symbol: ``stream_type`` = ``latest#K`` (K = `latest_partition` of
  the symbol, one of `LATEST_PARTITIONS`), ``iso_timestamp`` = the symbol. The newest event's
  ``event_time`` and, in ``price``, the read API's JSON object for the symbol (`latest_price`:
  the record's fields and its 24 h change), made once when written instead of at every read: a
  string keeps the decimals exactly as Binance sent them, and the API answers by joining strings.
  The consumer replaces the item only with a newer event (a condition on ``event_time``), so it
  never moves back in time. The read API's ``latest`` is one Query per partition, whatever the
  number of symbols; spreading symbols over a few partitions keeps each partition's writes below
  DynamoDB's per-partition limit at the whole market's rate.
- **candle items**, one per symbol and UTC minute: ``stream_type`` = the stream plus
  `CANDLE_SUFFIX` (``btcusdt@miniTicker#1m``), ``iso_timestamp`` = the minute's start. Open, high,
  low and close of the close price by event time, the first and last event times, the number of
  events and the set of their event times, so a retried or repeated event is never counted
  twice. A day of history is 1,440 small items instead of 86,400 events.

Every item expires (TTL on ``expires_at``, epoch seconds) `retention` after its event or minute.
``#`` never appears in a stream name, so the families cannot collide. Standard library only.
"""

import json
import zlib
from decimal import Decimal
from typing import Any

from .record import DECIMAL_SCALE, MiniTicker
from .streams import stream_name_for
from .timestamps import iso_from_millis

PARTITION_KEY = "stream_type"
SORT_KEY = "iso_timestamp"
TTL_ATTRIBUTE = "expires_at"  # epoch seconds, as DynamoDB TTL requires

#: How many partitions the latest items are spread over (a symbol always lands in the same one).
LATEST_PARTITIONS = 4
LATEST_PREFIX = "latest#"
LATEST_EVENT_TIME = "event_time"  # N: the condition that keeps the item monotone
LATEST_PRICE = "price"  # S: `latest_price` of the newest record, as JSON
CANDLE_SUFFIX = "#1m"
MINUTE_MS = 60_000
#: The coarsest event-item resolution, seconds (0 keeps every event; an hour is already as
#: coarse as the 1-minute candles make useful).
MAX_RESOLUTION_SECONDS = 3_600

# Candle item attributes (decimals as exact strings, times as epoch milliseconds).
CANDLE_START = "start"
CANDLE_OPEN = "open"
CANDLE_HIGH = "high"
CANDLE_LOW = "low"
CANDLE_CLOSE = "close"
CANDLE_FIRST_EVENT_TIME = "first_event_time"
CANDLE_LAST_EVENT_TIME = "last_event_time"
CANDLE_EVENTS = "events"  # how many distinct event times the candle holds
CANDLE_EVENT_TIMES = "event_times"  # number set of those times: a repeat is counted once
CANDLE_SYMBOL = "symbol"
CANDLE_VERSION = "version"  # incremented by every write: the optimistic-concurrency check


def event_item_key(record: MiniTicker, resolution_seconds: int = 0) -> tuple[str, str]:
    """The (partition, sort) key of ``record``'s event item.

    ``resolution_seconds`` 0: the event's own stream and time, one item per event. N in
    1..`MAX_RESOLUTION_SECONDS`: the stream and the start of the N-second bucket of event time
    holding the event (buckets aligned on the epoch, in UTC), one item per symbol and bucket.
    """
    if not resolution_seconds:
        return record.stream_type, record.iso_timestamp
    if not 0 < resolution_seconds <= MAX_RESOLUTION_SECONDS:
        raise ValueError(f"a resolution of {resolution_seconds} s is outside "
                         f"0..{MAX_RESOLUTION_SECONDS}")
    width = resolution_seconds * 1000
    return record.stream_type, iso_from_millis(record.event_time - record.event_time % width)


def latest_partition(symbol: str) -> str:
    """The partition key of ``symbol``'s latest item, e.g. ``latest#2`` (stable across runs)."""
    return f"{LATEST_PREFIX}{zlib.crc32(symbol.encode()) % LATEST_PARTITIONS}"


def latest_partitions() -> tuple[str, ...]:
    """Every latest partition, for a reader of all symbols."""
    return tuple(f"{LATEST_PREFIX}{k}" for k in range(LATEST_PARTITIONS))


def latest_price(record: MiniTicker) -> dict[str, Any]:
    """The read API's object for ``record``: every field of the record, decimals as its exact
    strings, plus ``change_24h`` (close - open, exact) and ``change_24h_percent`` (over open,
    rounded half-even to two places; None when open is zero)."""
    # An optional field the record lacks is left out, as in its JSON line.
    price: dict[str, Any] = {k: v for k, v in record._asdict().items() if v is not None}
    opened = Decimal(record.open_price)
    change = Decimal(record.close_price) - opened
    price["change_24h"] = f"{change:.{DECIMAL_SCALE}f}"
    percent = (change / opened * 100).quantize(Decimal("0.01")) if opened else None
    # A fall too small to show is 0.00, not -0.00.
    price["change_24h_percent"] = None if percent is None else f"{percent or abs(percent):f}"
    return price


def latest_price_json(record: MiniTicker) -> str:
    return json.dumps(latest_price(record), separators=(",", ":"))


def candle_partition(symbol: str) -> str:
    """``BTCUSDT`` -> ``btcusdt@miniTicker#1m``."""
    return stream_name_for(symbol) + CANDLE_SUFFIX


def minute_start(event_time: int) -> int:
    """The start of the UTC minute holding ``event_time`` (epoch ms; exchange time, not ours)."""
    return event_time - event_time % MINUTE_MS


def minute_key(start_ms: int) -> str:
    """The sort key of the candle starting at ``start_ms``: ``2026-11-24T10:01:00.000Z``."""
    return iso_from_millis(start_ms)


def is_event_partition(stream_type: str) -> bool:
    """True for an event item's partition key; False for latest and candle items."""
    return "#" not in stream_type
