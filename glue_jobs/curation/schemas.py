"""The curated dataset's Arrow types and schemas, derived from the record contract.

Each schema is a function of a field tuple, `FIELDS` by default: the job runs on today's record,
and a test runs it on the record plus a field added later (tests/test_schema_evolution.py).
Every column is nullable in Arrow and Parquet, as Glue's columns are; an optional field's is null
where a line lacks it. That a *required* field is present is checked when lines are read
(`validation.read_json_lines`), not by the schema.
"""

import functools
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from miniticker import DECIMAL_PRECISION, DECIMAL_SCALE, FIELDS, FieldKind, FieldSpec, catalog

PARTITION_KEYS = catalog.CURATED_PARTITION_KEYS
DECIMAL_TYPE = pa.decimal128(DECIMAL_PRECISION, DECIMAL_SCALE)
TIMESTAMP_TYPE = pa.timestamp("ms", tz="UTC")
ARROW_TYPES = {FieldKind.TEXT: pa.string(), FieldKind.EPOCH_MILLIS: TIMESTAMP_TYPE,
               FieldKind.DECIMAL: DECIMAL_TYPE}
Fields = tuple[FieldSpec, ...]


@functools.cache
def curated_schema(fields: Fields = FIELDS) -> pa.Schema:
    """The events' Parquet columns: every field but the partition keys (``dt`` and ``symbol``,
    which are in the path): decimals exact, epoch milliseconds as UTC timestamps."""
    return pa.schema([(f.name, ARROW_TYPES[f.kind]) for f in fields
                      if f.name not in PARTITION_KEYS])


@functools.cache
def raw_schema(fields: Fields = FIELDS) -> pa.Schema:
    """How the JSON lines are read: epoch fields as integers, everything else as text."""
    return pa.schema([(f.name, pa.int64() if f.kind is FieldKind.EPOCH_MILLIS else pa.string())
                      for f in fields])


@functools.cache
def spill_schema(fields: Fields = FIELDS) -> pa.Schema:
    """Valid rows as they wait on local disk: every field typed, plus the event's day."""
    return pa.schema([(f.name, ARROW_TYPES[f.kind]) for f in fields] + [("dt", pa.string())])


CURATED_SCHEMA = curated_schema()
RAW_SCHEMA = raw_schema()
SPILL_SCHEMA = spill_schema()
DECIMALS = tuple(f.name for f in FIELDS if f.kind is FieldKind.DECIMAL)
EPOCHS = tuple(f.name for f in FIELDS if f.kind is FieldKind.EPOCH_MILLIS)
MILLIS_PER_HOUR = 3_600_000
MILLIS_PER_DAY = 86_400_000


def all_true(mask: Any) -> bool:
    """Whether a boolean array (or chunked array) holds only true. Nulls (an optional field's
    value absent) are skipped; no value at all is vacuously true (``min_count=0``: Arrow's
    default answers null, which read as false and sent a piece whose optional column is all
    null down the slow path)."""
    return bool(pc.all(mask, min_count=0).as_py())
