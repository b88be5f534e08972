"""MiniTicker records to DynamoDB items (docs/architecture.md §2.4), in DynamoDB's own
attribute-value form.

Numbers go to DynamoDB as the exact decimal strings Binance sent (``{"N": "67432.15000000"}``):
DynamoDB stores numbers as decimals and boto3 reads them back as ``Decimal``, so no float ever
touches a price. The item is a function of the record (and the table's resolution) alone, no
write time, so writing a record twice leaves the same item: retries are idempotent.
"""

from __future__ import annotations

from typing import Any

from miniticker import FIELDS, FieldKind, MiniTicker
from miniticker.hot_table import PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE

#: The table's keys as DynamoDB's CreateTable takes them (the local mode and the tests create
#: it so; the CDK app declares the same keys with its own types).
KEY_SCHEMA: dict[str, Any] = {
    "AttributeDefinitions": [{"AttributeName": PARTITION_KEY, "AttributeType": "S"},
                             {"AttributeName": SORT_KEY, "AttributeType": "S"}],
    "KeySchema": [{"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
                  {"AttributeName": SORT_KEY, "KeyType": "RANGE"}],
}

Item = dict[str, dict[str, str]]
Key = tuple[str, str]

# (attribute name, DynamoDB type) for every field of the contract, in record order.
_ATTRIBUTES = tuple((spec.name, "S" if spec.kind is FieldKind.TEXT else "N") for spec in FIELDS)


def item_of(record: MiniTicker, retention_seconds: int) -> Item:
    """The item for ``record``, expiring ``retention_seconds`` after its event."""
    # An optional field the record lacks (None) has no attribute, as it has no key in the line.
    item: Item = {name: {kind: value if type(value) is str else str(value)}
                  for (name, kind), value in zip(_ATTRIBUTES, record) if value is not None}
    item[TTL_ATTRIBUTE] = {"N": str(record.event_time // 1000 + retention_seconds)}
    return item


def event_item(record: MiniTicker, key: Key, retention_seconds: int) -> Item:
    """``record``'s item under ``key``, its `miniticker.hot_table.event_item_key` at the table's
    resolution: at N > 0 the sort key is the N-second bucket's start, while ``event_time`` (what
    the read API plots) stays the event's own."""
    item = item_of(record, retention_seconds)
    item[SORT_KEY] = {"S": key[1]}
    return item


def key_of_item(item: dict[str, Any]) -> Key:
    return item[PARTITION_KEY]["S"], item[SORT_KEY]["S"]
