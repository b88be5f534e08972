"""Writing curated Parquet files, and merging new events into a partition exactly once.

Every event of a (symbol, event hour) lives in one file: the hourly file of its partition, or,
once its day is compacted, the partition's compacted generation. New rows are merged into it
(the copy already there wins) by whoever holds the day's lock (`curation.days`); the derived
tables' rows of the same hours are rewritten from the merged events.
"""

import io
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple, Optional, Union

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from botocore.exceptions import ClientError

from .candles import candles
from .coverage import coverage
from .days import GONE, new_generation
from .schemas import CURATED_SCHEMA, MILLIS_PER_HOUR
from .spill import hours
from .tables import (
    CANDLES,
    COVERAGE,
    EVENTS,
    TABLES,
    CuratedTable,
    compacted_key,
    compacted_location,
    hourly_key,
    hourly_location,
)

#: Columns worth a Parquet dictionary: a file holds one symbol, so these hold one value. The others
#: (prices, volumes, instants) are nearly unique; a dictionary for them is built, outgrows its
#: page and is dropped, which made files larger and slower to write
#: (``bench/bench_raw_to_parquet.py --stages`` prints both).
DICTIONARY_COLUMNS = ("event_type", "stream_type")

MIB = 1024 * 1024
#: A compacted partition's files stay under this size (the compaction's ``--max-file-mb``
#: default): Athena reads large files well, and one this size still leaves it splits to share.
PART_BYTES = 128 * MIB
#: A part is cut to this share of the limit by the measured bytes a row, so that it stays under
#: the limit with the part's own footer and page headers.
PART_FILL = 0.95


def parquet_bytes(rows: pa.Table, dictionary: Union[bool, Sequence[str]] = DICTIONARY_COLUMNS,
                  schema: pa.Schema = CURATED_SCHEMA) -> bytes:
    """One file of ``schema``'s columns, Snappy. ``dictionary``: the columns to dictionary-
    encode, or True for all (pyarrow's default, which the benchmark compares)."""
    sink = io.BytesIO()
    pq.write_table(conform(rows, schema), sink, compression="snappy",
                   use_dictionary=dictionary if isinstance(dictionary, bool)
                   else [name for name in dictionary if name in schema.names])
    return sink.getvalue()


def table_bytes(table: CuratedTable, rows: pa.Table) -> bytes:
    """A file of one of the curated tables (only the events have constant text columns)."""
    return parquet_bytes(rows, DICTIONARY_COLUMNS if table is EVENTS else (), table.schema)


def conform(rows: pa.Table, schema: pa.Schema) -> pa.Table:
    """``rows`` with exactly ``schema``'s columns and types; a column the rows lack (an optional
    field added after they were written) is null."""
    columns = [rows[field.name] if field.name in rows.column_names
               else pa.nulls(rows.num_rows, field.type) for field in schema]
    return pa.Table.from_arrays(columns, names=schema.names).cast(schema)


def read_parquet(s3: Any, bucket: str, key: str, schema: pa.Schema) -> Optional[pa.Table]:
    """A curated file's rows as ``schema``, or None when there is no such file."""
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        if str(error.response.get("Error", {}).get("Code")) in GONE:
            return None
        raise
    return conform(pq.read_table(io.BytesIO(body)), schema)


def read_location(s3: Any, bucket: str, prefix: str, schema: pa.Schema) -> pa.Table:
    """Every row of the files at a location (a partition's hourly or compacted one)."""
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(item["Key"] for item in page.get("Contents", [])
                    if item["Key"].endswith(".parquet"))
    tables = [read_parquet(s3, bucket, key, schema) for key in sorted(keys)]
    return pa.concat_tables([t for t in tables if t is not None] or [schema.empty_table()])


def by_time(rows: pa.Table, column: str) -> pa.Table:
    """Rows sorted by a time column (stable: equal times keep their order)."""
    return rows.take(pc.sort_indices(rows, [(column, "ascending")]))


def only_new(rows: pa.Table, existing: pa.Table) -> pa.Table:
    """The rows whose event_time is not among ``existing``'s (one symbol): the copy already
    curated wins, whichever raw hour it came from."""
    if not existing.num_rows:
        return rows
    seen = pc.is_in(rows["event_time"], value_set=existing["event_time"].combine_chunks())
    return rows.filter(pc.invert(seen))


def hour_coverage(events: pa.Table, threshold_ms: int) -> pa.Table:
    """The coverage rows of events (one symbol, sorted): one an event hour that has events."""
    rows = [coverage(part, _hour_start(part), threshold_ms) for _, part in hours(events)]
    return pa.concat_tables(rows) if rows else COVERAGE.schema.empty_table()


def _hour_start(events: pa.Table) -> int:
    first = events["event_time"][0].cast(pa.int64()).as_py()
    return int(first // MILLIS_PER_HOUR * MILLIS_PER_HOUR)


class Merged(NamedTuple):
    """What merging one partition's new rows did."""

    rows_new: int  # rows curated for the first time
    rows_already_curated: int  # copies of rows already in the partition (from other raw hours)
    files_written: int
    generations: dict[str, str]  # table name -> the new generation, when one was written
    retired: list[str]  # the locations the new generations replace


def write_partition_rows(s3: Any, bucket: str, day: str, symbol: str, rows: pa.Table, *,
                         generations: dict[str, Optional[str]], threshold_ms: int,
                         now: float) -> Merged:
    """Merge the new ``rows`` (one event day and symbol, ordered by event time, no two at the
    same time) into the partition's files of the three tables; call it under the day's lock.

    ``generations``: each table's compacted generation from the day state (None: at its hourly
    location). At the hourly locations, each event hour's file is read, the rows not already in
    it added, and, only if there were any, the hour's files rewritten: candles and coverage
    first, the events last, so a run stopped in between leaves the events without the rows and
    the rerun does it all again. Once any table of the partition is compacted, the whole day is
    merged into a new generation of all three tables (a replay or backfill after the day closed);
    the caller records the generations, switches the catalog and retires the old locations.
    """
    events = conform(rows, EVENTS.schema)
    if any(generations.get(t.name) for t in TABLES):
        return _merge_compacted(s3, bucket, day, symbol, events, generations=generations,
                                threshold_ms=threshold_ms, generation=new_generation(now))
    new = already = written = 0
    for hour, part in hours(events):
        existing = read_parquet(s3, bucket, hourly_key(EVENTS, day, symbol, hour), EVENTS.schema)
        fresh = only_new(part, existing) if existing is not None else part
        already += part.num_rows - fresh.num_rows
        if not fresh.num_rows:
            continue
        new += fresh.num_rows
        union = fresh if existing is None else by_time(
            pa.concat_tables([existing, fresh]), EVENTS.time_column)
        derived = ((CANDLES, candles(union)),
                   (COVERAGE, coverage(union, _hour_start(union), threshold_ms)))
        for table, table_rows in (*derived, (EVENTS, union)):
            s3.put_object(Bucket=bucket, Key=hourly_key(table, day, symbol, hour),
                          Body=table_bytes(table, table_rows))
            written += 1
    return Merged(new, already, written, {}, [])


def _merge_compacted(s3: Any, bucket: str, day: str, symbol: str, events: pa.Table, *,
                     generations: dict[str, Optional[str]], threshold_ms: int,
                     generation: str) -> Merged:
    def location(table: CuratedTable) -> str:
        current = generations.get(table.name)
        return (compacted_location(table, day, symbol, current) if current
                else hourly_location(table, day, symbol))

    existing = read_location(s3, bucket, location(EVENTS), EVENTS.schema)
    fresh = only_new(events, existing)
    if not fresh.num_rows:
        return Merged(0, events.num_rows, 0, {}, [])
    union = by_time(pa.concat_tables([existing, fresh]), EVENTS.time_column)
    written = 0
    for table, table_rows in ((CANDLES, candles(union)),
                              (COVERAGE, hour_coverage(union, threshold_ms)),
                              (EVENTS, union)):
        written += len(write_generation(s3, bucket, table, day, symbol, generation=generation,
                                         rows=table_rows))
    return Merged(fresh.num_rows, events.num_rows - fresh.num_rows, written,
                  {table.name: generation for table in TABLES},
                  [location(table) for table in TABLES])


def write_generation(s3: Any, bucket: str, table: CuratedTable, day: str, symbol: str, *,
                     generation: str, rows: pa.Table, max_bytes: int = PART_BYTES,
                     temp_dir: Optional[str] = None) -> list[tuple[str, int]]:
    """Write a partition's rows (sorted by the table's time column) as a compacted generation
    (`write_parts`, uploaded); returns each part's key and size."""
    written = []
    with tempfile.TemporaryDirectory(dir=temp_dir) as directory:
        for number, path in enumerate(write_parts(rows, table, max_bytes, directory)):
            key = compacted_key(table, day, symbol, generation, number)
            with open(path, "rb") as body:
                s3.put_object(Bucket=bucket, Key=key, Body=body)
            written.append((key, path.stat().st_size))
    return written


def write_parts(rows: pa.Table, table: CuratedTable, max_bytes: int, directory: str
                ) -> list[Path]:
    """Write sorted rows as Parquet parts in ``directory`` (``part-0000.parquet``, ...), each at
    most ``max_bytes`` unless a single row is larger; returns the files in order (at least one,
    so a generation is never an empty location).

    The rows are written whole first: the usual case, a day of one symbol, fits. Otherwise the
    whole file's measured bytes a row say how many rows a part takes, and a part that still
    comes out too large (a part repeats the file's fixed overhead) is written again with fewer.
    """
    folder = Path(directory)
    whole = _write_file(rows, table, folder / "part-0000.parquet")
    if whole.stat().st_size <= max_bytes or rows.num_rows <= 1:
        return [whole]
    part_rows = max(1, int(max_bytes * PART_FILL * rows.num_rows / whole.stat().st_size))
    parts: list[Path] = []
    start = 0
    while start < rows.num_rows:
        count = min(part_rows, rows.num_rows - start)
        path = _write_file(rows.slice(start, count), table,
                           folder / f"part-{len(parts):04d}.parquet")
        size = path.stat().st_size
        if size > max_bytes and count > 1:
            part_rows = max(1, min(count - 1, int(count * max_bytes * PART_FILL / size)))
            continue
        parts.append(path)
        start += count
    return parts


def _write_file(rows: pa.Table, table: CuratedTable, path: Path) -> Path:
    """One Parquet file of the table, as the hourly run writes its files."""
    path.write_bytes(table_bytes(table, rows))
    return path
