"""The items the read API serves from: each symbol's latest record and its 1-minute candles.

Both are derived from a batch's written records and merged into what the table holds, so that
any subset of records, in any order, delivered any number of times, leaves the same items:

- a **latest item** is replaced only by a newer event (a condition on ``event_time``), so out-of-
  order batches and retries never move it back in time; one write per symbol per batch;
- a **candle item** is read, merged and written back with a condition on its ``version``:
  open and close are the close prices of the earliest and latest event times, high and low their
  extremes, and the set of event times merged is kept (a DynamoDB number set), so an event seen
  twice, by a retry or as a duplicate, is counted once. One read and one write per symbol-minute
  per batch; a lost race (another writer got there first) reads and merges again.

The layout of both families is `miniticker.hot_table`'s. The calls of a step (the latest items'
writes, a round's candle reads, a round's candle writes) are independent and go out together on
the writer's thread pool when there is one: at the whole market, a batch holds a latest item and
a candle or two for each of its ~1,500 symbols.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from decimal import Decimal
from typing import Any, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

from miniticker import MiniTicker
from miniticker import hot_table as ht

from .items import Item
from .writer import call_all

logger = logging.getLogger(__name__)

MAX_KEYS_PER_GET = 100  # DynamoDB's BatchGetItem limit
#: Reads and writes of one candle before its records are reported as failed (a lost race costs
#: one round; more means something else keeps writing it).
MAX_CANDLE_ROUNDS = 4
CONDITION_FAILED = "ConditionalCheckFailedException"

CandleKey = tuple[str, int]  # (symbol, minute start in epoch ms)


class Candle(NamedTuple):
    """A symbol-minute's candle; prices are the exact decimal strings of the records."""

    symbol: str
    start: int
    open: str
    high: str
    low: str
    close: str
    first_event_time: int
    last_event_time: int
    event_times: frozenset[int]

    def merged(self, other: Candle) -> Candle:
        """The candle of both candles' events. Idempotent, and the same in any order of merges
        but for a tie: an event time both hold keeps this candle's price (the stored copy)."""
        opener = other if other.first_event_time < self.first_event_time else self
        closer = other if other.last_event_time > self.last_event_time else self
        return Candle(
            self.symbol, self.start, opener.open,
            max(self.high, other.high, key=Decimal), min(self.low, other.low, key=Decimal),
            closer.close, opener.first_event_time, closer.last_event_time,
            self.event_times | other.event_times)


def newest_per_symbol(records: Iterable[MiniTicker]) -> dict[str, MiniTicker]:
    newest: dict[str, MiniTicker] = {}
    for record in records:
        seen = newest.get(record.symbol)
        if seen is None or record.event_time > seen.event_time:
            newest[record.symbol] = record
    return newest


def candles_of(records: Iterable[MiniTicker]) -> dict[CandleKey, Candle]:
    """The batch's candles per symbol and UTC minute of the events' own times."""
    groups: dict[CandleKey, list[MiniTicker]] = {}
    for record in records:
        groups.setdefault((record.symbol, ht.minute_start(record.event_time)), []).append(record)
    candles = {}
    for (symbol, start), group in groups.items():
        prices = [Decimal(r.close_price) for r in group]
        first = min(group, key=lambda r: r.event_time)
        last = max(group, key=lambda r: r.event_time)
        candles[(symbol, start)] = Candle(
            symbol, start, first.close_price,
            group[prices.index(max(prices))].close_price,
            group[prices.index(min(prices))].close_price,
            last.close_price, first.event_time, last.event_time,
            frozenset(r.event_time for r in group))
    return candles


def latest_item(record: MiniTicker, retention_seconds: int) -> Item:
    return {ht.PARTITION_KEY: {"S": ht.latest_partition(record.symbol)},
            ht.SORT_KEY: {"S": record.symbol},
            ht.LATEST_EVENT_TIME: {"N": str(record.event_time)},
            ht.LATEST_PRICE: {"S": ht.latest_price_json(record)},
            ht.TTL_ATTRIBUTE: {"N": str(record.event_time // 1000 + retention_seconds)}}


def candle_key(symbol: str, start: int) -> dict[str, dict[str, str]]:
    return {ht.PARTITION_KEY: {"S": ht.candle_partition(symbol)},
            ht.SORT_KEY: {"S": ht.minute_key(start)}}


def candle_item(candle: Candle, version: int, retention_seconds: int) -> Item:
    item: dict[str, Any] = candle_key(candle.symbol, candle.start)
    item.update({
        ht.CANDLE_SYMBOL: {"S": candle.symbol},
        ht.CANDLE_START: {"N": str(candle.start)},
        ht.CANDLE_OPEN: {"N": candle.open},
        ht.CANDLE_HIGH: {"N": candle.high},
        ht.CANDLE_LOW: {"N": candle.low},
        ht.CANDLE_CLOSE: {"N": candle.close},
        ht.CANDLE_FIRST_EVENT_TIME: {"N": str(candle.first_event_time)},
        ht.CANDLE_LAST_EVENT_TIME: {"N": str(candle.last_event_time)},
        ht.CANDLE_EVENTS: {"N": str(len(candle.event_times))},
        ht.CANDLE_EVENT_TIMES: {"NS": [str(t) for t in sorted(candle.event_times)]},
        ht.CANDLE_VERSION: {"N": str(version)},
        ht.TTL_ATTRIBUTE: {"N": str((candle.start + ht.MINUTE_MS) // 1000 + retention_seconds)},
    })
    return item


def candle_of_item(item: dict[str, Any]) -> tuple[Candle, int]:
    """A stored candle item back to a `Candle`, with its version."""
    return Candle(
        item[ht.CANDLE_SYMBOL]["S"], int(item[ht.CANDLE_START]["N"]),
        item[ht.CANDLE_OPEN]["N"], item[ht.CANDLE_HIGH]["N"], item[ht.CANDLE_LOW]["N"],
        item[ht.CANDLE_CLOSE]["N"], int(item[ht.CANDLE_FIRST_EVENT_TIME]["N"]),
        int(item[ht.CANDLE_LAST_EVENT_TIME]["N"]),
        frozenset(int(t) for t in item[ht.CANDLE_EVENT_TIMES]["NS"]),
    ), int(item[ht.CANDLE_VERSION]["N"])


class SummaryWriter:
    """Writes a batch's latest and candle items; returns what it could not write, and why.

    ``pool`` (bounded, shared with the event items' writer) runs each step's calls concurrently;
    None makes them one after the other. Counters change on the caller's thread only.
    """

    def __init__(self, client: Any, table_name: str, *, pool: Executor | None = None) -> None:
        self.table_name = table_name
        self.requests = 0  # DynamoDB calls made, for metrics and the benchmark
        self.latest_moved = 0  # latest items replaced by a newer event
        self.candles_written = 0
        self.pool = pool
        self._client = client

    def write(self, records: list[MiniTicker], retention_seconds: int,
              seconds_left: Callable[[], float]) -> tuple[dict[str, str], dict[CandleKey, str]]:
        """Returns the symbols whose latest item and the candles that were not written."""
        newest = newest_per_symbol(records)
        items = [latest_item(record, retention_seconds) for record in newest.values()]
        self.requests += len(items)
        # Queued on the pool first; the candles' calls queue behind them, and the latest items'
        # outcomes are read once the candles are done.
        outcomes = call_all(self.pool, self._put_latest, items)
        candles_failed = self._merge_candles(candles_of(records), retention_seconds,
                                             seconds_left)
        latest_failed = {}
        for symbol, (moved, reason) in zip(newest, outcomes):
            self.latest_moved += moved
            if reason:
                latest_failed[symbol] = reason
        return latest_failed, candles_failed

    def _put_latest(self, item: Item) -> tuple[bool, str]:
        """Whether the item moved forward, and why it was not written ("" when it was, or when
        the table holds this event or a newer one already)."""
        try:
            self._client.put_item(
                TableName=self.table_name, Item=item,
                ConditionExpression="attribute_not_exists(#t) OR #t < :t",
                ExpressionAttributeNames={"#t": ht.LATEST_EVENT_TIME},
                ExpressionAttributeValues={":t": item[ht.LATEST_EVENT_TIME]})
        except ClientError as error:
            return False, "" if _code(error) == CONDITION_FAILED else _reason(error)
        except BotoCoreError as error:
            return False, f"{type(error).__name__}: {error}"
        return True, ""

    def _merge_candles(self, candles: dict[CandleKey, Candle], retention_seconds: int,
                       seconds_left: Callable[[], float]) -> dict[CandleKey, str]:
        failed: dict[CandleKey, str] = {}
        pending = dict(candles)
        for _ in range(MAX_CANDLE_ROUNDS):
            if not pending or seconds_left() <= 0:
                break
            stored, unread = self._read(list(pending))
            for key in unread:
                failed[key] = unread[key]
                del pending[key]
            writes: list[tuple[CandleKey, Candle, Item, int]] = []
            for key, batch_candle in pending.items():
                previous = stored.get(key)
                version, candle = 0, batch_candle
                if previous is not None:
                    old, version = candle_of_item(previous)
                    candle = old.merged(batch_candle)
                    if candle == old:
                        continue  # every event of the batch is in the candle already
                writes.append((key, batch_candle,
                               candle_item(candle, version + 1, retention_seconds), version))
            self.requests += len(writes)
            raced: dict[CandleKey, Candle] = {}
            outcomes = call_all(self.pool, self._put_candle,
                                [(item, version) for _, _, item, version in writes])
            for (key, batch_candle, _, _), reason in zip(writes, outcomes):
                if reason == CONDITION_FAILED:
                    raced[key] = batch_candle
                elif reason:
                    failed[key] = reason
                else:
                    self.candles_written += 1
            pending = raced
        for key in pending:
            failed[key] = "candle kept changing under this writer, or no time was left"
        return failed

    def _read(self, keys: list[CandleKey]) -> tuple[dict[CandleKey, dict[str, Any]],
                                                    dict[CandleKey, str]]:
        """The stored candle items of ``keys`` (strongly consistent), and keys not read."""
        stored: dict[CandleKey, dict[str, Any]] = {}
        unread: dict[CandleKey, str] = {}
        chunks = [keys[start:start + MAX_KEYS_PER_GET]
                  for start in range(0, len(keys), MAX_KEYS_PER_GET)]
        for found, missed, calls in call_all(self.pool, self._read_chunk, chunks):
            stored.update(found)
            unread.update(missed)
            self.requests += calls
        return stored, unread

    def _read_chunk(self, keys: list[CandleKey]) -> tuple[dict[CandleKey, dict[str, Any]],
                                                          dict[CandleKey, str], int]:
        """BatchGetItem of at most `MAX_KEYS_PER_GET` keys (on a pool thread), with its
        ``UnprocessedKeys`` asked again: what was read, what was not and why, calls made."""
        by_sort_key = {(ht.candle_partition(s), ht.minute_key(t)): (s, t) for s, t in keys}
        stored: dict[CandleKey, dict[str, Any]] = {}
        unread: dict[CandleKey, str] = {}
        calls = 0
        request: dict[str, Any] = {self.table_name: {
            "Keys": [candle_key(s, t) for s, t in keys], "ConsistentRead": True}}
        for _ in range(MAX_CANDLE_ROUNDS):
            calls += 1
            try:
                response = self._client.batch_get_item(RequestItems=request)
            except (ClientError, BotoCoreError) as error:
                reason = _reason(error) if isinstance(error, ClientError) else str(error)
                for key in request[self.table_name]["Keys"]:
                    unread[by_sort_key[(key[ht.PARTITION_KEY]["S"],
                                        key[ht.SORT_KEY]["S"])]] = reason
                break
            for item in response.get("Responses", {}).get(self.table_name, []):
                stored[by_sort_key[(item[ht.PARTITION_KEY]["S"],
                                    item[ht.SORT_KEY]["S"])]] = item
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
        else:
            for key in request[self.table_name]["Keys"]:
                unread[by_sort_key[(key[ht.PARTITION_KEY]["S"],
                                    key[ht.SORT_KEY]["S"])]] = "keys left unprocessed"
        return stored, unread, calls

    def _put_candle(self, write: tuple[Item, int]) -> str:
        """Write the item if the stored one is still at the version (0: none stored), on a pool
        thread; "" when written, `CONDITION_FAILED` when another writer got there first."""
        item, version = write
        if version:
            condition = {"ConditionExpression": "#v = :v",
                         "ExpressionAttributeNames": {"#v": ht.CANDLE_VERSION},
                         "ExpressionAttributeValues": {":v": {"N": str(version)}}}
        else:
            condition = {"ConditionExpression": "attribute_not_exists(#k)",
                         "ExpressionAttributeNames": {"#k": ht.PARTITION_KEY}}
        try:
            self._client.put_item(TableName=self.table_name, Item=item, **condition)
        except ClientError as error:
            return CONDITION_FAILED if _code(error) == CONDITION_FAILED else _reason(error)
        except BotoCoreError as error:
            return f"{type(error).__name__}: {error}"
        return ""


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _reason(error: ClientError) -> str:
    return f"{_code(error)}: {error.response.get('Error', {}).get('Message', '')}"
