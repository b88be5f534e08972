"""The hourly job against DuckDB on the same raw hour: lines/s, peak RSS, output files.

    .venv/bin/python bench/bench_raw_to_parquet.py [--events 5000000] [--data-dir DIR]
    .venv/bin/python bench/bench_raw_to_parquet.py --stages 40

``--stages N`` prints where the job's CPU goes instead: each stage of its path, run one after the
other in this process on the first N files (one thread), in microseconds a row, next to DuckDB's
CPU a row for its bare conversion of the same files; and the Parquet writer with a dictionary
for every column (pyarrow's default) against the job's choice.

Generated mini-tickers (ten symbols) as gzip JSON lines in files of about 1 MB, the size Firehose
writes, all in one raw hour. On top of ``--events`` valid events:

- duplicates: every 100th event (1 %) is delivered a second time, 500 lines later (often in the
  next file) and received 1 ms later, so the output shows which copy won (the first must);
- invalid lines: one line for each rule the contract checks (a missing field, an unknown event
  type, a lower-case and a too long symbol, a foreign stream, a negative and a too precise
  decimal, microseconds for milliseconds, a negative receive time, an ISO text a millisecond off,
  low above high): 11 lines spread over the hour, each sending its file through the job's
  line-by-line check.

Each engine runs in a process of its own, one after the other, and reports its own conversion
time; peak RSS and CPU (all threads, interpreter start included) are the process's, from the
kernel (wait4).

- the job: ``curation.hourly.run`` (its default workers) with a stand-in for the S3 client over a
  local folder (``bench/local_s3.py``; moto's pure-Python server would spend CPU of its own on the
  same cores);
- the same-work reference: DuckDB doing what the job does, in SQL made from the contract's
  constants: every field read as text or bigint (the job's ``RAW_SCHEMA``), each line's first
  broken rule named in the contract's order, rejected lines written to a quarantine file with
  their reason, the first copy of each ``(symbol, event_time)`` kept (file order, then line
  order), Parquet partitioned by ``dt``/``symbol`` with decimal(38,8) and UTC timestamps; with
  ``memory_limit='600MB'`` and as many threads as the job has workers;
- the bare reference: DuckDB's ``read_json`` over the same files, then
  ``COPY ... (FORMAT parquet, PARTITION_BY (dt, symbol))``, with the same column types and no
  checks at all (every line converted, duplicates and invalid ones too).

The outputs are then checked against each other and against what was generated: the same rows
(count and a fingerprint of every value, per day and symbol) from the job and the same-work
reference, the same quarantined lines by field, every line from the bare reference. Any
difference fails the run.

Target: the job at least as fast as the same-work reference (ratio >= 1.0), with peak RSS
<= 600 MB; as fast as the bare reference is the stretch target.
The generated files are kept in ``--data-dir`` and reused by the next run.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from glue_jobs.curation import reading, spill, validation, writing  # noqa: E402
from glue_jobs.curation.schemas import RAW_SCHEMA  # noqa: E402
from glue_jobs.curation.settings import parse_settings  # noqa: E402
from glue_jobs.curation.tables import EVENTS  # noqa: E402
from market_sim import POPULAR, MarketDataGenerator  # noqa: E402
from miniticker import (  # noqa: E402
    DECIMAL_PATTERN,
    DECIMAL_PRECISION,
    DECIMAL_SCALE,
    EVENT_TYPE,
    FIELDS,
    MAX_EPOCH_MILLIS,
    MINI_TICKER_SUFFIX,
    SYMBOL_MAX_LENGTH,
    FieldKind,
    iso_from_millis,
    layout,
    normalize,
    stream_name_for,
)

HOUR = "2026-11-24T10"
START_MS = 1_795_514_400_000  # 2026-11-24T10:00:00Z
FILE_BYTES = 1024 * 1024  # compressed
DUPLICATE_EVERY = 100  # every 100th event is delivered twice
DUPLICATE_LAG = 500  # lines between the two copies
DATA_VERSION = "v2"  # generated files with duplicates and invalid lines
BUCKET = "bench"
RAW_HOUR = "raw/miniticker/dt=2026-11-24/hour=10"
DECIMAL_SQL = f"DECIMAL({DECIMAL_PRECISION}, {DECIMAL_SCALE})"
#: The record's ISO text (``iso_from_millis``) as a DuckDB format: %g is milliseconds.
ISO_FORMAT_SQL = "%Y-%m-%dT%H:%M:%S.%gZ"


# --- the generated raw hour ----------------------------------------------------------------------

def _broken(record: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Copies of a valid record that each break one rule, with the field the contract names.

    Each still reads as the job's ``RAW_SCHEMA`` and casts in DuckDB's bare conversion."""
    missing = dict(record)
    del missing["received_at"]
    long_symbol = "A" * (SYMBOL_MAX_LENGTH + 1)
    whole_high = record["high_price"].partition(".")[0]
    return [
        ("received_at", missing),
        ("event_type", {**record, "event_type": EVENT_TYPE.replace("Mini", "")}),
        ("symbol", {**record, "symbol": record["symbol"].lower(),
                    "stream_type": stream_name_for(record["symbol"].lower())}),
        ("symbol", {**record, "symbol": long_symbol, "stream_type": stream_name_for(long_symbol)}),
        ("stream_type", {**record, "stream_type": "x" + record["stream_type"]}),
        ("close_price", {**record, "close_price": "-" + record["close_price"]}),
        ("open_price", {**record, "open_price": "1." + "1" * (DECIMAL_SCALE + 1)}),
        ("event_time", {**record, "event_time": record["event_time"] * 1000}),
        ("received_at", {**record, "received_at": -1}),
        ("iso_timestamp", {**record,
                           "iso_timestamp": iso_from_millis(record["event_time"] + 1)}),
        ("low_price", {**record, "low_price": str(int(whole_high) + 1)}),
    ]


#: The field the contract names for each generated invalid line, in the order they are written.
INVALID_FIELDS = Counter(field for field, _ in _broken(
    {"event_type": EVENT_TYPE, "event_time": START_MS, "symbol": "BTCUSDT", "stream_type": "",
     "close_price": "1", "open_price": "1", "high_price": "1", "low_price": "1",
     "received_at": START_MS}))
INVALID_LINES = sum(INVALID_FIELDS.values())


def _line(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


def raw_lines(events: int) -> Iterator[bytes]:
    """The raw hour's lines: ``events`` valid events, duplicates and invalid lines among them."""
    # 10 events a second over ten symbols: hours of event time, one raw hour.
    generator = MarketDataGenerator(POPULAR, seed=7, start_ms=START_MS, interval_ms=1000)
    invalid_at = {events * (i + 1) // (INVALID_LINES + 1): i for i in range(INVALID_LINES)}
    copies: deque[tuple[int, bytes]] = deque()  # (line number to write it at, line)
    written = 0
    for index, payload in enumerate(generator.payloads(events)):
        record = normalize(payload, received_at=payload["E"] + 40)._asdict()
        if index in invalid_at:
            yield _line(_broken(record)[invalid_at[index]][1])
            written += 1
        while copies and copies[0][0] <= written:
            yield copies.popleft()[1]
            written += 1
        yield _line(record)
        written += 1
        if index % DUPLICATE_EVERY == 0:
            copies.append((written + DUPLICATE_LAG,
                           _line({**record, "received_at": record["received_at"] + 1})))
    for _, line in copies:
        yield line


def duplicates_of(events: int) -> int:
    return (events + DUPLICATE_EVERY - 1) // DUPLICATE_EVERY


def generate(directory: Path, events: int) -> list[Path]:
    """Raw files of ~1 MB gzip each (reused when already there for this many events)."""
    done = directory / f"done-{events}-{DATA_VERSION}"
    if done.exists():
        return sorted(directory.glob("*.gz"))
    directory.mkdir(parents=True, exist_ok=True)
    for old in [*directory.glob("*.gz"), *directory.glob("done-*")]:
        old.unlink()
    files: list[Path] = []
    lines: list[bytes] = []
    size = 0
    for line in raw_lines(events):
        lines.append(line)
        size += len(line)
        if size >= FILE_BYTES * 12:  # JSON lines compress about 12:1
            files.append(_write(directory, len(files), lines))
            lines, size = [], 0
    if lines:
        files.append(_write(directory, len(files), lines))
    done.touch()
    return files


def _write(directory: Path, index: int, lines: list[bytes]) -> Path:
    path = directory / f"crypto-live-raw-{index:05d}.gz"
    path.write_bytes(gzip.compress(b"".join(lines), compresslevel=6))
    return path


# --- running and measuring ----------------------------------------------------------------------

class Measured(NamedTuple):
    result: dict[str, Any]  # the process's last stdout line, JSON
    rss_mb: float  # its peak resident memory
    cpu_seconds: float  # user + system, every thread, interpreter start included


def run_measured(code: str, env: dict[str, str] | None = None) -> Measured:
    """Run ``code`` in a fresh interpreter and measure it from the kernel (wait4)."""
    process = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT,
                               env=env if env is not None else dict(os.environ),
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise SystemExit(f"benchmark process failed ({status}):\n{code[:3000]}")
    return Measured(json.loads(output.strip().splitlines()[-1]), usage.ru_maxrss / 1024,
                    usage.ru_utime + usage.ru_stime)


JOB = textwrap.dedent('''
    import json
    from bench.local_s3 import LocalBucket
    from glue_jobs.curation.hourly import run
    from glue_jobs.curation.settings import parse_settings
    settings = parse_settings(["--bucket", {bucket!r}, "--hour", {hour!r},
                               "--register-partitions", "false"])
    print(json.dumps(run(settings, s3=LocalBucket({root!r}))))
''')


def job_code(root: Path) -> str:
    return JOB.format(bucket=BUCKET, hour=HOUR, root=str(root))


def job_workers() -> int:
    """The job's default number of workers (its settings' default, not a copy of it)."""
    return parse_settings(["--bucket", BUCKET, "--hour", HOUR]).workers


DUCKDB_BARE = textwrap.dedent('''
    import json, time, duckdb
    connection = duckdb.connect()
    connection.execute("SET enable_progress_bar = false")
    start, cpu = time.perf_counter(), time.process_time()
    connection.execute("""
        COPY (
            SELECT {select}, strftime(to_timestamp(event_time / 1000), '%Y-%m-%d') AS dt
            FROM read_json({files}, format = 'newline_delimited', columns = {columns})
        ) TO {out} (FORMAT parquet, COMPRESSION snappy, PARTITION_BY (dt, symbol))
    """)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(json.dumps({{"seconds": seconds, "cpu_seconds": cpu}}))
''')


def _raw_columns() -> dict[str, str]:
    """The job's ``RAW_SCHEMA`` as DuckDB column types."""
    types = {"int64": "BIGINT", "string": "VARCHAR"}
    return {field.name: types[str(field.type)] for field in RAW_SCHEMA}


def _typed_select() -> str:
    """Every field in its curated type: decimal(38,8), UTC timestamps, text."""
    select = []
    for spec in FIELDS:
        if spec.kind is FieldKind.DECIMAL:
            select.append(f"CAST({spec.name} AS {DECIMAL_SQL}) AS {spec.name}")
        elif spec.kind is FieldKind.EPOCH_MILLIS:
            select.append(f"epoch_ms({spec.name})::TIMESTAMPTZ AS {spec.name}")
        else:
            select.append(spec.name)
    return ", ".join(select)


def duckdb_code(files: list[Path], out: Path) -> str:
    """The bare reference: read and convert, no checks."""
    return DUCKDB_BARE.format(select=_typed_select(), files=[str(f) for f in files],
                              columns=repr(_raw_columns()), out=repr(str(out)))


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def rejection_sql() -> str:
    """A CASE naming the first rule a line breaks, in the contract's order (each field's
    presence, unless optional, and form in record order; then event type, symbol, price range,
    stream, ISO text), as ``"<field>: <rule>"`` like the job's quarantine; NULL for a valid
    line."""
    rules: list[tuple[str, str]] = []
    for spec in FIELDS:
        name = spec.name
        if not spec.optional:  # an optional field may be absent; the rules below skip NULL
            rules.append((f"{name} IS NULL", f"{name}: missing"))
        if spec.kind is FieldKind.EPOCH_MILLIS:
            rules.append((f"{name} NOT BETWEEN 0 AND {MAX_EPOCH_MILLIS}",
                          f"{name}: epoch milliseconds out of range"))
        elif spec.kind is FieldKind.DECIMAL:
            rules.append((f"NOT regexp_full_match({name}, {_sql_text(DECIMAL_PATTERN)})",
                          f"{name}: not a plain decimal"))
        else:
            rules.append((f"{name} = ''", f"{name}: empty"))
    # check_symbol: at most SYMBOL_MAX_LENGTH letters and digits (Unicode ones too), upper case.
    rules += [
        (f"event_type <> {_sql_text(EVENT_TYPE)}", "event_type: unknown event type"),
        (f"length(symbol) > {SYMBOL_MAX_LENGTH} OR NOT regexp_full_match(symbol, "
         r"'[\pL\pN]+') OR symbol <> upper(symbol)", "symbol: not an upper-case symbol"),
        (f"CAST(low_price AS {DECIMAL_SQL}) > CAST(high_price AS {DECIMAL_SQL})",
         "low_price: above high"),
        (f"stream_type <> lower(symbol) || {_sql_text(MINI_TICKER_SUFFIX)}",
         "stream_type: not the symbol's stream"),
        (f"iso_timestamp <> strftime(epoch_ms(event_time), '{ISO_FORMAT_SQL}')",
         "iso_timestamp: not event_time's text"),
    ]
    return "CASE " + " ".join(f"WHEN {test} THEN {_sql_text(reason)}"
                              for test, reason in rules) + " END"


DUCKDB_SAME_WORK = textwrap.dedent('''
    import json, time, duckdb
    # A database file: the lines, read once, wait on disk for the two outputs (as the job spills).
    connection = duckdb.connect({database!r})
    connection.execute("SET enable_progress_bar = false")
    connection.execute("SET memory_limit = '600MB'")
    connection.execute("SET threads = {threads}")
    connection.execute("SET temp_directory = {temp!r}")
    connection.execute("SET TimeZone = 'UTC'")
    start, cpu = time.perf_counter(), time.process_time()
    connection.execute("""
        CREATE TABLE line AS
        SELECT *, {rejection} AS reason
        FROM read_json({files}, format = 'newline_delimited', columns = {columns},
                       filename = true) WITH ORDINALITY
    """)
    connection.execute("""
        COPY (SELECT filename AS source, ordinality AS line, reason, * EXCLUDE (filename,
              ordinality, reason) FROM line WHERE reason IS NOT NULL)
        TO {quarantine} (FORMAT json)
    """)
    connection.execute("""
        COPY (
            SELECT {select}, strftime(epoch_ms(event_time), '%Y-%m-%d') AS dt
            FROM line WHERE reason IS NULL
            QUALIFY row_number() OVER (PARTITION BY symbol, event_time ORDER BY ordinality) = 1
        ) TO {out} (FORMAT parquet, COMPRESSION snappy, PARTITION_BY (dt, symbol))
    """)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(json.dumps({{"seconds": seconds, "cpu_seconds": cpu}}))
''')


def same_work_code(files: list[Path], out: Path, quarantine: Path, work: Path,
                   threads: int) -> str:
    """The same-work reference: every contract rule, quarantine, de-duplication, in SQL."""
    return DUCKDB_SAME_WORK.format(
        database=str(work / "lines.duckdb"), temp=str(work / "temp"), threads=threads,
        rejection=rejection_sql().replace("\\", "\\\\"), files=[str(f) for f in files],
        columns=repr(_raw_columns()), quarantine=repr(str(quarantine)),
        select=_typed_select(), out=repr(str(out)))


# --- checking the outputs against each other ----------------------------------------------------

FINGERPRINT = textwrap.dedent('''
    import json, duckdb
    connection = duckdb.connect()
    connection.execute("SET enable_progress_bar = false")
    connection.execute("SET TimeZone = 'UTC'")
    rows = connection.execute("""
        SELECT dt || '/' || symbol, count(*), sum(hash({values})::HUGEINT)::VARCHAR
        FROM read_parquet({glob!r}, hive_partitioning = true, hive_types_autocast = false)
        GROUP BY ALL
    """).fetchall()
    print(json.dumps({{key: [count, digest] for key, count, digest in rows}}))
''')


def fingerprints(directory: Path) -> dict[str, list[Any]]:
    """Per ``dt/symbol``: rows, and a sum of hashes of every value (types normalised)."""
    values = []
    for spec in FIELDS:
        if spec.name == "symbol":
            continue
        if spec.kind is FieldKind.EPOCH_MILLIS:
            values.append(f"epoch_ms({spec.name})")
        elif spec.kind is FieldKind.DECIMAL:
            values.append(f"CAST({spec.name} AS VARCHAR)")
        else:
            values.append(spec.name)
    code = FINGERPRINT.format(values=", ".join(values), glob=str(directory / "**" / "*.parquet"))
    return run_measured(code).result


def _reason_fields(lines: Iterator[str]) -> Counter[str]:
    return Counter(json.loads(line)["reason"].split(":")[0] for line in lines if line.strip())


def check(events: int, lines: int, job: dict[str, Any], *, job_root: Path, same_out: Path,
          same_quarantine: Path, bare_out: Path) -> None:
    """Fail loudly unless the job and the same-work reference agree with each other and with
    what was generated, and the bare reference converted every line."""
    problems = []
    expected = {"lines": lines, "rows_new": events, "rows_already_curated": 0,
                "duplicates": duplicates_of(events), "quarantined": INVALID_LINES}
    for name, value in expected.items():
        if job[name] != value:
            problems.append(f"job {name}: {job[name]:,}, generated {value:,}")
    quarantine_root = job_root / BUCKET / layout.QUARANTINE_PREFIX
    job_reasons = _reason_fields(line for path in sorted(quarantine_root.rglob("*.jsonl"))
                                 for line in path.read_text().splitlines())
    same_reasons = _reason_fields(iter(same_quarantine.read_text().splitlines()))
    if not job_reasons == same_reasons == INVALID_FIELDS:
        problems.append(f"quarantined by field: job {dict(job_reasons)}, same-work reference "
                        f"{dict(same_reasons)}, generated {dict(INVALID_FIELDS)}")
    job_rows = fingerprints(job_root / BUCKET / EVENTS.prefix)
    same_rows = fingerprints(same_out)
    if job_rows != same_rows:
        differing = sorted(k for k in job_rows.keys() | same_rows.keys()
                           if job_rows.get(k) != same_rows.get(k))
        problems.append(f"job and same-work reference differ in {len(differing)} of "
                        f"{len(job_rows | same_rows)} partitions, e.g. {differing[:3]}: job "
                        f"{[job_rows.get(k) for k in differing[:3]]}, reference "
                        f"{[same_rows.get(k) for k in differing[:3]]}")
    same_count = sum(count for count, _ in same_rows.values())
    if same_count != events:
        problems.append(f"same-work reference wrote {same_count:,} rows, generated {events:,}")
    bare_count = sum(count for count, _ in fingerprints(bare_out).values())
    if bare_count != lines:
        problems.append(f"bare reference wrote {bare_count:,} rows of {lines:,} lines")
    if problems:
        raise SystemExit("outputs differ:\n  " + "\n  ".join(problems))
    print(f"exact: job and same-work reference wrote the same {events:,} rows (values "
          f"fingerprinted per day and symbol) and quarantined the same {INVALID_LINES} lines; "
          f"the bare reference converted all {lines:,} lines")


# --- the job's stages ---------------------------------------------------------------------------

T = TypeVar("T")


def stages(files: list[Path]) -> None:
    """CPU a row of each stage of the job's path, on ``files``, with the job's own functions."""
    spent = dict.fromkeys((  # in the order of the path
        "gunzip (zlib) into pieces", "read_json_lines (pyarrow)", "curated_rows (casts, day)",
        "surely_valid (the contract, vectorised)", "pieces checked line by line", "spill: write",
        "spill: read back", "deduplicate, groups", "parquet_bytes"), 0.0)

    def timed(stage: str, work: Callable[..., T], *args: Any) -> T:
        start = time.process_time()
        result = work(*args)
        spent[stage] = spent.get(stage, 0.0) + time.process_time() - start
        return result

    rows = 0
    written = {"job": 0, "default": 0}
    with tempfile.TemporaryDirectory() as directory:
        spilled_rows = spill.Spill(directory)
        for path in files:
            with path.open("rb") as body:
                pieces: list[reading.Piece] = timed("gunzip (zlib) into pieces", list,
                                                    reading.pieces(body, "k"))
            for piece in pieces:
                table = timed("read_json_lines (pyarrow)", validation.read_json_lines,
                              piece.data)
                try:
                    curated = None if table is None else timed(
                        "curated_rows (casts, day)", validation.curated_rows, table)
                except pa.ArrowInvalid:  # a decimal Arrow cannot read: the contract says why
                    curated = None
                if curated is None or not timed("surely_valid (the contract, vectorised)",
                                                validation.surely_valid, table, curated):
                    # An invalid line: the job checks the piece line by line.
                    curated = timed("pieces checked line by line", validation.parse_piece,
                                    piece).rows
                rows += curated.num_rows
                timed("spill: write", spilled_rows.add, curated)
        by_day = timed("spill: write", spilled_rows.close)
        for spilled in (path for paths in by_day.values() for path in paths):
            table = timed("spill: read back", spill.read_spilled, spilled)
            unique, _ = timed("deduplicate, groups", spill.unique_runs, table)
            runs: list[tuple[str, str, Any]] = timed("deduplicate, groups", list, unique)
            for _, _, group in runs:
                written["job"] += len(timed("parquet_bytes", writing.parquet_bytes, group))
                written["default"] += len(timed("(default)", writing.parquet_bytes, group,
                                                True))
    default = spent.pop("(default)")
    print(f"{rows:,} rows from {len(files)} files, one thread; CPU microseconds a row:")
    for stage, seconds in spent.items():
        print(f"  {stage:<42}{seconds / rows * 1e6:>7.2f}")
    print(f"  {'all stages':<42}{sum(spent.values()) / rows * 1e6:>7.2f}")
    with tempfile.TemporaryDirectory() as out:
        duck = run_measured(duckdb_code(files, Path(out) / "curated")).result
    print(f"  {'DuckDB read_json -> COPY, same files':<42}"
          f"{duck['cpu_seconds'] / rows * 1e6:>7.2f}  (every thread, the whole conversion)")
    print(f"parquet_bytes: {spent['parquet_bytes'] / rows * 1e6:.2f} us/row, "
          f"{written['job'] / 2**20:.1f} MB; with a dictionary for every column (pyarrow's "
          f"default): {default / rows * 1e6:.2f} us/row, {written['default'] / 2**20:.1f} MB")


# --- the comparison -----------------------------------------------------------------------------

def compare(files: list[Path], events: int) -> None:
    lines = events + duplicates_of(events) + INVALID_LINES
    threads = job_workers()
    print(f"{lines:,} lines ({events:,} events, {duplicates_of(events):,} duplicates, "
          f"{INVALID_LINES} invalid) in {len(files)} gzip files "
          f"({sum(f.stat().st_size for f in files) / 2**20:.0f} MB); job workers and DuckDB "
          f"threads: {threads}")
    with tempfile.TemporaryDirectory() as work_dir:
        work = Path(work_dir)
        raw = work / "bucket" / BUCKET / RAW_HOUR
        raw.mkdir(parents=True)
        for path in files:
            (raw / path.name).symlink_to(path)
        (work / "same").mkdir()
        runs = {
            "job": run_measured(job_code(work / "bucket")),
            "duckdb same work": run_measured(same_work_code(
                files, work / "same-out", work / "same-quarantine.jsonl", work / "same",
                threads)),
            "duckdb bare": run_measured(duckdb_code(files, work / "bare-out")),
        }
        job = runs["job"].result
        outputs = {"job": sum(1 for _ in (work / "bucket" / BUCKET / EVENTS.prefix
                                          ).rglob("*.parquet")),
                   "duckdb same work": sum(1 for _ in (work / "same-out").rglob("*.parquet")),
                   "duckdb bare": sum(1 for _ in (work / "bare-out").rglob("*.parquet"))}
        check(events, lines, job, job_root=work / "bucket", same_out=work / "same-out",
              same_quarantine=work / "same-quarantine.jsonl", bare_out=work / "bare-out")

    rates = {name: lines / run.result["seconds"] for name, run in runs.items()}
    print(f"{'engine':<18}{'seconds':>9}{'lines/s':>12}{'peak RSS MB':>13}{'files':>7}"
          f"{'CPU us/line':>13}")
    for name, run in runs.items():
        print(f"{name:<18}{run.result['seconds']:>9.2f}{rates[name]:>12,.0f}"
              f"{run.rss_mb:>13,.0f}{outputs[name]:>7}"
              f"{run.cpu_seconds / lines * 1e6:>13.2f}")
    same, bare = rates["job"] / rates["duckdb same work"], rates["job"] / rates["duckdb bare"]
    print(f"ratio job / DuckDB same work: {same:.2f}   job / DuckDB bare: {bare:.2f}")
    print(f"job: {job['rows_new']:,} rows, {job['duplicates']:,} duplicates, "
          f"{job['quarantined']:,} quarantined, {job['pieces_checked_line_by_line']} pieces "
          f"checked line by line; {job['files_written']} files written in its three tables "
          "(files above: the events')")
    print("targets: job / same work >= 1.0 with job peak RSS <= 600 MB "
          f"({'met' if same >= 1.0 and runs['job'].rss_mb <= 600 else 'NOT met'}); "
          f"stretch: job / bare >= 1.0 ({'met' if bare >= 1.0 else 'not met'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--data-dir", type=Path,
                        default=Path(tempfile.gettempdir()) / "crypto-live-bench-raw")
    parser.add_argument("--stages", type=int, metavar="N",
                        help="print each stage's CPU a row on the first N files instead")
    args = parser.parse_args()
    files = generate(args.data_dir, args.events)
    if args.stages:
        stages(files[:args.stages])
        return
    compare(files, args.events)


if __name__ == "__main__":
    main()
