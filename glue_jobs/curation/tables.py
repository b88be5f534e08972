"""The three curated tables and where each partition's files live (see the README's layout).

A partition (event day, symbol) of a table has a directory; its files are either at the hourly
location (one file an event hour, merged into as raw hours arrive) or, once the day is compacted,
at a compacted location of one generation. One location never contains another, and the Glue
partition points at exactly one: a reader sees each row once whichever it reads.
"""

from typing import NamedTuple

import pyarrow as pa

from miniticker import catalog, layout

from .candles import CANDLES_SCHEMA
from .coverage import COVERAGE_SCHEMA
from .schemas import CURATED_SCHEMA


class CuratedTable(NamedTuple):
    name: str  # the Glue table
    prefix: str  # its files' prefix in the bucket
    schema: pa.Schema  # the Parquet files' columns (dt and symbol are in the path)
    time_column: str  # rows are sorted by it within a partition


EVENTS = CuratedTable(catalog.CURATED_TABLE, layout.CURATED_PREFIX, CURATED_SCHEMA, "event_time")
CANDLES = CuratedTable(catalog.CANDLES_TABLE, layout.CANDLES_PREFIX, CANDLES_SCHEMA, "minute")
COVERAGE = CuratedTable(catalog.COVERAGE_TABLE, layout.COVERAGE_PREFIX, COVERAGE_SCHEMA, "hour")
TABLES = (EVENTS, CANDLES, COVERAGE)

HOURLY = "hourly/"
COMPACTED = "compacted-"


def partition_dir(table: CuratedTable, day: str, symbol: str) -> str:
    return f"{table.prefix}dt={day}/symbol={symbol}/"


def hourly_location(table: CuratedTable, day: str, symbol: str) -> str:
    return partition_dir(table, day, symbol) + HOURLY


def hourly_key(table: CuratedTable, day: str, symbol: str, hour: int) -> str:
    """The file of one event hour (0..23 of ``day``)."""
    return f"{hourly_location(table, day, symbol)}{hour:02d}.parquet"


def compacted_location(table: CuratedTable, day: str, symbol: str, generation: str) -> str:
    return f"{partition_dir(table, day, symbol)}{COMPACTED}{generation}/"


def compacted_key(table: CuratedTable, day: str, symbol: str, generation: str, part: int) -> str:
    return f"{compacted_location(table, day, symbol, generation)}part-{part:04d}.parquet"
