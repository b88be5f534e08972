"""The Glue catalog's partitions of the curated tables: created, and moved between locations.

A partition (event day, symbol) points at exactly one location of its files: the hourly one
while the day is open, a compacted generation afterwards. Moving it is one catalog update, so a
query sees either every row at the old location or every row at the new one.
"""

from collections.abc import Sequence
from typing import Any

from .settings import JobError

PARTITIONS_PER_REQUEST = 100  # BatchCreatePartition's and BatchUpdatePartition's limit
PARTITIONS_PER_GET = 1000  # BatchGetPartition's limit


def s3_location(bucket: str, prefix: str) -> str:
    """A location as the catalog holds it: ``s3://bucket/prefix/``."""
    return f"s3://{bucket}/{prefix}"


def ensure_partitions(glue: Any, database: str, table: dict[str, Any],
                      locations: Sequence[tuple[str, str, str]]) -> int:
    """Make each (day, symbol) partition of ``table`` (``glue.get_table()["Table"]``) point at
    its location (``s3://bucket/key-prefix/``): create the missing ones, move the ones whose
    location differs, leave the rest; returns the partitions created or moved.

    Partitions take the table's storage descriptor (columns, formats) with their own location.
    A partition another run created meanwhile is read again and moved if it must be.
    """
    name = table["Name"]
    wanted = {(day, symbol): location for day, symbol, location in locations}
    current = _locations(glue, database, name, list(wanted))
    missing = [key for key in wanted if key not in current]
    created, raced = _create(glue, database, table, [(k, wanted[k]) for k in missing])
    if raced:
        current.update(_locations(glue, database, name, raced))
    moves = [(key, wanted[key]) for key, location in current.items()
             if key in wanted and location != wanted[key]]
    return created + _move(glue, database, table, moves)


def _input(table: dict[str, Any], key: tuple[str, str], location: str) -> dict[str, Any]:
    return {"Values": list(key),
            "StorageDescriptor": {**table["StorageDescriptor"], "Location": location}}


def _locations(glue: Any, database: str, name: str, keys: list[tuple[str, str]]
               ) -> dict[tuple[str, str], str]:
    """The current location of each partition of ``keys`` that exists."""
    found: dict[tuple[str, str], str] = {}
    for start in range(0, len(keys), PARTITIONS_PER_GET):
        pending = [{"Values": list(key)} for key in keys[start:start + PARTITIONS_PER_GET]]
        while pending:  # Glue may leave some unprocessed when throttled: ask again
            response = glue.batch_get_partition(DatabaseName=database, TableName=name,
                                                PartitionsToGet=pending)
            for partition in response.get("Partitions", []):
                values = partition["Values"]
                found[(values[0], values[1])] = partition["StorageDescriptor"]["Location"]
            pending = response.get("UnprocessedKeys", [])
    return found


def _create(glue: Any, database: str, table: dict[str, Any],
            partitions: list[tuple[tuple[str, str], str]]) -> tuple[int, list[tuple[str, str]]]:
    """Create partitions; returns how many, and those that already existed."""
    created = 0
    raced: list[tuple[str, str]] = []
    for start in range(0, len(partitions), PARTITIONS_PER_REQUEST):
        batch = partitions[start:start + PARTITIONS_PER_REQUEST]
        response = glue.batch_create_partition(
            DatabaseName=database, TableName=table["Name"],
            PartitionInputList=[_input(table, key, location) for key, location in batch])
        errors = response.get("Errors", [])
        refused = [e for e in errors if e["ErrorDetail"]["ErrorCode"] != "AlreadyExistsException"]
        if refused:
            raise JobError(f"Glue refused partitions of {table['Name']}: {refused[:3]}")
        raced.extend((e["PartitionValues"][0], e["PartitionValues"][1]) for e in errors)
        created += len(batch) - len(errors)
    return created, raced


def _move(glue: Any, database: str, table: dict[str, Any],
          partitions: list[tuple[tuple[str, str], str]]) -> int:
    for start in range(0, len(partitions), PARTITIONS_PER_REQUEST):
        batch = partitions[start:start + PARTITIONS_PER_REQUEST]
        response = glue.batch_update_partition(
            DatabaseName=database, TableName=table["Name"],
            Entries=[{"PartitionValueList": list(key),
                      "PartitionInput": _input(table, key, location)} for key, location in batch])
        if response.get("Errors"):
            raise JobError(f"Glue did not move partitions of {table['Name']}: "
                           f"{response['Errors'][:3]}")
    return len(partitions)
