"""raw_to_parquet against DuckDB on the same raw hour: events/s, peak RSS, output files.

    .venv/bin/python bench/bench_raw_to_parquet.py [--events 5000000] [--data-dir DIR]
    .venv/bin/python bench/bench_raw_to_parquet.py --stages 40

``--stages N`` prints where the job's CPU goes instead: each stage of its path, run one after the
other in this process on the first N files (one thread), in microseconds a row, next to DuckDB's
CPU a row for its whole conversion of the same files; and the Parquet writer with a dictionary
for every column (pyarrow's default) against the job's choice.

Generated mini-tickers (ten symbols) as gzip JSON lines in files of about 1 MB, the size Firehose
writes, all in one raw hour. Each engine runs in a process of its own, one after the other, and
reports its own conversion time; peak RSS and CPU (all threads, interpreter start included)
are the process's, from the kernel (wait4).

- the job: ``glue_jobs/raw_to_parquet.py`` (its ``run``, default two workers) with a stand-in
  for the S3 client over a local folder. The tests run the job over moto's S3 server; here
  moto's pure-Python server would spend CPU of its own on the same two cores for every object
  the job reads, and DuckDB reads local files too;
- the reference: DuckDB's ``read_json`` over the same files on local disk, then
  ``COPY ... (FORMAT parquet, PARTITION_BY (dt, symbol))``, with the same column types.

Target: the job at least as fast as DuckDB (ratio >= 1.0), with peak RSS <= 600 MB.
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
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from glue_jobs import raw_to_parquet as job  # noqa: E402
from market_sim import POPULAR, MarketDataGenerator  # noqa: E402
from miniticker import (  # noqa: E402
    DECIMAL_PRECISION,
    DECIMAL_SCALE,
    FIELDS,
    FieldKind,
    normalize,
    to_json_line,
)

HOUR = "2026-11-24T10"
START_MS = 1_795_514_400_000  # 2026-11-24T10:00:00Z
FILE_BYTES = 1024 * 1024  # compressed


def generate(directory: Path, events: int) -> list[Path]:
    """Raw files of ~1 MB gzip each (reused when already there for this many events)."""
    done = directory / f"done-{events}"
    if done.exists():
        return sorted(directory.glob("*.gz"))
    directory.mkdir(parents=True, exist_ok=True)
    for old in [*directory.glob("*.gz"), *directory.glob("done-*")]:
        old.unlink()
    # 10 events a second over ten symbols: several hours of event time, one raw hour.
    generator = MarketDataGenerator(POPULAR, seed=7, start_ms=START_MS, interval_ms=1000)
    files: list[Path] = []
    lines: list[bytes] = []
    size = 0
    for payload in generator.payloads(events):
        line = to_json_line(normalize(payload, received_at=payload["E"] + 40))
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


class Measured(NamedTuple):
    result: dict[str, Any]  # the process's last stdout line, JSON
    rss_mb: float  # its peak resident memory
    cpu_seconds: float  # user + system, every thread, interpreter start included


def run_measured(code: str, env: dict[str, str]) -> Measured:
    """Run ``code`` in a fresh interpreter and measure it from the kernel (wait4)."""
    process = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise SystemExit(f"benchmark process failed ({status}):\n{code}")
    return Measured(json.loads(output.strip().splitlines()[-1]), usage.ru_maxrss / 1024,
                    usage.ru_utime + usage.ru_stime)


JOB = textwrap.dedent('''
    import json, sys
    sys.path.insert(0, "glue_jobs")
    sys.path.insert(0, "bench")
    import raw_to_parquet as job
    from bench_raw_to_parquet import LocalBucket
    settings = job.parse_settings(["--bucket", "bench", "--hour", {hour!r},
                                   "--register-partitions", "false"])
    print(json.dumps(job.run(settings, s3=LocalBucket({root!r}))))
''')


class LocalBucket:
    """The S3 calls raw_to_parquet makes, on a local folder (one folder a bucket)."""

    class exceptions:  # boto3's shape: client.exceptions.NoSuchKey
        NoSuchKey = FileNotFoundError

    def __init__(self, root: str) -> None:
        self.root = Path(root)

    def get_paginator(self, operation: str) -> Any:
        assert operation == "list_objects_v2"
        return self

    def paginate(self, Bucket: str, Prefix: str) -> list[dict[str, Any]]:
        base = self.root / Bucket
        return [{"Contents": [{"Key": str(p.relative_to(base))}
                              for p in sorted((base / Prefix).rglob("*")) if p.is_file()]}]

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        return {"Body": (self.root / Bucket / Key).open("rb")}

    def put_object(self, Bucket: str, Key: str, Body: bytes) -> None:
        path = self.root / Bucket / Key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(Body)

    def delete_object(self, Bucket: str, Key: str) -> None:
        (self.root / Bucket / Key).unlink()


DUCKDB = textwrap.dedent('''
    import json, time, duckdb
    connection = duckdb.connect()
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


def duckdb_code(files: list[Path], out: Path) -> str:
    columns = {f.name: "BIGINT" if f.kind is FieldKind.EPOCH_MILLIS else "VARCHAR"
               for f in FIELDS}
    select = []
    for spec in FIELDS:
        if spec.kind is FieldKind.DECIMAL:
            select.append(f"CAST({spec.name} AS DECIMAL({DECIMAL_PRECISION}, "
                          f"{DECIMAL_SCALE})) AS {spec.name}")
        elif spec.kind is FieldKind.EPOCH_MILLIS:
            select.append(f"epoch_ms({spec.name}) AS {spec.name}")
        else:
            select.append(spec.name)
    return DUCKDB.format(select=", ".join(select), files=[str(f) for f in files],
                         columns=repr(columns), out=repr(str(out)))


T = TypeVar("T")


def stages(files: list[Path]) -> None:
    """CPU a row of each stage of the job's path, on ``files``, with the job's own functions."""
    spent: dict[str, float] = {}

    def timed(stage: str, work: Callable[..., T], *args: Any) -> T:
        start = time.process_time()
        result = work(*args)
        spent[stage] = spent.get(stage, 0.0) + time.process_time() - start
        return result

    rows = 0
    written = {"job": 0, "default": 0}
    with tempfile.TemporaryDirectory() as directory:
        spill = job.Spill(directory)
        for path in files:
            with path.open("rb") as body:
                pieces: list[job.Piece] = timed("gunzip (zlib) into pieces", list,
                                                job.pieces(body, "k"))
            for piece in pieces:
                table = timed("read_json_lines (pyarrow)", job.read_json_lines, piece.data)
                assert table is not None
                curated = timed("curated_rows (casts, day)", job.curated_rows, table)
                assert timed("surely_valid (the contract, vectorised)", job.surely_valid, table,
                             curated)
                rows += table.num_rows
                timed("spill: write", spill.add, curated)
        for spilled in timed("spill: write", spill.close):
            table = timed("spill: read back", job.read_spilled, spilled)
            unique, _ = timed("deduplicate, groups", job.deduplicate, table)
            runs: list[tuple[str, str, Any]] = timed("deduplicate, groups", list,
                                                     job.groups(unique))
            for _, _, group in runs:
                written["job"] += len(timed("parquet_bytes", job.parquet_bytes, group))
                written["default"] += len(timed("(default)", job.parquet_bytes, group, True))
    default = spent.pop("(default)")
    print(f"{rows:,} rows from {len(files)} files, one thread; CPU microseconds a row:")
    for stage, seconds in spent.items():
        print(f"  {stage:<42}{seconds / rows * 1e6:>7.2f}")
    print(f"  {'all stages':<42}{sum(spent.values()) / rows * 1e6:>7.2f}")
    with tempfile.TemporaryDirectory() as out:
        duck = run_measured(duckdb_code(files, Path(out) / "curated"), dict(os.environ)).result
    print(f"  {'DuckDB read_json -> COPY, same files':<42}"
          f"{duck['cpu_seconds'] / rows * 1e6:>7.2f}  (every thread, the whole conversion)")
    print(f"parquet_bytes: {spent['parquet_bytes'] / rows * 1e6:.2f} us/row, "
          f"{written['job'] / 2**20:.1f} MB; with a dictionary for every column (pyarrow's "
          f"default): {default / rows * 1e6:.2f} us/row, {written['default'] / 2**20:.1f} MB")


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
    print(f"{args.events:,} events in {len(files)} gzip files "
          f"({sum(f.stat().st_size for f in files) / 2**20:.0f} MB)")

    with tempfile.TemporaryDirectory() as root, tempfile.TemporaryDirectory() as out:
        raw = Path(root) / "bench" / "raw/miniticker/dt=2026-11-24/hour=10"
        raw.mkdir(parents=True)
        for path in files:
            (raw / path.name).symlink_to(path)
        job_run = run_measured(JOB.format(hour=HOUR, root=root), dict(os.environ))
        duck_run = run_measured(duckdb_code(files, Path(out) / "curated"), dict(os.environ))
        job, reference = job_run.result, duck_run.result
        duck_files = sum(1 for _ in Path(out).rglob("*.parquet"))

    job_rate = job["rows_written"] / job["seconds"]
    duck_rate = args.events / reference["seconds"]
    print(f"{'engine':<16}{'seconds':>9}{'events/s':>12}{'peak RSS MB':>13}{'files':>7}"
          f"{'CPU us/event':>14}")
    for name, seconds, rate, run, files_out in (
            ("raw_to_parquet", job["seconds"], job_rate, job_run, job["output_files"]),
            ("duckdb", reference["seconds"], duck_rate, duck_run, duck_files)):
        print(f"{name:<16}{seconds:>9.2f}{rate:>12,.0f}{run.rss_mb:>13,.0f}{files_out:>7}"
              f"{run.cpu_seconds / args.events * 1e6:>14.2f}")
    print(f"ratio (job events/s / DuckDB events/s): {job_rate / duck_rate:.2f}")
    print(f"job: {job['lines']:,} lines, {job['rows_written']:,} rows, {job['duplicates']:,} "
          f"duplicates, {job['quarantined']:,} quarantined, "
          f"{job['pieces_checked_line_by_line']} pieces checked line by line")
    print("targets: ratio >= 1.0, job peak RSS <= 600 MB")


if __name__ == "__main__":
    main()
