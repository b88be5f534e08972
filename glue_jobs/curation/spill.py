"""Valid rows on local disk by symbol, read back a few symbols at a time and de-duplicated.

A raw hour of the whole market does not fit a 1/16-DPU worker's memory; its valid rows wait in
LZ4-compressed Arrow IPC files, a file an event day and symbol (or a few symbols), so that the
merge into a day's curated files, under the day's lock, reads back one file of that day at a
time, de-duplicates it (`unique_order`) and parses nothing.
"""

import os
import zlib
from collections.abc import Iterator
from typing import Any, Optional

import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import ipc

from .schemas import MILLIS_PER_HOUR, SPILL_SCHEMA, all_true

MAX_SPILL_FILES = 256  # a spill file a symbol up to this many (open files stay few)


class Spill:
    """Valid rows on local disk, a file an event day and symbol (LZ4-compressed Arrow IPC).

    Every file holds one event day, so the merge into a day reads only that day's files. Past
    ``max_files`` (day, symbol) pairs (the whole market), further symbols share the files of
    their day by CRC-32, so open files stay bounded (a day new by then gets one file of its
    own). Read back one file at a time: memory holds one symbol's day of the hour.
    """

    def __init__(self, directory: str, max_files: int = MAX_SPILL_FILES) -> None:
        self.directory = directory
        self.max_files = max_files
        self._file_of: dict[str, int] = {}  # "day/symbol" -> file number
        self._day_files: dict[str, list[int]] = {}
        self._day_of: dict[int, str] = {}
        self._writers: dict[int, Any] = {}

    def _file(self, key: str) -> int:
        number = self._file_of.get(key)
        if number is None:
            day, symbol = key.split("/")
            files = self._day_files.setdefault(day, [])
            if len(self._file_of) < self.max_files or not files:
                number = len(self._day_of)
                files.append(number)
                self._day_of[number] = day
            else:
                number = files[zlib.crc32(symbol.encode()) % len(files)]
            self._file_of[key] = number
        return number

    def add(self, rows: pa.Table) -> None:
        if not rows.num_rows:
            return
        keys = pc.dictionary_encode(
            pc.binary_join_element_wise(rows["dt"], rows["symbol"], "/")).combine_chunks()
        file_of = pa.array([self._file(k) for k in keys.dictionary.to_pylist()], pa.int32())
        if len(file_of) == 1:
            self._writer(file_of[0].as_py()).write_table(rows)
            return
        row_files = pc.take(file_of, keys.indices)
        order = pc.sort_indices(row_files)  # stable: each file keeps the rows' order
        rows, row_files = rows.take(order), row_files.take(order)
        offset = 0
        for run in pc.value_counts(row_files):  # runs of one file, in ascending order
            count = run["counts"].as_py()
            self._writer(run["values"].as_py()).write_table(rows.slice(offset, count))
            offset += count

    def _writer(self, number: int) -> Any:
        writer = self._writers.get(number)
        if writer is None:
            writer = self._writers[number] = ipc.new_stream(
                self._path(number), SPILL_SCHEMA,
                options=ipc.IpcWriteOptions(compression="lz4"))
        return writer

    def _path(self, number: int) -> str:
        return os.path.join(self.directory, f"{number:04d}.arrow")

    def close(self) -> dict[str, list[str]]:
        """Finish writing; the spill files by event day, each to be read once with
        `read_spilled`."""
        for writer in self._writers.values():
            writer.close()
        by_day: dict[str, list[str]] = {}
        for number in sorted(self._writers):
            by_day.setdefault(self._day_of[number], []).append(self._path(number))
        self._writers.clear()
        return by_day


def read_spilled(path: str) -> pa.Table:
    """A spill file's rows, in the order they were added; the file is removed."""
    with pa.OSFile(path) as source:  # read, not mapped: mapped pages would count as memory
        table = ipc.open_stream(source).read_all()
    os.remove(path)
    return table


def unique_runs(rows: pa.Table) -> tuple[Iterator[tuple[str, str, pa.Table]], int]:
    """A spill file's rows as (day, symbol, rows) runs, one row per (symbol, event_time),
    ordered by them, and the number of copies dropped. Rows are taken in their new order a run
    at a time, so memory holds the file and one run's copy, not a second copy of the file."""
    order = unique_order(rows)
    if order is None:
        return groups(rows), 0
    keys = rows.select(["dt", "symbol"]).take(order)

    def taken() -> Iterator[tuple[str, str, pa.Table]]:
        for day, symbol, offset, count in runs(keys):
            yield day, symbol, rows.take(order.slice(offset, count))
    return taken(), rows.num_rows - len(order)


def unique_order(rows: pa.Table) -> Optional[pa.Array]:
    """The indices of one row per (symbol, event_time), ordered by them, the first in arrival
    order winning; None when the rows are in that order already with no copies.

    Rows usually come in order already (one symbol, times increasing): that is checked in one
    pass, and only rows out of order or repeated pay for the (stable) sort, of the two key
    columns alone.
    """
    if rows.num_rows < 2:
        return None
    symbol = rows["symbol"].combine_chunks()
    event_time = rows["event_time"].combine_chunks()
    if all_true(pc.equal(symbol[1:], symbol[:-1])) and all_true(
            pc.greater(event_time[1:], event_time[:-1])):
        return None
    keys = pa.table({"symbol": symbol, "event_time": event_time})
    order = pc.sort_indices(keys, sort_keys=[("symbol", "ascending"),
                                             ("event_time", "ascending")])  # stable
    keys = keys.take(order)
    symbol, event_time = keys["symbol"].combine_chunks(), keys["event_time"].combine_chunks()
    changed = pc.or_(pc.not_equal(symbol[1:], symbol[:-1]),
                     pc.not_equal(event_time[1:], event_time[:-1]))
    return order.filter(pa.concat_arrays([pa.array([True]), changed]))


def deduplicate(rows: pa.Table) -> tuple[pa.Table, int]:
    """One row per (symbol, event_time), ordered by them (`unique_order`), and the number of
    copies dropped."""
    order = unique_order(rows)
    if order is None:
        return rows, 0
    return rows.take(order), rows.num_rows - len(order)


def runs(rows: pa.Table) -> Iterator[tuple[str, str, int, int]]:
    """(day, symbol, offset, count) of each run of rows ordered by symbol and event time."""
    keys = pc.binary_join_element_wise(rows["dt"], rows["symbol"], "/")
    offset = 0
    for run in pc.value_counts(keys):  # in order of first appearance: the runs, in order
        count = run["counts"].as_py()
        day, symbol = run["values"].as_py().split("/")
        yield day, symbol, offset, count
        offset += count


def groups(rows: pa.Table) -> Iterator[tuple[str, str, pa.Table]]:
    """(day, symbol, rows) runs of rows ordered by symbol and event time (zero-copy slices)."""
    for day, symbol, offset, count in runs(rows):
        yield day, symbol, rows.slice(offset, count)


def hours(rows: pa.Table) -> Iterator[tuple[int, pa.Table]]:
    """(event hour 0..23, rows) runs of one (day, symbol) group's rows, ordered by event time
    (zero-copy slices): each hour's rows go to that hour's file."""
    hour = pc.cast(pc.divide(pc.cast(rows["event_time"], pa.int64()), MILLIS_PER_HOUR),
                   pa.int64())
    offset = 0
    for run in pc.value_counts(hour):
        count = run["counts"].as_py()
        yield run["values"].as_py() % 24, rows.slice(offset, count)
        offset += count
