"""Valid rows on local disk by symbol, read back a few symbols at a time and de-duplicated.

A raw hour of the whole market does not fit a 1/16-DPU worker's memory; its valid rows wait in
LZ4-compressed Arrow IPC files, a file a symbol (or a few), and each file is then handled alone:
de-duplicated, then split by event day (`split_by_day`), so that the merge into a day's curated
files, under the day's lock, reads back one file of that day at a time and parses nothing.
"""

import os
import zlib
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import ipc

from .schemas import MILLIS_PER_HOUR, SPILL_SCHEMA, all_true

MAX_SPILL_FILES = 256  # a spill file a symbol up to this many (open files stay few)


class Spill:
    """Valid rows on local disk, a file a symbol (LZ4-compressed Arrow IPC streams).

    Past ``max_files`` symbols (the whole market), further symbols share files by CRC-32, so
    open files stay bounded. Read back one file at a time: memory holds one symbol's hour.
    """

    def __init__(self, directory: str, max_files: int = MAX_SPILL_FILES) -> None:
        self.directory = directory
        self.max_files = max_files
        self._file_of: dict[str, int] = {}
        self._writers: dict[int, Any] = {}

    def _file(self, symbol: str) -> int:
        number = self._file_of.get(symbol)
        if number is None:
            number = len(self._file_of) if len(self._file_of) < self.max_files \
                else zlib.crc32(symbol.encode()) % self.max_files
            self._file_of[symbol] = number
        return number

    def add(self, rows: pa.Table) -> None:
        if not rows.num_rows:
            return
        symbols = pc.dictionary_encode(rows["symbol"]).combine_chunks()
        file_of = pa.array([self._file(s) for s in symbols.dictionary.to_pylist()], pa.int32())
        if len(file_of) == 1:
            self._writer(file_of[0].as_py()).write_table(rows)
            return
        row_files = pc.take(file_of, symbols.indices)
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

    def close(self) -> list[str]:
        """Finish writing; the spill files, each to be read once with `read_spilled`."""
        for writer in self._writers.values():
            writer.close()
        paths = [self._path(number) for number in sorted(self._writers)]
        self._writers.clear()
        return paths


def read_spilled(path: str) -> pa.Table:
    """A spill file's rows, in the order they were added; the file is removed."""
    with pa.OSFile(path) as source:  # read, not mapped: mapped pages would count as memory
        table = ipc.open_stream(source).read_all()
    os.remove(path)
    return table


def deduplicate(rows: pa.Table) -> tuple[pa.Table, int]:
    """One row per (symbol, event_time), ordered by them; the first in arrival order wins.

    Rows usually come in order already (one symbol, times increasing): that is checked in one
    pass, and only rows out of order or repeated pay for the (stable) sort.
    """
    count = rows.num_rows
    if count < 2:
        return rows, 0
    symbol = rows["symbol"].combine_chunks()
    event_time = rows["event_time"].combine_chunks()
    if all_true(pc.equal(symbol[1:], symbol[:-1])) and all_true(
            pc.greater(event_time[1:], event_time[:-1])):
        return rows, 0
    order = pc.sort_indices(rows, sort_keys=[("symbol", "ascending"),
                                             ("event_time", "ascending")])
    rows = rows.take(order)
    symbol = rows["symbol"].combine_chunks()
    event_time = rows["event_time"].combine_chunks()
    changed = pc.or_(pc.not_equal(symbol[1:], symbol[:-1]),
                     pc.not_equal(event_time[1:], event_time[:-1]))
    kept = rows.filter(pa.concat_arrays([pa.array([True]), changed]))
    return kept, count - kept.num_rows


def groups(rows: pa.Table) -> Iterator[tuple[str, str, pa.Table]]:
    """(day, symbol, rows) runs of rows ordered by symbol and event time (zero-copy slices)."""
    keys = pc.binary_join_element_wise(rows["dt"], rows["symbol"], "/")
    offset = 0
    for run in pc.value_counts(keys):  # in order of first appearance: the runs, in order
        count = run["counts"].as_py()
        day, symbol = run["values"].as_py().split("/")
        yield day, symbol, rows.slice(offset, count)
        offset += count


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


def split_by_day(path: str) -> tuple[dict[str, str], int]:
    """Read a spill file, de-duplicate it and write its rows again a file an event day (beside
    it, ``NNNN-dt=YYYY-MM-DD.arrow``, rows still ordered by symbol and event time); returns the
    files by day and the duplicates dropped. The spill file is removed."""
    rows, duplicates = deduplicate(read_spilled(path))
    by_day: dict[str, list[pa.Table]] = {}
    for day, _, group in groups(rows):
        by_day.setdefault(day, []).append(group)
    files = {}
    stem = path[:-len(".arrow")] if path.endswith(".arrow") else path
    for day, parts in by_day.items():
        files[day] = f"{stem}-dt={day}.arrow"
        with ipc.new_stream(files[day], SPILL_SCHEMA,
                            options=ipc.IpcWriteOptions(compression="lz4")) as writer:
            for part in parts:
                writer.write_table(part)
    return files, duplicates
