"""raw_to_parquet: raw mini-ticker hours into the curated Parquet dataset (DESIGN §2.3, §3.3).

A Glue Python shell job (Python 3.9, pyarrow), and a command:

    python glue_jobs/raw_to_parquet.py --bucket B [--hour 2026-11-24T10] [--hours N]
    python glue_jobs/raw_to_parquet.py --bucket B --start 2026-11-24T00 --end 2026-11-24T06

One run converts each raw hour (``--hour``, default the last complete UTC hour; ``--hours N``:
the N hours ending with it; ``--start``/``--end``: every hour from start up to, not including,
end). For an hour it reads the gzip JSON lines Firehose wrote under
``<raw-prefix>dt=YYYY-MM-DD/hour=HH/``, validates every line with the record contract, sets bad
lines aside under ``<quarantine-prefix>`` with the reason and the source object, drops
duplicates by ``(symbol, event_time)``, and writes Snappy Parquet, one file per event day and
symbol, ``<curated-prefix>dt=YYYY-MM-DD/symbol=SYMBOL/raw-hour=YYYY-MM-DDTHH.parquet``: a
deterministic name, so a rerun of the hour replaces its own output (and deletes what it no longer
writes, from the hour's manifest). Events land in the partition of their own event day. New
partitions are registered in the Glue catalog table. The run logs and returns a summary.

Memory stays bounded whatever the hour's size: files are decompressed in pieces of whole lines,
each piece is parsed and validated as one Arrow table (C++; a piece with anything unusual is
checked line by line with the contract, which decides), and the valid rows are spilled to local
disk in buckets of symbols; each bucket is then read back alone, de-duplicated and written.
Nothing here knows whether S3 is AWS: boto3 takes ``AWS_ENDPOINT_URL`` as usual.

Python 3.9: write ``Optional``/``Union``, not ``X | Y`` (tests/test_python39.py).
"""

import argparse
import io
import json
import logging
import os
import resource
import sys
import tempfile
import time
import zlib
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NamedTuple, Optional, Union

import boto3
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj
import pyarrow.parquet as pq
from botocore.config import Config
from pyarrow import ipc

# Glue ships the contract next to this script (--extra-py-files); run from the repository, the
# repository root holds it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from miniticker import (
    DECIMAL_PATTERN,
    DECIMAL_PRECISION,
    DECIMAL_SCALE,
    EVENT_TYPE,
    FIELDS,
    MAX_EPOCH_MILLIS,
    MINI_TICKER_SUFFIX,
    SYMBOL_MAX_LENGTH,
    FieldKind,
    InvalidMiniTicker,
    catalog,
    layout,
    parse_json_line,
)

logger = logging.getLogger("raw_to_parquet")

DEFAULTS = {
    "raw_prefix": layout.RAW_PREFIX,
    "curated_prefix": layout.CURATED_PREFIX,
    "quarantine_prefix": layout.QUARANTINE_PREFIX,
    "manifest_prefix": layout.MANIFEST_PREFIX,
    "database": "crypto_live_db",
    "table": catalog.CURATED_TABLE,
}
PIECE_BYTES = 32 * 1024 * 1024  # decompressed text parsed at once (whole lines)
READ_BYTES = 1024 * 1024  # compressed bytes read from S3 at once
MAX_SPILL_FILES = 256  # a spill file a symbol up to this many (open files stay few)
PARTITIONS_PER_REQUEST = 100  # Glue BatchCreatePartition's limit
HOUR_FORMAT = "%Y-%m-%dT%H"

# --- the curated schema, from the contract --------------------------------------------------

#: The Parquet file's columns: every contract field but the partition keys (``dt`` and
#: ``symbol``, which are in the path): decimals exact, epoch milliseconds as UTC timestamps.
PARTITION_KEYS = catalog.CURATED_PARTITION_KEYS
DECIMAL_TYPE = pa.decimal128(DECIMAL_PRECISION, DECIMAL_SCALE)
TIMESTAMP_TYPE = pa.timestamp("ms", tz="UTC")
_ARROW_TYPES = {FieldKind.TEXT: pa.string(), FieldKind.EPOCH_MILLIS: TIMESTAMP_TYPE,
                FieldKind.DECIMAL: DECIMAL_TYPE}
CURATED_SCHEMA = pa.schema(
    [(f.name, _ARROW_TYPES[f.kind]) for f in FIELDS if f.name not in PARTITION_KEYS])
#: How the JSON lines are read: epoch fields as integers, everything else as text.
RAW_SCHEMA = pa.schema(
    [(f.name, pa.int64() if f.kind is FieldKind.EPOCH_MILLIS else pa.string()) for f in FIELDS])
_SPILL_SCHEMA = pa.schema([(f.name, _ARROW_TYPES[f.kind]) for f in FIELDS]
                          + [("dt", pa.string())])
_DECIMALS = tuple(f.name for f in FIELDS if f.kind is FieldKind.DECIMAL)
_EPOCHS = tuple(f.name for f in FIELDS if f.kind is FieldKind.EPOCH_MILLIS)
# Stricter than the contract where the vectorised check is simpler (ASCII symbols only): a row
# it refuses is not quarantined for it, its piece is checked line by line by the contract.
_FAST_SYMBOL = f"^[A-Z0-9]{{1,{SYMBOL_MAX_LENGTH}}}$"
_ISO_SHAPE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$"
MILLIS_PER_DAY = 86_400_000

# --- settings -------------------------------------------------------------------------------

class JobError(Exception):
    """Bad arguments or a missing resource; the message says which."""


class Settings(NamedTuple):
    bucket: str
    hours: tuple[datetime, ...]
    raw_prefix: str
    curated_prefix: str
    quarantine_prefix: str
    manifest_prefix: str
    database: str
    table: str
    register_partitions: bool
    workers: int
    temp_dir: Optional[str]


def parse_hour(text: str, option: str) -> datetime:
    try:
        return datetime.strptime(text, HOUR_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError:
        raise JobError(f"{option} {text!r} is not an hour like 2026-11-24T10") from None


def last_complete_hour(now: Optional[datetime] = None) -> datetime:
    now = now or datetime.now(timezone.utc)
    return now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)


def parse_settings(argv: Sequence[str]) -> Settings:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--hour", help="YYYY-MM-DDTHH (UTC); default the last complete hour")
    parser.add_argument("--hours", type=int, default=1, help="the N hours ending with --hour")
    parser.add_argument("--start", help="first hour of a backfill (with --end)")
    parser.add_argument("--end", help="the hour after the last of a backfill")
    for name, value in DEFAULTS.items():
        parser.add_argument("--" + name.replace("_", "-"), default=value)
    parser.add_argument("--register-partitions", default="true", choices=("true", "false"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--temp-dir", default=None)
    # Glue adds arguments of its own (--JOB_ID, --JOB_RUN_ID, --scriptLocation, ...).
    args, _ = parser.parse_known_args(list(argv))
    if (args.start is None) != (args.end is None):
        raise JobError("--start and --end go together")
    if args.start is not None:
        if args.hour is not None:
            raise JobError("give --hour (with --hours) or --start/--end, not both")
        start, end = parse_hour(args.start, "--start"), parse_hour(args.end, "--end")
        if end <= start:
            raise JobError(f"--end {args.end} is not after --start {args.start}")
        count = int((end - start) / timedelta(hours=1))
        hours = tuple(start + timedelta(hours=i) for i in range(count))
    else:
        last = parse_hour(args.hour, "--hour") if args.hour else last_complete_hour()
        if args.hours < 1:
            raise JobError(f"--hours {args.hours} is below 1")
        hours = tuple(last - timedelta(hours=i) for i in reversed(range(args.hours)))
    if args.workers < 1:
        raise JobError(f"--workers {args.workers} is below 1")
    prefixes = {name: getattr(args, name) for name in DEFAULTS if name.endswith("_prefix")}
    for name, prefix in prefixes.items():
        if not prefix.endswith("/"):
            raise JobError(f"--{name.replace('_', '-')} {prefix!r} must end with '/'")
    return Settings(args.bucket, hours, args.raw_prefix, args.curated_prefix,
                    args.quarantine_prefix, args.manifest_prefix, args.database, args.table,
                    args.register_partitions == "true", args.workers, args.temp_dir)


# --- reading: objects to pieces of whole lines -------------------------------------------------

class Piece(NamedTuple):
    source: str  # the raw object's key
    first_line: int  # 1-based number of the piece's first line in the object
    data: bytes  # whole lines
    damage: Optional[str]  # set on the object's last piece when its gzip stream is broken


def pieces(body: Any, source: str, piece_bytes: int = PIECE_BYTES) -> Iterator[Piece]:
    """Decompress a gzip object (one or more members) and cut it into pieces of whole lines.

    A truncated or corrupt stream ends the object: what was decompressed before the damage is
    kept, and the last piece carries the damage (its incomplete last line is quarantined).
    """
    decompressor = zlib.decompressobj(wbits=31)
    # Decompressed output not yet cut, joined only to cut a piece: an object below
    # ``piece_bytes`` (Firehose's usual ~1 MB of gzip) becomes its one piece with no copy.
    pending: list[bytes] = []
    size = 0
    line = 1
    damage = None
    read_any = False
    while damage is None:
        data = body.read(READ_BYTES)
        if not data:
            rest = decompressor.flush()
            if rest:
                pending.append(rest)
            if read_any and not decompressor.eof:
                damage = "truncated gzip stream"
            break
        read_any = True
        while data:
            try:  # at most piece_bytes of output a call: a well-compressed object stays bounded
                output = decompressor.decompress(data, piece_bytes)
            except zlib.error as error:
                damage = f"corrupt gzip stream: {error}"
                break
            if decompressor.eof:  # what follows is another member (or nothing)
                data = decompressor.unused_data
                if data:
                    decompressor = zlib.decompressobj(wbits=31)
            else:
                data = decompressor.unconsumed_tail
            pending.append(output)
            size += len(output)
            if size >= piece_bytes:
                text = _joined(pending)
                cut = text.rfind(b"\n") + 1
                pending = [text]
                if cut:
                    yield Piece(source, line, text[:cut] if cut < len(text) else text, None)
                    line += text.count(b"\n", 0, cut)
                    pending = [text[cut:]]
                    size = len(text) - cut
    text = _joined(pending)
    if text or damage:
        yield Piece(source, line, text, damage)


def _joined(parts: list[bytes]) -> bytes:
    return parts[0] if len(parts) == 1 else b"".join(parts)


# --- parsing and validating a piece -------------------------------------------------------------

class Rejected(NamedTuple):
    source: str
    line_number: int
    reason: str
    line: str


class Parsed(NamedTuple):
    rows: pa.Table  # _SPILL_SCHEMA
    rejected: list[Rejected]
    slow: bool  # checked line by line
    damaged: bool  # the object's gzip stream broke in (or after) this piece


def parse_piece(piece: Piece) -> Parsed:
    data = piece.data
    complete = data
    tail = b""
    if piece.damage is not None and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        complete, tail = data[:cut], data[cut:]
    rows = _fast_parse(complete)
    rejected: list[Rejected] = []
    slow = rows is None
    if rows is None:
        table, rejected = _slow_parse(piece, complete)
        rows = curated_rows(table)
    if tail or piece.damage is not None:
        number = piece.first_line + complete.count(b"\n")
        rejected.append(Rejected(piece.source, number, f"{piece.damage}: incomplete last line"
                                 if tail else f"{piece.damage} after the last line",
                                 tail.decode("utf-8", "replace")))
    return Parsed(rows, rejected, slow, piece.damage is not None)


def _fast_parse(data: bytes) -> Optional[pa.Table]:
    """The piece's curated rows when every line surely passes the contract, else None."""
    table = read_json_lines(data)
    if table is None:
        return None
    try:
        rows = curated_rows(table)
    except pa.ArrowInvalid:  # a decimal Arrow cannot read: the contract will say why
        return None
    return rows if surely_valid(table, rows) else None


def read_json_lines(data: bytes) -> Optional[pa.Table]:
    """Whole JSON lines as a `RAW_SCHEMA` table, one row a line with every field present, or
    None (a line Arrow cannot read, a missing field, an empty line)."""
    if not data:
        return RAW_SCHEMA.empty_table()
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    try:
        table = pj.read_json(
            io.BytesIO(data), read_options=pj.ReadOptions(use_threads=False),
            parse_options=pj.ParseOptions(explicit_schema=RAW_SCHEMA,
                                          unexpected_field_behavior="ignore"))
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return None
    if table.num_rows != lines or any(column.null_count for column in table.columns):
        return None
    return table


def _all(mask: Any) -> bool:
    return bool(pc.all(mask).as_py())


def surely_valid(table: pa.Table, rows: pa.Table) -> bool:
    """The contract's rules, vectorised, on a piece's raw columns and its `curated_rows` (whose
    casts are reused, not repeated); never laxer than `miniticker.from_mapping`."""
    for name in _EPOCHS:
        column = table[name]
        if pc.min(column).as_py() < 0 or pc.max(column).as_py() > MAX_EPOCH_MILLIS:
            return False
    for name in _DECIMALS:
        if not _all(pc.match_substring_regex(table[name], DECIMAL_PATTERN)):
            return False
    symbol = table["symbol"]
    iso = table["iso_timestamp"]
    if not _all(pc.match_substring_regex(iso, _ISO_SHAPE)):
        return False
    try:  # the canonical shape, naming the event's instant: then it is iso_from_millis's text
        instants = pc.cast(iso, TIMESTAMP_TYPE)
    except pa.ArrowInvalid:  # no such date or time (Arrow checks both)
        return False
    return (_all(pc.equal(table["event_type"], EVENT_TYPE))
            and _all(pc.match_substring_regex(symbol, _FAST_SYMBOL))
            and _all(pc.equal(table["stream_type"], pc.binary_join_element_wise(
                pc.utf8_lower(symbol), MINI_TICKER_SUFFIX, "")))
            and _all(pc.equal(instants, rows["event_time"]))
            and _all(pc.less_equal(rows["low_price"], rows["high_price"])))


def _slow_parse(piece: Piece, data: bytes) -> tuple[pa.Table, list[Rejected]]:
    """Every line through the contract's own parser; the rejected ones with their reasons."""
    columns: dict[str, list[Any]] = {f.name: [] for f in FIELDS}
    rejected = []
    for offset, line in enumerate(data.split(b"\n")[:-1] if data.endswith(b"\n")
                                  else data.split(b"\n")):
        try:
            record = parse_json_line(line)
        except InvalidMiniTicker as error:
            field = f"{error.field}: " if error.field else ""
            rejected.append(Rejected(piece.source, piece.first_line + offset,
                                     field + error.reason, line.decode("utf-8", "replace")))
            continue
        for name, value in zip(record._fields, record):
            columns[name].append(value)
    return pa.table(columns, schema=RAW_SCHEMA), rejected


def curated_rows(table: pa.Table) -> pa.Table:
    """Raw columns to the curated types, plus the event's day (``dt``)."""
    arrays = []
    for spec in FIELDS:
        column = table[spec.name]
        if spec.kind is not FieldKind.TEXT:
            column = pc.cast(column, _ARROW_TYPES[spec.kind])
        arrays.append(column)
    # The event's UTC day as text, by date arithmetic rather than formatting each instant.
    days = pc.cast(pc.divide(table["event_time"], MILLIS_PER_DAY), pa.int32())
    day = pc.cast(pc.cast(days, pa.date32()), pa.string())
    return pa.Table.from_arrays([*arrays, day], schema=_SPILL_SCHEMA)


# --- spilling, de-duplicating, writing ----------------------------------------------------------

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
                self._path(number), _SPILL_SCHEMA,
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
    if _all(pc.equal(symbol[1:], symbol[:-1])) and _all(
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


def output_key(settings: Settings, hour: datetime, day: str, symbol: str) -> str:
    return (f"{settings.curated_prefix}dt={day}/symbol={symbol}/"
            f"raw-hour={hour.strftime(HOUR_FORMAT)}.parquet")


#: Columns worth a Parquet dictionary: a file holds one symbol, so these hold one value. The others
#: (prices, volumes, instants) are nearly unique; a dictionary for them is built, outgrows its
#: page and is dropped, which made files larger and slower to write
#: (``bench/bench_raw_to_parquet.py --stages`` prints both).
DICTIONARY_COLUMNS = ("event_type", "stream_type")


def parquet_bytes(rows: pa.Table, dictionary: Union[bool, Sequence[str]] = DICTIONARY_COLUMNS
                  ) -> bytes:
    """One output file: the curated columns, Snappy. ``dictionary``: the columns to dictionary-
    encode, or True for all (pyarrow's default, which the benchmark compares)."""
    sink = io.BytesIO()
    pq.write_table(rows.select(CURATED_SCHEMA.names).cast(CURATED_SCHEMA), sink,
                   compression="snappy",
                   use_dictionary=dictionary if isinstance(dictionary, bool)
                   else list(dictionary))
    return sink.getvalue()


# --- one hour -----------------------------------------------------------------------------------

class HourSummary(NamedTuple):
    hour: str
    files_read: int
    lines: int
    rows_written: int
    duplicates: int
    quarantined: int
    damaged_files: int
    pieces_checked_line_by_line: int
    output_files: int
    partitions_registered: int


def hour_path(hour: datetime) -> str:
    """An hour's part of a raw or quarantine key: ``dt=YYYY-MM-DD/hour=HH/``."""
    return f"dt={hour:%Y-%m-%d}/hour={hour:%H}/"


def raw_prefix_of(settings: Settings, hour: datetime) -> str:
    return settings.raw_prefix + hour_path(hour)


def hour_of_raw_key(key: str, raw_prefix: str) -> datetime:
    """The hour a raw object belongs to, from its key (the inverse of `raw_prefix_of`)."""
    day, hour = key[len(raw_prefix):].split("/")[:2]
    return parse_hour(f"{day.removeprefix('dt=')}T{hour.removeprefix('hour=')}", key)


def list_keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(item["Key"] for item in page.get("Contents", []))
    return sorted(keys)


def _parse_object(s3: Any, bucket: str, key: str) -> list[Parsed]:
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    try:
        return [parse_piece(piece) for piece in pieces(body, key)]
    finally:
        body.close()


def in_order(executor: ThreadPoolExecutor, keys: Sequence[str], work: Any,
             ahead: int) -> Iterator[tuple[str, Any]]:
    """``work(key)`` for every key on the pool, results in key order, ``ahead`` in flight."""
    running: deque[tuple[str, Future[Any]]] = deque()
    for key in keys:
        running.append((key, executor.submit(work, key)))
        if len(running) >= ahead:
            done_key, future = running.popleft()
            yield done_key, future.result()
    while running:
        done_key, future = running.popleft()
        yield done_key, future.result()


def convert_hour(settings: Settings, hour: datetime, s3: Any, glue: Any,
                 table: Optional[dict[str, Any]]) -> HourSummary:
    keys = [k for k in list_keys(s3, settings.bucket, raw_prefix_of(settings, hour))
            if not k.endswith("/")]
    counts: Counter[str] = Counter()
    quarantine: dict[str, list[Rejected]] = {}
    outputs: list[str] = []
    partitions = set()
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
        # Each spill file (a symbol, or a few) de-duplicated and written on its own; files
        # in parallel, each with its own memory.
        finish = lambda path: _write_spilled(settings, hour, s3, path)  # noqa: E731
        for _, (written, duplicates) in in_order(executor, spill.close(), finish,
                                                 ahead=settings.workers):
            counts["duplicates"] += duplicates
            for key, day, symbol, rows in written:
                outputs.append(key)
                partitions.add((day, symbol))
                counts["rows_written"] += rows
    for source, rejected in sorted(quarantine.items()):
        key = quarantine_key(settings, hour, source)
        s3.put_object(Bucket=settings.bucket, Key=key, Body=quarantine_document(rejected))
        outputs.append(key)
    _replace_manifest(settings, hour, s3, outputs)
    registered = register_partitions(glue, settings, table, sorted(partitions)) if table else 0
    quarantined = sum(len(r) for r in quarantine.values())
    return HourSummary(hour.strftime(HOUR_FORMAT), counts["files_read"],
                       counts["valid"] + quarantined, counts["rows_written"],
                       counts["duplicates"], quarantined, counts["damaged_files"],
                       counts["line_by_line"], len(outputs), registered)


def _write_spilled(settings: Settings, hour: datetime, s3: Any, path: str
                   ) -> tuple[list[tuple[str, str, str, int]], int]:
    """De-duplicate one spill file and write its (day, symbol) files; returns what was
    written, as (key, day, symbol, rows), and the number of duplicates dropped."""
    rows, duplicates = deduplicate(read_spilled(path))
    written = []
    for day, symbol, part in groups(rows):
        key = output_key(settings, hour, day, symbol)
        s3.put_object(Bucket=settings.bucket, Key=key, Body=parquet_bytes(part))
        written.append((key, day, symbol, part.num_rows))
    return written, duplicates


def quarantine_key(settings: Settings, hour: datetime, source: str) -> str:
    return (f"{settings.quarantine_prefix}{hour_path(hour)}"
            f"{source.rsplit('/', 1)[-1]}.rejected.jsonl")


def quarantine_document(rejected: list[Rejected]) -> bytes:
    return "".join(json.dumps(r._asdict(), ensure_ascii=False) + "\n"
                   for r in rejected).encode()


def _replace_manifest(settings: Settings, hour: datetime, s3: Any, outputs: list[str]) -> None:
    """Record what this run wrote for the hour; delete what an earlier run wrote and this one
    did not (the hour's input changed), so a rerun leaves exactly its own output."""
    key = f"{settings.manifest_prefix}{hour.strftime(HOUR_FORMAT)}.json"
    try:
        previous = json.loads(s3.get_object(Bucket=settings.bucket, Key=key)["Body"].read())
    except s3.exceptions.NoSuchKey:
        previous = {"outputs": []}
    for stale in sorted(set(previous["outputs"]) - set(outputs)):
        s3.delete_object(Bucket=settings.bucket, Key=stale)
    s3.put_object(Bucket=settings.bucket, Key=key,
                  Body=json.dumps({"hour": hour.strftime(HOUR_FORMAT),
                                   "outputs": sorted(outputs)}, indent=1).encode())


def register_partitions(glue: Any, settings: Settings, table: dict[str, Any],
                        partitions: list[tuple[str, str]]) -> int:
    """Add the (dt, symbol) partitions the catalog lacks; returns how many were new."""
    descriptor = table["StorageDescriptor"]
    location = descriptor["Location"].rstrip("/")
    created = 0
    for start in range(0, len(partitions), PARTITIONS_PER_REQUEST):
        inputs = [{"Values": [day, symbol], "StorageDescriptor": {
            **descriptor, "Location": f"{location}/dt={day}/symbol={symbol}/"}}
            for day, symbol in partitions[start:start + PARTITIONS_PER_REQUEST]]
        response = glue.batch_create_partition(
            DatabaseName=settings.database, TableName=settings.table, PartitionInputList=inputs)
        errors = [e for e in response.get("Errors", [])
                  if e["ErrorDetail"]["ErrorCode"] != "AlreadyExistsException"]
        if errors:
            raise JobError(f"Glue refused partitions: {errors[:3]}")
        created += len(inputs) - len(response.get("Errors", []))
    return created


# --- the run ------------------------------------------------------------------------------------

def run(settings: Settings, s3: Any = None, glue: Any = None) -> dict[str, Any]:
    # The C allocator gives freed buffers back to the system; Arrow's default pool (mimalloc)
    # keeps them for reuse, which raises the peak RSS: a 1/16 DPU Glue worker has 1 GB.
    pa.set_memory_pool(pa.system_memory_pool())
    config = Config(retries={"mode": "standard", "max_attempts": 5},
                    max_pool_connections=max(10, settings.workers * 2))
    s3 = s3 or boto3.client("s3", config=config)
    table = None
    if settings.register_partitions:
        glue = glue or boto3.client("glue", config=config)
        try:
            table = glue.get_table(DatabaseName=settings.database, Name=settings.table)["Table"]
        except glue.exceptions.EntityNotFoundException:
            raise JobError(f"Glue table {settings.database}.{settings.table} not found "
                           "(or run with --register-partitions false)") from None
    started = time.monotonic()
    hours = [convert_hour(settings, hour, s3, glue, table)._asdict() for hour in settings.hours]
    totals = {name: sum(h[name] for h in hours) for name in HourSummary._fields[1:]}
    summary = {"bucket": settings.bucket, "hours": hours, **totals,
               "seconds": round(time.monotonic() - started, 3),
               "peak_memory_mb": round(peak_memory_mb(), 1)}
    logger.info("raw_to_parquet finished: %s", json.dumps(summary))
    return summary


def peak_memory_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main(argv: Sequence[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        summary = run(parse_settings(argv))
    except JobError as error:
        print(f"raw_to_parquet: {error}", file=sys.stderr)
        return 2
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
