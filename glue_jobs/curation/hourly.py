"""The hourly run: raw hours in, the curated tables out (``glue_jobs/raw_to_parquet.py``).

For a raw hour it reads the gzip JSON lines Firehose wrote under
``<raw-prefix>dt=YYYY-MM-DD/hour=HH/``, validates every line with the record contract, sets bad
lines aside under ``<quarantine-prefix>`` with the reason and the source object, drops the
hour's own duplicates, and merges its rows into the curated tables exactly once: for each event
day it touched, under that day's lock, each (symbol, event hour)'s file keeps the copy already
there and gains only rows it lacks (`curation.writing.write_partition_rows`). Parsing, which is
most of the work, happens before any lock is taken. Nothing here knows whether S3 is AWS: boto3
takes ``AWS_ENDPOINT_URL`` as usual.
"""

import json
import os
import secrets
import socket
import tempfile
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import datetime
from typing import Any, Callable, NamedTuple, Optional, TypeVar

import pyarrow as pa

from miniticker import layout

from . import command
from .days import DayLock, DayState, retire
from .partitions import ensure_partitions, s3_location
from .reading import in_order, list_keys, pieces
from .settings import HOUR_FORMAT, Settings, parse_settings
from .spill import Spill, read_spilled, unique_runs
from .tables import TABLES, CuratedTable, compacted_location, hourly_location
from .validation import Parsed, Rejected, parse_piece, quarantine_document
from .writing import Merged, write_partition_rows

T = TypeVar("T")
R = TypeVar("R")


class HourSummary(NamedTuple):
    hour: str
    files_read: int
    lines: int  # valid + quarantined
    duplicates: int  # copies within this raw hour, dropped before the merge
    rows_new: int  # curated for the first time by this run
    rows_already_curated: int  # copies of events another raw hour (or an earlier run) curated
    quarantined: int
    damaged_files: int
    pieces_checked_line_by_line: int
    files_written: int  # curated files (of the three tables) written
    quarantine_files: int
    partitions_registered: int  # catalog partitions created or moved (three tables)


def _parse_object(s3: Any, bucket: str, key: str) -> list[Parsed]:
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    try:
        return [parse_piece(piece) for piece in pieces(body, key)]
    finally:
        body.close()


def convert_hour(settings: Settings, hour: datetime, s3: Any, glue: Any,
                 tables: Optional[dict[str, dict[str, Any]]]) -> HourSummary:
    """One raw hour end to end; ``tables``: the curated tables' catalog entries by name, or
    None not to register partitions."""
    keys = [k for k in list_keys(s3, settings.bucket,
                                 layout.raw_hour_prefix(settings.raw_prefix, hour))
            if not k.endswith("/")]
    counts: Counter[str] = Counter()
    quarantine: dict[str, list[Rejected]] = {}
    with tempfile.TemporaryDirectory(dir=settings.temp_dir) as directory, \
            ThreadPoolExecutor(settings.workers) as executor:
        spill = Spill(directory)
        work = lambda key: _parse_object(s3, settings.bucket, key)  # noqa: E731
        for key, parsed in in_order(executor, keys, work, ahead=settings.workers * 2):
            counts["files_read"] += 1
            damaged = False
            for part in parsed:
                spill.add(part.rows)
                counts["valid"] += part.rows.num_rows
                counts["line_by_line"] += part.slow
                if part.rejected:
                    quarantine.setdefault(key, []).extend(part.rejected)
                damaged = damaged or part.damaged
            counts["damaged_files"] += damaged
        by_day = spill.close()
        owner = (f"raw_to_parquet {hour.strftime(HOUR_FORMAT)} "
                 f"{socket.gethostname()}/{os.getpid()} {secrets.token_hex(4)}")
        for day in sorted(by_day):
            counts.update(merge_day(settings, s3, day, by_day[day], glue=glue, tables=tables,
                                    executor=executor, owner=owner))
    quarantine_keys = []
    for source, rejected in sorted(quarantine.items()):
        key = quarantine_key(settings, hour, source)
        s3.put_object(Bucket=settings.bucket, Key=key, Body=quarantine_document(rejected))
        quarantine_keys.append(key)
    quarantined = sum(len(r) for r in quarantine.values())
    summary = HourSummary(
        hour.strftime(HOUR_FORMAT), counts["files_read"], counts["valid"] + quarantined,
        counts["duplicates"], counts["rows_new"], counts["rows_already_curated"], quarantined,
        counts["damaged_files"], counts["line_by_line"], counts["files_written"],
        len(quarantine_keys), counts["partitions_registered"])
    _replace_manifest(settings, hour, s3, quarantine_keys, summary)
    return summary


def merge_day(settings: Settings, s3: Any, day: str, paths: Sequence[str], *, glue: Any,
              tables: Optional[dict[str, dict[str, Any]]], executor: ThreadPoolExecutor,
              owner: str) -> Counter[str]:
    """Merge a raw hour's rows of one event day (de-duplicated, in ``paths``, a few symbols a
    file) into the day's partitions under the day's lock; returns the counts.

    Glue runs of other raw hours may be merging into the same day at the same moment (and the
    daily compaction may be rewriting it): the lock makes them take turns, per day, so runs for
    different days never wait for each other. Partitions are merged in parallel, a file's worth
    at a time; the lease is renewed between them when due.
    """
    counts: Counter[str] = Counter()
    touched: list[str] = []
    retired: list[str] = []
    with DayLock(s3, settings.bucket, settings.manifest_prefix, day, owner=owner) as held:
        state = DayState.load(s3, settings.bucket, settings.manifest_prefix, day)

        def partitions() -> Iterator[tuple[str, pa.Table]]:
            for path in paths:  # read back one file at a time: memory holds a few symbols
                unique, duplicates = unique_runs(read_spilled(path))
                counts["duplicates"] += duplicates
                for _, symbol, rows in unique:
                    held.renew_if_due()
                    yield symbol, rows

        def merge(item: tuple[str, pa.Table]) -> tuple[str, Merged]:
            symbol, rows = item
            generations = {t.name: state.generation(t.name, symbol) for t in TABLES}
            return symbol, write_partition_rows(
                s3, settings.bucket, day, symbol, rows, generations=generations,
                threshold_ms=settings.silence_threshold_ms, now=time.time())

        for symbol, merged in _bounded(executor, partitions(), merge, settings.workers * 2):
            touched.append(symbol)
            counts["rows_new"] += merged.rows_new
            counts["rows_already_curated"] += merged.rows_already_curated
            counts["files_written"] += merged.files_written
            for name, generation in merged.generations.items():
                state.set_generation(name, symbol, generation)
            retired.extend(merged.retired)
        held.renew_if_due()
        if retired:  # a new generation exists only once the state names it
            state.save(s3)
        if tables is not None:
            for curated in TABLES:
                locations = [(day, symbol, s3_location(settings.bucket, location(
                    curated, day, symbol, state.generation(curated.name, symbol))))
                    for symbol in sorted(touched)]
                counts["partitions_registered"] += ensure_partitions(
                    glue, settings.database, tables[curated.name], locations)
        # Only after the catalog points at the new generations: a query planned before may
        # still read the old files, so they go later (`days.sweep_retired`).
        retire(s3, settings.bucket, settings.manifest_prefix, retired, time.time())
    return counts


def location(table: CuratedTable, day: str, symbol: str, generation: Optional[str]) -> str:
    """A partition's current location: its compacted generation's, or the hourly one."""
    return (compacted_location(table, day, symbol, generation) if generation
            else hourly_location(table, day, symbol))


def _bounded(executor: ThreadPoolExecutor, items: Iterable[T], work: Callable[[T], R],
             ahead: int) -> Iterator[R]:
    """``work(item)`` on the pool for items drawn lazily, results in order, ``ahead`` in
    flight (so only that many items are in memory). If anything fails, the work already
    started finishes before the failure goes on: nothing writes after the day's lock is
    released."""
    running: deque[Future[R]] = deque()
    try:
        for item in items:
            running.append(executor.submit(work, item))
            if len(running) >= ahead:
                yield running.popleft().result()
        while running:
            yield running.popleft().result()
    finally:
        for future in running:
            future.cancel()
        wait(running)


def quarantine_key(settings: Settings, hour: datetime, source: str) -> str:
    return (f"{settings.quarantine_prefix}{layout.hour_path(hour)}"
            f"{source.rsplit('/', 1)[-1]}.rejected.jsonl")


def manifest_key(settings: Settings, hour: datetime) -> str:
    return f"{settings.manifest_prefix}{hour.strftime(HOUR_FORMAT)}.json"


def _replace_manifest(settings: Settings, hour: datetime, s3: Any, quarantine: list[str],
                      summary: HourSummary) -> None:
    """Record the hour's quarantine documents and summary; delete the documents an earlier run
    wrote and this one did not (the hour's input changed), so a rerun leaves exactly its own.
    Curated files belong to no raw hour: they are merged into, never replaced by an hour.

    A manifest of the layout before (``outputs``: curated files a raw hour wrote, one a day and
    symbol) names files the new layout no longer reads: a rerun of the hour deletes them too.
    """
    key = manifest_key(settings, hour)
    try:
        previous = json.loads(s3.get_object(Bucket=settings.bucket, Key=key)["Body"].read())
    except s3.exceptions.NoSuchKey:
        previous = {}
    for stale in sorted(set(previous.get("quarantine", previous.get("outputs", [])))
                        - set(quarantine)):
        s3.delete_object(Bucket=settings.bucket, Key=stale)
    s3.put_object(Bucket=settings.bucket, Key=key,
                  Body=json.dumps({"hour": hour.strftime(HOUR_FORMAT),
                                   "quarantine": sorted(quarantine),
                                   "summary": summary._asdict()}, indent=1).encode())


# --- the run ---

def run(settings: Settings, s3: Any = None, glue: Any = None) -> dict[str, Any]:
    s3, glue, tables = command.clients(
        workers=settings.workers, register_partitions=settings.register_partitions,
        database=settings.database, s3=s3, glue=glue)
    started = time.monotonic()
    hours = [convert_hour(settings, hour, s3, glue, tables)._asdict() for hour in settings.hours]
    return command.summary("raw_to_parquet", settings.bucket, "hours", hours, started)


def main(argv: Sequence[str]) -> int:
    return command.main("raw_to_parquet", argv, parse_settings, run)
