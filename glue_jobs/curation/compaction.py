"""The daily compaction: an event day's hourly files into one file a partition
(``glue_jobs/compact_day.py``).

While a day is open, each partition (table, day, symbol) holds one file an event hour at its
hourly location. Once the day has closed, `compact` rewrites each partition as a compacted
generation (``part-0000.parquet``, a new part only before one would pass ``--max-file-mb``),
sorted by the table's time column, and moves the Glue partition there in one catalog call: a
query reads either every row at the old location or every row at the new one, never both and
never neither. The old location is retired, not deleted: a query planned before the switch may
still be reading it, so a later run's `days.sweep_retired` deletes it after the grace period.

It works under the day's lock (`days.DayLock`), the one the hourly run takes to merge into the
same day, so the two never write a day at once. A partition already compacted is left alone:
late rows reach it as a new generation the hourly run writes itself
(`writing.write_partition_rows`); what remains under its hourly location is retired files
awaiting the sweep. So a second run writes nothing.
"""

import argparse
import json
import logging
import os
import secrets
import socket
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, NamedTuple, Optional

import pyarrow as pa
import pyarrow.compute as pc

from . import command
from .days import DayLock, DayState, new_generation, retire, sweep_retired
from .partitions import PARTITIONS_PER_REQUEST, ensure_partitions, s3_location
from .reading import list_keys
from .schemas import MILLIS_PER_DAY
from .settings import JobError, add_common_options, check_prefixes
from .tables import TABLES, CuratedTable, compacted_location, hourly_location
from .writing import MIB, PART_BYTES, by_time, read_parquet, write_generation

logger = logging.getLogger("compact_day")

DAY_FORMAT = "%Y-%m-%d"
DEFAULT_RETIRE_AFTER_MINUTES = 60.0
DEFAULT_MAX_FILE_MB = PART_BYTES / MIB
DEFAULT_WORKERS = 4  # a partition's files fetched at once (S3 round trips, not CPU)


class CompactionSettings(NamedTuple):
    bucket: str
    days: tuple[str, ...]  # event days, YYYY-MM-DD
    manifest_prefix: str
    database: str
    register_partitions: bool
    retire_after_minutes: float
    max_file_bytes: int
    workers: int
    temp_dir: Optional[str]


def parse_day(text: str, option: str) -> date:
    try:
        return datetime.strptime(text, DAY_FORMAT).date()
    except ValueError:
        raise JobError(f"{option} {text!r} is not a day like 2026-11-24") from None


def parse_settings(argv: Sequence[str], today: Optional[date] = None) -> CompactionSettings:
    """The compaction's options; ``today`` (UTC) decides the default day, yesterday."""
    parser = argparse.ArgumentParser(description="compact event days of the curated tables")
    add_common_options(parser)
    parser.add_argument("--day", help="YYYY-MM-DD (UTC event day); default yesterday")
    parser.add_argument("--start-day", help="first day of a backfill (with --end-day)")
    parser.add_argument("--end-day", help="the day after the last of a backfill")
    parser.add_argument("--retire-after-minutes", type=float,
                        default=DEFAULT_RETIRE_AFTER_MINUTES,
                        help="delete replaced files this long after their partition moved")
    parser.add_argument("--max-file-mb", type=float, default=DEFAULT_MAX_FILE_MB,
                        help="a compacted part is cut before it would pass this size")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS)
    # Glue adds arguments of its own (--JOB_ID, --JOB_RUN_ID, --scriptLocation, ...).
    args, _ = parser.parse_known_args(list(argv))
    if (args.start_day is None) != (args.end_day is None):
        raise JobError("--start-day and --end-day go together")
    if args.start_day is not None:
        if args.day is not None:
            raise JobError("give --day or --start-day/--end-day, not both")
        start, end = parse_day(args.start_day, "--start-day"), parse_day(args.end_day, "--end-day")
        if end <= start:
            raise JobError(f"--end-day {args.end_day} is not after --start-day {args.start_day}")
        days = tuple((start + timedelta(days=i)).strftime(DAY_FORMAT)
                     for i in range((end - start).days))
    elif args.day is not None:
        days = (parse_day(args.day, "--day").strftime(DAY_FORMAT),)
    else:
        today = today or datetime.now(timezone.utc).date()
        days = ((today - timedelta(days=1)).strftime(DAY_FORMAT),)
    if args.retire_after_minutes < 0:
        raise JobError(f"--retire-after-minutes {args.retire_after_minutes:g} is negative")
    if args.max_file_mb <= 0:
        raise JobError(f"--max-file-mb {args.max_file_mb:g} is not above 0")
    if args.workers < 1:
        raise JobError(f"--workers {args.workers} is below 1")
    check_prefixes(args)
    return CompactionSettings(args.bucket, days, args.manifest_prefix, args.database,
                              args.register_partitions == "true", args.retire_after_minutes,
                              max(1, round(args.max_file_mb * MIB)), args.workers, args.temp_dir)


# --- one partition ---

class Compacted(NamedTuple):
    """A partition rewritten as a new generation (not yet recorded or visible)."""

    symbol: str
    generation: str
    files_in: int
    files_out: int
    rows: int
    bytes: int


def symbols_of(s3: Any, bucket: str, table: CuratedTable, day: str) -> list[str]:
    """The symbols with a partition directory under the table's day (``P + "dt=D/"``)."""
    prefix = f"{table.prefix}dt={day}/"
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix,
                                                              Delimiter="/"):
        for common in page.get("CommonPrefixes", []):
            name = common["Prefix"][len(prefix):].rstrip("/")
            if name.startswith("symbol="):
                found.append(name[len("symbol="):])
    return sorted(found)


def check_rows(rows: pa.Table, table: CuratedTable, day: str, symbol: str) -> None:
    """Sorted rows of one partition: each time once and inside the day. Anything else means a
    bug upstream (events are curated once by (symbol, event_time); candles and coverage hold a
    row a minute and an hour): `JobError`, and nothing is written."""
    where = f"{table.name} dt={day} symbol={symbol}"
    times = rows[table.time_column]
    if times.null_count:
        raise JobError(f"{where}: {times.null_count} rows without {table.time_column}")
    if rows.num_rows == 0:
        return
    millis = pc.cast(times, pa.int64())
    if rows.num_rows > 1:
        repeated = pc.equal(millis[1:], millis[:-1])
        if pc.any(repeated).as_py():
            at = times[pc.index(repeated, True).as_py()].as_py()
            raise JobError(f"{where}: two rows at {table.time_column} {at}; the partition is "
                           "left as it is")
    start = (datetime.strptime(day, DAY_FORMAT).date() - date(1970, 1, 1)).days * MILLIS_PER_DAY
    first, last = millis[0].as_py(), millis[-1].as_py()
    if first < start or last >= start + MILLIS_PER_DAY:
        raise JobError(f"{where}: a row's {table.time_column} is outside the day "
                       f"({times[0].as_py()} .. {times[-1].as_py()})")


class _Day(NamedTuple):
    """One event day's compaction, under its lock: what every step needs."""

    settings: CompactionSettings
    day: str
    s3: Any
    glue: Any
    catalog_tables: Optional[dict[str, dict[str, Any]]]
    state: DayState
    executor: ThreadPoolExecutor
    clock: Callable[[], float]

    def compact_partition(self, table: CuratedTable, symbol: str) -> Optional[Compacted]:
        """Rewrite one partition's hourly files as a new compacted generation; None when it
        has none. The files are uploaded but nothing points at them yet."""
        bucket, day = self.settings.bucket, self.day
        keys = [key for key in list_keys(self.s3, bucket, hourly_location(table, day, symbol))
                if key.endswith(".parquet")]
        if not keys:
            return None
        read = lambda key: read_parquet(self.s3, bucket, key, table.schema)  # noqa: E731
        tables = [rows for rows in self.executor.map(read, keys) if rows is not None]
        rows = by_time(pa.concat_tables(tables or [table.schema.empty_table()]),
                       table.time_column)
        del tables
        check_rows(rows, table, day, symbol)
        generation = new_generation(self.clock())
        parts = write_generation(self.s3, bucket, table, day, symbol, generation=generation,
                                 rows=rows, max_bytes=self.settings.max_file_bytes,
                                 temp_dir=self.settings.temp_dir)
        return Compacted(symbol, generation, len(keys), len(parts), rows.num_rows,
                         sum(size for _, size in parts))

    def commit(self, table: CuratedTable, done: list[Compacted],
               symbols: Sequence[str] = ()) -> int:
        """Record new generations, move their partitions (and make sure ``symbols``' compacted
        partitions point at their generation), then retire the old locations; returns the
        partitions created or moved."""
        settings, state = self.settings, self.state
        for item in done:
            state.set_generation(table.name, item.symbol, item.generation)
        if done:
            state.save(self.s3)  # a generation exists once the state names it
        moved = 0
        if self.catalog_tables is not None:
            listed = sorted({item.symbol for item in done}
                            | {s for s in symbols if state.generation(table.name, s)})
            locations = [(self.day, symbol, s3_location(settings.bucket, compacted_location(
                table, self.day, symbol, str(state.generation(table.name, symbol)))))
                for symbol in listed]
            if locations:
                moved = ensure_partitions(self.glue, settings.database,
                                          self.catalog_tables[table.name], locations)
        # Only after the catalog points at the new generations: a query planned before may
        # still read the old files, which `sweep_retired` deletes after the grace period.
        retire(self.s3, settings.bucket, settings.manifest_prefix,
               [hourly_location(table, self.day, item.symbol) for item in done], self.clock())
        return moved


def compact(settings: CompactionSettings, day: str, s3: Any, glue: Any, *,
            catalog_tables: Optional[dict[str, dict[str, Any]]] = None,
            clock: Callable[[], float] = time.time,
            lock: Callable[..., DayLock] = DayLock) -> dict[str, Any]:
    """Compact every partition of the three tables for one event day; returns the counts.

    Table by table, in batches of `PARTITIONS_PER_REQUEST` symbols (one catalog call), each
    batch under the day's lock: the day state is read, each partition still at its hourly
    location rewritten as a new generation (one partition in memory at a time), then the new
    generations recorded in the day state, the catalog's partitions moved to them, and the old
    locations retired, in that order. A run stopped anywhere leaves the catalog pointing at a
    location holding every row, and the rerun finishes the work (at worst an unrecorded
    generation is left behind, never read). The lock is let go between batches, so an hourly
    run merging late rows into the day waits for a batch, not for the whole day.
    """
    if settings.register_partitions and catalog_tables is None:
        catalog_tables = command.catalog_tables(glue, settings.database)
    counts: Counter[str] = Counter()
    owner = (f"compact_day {day} {socket.gethostname()}/{os.getpid()} "
             f"{secrets.token_hex(4)}")
    with ThreadPoolExecutor(settings.workers) as executor:
        for table in TABLES:
            # Partitions with files, and compacted ones whose files were all swept.
            compacted = DayState.load(s3, settings.bucket, settings.manifest_prefix,
                                      day).compacted.get(table.name, {})
            symbols = sorted(set(symbols_of(s3, settings.bucket, table, day)) | set(compacted))
            for start in range(0, len(symbols), PARTITIONS_PER_REQUEST):
                batch = symbols[start:start + PARTITIONS_PER_REQUEST]
                with lock(s3, settings.bucket, settings.manifest_prefix, day,
                          owner=owner) as held:
                    state = DayState.load(s3, settings.bucket, settings.manifest_prefix, day)
                    work = _Day(settings, day, s3, glue, catalog_tables, state, executor, clock)
                    done = []
                    for symbol in batch:
                        held.renew_if_due()
                        item = (None if state.generation(table.name, symbol) is not None
                                else work.compact_partition(table, symbol))
                        if item is None:
                            counts["skipped"] += 1
                            continue
                        done.append(item)
                        counts["partitions_compacted"] += 1
                        for name in ("files_in", "files_out", "rows", "bytes"):
                            counts[name] += getattr(item, name)
                    held.renew_if_due()
                    # The batch's partitions compacted earlier too: a run stopped between
                    # recording a generation and moving its partition is finished here.
                    counts["partitions_moved"] += work.commit(table, done, batch)
    summary = {"day": day, **{name: counts[name] for name in (
        "partitions_compacted", "files_in", "files_out", "rows", "bytes", "skipped",
        "partitions_moved")}}
    logger.info("compacted %s: %s", day, json.dumps(summary))
    return summary


# --- the run ---

def run(settings: CompactionSettings, s3: Any = None, glue: Any = None, *,
        clock: Callable[[], float] = time.time) -> dict[str, Any]:
    """Sweep what was retired more than the grace period ago, then compact each day."""
    s3, glue, catalog_tables = command.clients(
        workers=settings.workers, register_partitions=settings.register_partitions,
        database=settings.database, s3=s3, glue=glue)
    started = time.monotonic()
    swept = sweep_retired(s3, settings.bucket, settings.manifest_prefix,
                          older_than_seconds=settings.retire_after_minutes * 60, now=clock())
    days = [compact(settings, day, s3, glue, catalog_tables=catalog_tables, clock=clock)
            for day in settings.days]
    return command.summary("compact_day", settings.bucket, "days", days, started,
                           retired_files_deleted=swept)


def main(argv: Sequence[str]) -> int:
    return command.main("compact_day", argv, parse_settings, run)
