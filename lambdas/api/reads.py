"""What the read API asks of the hot table, and the JSON it makes of the answers (docs/api.md).

Reads use the low-level client and DynamoDB's own attribute-value form: numbers arrive as the
decimal strings DynamoDB keeps, and are written out with the contract's scale, so no float ever
touches a price. Every read is bounded: the latest items are a Query per latest partition, event
points a Query of at most `MAX_POINTS` items, candles one item per minute of the window.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from miniticker import DECIMAL_SCALE, iso_from_millis, stream_name_for
from miniticker import hot_table as ht

#: Up to this window, history is every event's close; beyond it, 1-minute candles.
POINTS_MAX_MINUTES = 15
#: The most event points one answer holds (the newest are kept).
MAX_POINTS = 5_000
#: The longest window served, whatever the table's retention: bounds a candle answer's size.
MAX_WINDOW_MINUTES = 7 * 1_440

_CANDLE_FIELDS = (ht.CANDLE_START, ht.CANDLE_OPEN, ht.CANDLE_HIGH, ht.CANDLE_LOW,
                  ht.CANDLE_CLOSE, ht.CANDLE_FIRST_EVENT_TIME, ht.CANDLE_LAST_EVENT_TIME,
                  ht.CANDLE_EVENTS)
_CANDLE_DECIMALS = frozenset({ht.CANDLE_OPEN, ht.CANDLE_HIGH, ht.CANDLE_LOW, ht.CANDLE_CLOSE})
_POINT_FIELDS = ("event_time", "close_price")


def decimal_text(number: str) -> str:
    """A DynamoDB number as the contract writes decimals: plain, with `DECIMAL_SCALE` places.

    DynamoDB may drop trailing zeros (``67432.15``); the record had ``67432.15000000``.
    """
    point = number.find(".")
    if point >= 0 and len(number) - point - 1 == DECIMAL_SCALE:
        return number  # already in the contract's form (the common case, no Decimal made)
    return f"{Decimal(number):.{DECIMAL_SCALE}f}"


class HotTable:
    """The read API's view of the table; ``client`` is a boto3 DynamoDB client."""

    def __init__(self, client: Any, table_name: str) -> None:
        self.client = client
        self.table_name = table_name
        self.requests = 0  # DynamoDB calls made, for the benchmark

    def latest_json(self) -> str:
        """Every symbol's price object (JSON, as the consumer made it), by symbol, joined into
        a JSON array: the items are not parsed, only their strings put together."""
        partitions = [self._query({
            "KeyConditionExpression": "#k = :k",
            "ExpressionAttributeNames": {"#k": ht.PARTITION_KEY, "#s": ht.SORT_KEY,
                                         "#p": ht.LATEST_PRICE},
            "ExpressionAttributeValues": {":k": {"S": partition}},
            "ProjectionExpression": "#s, #p",
        }) for partition in ht.latest_partitions()]
        # Each partition comes sorted by symbol (its sort key): merged, they stay sorted.
        merged = heapq.merge(*partitions, key=lambda item: item[ht.SORT_KEY]["S"])
        return "[" + ",".join(item[ht.LATEST_PRICE]["S"] for item in merged) + "]"

    def newest_event_time(self, symbol: str) -> int | None:
        """The event time of ``symbol``'s latest item, or None when the table has no data."""
        self.requests += 1
        item = self.client.get_item(
            TableName=self.table_name,
            Key={ht.PARTITION_KEY: {"S": ht.latest_partition(symbol)},
                 ht.SORT_KEY: {"S": symbol}},
            ProjectionExpression=ht.LATEST_EVENT_TIME).get("Item")
        return int(item[ht.LATEST_EVENT_TIME]["N"]) if item else None

    def points(self, symbol: str, start_ms: int) -> tuple[list[dict[str, Any]], bool]:
        """Every event's close from ``start_ms`` on, oldest first, at most `MAX_POINTS` (the
        newest); and whether older ones were left out."""
        items = list(self._query({
            "KeyConditionExpression": "#k = :k AND #t >= :t",
            "ExpressionAttributeNames": {"#k": ht.PARTITION_KEY, "#t": ht.SORT_KEY,
                                         **{f"#{n}": n for n in _POINT_FIELDS}},
            "ExpressionAttributeValues": {":k": {"S": stream_name_for(symbol)},
                                          ":t": {"S": iso_from_millis(start_ms)}},
            "ProjectionExpression": ", ".join(f"#{n}" for n in _POINT_FIELDS),
            "ScanIndexForward": False,  # newest first, so the bound keeps the newest
        }, limit=MAX_POINTS + 1))
        truncated = len(items) > MAX_POINTS
        return [{"event_time": int(i["event_time"]["N"]),
                 "close_price": decimal_text(i["close_price"]["N"])}
                for i in reversed(items[:MAX_POINTS])], truncated

    def candles(self, symbol: str, start_ms: int) -> list[dict[str, Any]]:
        """The 1-minute candles from the minute of ``start_ms`` on, oldest first."""
        names = {f"#{n}": n for n in _CANDLE_FIELDS}
        return [{name: decimal_text(item[name]["N"]) if name in _CANDLE_DECIMALS
                 else int(item[name]["N"]) for name in _CANDLE_FIELDS}
                for item in self._query({
                    "KeyConditionExpression": "#k = :k AND #t >= :t",
                    "ExpressionAttributeNames": {"#k": ht.PARTITION_KEY, "#t": ht.SORT_KEY,
                                                 **names},
                    "ExpressionAttributeValues": {
                        ":k": {"S": ht.candle_partition(symbol)},
                        ":t": {"S": ht.minute_key(ht.minute_start(start_ms))}},
                    # The event-time set stays in the table: a reader needs only its size.
                    "ProjectionExpression": ", ".join(names),
                })]

    def _query(self, request: dict[str, Any], limit: int | None = None
               ) -> Iterator[dict[str, dict[str, str]]]:
        """Every item a Query matches, page by page (at most ``limit``)."""
        request = {"TableName": self.table_name, **request}
        left = limit
        while True:
            if left is not None:
                request["Limit"] = left
            self.requests += 1
            page = self.client.query(**request)
            yield from page["Items"]
            if left is not None:
                left -= len(page["Items"])
                if left <= 0:
                    return
            start = page.get("LastEvaluatedKey")
            if not start:
                return
            request["ExclusiveStartKey"] = start
