"""What the local mode changes in moto, which runs its server in this process: costs that grow
with the market or the run, cut, and its own store read where its API is too slow
(docs/architecture.md §4). Each patch keeps moto's answers; only how it finds them changes.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Iterator
from typing import Any

from moto import backends as moto_backends
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.table import Table as MotoTable
from moto.kinesis import models as kinesis_models


def apply() -> None:
    """Every patch below (once a process)."""
    fast_shard_reads()
    partition_queries()


def fast_shard_reads() -> None:
    """moto keeps a shard's records in a dict keyed 1, 2, 3, ... and scans all of them for
    every GetRecords and PutRecord; the local mode reads from the position directly instead,
    so a long run does not slow down as the shard fills (docs/architecture.md §4, on moto)."""
    def get_max_sequence_number(self: Any) -> int:
        return next(reversed(self.records), 0) if self.records else 0

    def get_records(self: Any, last_sequence_id: str, limit: int | None
                    ) -> tuple[list[Any], int, int]:
        position = int(last_sequence_id) + 1
        results: list[Any] = []
        while position in self.records and (limit is None or len(results) < limit):
            results.append(self.records[position])
            position += 1
        if not results:
            return results, int(last_sequence_id), 0
        newest = self.records[next(reversed(self.records))]
        return results, results[-1].sequence_number, int(
            (newest.created_at - results[-1].created_at) * 1000)

    kinesis_models.Shard.get_max_sequence_number = get_max_sequence_number  # type: ignore[method-assign]
    kinesis_models.Shard.get_records = get_records  # type: ignore[method-assign]


def partition_queries() -> None:
    """Two of moto's costs that grow with the market, cut in this process:

    - a DynamoDB Query gathers and sorts every item of the table to pick out one partition's,
      so each of the read API's requests (the page's, the report's) costs the size of the whole
      table; a Query on the table's key reads its partition directly instead, then goes on as
      moto does (sort, range condition, limit, filter);
    - every request looks its service up by listing moto's package directory (a stat per entry)
      under the server's lock; the list is read once.
    """
    if getattr(MotoTable, "partition_queries", False):
        return
    modules = frozenset(moto_backends.list_of_moto_modules())
    moto_backends.list_of_moto_modules = lambda: modules
    table_query, table_items = MotoTable.query, MotoTable.all_items
    query_parameters = inspect.signature(table_query)
    querying = threading.local()  # the partition of the Query running on this thread

    def all_items(self: Any) -> Any:
        partition = getattr(querying, "partition", None)
        if partition is None:
            return table_items(self)
        return list(self.items.get(partition, {}).values())

    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = query_parameters.bind(self, hash_key, *args, **kwargs).arguments.get(
            "index_name")
        if index_name or hash_key is None or not self.range_key_attr:
            return table_query(self, hash_key, *args, **kwargs)
        querying.partition = hash_key
        try:
            return table_query(self, hash_key, *args, **kwargs)
        finally:
            querying.partition = None

    MotoTable.all_items = all_items  # type: ignore[method-assign]
    MotoTable.query = query  # type: ignore[method-assign]
    MotoTable.partition_queries = True  # type: ignore[attr-defined]


def stored_items(region: str, table_name: str) -> Iterator[dict[str, Any]]:
    """A DynamoDB table's items in DynamoDB's JSON, read from moto's store rather than with
    Scan: moto's Scan copies and sizes every item and gathers and sorts the whole table for each
    page, which at the whole market takes minutes."""
    table = dynamodb_backends[DEFAULT_ACCOUNT_ID][region].get_table(table_name)
    for stored in table.all_items():
        yield stored.to_json()["Attributes"]
