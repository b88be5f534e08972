"""Compacting a day of the curated events: files in and out, rows/s, peak RSS.

    .venv/bin/python bench/bench_compaction.py [--symbols 200] [--seconds-per-event 1]
                                               [--data-dir DIR]

A generated day of ``--symbols`` symbols, one event every ``--seconds-per-event`` seconds each
(by default 200 x 86,400 = 17,280,000 rows), laid out as the hourly run leaves it: one Parquet
file an event hour and symbol (``curated/miniticker/dt=D/symbol=S/hourly/HH.parquet``, 4,800
files), written with the job's ``parquet_bytes`` and curated schema. Prices are a random walk on
each symbol's tick grid (the market simulator's price level and tick size for the symbol), with
the 24 h high and low and growing volumes around it, eight fraction digits like Binance's.
The tree is generated once into ``--data-dir`` and reused; each run works on a copy made of hard
links (the compaction writes new keys and never changes a file in place).

The compaction (``curation.compaction``) then runs on the day in a process of its own, against
a stand-in for the S3 client over the local folder (``bench/local_s3.py``) and without Glue;
its time is its own, its peak RSS the process's from the kernel (wait4). Afterwards every
symbol's compacted rows are compared with its hourly files': the same rows in the same order
(sorted by event time, each once), so rows in = rows out.

Target: peak RSS <= 600 MB (a 1/16 DPU Glue worker has 1 GB).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_raw_to_parquet import run_measured  # noqa: E402
from glue_jobs.curation.schemas import (  # noqa: E402
    CURATED_SCHEMA,
    DECIMAL_TYPE,
    MILLIS_PER_DAY,
    MILLIS_PER_HOUR,
    TIMESTAMP_TYPE,
)
from glue_jobs.curation.tables import EVENTS, hourly_key  # noqa: E402
from glue_jobs.curation.writing import parquet_bytes  # noqa: E402
from market_sim import POPULAR, WHOLE_MARKET, spec_for  # noqa: E402
from market_sim.symbols import UNITS, to_units  # noqa: E402
from miniticker import EVENT_TYPE, stream_name_for  # noqa: E402

DAY = "2026-11-24"
DAY_START_MS = 1_795_478_400_000  # 2026-11-24T00:00:00Z
BUCKET = "bench"
JITTER_MS = 100  # event times spread within their second, as Binance's are
DATA_VERSION = "v1"


# --- the generated day ---------------------------------------------------------------------------

def symbols_of(count: int) -> list[str]:
    """``count`` symbols: the popular ones first, then the generated whole market's."""
    names = list(dict.fromkeys([*POPULAR, *WHOLE_MARKET]))
    if count > len(names):
        raise SystemExit(f"--symbols {count}: at most {len(names)}")
    return names[:count]


def _decimals(units: pa.Array) -> pa.Array:
    """Non-negative integers of 1e-8 as decimal(38, 8): the same 128-bit integers, scale 8."""
    whole = units.cast(pa.decimal128(DECIMAL_TYPE.precision, 0))
    return pa.Array.from_buffers(DECIMAL_TYPE, len(whole), whole.buffers())


def _uniform(count: int, seed: int) -> pa.Array:
    return pc.random(count, initializer=seed)


def _integers(count: int, below: int, seed: int) -> pa.Array:
    """``count`` integers drawn uniformly from 0 .. below - 1."""
    return pc.floor(pc.multiply(_uniform(count, seed), below)).cast(pa.int64())


def _normal(count: int, seed: int) -> pa.Array:
    """Standard normal draws (Box-Muller)."""
    radius = pc.sqrt(pc.multiply(pc.ln(pc.subtract(1.0, _uniform(count, seed))), -2.0))
    return pc.multiply(radius, pc.cos(pc.multiply(_uniform(count, seed + 1), 2 * math.pi)))


def _constant(value: str, count: int) -> pa.Array:
    return pa.repeat(pa.scalar(value, pa.string()), count)


def symbol_day(symbol: str, seconds_per_event: int, seed: int) -> pa.Table:
    """One symbol's events of the day in the curated schema, sorted by event time."""
    seed *= 8  # each symbol's own draws: seed .. seed + 7
    spec = spec_for(symbol)
    step_ms = seconds_per_event * 1000
    count = MILLIS_PER_DAY // step_ms
    index = pa.array(range(count), pa.int64())
    times = pc.add(pc.add(pc.multiply(index, step_ms), DAY_START_MS),
                   _integers(count, min(JITTER_MS, step_ms), seed))
    tick, start = to_units(spec.tick_size), to_units(spec.price)
    # A random walk in ticks with the day's volatility, never below one tick.
    ticks_per_event = spec.daily_volatility * start / tick * math.sqrt(seconds_per_event / 86_400)
    steps = pc.round(pc.multiply(_normal(count, seed + 1), ticks_per_event)).cast(pa.int64())
    close = pc.max_element_wise(pc.add(pc.multiply(pc.cumulative_sum(steps), tick), start), tick)
    high = pc.cumulative_max(pc.max_element_wise(close, start))
    low = pc.cumulative_min(pc.min_element_wise(close, start))
    volume = pc.add(pc.multiply(pc.cumulative_sum(_integers(count, 1000, seed + 3)),
                                to_units(spec.step_size)), start // 100)
    quote = pc.round(pc.divide(pc.multiply(volume.cast(pa.float64()), close.cast(pa.float64())),
                               UNITS)).cast(pa.int64())
    event_time = times.cast(TIMESTAMP_TYPE)
    received = pc.add(pc.add(times, 40), _integers(count, 20, seed + 4))
    columns = {
        "event_type": _constant(EVENT_TYPE, count),
        "event_time": event_time,
        "stream_type": _constant(stream_name_for(symbol), count),
        "close_price": _decimals(close),
        "open_price": _decimals(pa.repeat(pa.scalar(start, pa.int64()), count)),
        "high_price": _decimals(high),
        "low_price": _decimals(low),
        "total_traded_volume": _decimals(volume),
        "total_traded_quote_volume": _decimals(quote),
        "iso_timestamp": pc.strftime(event_time, format="%Y-%m-%dT%H:%M:%SZ"),
        "received_at": received.cast(TIMESTAMP_TYPE),
    }
    return pa.table([columns[name] for name in CURATED_SCHEMA.names], schema=CURATED_SCHEMA)


def hours_of(rows: pa.Table) -> list[tuple[int, pa.Table]]:
    """(event hour of the day, its rows) for the hours holding rows, in order."""
    hours = pc.divide(pc.subtract(rows["event_time"].cast(pa.int64()), DAY_START_MS),
                      MILLIS_PER_HOUR)
    result, offset = [], 0
    for run in pc.value_counts(hours):  # in order of first appearance: the hours, in order
        count = run["counts"].as_py()
        result.append((run["values"].as_py(), rows.slice(offset, count)))
        offset += count
    return result


def generate(data_dir: Path, symbols: list[str], seconds_per_event: int) -> Path:
    """The day's hourly files under ``<data-dir>/<tag>/`` (a bucket folder), made once."""
    root = data_dir / f"{len(symbols)}-symbols-{seconds_per_event}s-{DATA_VERSION}"
    done = root / "done"
    if done.exists():
        return root
    started = time.perf_counter()
    files = 0
    for index, symbol in enumerate(symbols):
        for hour, rows in hours_of(symbol_day(symbol, seconds_per_event, seed=index)):
            path = root / BUCKET / hourly_key(EVENTS, DAY, symbol, hour)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(parquet_bytes(rows))
            files += 1
    done.touch()
    print(f"generated {files:,} hourly files in {time.perf_counter() - started:.0f} s")
    return root


def linked_copy(source: Path, target: Path) -> None:
    """``source``'s tree at ``target``, every file a hard link."""
    for folder, _, files in os.walk(source):
        destination = target / Path(folder).relative_to(source)
        destination.mkdir(parents=True, exist_ok=True)
        for name in files:
            os.link(Path(folder) / name, destination / name)


# --- the run ------------------------------------------------------------------------------------

COMPACTION = textwrap.dedent('''
    import json
    from bench.local_s3 import LocalBucket
    from glue_jobs.curation.compaction import parse_settings, run
    settings = parse_settings(["--bucket", {bucket!r}, "--day", {day!r},
                               "--register-partitions", "false"])
    print(json.dumps(run(settings, s3=LocalBucket({root!r}))))
''')


def parquet_files(directory: Path) -> list[Path]:
    return sorted(directory.rglob("*.parquet"))


def check(before: Path, after: Path, symbols: list[str]) -> tuple[int, int, int]:
    """Per symbol: the compacted rows equal the hourly files' rows (in order, sorted by event
    time, each once). Returns (files in, files out, rows)."""
    files_in = files_out = rows = 0
    problems = []
    for symbol in symbols:
        partition = EVENTS.prefix + f"dt={DAY}/symbol={symbol}/"
        hourly = parquet_files(before / BUCKET / partition)
        compacted = [p for p in parquet_files(after / BUCKET / partition)
                     if "/compacted-" in p.as_posix()]
        generations = {p.parent.name for p in compacted}
        files_in += len(hourly)
        files_out += len(compacted)
        expected = pa.concat_tables(pq.ParquetFile(p).read() for p in hourly)
        if len(generations) != 1:
            problems.append(f"{symbol}: {len(generations)} compacted generations")
            continue
        actual = pa.concat_tables(pq.ParquetFile(p).read() for p in compacted)
        times = actual["event_time"].combine_chunks()
        if not pc.all(pc.greater(times[1:], times[:-1]), min_count=0).as_py():
            problems.append(f"{symbol}: compacted rows not sorted by event time, or repeated")
        if not actual.cast(expected.schema).equals(expected):
            problems.append(f"{symbol}: {actual.num_rows:,} compacted rows differ from the "
                            f"{expected.num_rows:,} hourly rows")
        rows += actual.num_rows
    if problems:
        raise SystemExit("compaction output differs:\n  " + "\n  ".join(problems[:10]))
    return files_in, files_out, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--symbols", type=int, default=200)
    parser.add_argument("--seconds-per-event", type=int, default=1)
    parser.add_argument("--data-dir", type=Path,
                        default=Path(tempfile.gettempdir()) / "crypto-live-bench-compaction")
    args = parser.parse_args()
    symbols = symbols_of(args.symbols)
    source = generate(args.data_dir, symbols, args.seconds_per_event)
    with tempfile.TemporaryDirectory(dir=args.data_dir) as work:
        root = Path(work)
        linked_copy(source, root)
        run = run_measured(COMPACTION.format(bucket=BUCKET, day=DAY, root=str(root)))
        files_in, files_out, rows = check(source, root, symbols)
    summary = run.result
    reported = {"files_in": files_in, "files_out": files_out, "rows": rows}
    if any(summary[name] != value for name, value in reported.items()):
        raise SystemExit(f"the compaction reports {json.dumps(summary)}, the files hold "
                         f"{reported}")
    seconds = summary["seconds"]
    print(f"day {DAY}: {len(symbols)} symbols, an event every {args.seconds_per_event} s each; "
          f"the compaction's own summary: {summary['partitions_compacted']} partitions, "
          f"{summary['bytes'] / 2**20:,.0f} MB written")
    print(f"{'files in':>9}{'files out':>11}{'rows':>13}{'seconds':>9}{'rows/s':>12}"
          f"{'peak RSS MB':>13}{'CPU s':>8}")
    print(f"{files_in:>9,}{files_out:>11,}{rows:>13,}{seconds:>9.1f}{rows / seconds:>12,.0f}"
          f"{run.rss_mb:>13,.0f}{run.cpu_seconds:>8.1f}")
    print(f"exact: every symbol's {rows // len(symbols):,} rows compacted once each, sorted by "
          "event time, equal to its hourly files'")
    print(f"target: peak RSS <= 600 MB ({'met' if run.rss_mb <= 600 else 'NOT met'})")

if __name__ == "__main__":
    main()
