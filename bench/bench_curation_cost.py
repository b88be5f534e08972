"""What the hourly Glue job costs an hour of the whole market: S3 requests, bytes, seconds, memory.

    .venv/bin/python bench/bench_curation_cost.py [--minutes 60] [--data-dir DIR]

Two consecutive raw hours H and H+1 of the whole market (`market_sim.WHOLE_MARKET`, the local
mode's ``--market all``: one tick a second, each symbol updating with its own ``activity``) as
Firehose would file them: gzip JSON lines (`miniticker.to_json_line`) under
`miniticker.layout.raw_hour_prefix`. The real hourly job (`curation.hourly.run`, no catalog)
runs over a local folder (``bench/local_s3.py``, which counts S3's requests and bytes) for H,
then H+1, then H again (a rerun must write no curated file), each in a process of its own
(peak RSS and CPU from wait4). H+1 is the steady state: it merges into the files of event hour
H+1 that run H started, as every run after the first does.

The arrival model (what decides which raw hour an event lands in):

- an event arrives (Kinesis's arrival time) at its event time plus the frame's network delay
  (`ASSUMED_NETWORK_MS`, drawn per tick, seeded) plus the ingester's linger before a PutRecords
  call (`ingest.limits.LINGER_SECONDS`);
- Firehose starts a buffer with its first record and delivers it as one object when it holds
  the stack's ``firehose_buffer_mb`` of incoming (uncompressed) data or its oldest record is
  ``firehose_buffer_seconds`` old (`stacks.settings.Settings`' defaults); the object is filed
  under the hour of its oldest record's arrival;
- the cuts' phase against the clock hour depends on when the stream started: one object is
  made to start ``--boundary-lead`` seconds before H+1 (default 30), so the object straddling
  the hour is filed under H and carries H+1's first seconds into raw hour H. Events of H reach
  raw H+1 only if a cut falls within their delay after the hour; the run prints how many did.

``--minutes M`` generates the last M minutes of H and the first M minutes of H+1 (plus the
object open at the end): requests a file (per symbol and event hour) do not scale with M,
events and bytes do. S3's own latency is not modelled: a local folder answers at once.
The generated hours are kept in ``--data-dir`` and reused.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import posixpath
import random
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_raw_to_parquet import Measured, job_workers, run_measured  # noqa: E402
from bench.cost import HOURS_PER_MONTH, Price  # noqa: E402
from bench.local_s3 import FAMILIES, KINDS  # noqa: E402
from glue_jobs.curation.days import lock_key  # noqa: E402
from glue_jobs.curation.settings import HOUR_FORMAT  # noqa: E402
from ingest.limits import LINGER_SECONDS  # noqa: E402
from market_sim import WHOLE_MARKET, MarketDataGenerator  # noqa: E402
from miniticker import layout, normalize, to_json_line  # noqa: E402
from stacks.catalog_etl import JOB_CAPACITY_DPU  # noqa: E402
from stacks.settings import Settings as StackSettings  # noqa: E402

HOUR = "2026-11-24T10"  # H; H+1 follows
BUCKET = "bench"
SEED = 15
DATA_VERSION = "v1"
#: Assumed: Binance's frame to the ingester, drawn per tick (nothing here measures it).
ASSUMED_NETWORK_MS = (20, 250)
GZIP_LEVEL = 6
MIB = 1024 * 1024


KIND_PRICE = {"PUT": Price.S3_PUT_THOUSAND, "LIST": Price.S3_PUT_THOUSAND,
              "GET": Price.S3_GET_THOUSAND, "HEAD": Price.S3_GET_THOUSAND, "DELETE": 0.0}
#: The counts' families: the bucket's, with the day locks apart from the other manifests.
LOCKS_PREFIX = posixpath.dirname(lock_key(layout.MANIFEST_PREFIX, "D")) + "/"
COUNTED_FAMILIES = (("locks", LOCKS_PREFIX), *FAMILIES)


def hour_start(offset_hours: int = 0) -> datetime:
    return layout.parse_hour(HOUR) + timedelta(hours=offset_hours)


def epoch_ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


# --- the generated raw hours --------------------------------------------------------------------

class RawObject(NamedTuple):
    oldest_ms: int  # its oldest record's arrival: the hour it is filed under
    lines: list[bytes]
    event_hours: Counter[str]  # its events by event hour


class FirehoseModel:
    """Records (in arrival order) into objects as Firehose cuts them; see the module's doc."""

    def __init__(self, buffer_bytes: int, buffer_ms: int, forced_cut_ms: int) -> None:
        self.buffer_bytes = buffer_bytes
        self.buffer_ms = buffer_ms
        self.forced_cut_ms = forced_cut_ms
        self.lines: list[bytes] = []
        self.size = 0
        self.oldest_ms = 0
        self.event_hours: Counter[str] = Counter()  # the buffer's events by event hour

    def add(self, arrival_ms: int, line: bytes, event_hour: str) -> Iterator[RawObject]:
        """Take one record; yields each object it completes."""
        if self.lines and (arrival_ms - self.oldest_ms >= self.buffer_ms
                           or self.oldest_ms < self.forced_cut_ms <= arrival_ms):
            yield self.cut()
        if not self.lines:
            self.oldest_ms = arrival_ms
        self.lines.append(line)
        self.size += len(line)
        self.event_hours[event_hour] += 1
        if self.size >= self.buffer_bytes:
            yield self.cut()

    def cut(self) -> RawObject:
        done = RawObject(self.oldest_ms, self.lines, self.event_hours)
        self.lines, self.size, self.event_hours = [], 0, Counter()
        return done


class RawWriter:
    """Writes objects under their raw hours as Firehose names them, and counts what each raw
    hour holds."""

    def __init__(self, bucket_root: Path, stop_ms: int) -> None:
        self.bucket_root = bucket_root
        self.stop_ms = stop_ms
        self.names = random.Random(f"{SEED}:names")
        self.hours: dict[str, dict[str, Any]] = {}

    def write(self, made: RawObject) -> bool:
        """Write one object; False once it is the first past the last to keep."""
        if made.oldest_ms >= self.stop_ms:
            return False
        oldest = datetime.fromtimestamp(made.oldest_ms / 1000, tz=timezone.utc)
        directory = self.bucket_root / BUCKET / layout.raw_hour_prefix(layout.RAW_PREFIX, oldest)
        directory.mkdir(parents=True, exist_ok=True)
        name = (f"bench-raw-1-{oldest:%Y-%m-%d-%H-%M-%S}-"
                f"{uuid.UUID(int=self.names.getrandbits(128), version=4)}.gz")
        data = gzip.compress(b"".join(made.lines), compresslevel=GZIP_LEVEL)
        (directory / name).write_bytes(data)
        found = self.hours.setdefault(oldest.strftime(HOUR_FORMAT), {
            "objects": 0, "gzip_bytes": 0, "text_bytes": 0, "events": 0, "by_event_hour": {}})
        found["objects"] += 1
        found["gzip_bytes"] += len(data)
        found["text_bytes"] += sum(len(line) for line in made.lines)
        found["events"] += len(made.lines)
        for hour, count in made.event_hours.items():
            found["by_event_hour"][hour] = found["by_event_hour"].get(hour, 0) + count
        return True


class Generated(NamedTuple):
    root: Path  # the bucket folder holding raw/...
    facts: dict[str, Any]  # counts by raw hour, as generated


def generate(data_dir: Path, minutes: int, boundary_lead: int, symbols: int) -> Generated:
    """The two raw hours of the first ``symbols`` of the market (reused when already there for
    these arguments)."""
    market = WHOLE_MARKET[:symbols]
    folder = data_dir / (f"whole-market-{DATA_VERSION}-{minutes}m-lead{boundary_lead}s"
                         + ("" if len(market) == len(WHOLE_MARKET) else f"-{len(market)}"))
    facts_path = folder / "facts.json"
    if facts_path.exists():
        return Generated(folder / "bucket", json.loads(facts_path.read_text()))
    shutil.rmtree(folder, ignore_errors=True)
    began = time.perf_counter()
    buffer_mb, buffer_seconds = (StackSettings.firehose_buffer_mb,
                                 StackSettings.firehose_buffer_seconds)
    boundary_ms = epoch_ms(hour_start(1))
    model = FirehoseModel(buffer_mb * MIB, buffer_seconds * 1000,
                          boundary_ms - boundary_lead * 1000)
    writer = RawWriter(folder / "bucket", boundary_ms + minutes * 60_000)
    generator = MarketDataGenerator(market, seed=SEED,
                                    start_ms=boundary_ms - minutes * 60_000)
    delays = random.Random(f"{SEED}:delays")
    linger_ms = round(LINGER_SECONDS * 1000)
    hour_names: dict[int, str] = {}  # event-hour start ms -> its name
    ticks = 0
    writing = True
    while writing:
        network_ms = delays.randint(*ASSUMED_NETWORK_MS)
        for payload in generator.next_tick():
            received = payload["E"] + network_ms
            line = to_json_line(normalize(payload, received_at=received))
            hour_ms = payload["E"] // 3_600_000 * 3_600_000
            if hour_ms not in hour_names:
                hour_names[hour_ms] = datetime.fromtimestamp(
                    hour_ms / 1000, tz=timezone.utc).strftime(HOUR_FORMAT)
            for made in model.add(received + linger_ms, line, hour_names[hour_ms]):
                writing = writer.write(made)
            if not writing:
                break
        ticks += 1
        if ticks % 600 == 0:
            print(f"  generated {ticks // 60} minutes of market "
                  f"({time.perf_counter() - began:.0f} s)", flush=True)
    facts = {"raw_hours": dict(sorted(writer.hours.items())), "symbols": len(market),
             "firehose_buffer_mb": buffer_mb, "firehose_buffer_seconds": buffer_seconds,
             "seconds": round(time.perf_counter() - began, 1)}
    facts_path.write_text(json.dumps(facts, indent=1))
    return Generated(folder / "bucket", facts)


# --- running the job ----------------------------------------------------------------------------

JOB = textwrap.dedent('''
    import json
    from bench.local_s3 import LocalBucket
    from glue_jobs.curation.hourly import run
    from glue_jobs.curation.settings import parse_settings
    s3 = LocalBucket({root!r}, {families!r})
    settings = parse_settings(["--bucket", {bucket!r}, "--hour", {hour!r},
                               "--register-partitions", "false"])
    summary = run(settings, s3=s3)
    print(json.dumps({{"summary": summary, "stats": s3.stats}}))
''')


def run_job(root: Path, hour: str) -> Measured:
    return run_measured(JOB.format(root=str(root), families=COUNTED_FAMILIES, bucket=BUCKET,
                                   hour=hour))


def requests_by_kind(stats: dict[str, Any]) -> Counter[str]:
    total: Counter[str] = Counter()
    for kinds in stats["requests"].values():
        total.update(kinds)
    return total


def request_dollars(stats: dict[str, Any]) -> float:
    return sum(count * KIND_PRICE[kind] / 1000
               for kind, count in requests_by_kind(stats).items())


def glue_dollars(seconds: float) -> float:
    """A run of the Python shell job: billed by the second, one minute at least."""
    billed = max(Price.GLUE_MINIMUM_SECONDS, seconds)
    return billed / 3600 * JOB_CAPACITY_DPU * Price.GLUE_DPU_HOUR


CURATED = ("events", "candles", "coverage")


def report(runs: dict[str, Measured]) -> None:
    head = (f"{'run':<18}{'lines':>11}{'seconds':>9}{'CPU s':>8}{'RSS MB':>8}"
            + "".join(f"{kind:>8}" for kind in KINDS)
            + f"{'MB read':>9}{'MB wrtn':>9}{'files':>7}{'rows_new':>11}{'already':>10}")
    print(head)
    for name, measured in runs.items():
        summary, stats = measured.result["summary"], measured.result["stats"]
        kinds = requests_by_kind(stats)
        print(f"{name:<18}{summary['lines']:>11,}{summary['seconds']:>9.1f}"
              f"{measured.cpu_seconds:>8.1f}{measured.rss_mb:>8.0f}"
              + "".join(f"{kinds[kind]:>8,}" for kind in KINDS)
              + f"{sum(stats['bytes_read'].values()) / MIB:>9.1f}"
              f"{sum(stats['bytes_written'].values()) / MIB:>9.1f}"
              f"{summary['files_written']:>7,}{summary['rows_new']:>11,}"
              f"{summary['rows_already_curated']:>10,}")
    print("\nby family of keys (requests by kind; MB read / written):")
    for name, measured in runs.items():
        stats = measured.result["stats"]
        families = sorted(set(stats["requests"]) | set(stats["bytes_written"]))
        parts = []
        for family in families:
            kinds = stats["requests"].get(family, {})
            counted = " ".join(f"{kind} {kinds[kind]:,}" for kind in KINDS if kinds.get(kind))
            parts.append(f"{family}: {counted}; {stats['bytes_read'].get(family, 0) / MIB:.1f}"
                         f" / {stats['bytes_written'].get(family, 0) / MIB:.1f}")
        print(f"  {name}: " + " | ".join(parts))


def check(runs: dict[str, Measured], facts: dict[str, Any], hours: tuple[str, str]) -> None:
    """Fail unless every generated event was curated once and the rerun wrote nothing curated."""
    problems = []
    generated = sum(facts["raw_hours"].get(h, {}).get("events", 0) for h in hours)
    new = sum(runs[f"{h}"].result["summary"]["rows_new"] for h in hours)
    if new != generated:
        problems.append(f"rows_new {new:,} over both hours, generated {generated:,}")
    rerun = runs[f"{hours[0]} rerun"].result
    curated_puts = sum(rerun["stats"]["requests"].get(f, {}).get("PUT", 0) for f in CURATED)
    if curated_puts or rerun["summary"]["files_written"] or rerun["summary"]["rows_new"]:
        problems.append(f"the rerun of {hours[0]} wrote {curated_puts} curated objects, "
                        f"{rerun['summary']['rows_new']:,} new rows")
    if problems:
        raise SystemExit("not exactly once:\n  " + "\n  ".join(problems))
    print(f"exact: {generated:,} generated events curated once over both hours; the rerun of "
          f"{hours[0]} wrote no curated file ({rerun['summary']['rows_already_curated']:,} rows "
          "already curated)")


def costs(runs: dict[str, Measured], steady: str, minutes: int) -> None:
    summary, stats = runs[steady].result["summary"], runs[steady].result["stats"]
    requests = request_dollars(stats)
    glue = glue_dollars(summary["seconds"])
    kinds = requests_by_kind(stats)
    print(f"\ncost of an hour, from run {steady} (the steady state; {minutes} minutes of market "
          "a raw hour), us-east-1 list prices:")
    print(f"  S3 requests: {kinds['PUT'] + kinds['LIST']:,} PUT/LIST x "
          f"${Price.S3_PUT_THOUSAND}/1,000 + {kinds['GET'] + kinds['HEAD']:,} GET/HEAD x "
          f"${Price.S3_GET_THOUSAND}/1,000 = ${requests:.4f}")
    print(f"  Glue Python shell: {summary['seconds']:.1f} s measured here (billed "
          f"{max(Price.GLUE_MINIMUM_SECONDS, summary['seconds']):.0f} s, one minute at least) "
          f"x {JOB_CAPACITY_DPU} DPU x ${Price.GLUE_DPU_HOUR}/DPU-hour = ${glue:.4f}")
    print(f"  total ${requests + glue:.4f} an hour, ${(requests + glue) * HOURS_PER_MONTH:,.2f} "
          f"a month ({HOURS_PER_MONTH} hours); pace {summary['lines'] / summary['seconds']:,.0f} "
          f"lines/s on this machine ({os.cpu_count()} cores, {job_workers()} "
          "workers): a 1/16-DPU worker's share of a CPU and S3's latency are not modelled")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=int, default=60,
                        help="minutes of market in each raw hour (1..60)")
    parser.add_argument("--boundary-lead", type=int, default=30,
                        help="seconds before H+1 at which a Firehose object starts")
    parser.add_argument("--data-dir", type=Path,
                        default=Path(tempfile.gettempdir()) / "crypto-live-bench-cost")
    parser.add_argument("--symbols", type=int, default=len(WHOLE_MARKET),
                        help="the first N symbols of the market only (a smoke test)")
    parser.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not 1 <= args.minutes <= 60:
        parser.error("--minutes is 1..60")
    if args.symbols < 1:
        parser.error("--symbols is at least 1")
    if args.generate_only:
        generate(args.data_dir, args.minutes, args.boundary_lead, args.symbols)
        return
    # A child's peak RSS (wait4) counts from this process's, which it is forked from: the
    # generator (a day of history for every symbol) runs in a process of its own.
    subprocess.run([sys.executable, __file__, "--generate-only", "--minutes", str(args.minutes),
                    "--boundary-lead", str(args.boundary_lead), "--data-dir", str(args.data_dir),
                    "--symbols", str(args.symbols)], check=True)
    hours = (hour_start(0).strftime(HOUR_FORMAT), hour_start(1).strftime(HOUR_FORMAT))
    generated = generate(args.data_dir, args.minutes, args.boundary_lead,
                         args.symbols)  # now cached
    facts = generated.facts
    for raw_hour, found in facts["raw_hours"].items():
        print(f"raw hour {raw_hour}: {found['events']:,} events in {found['objects']} objects "
              f"({found['gzip_bytes'] / MIB:.1f} MB gzip, "
              f"{found['gzip_bytes'] / found['objects'] / MIB:.2f} MB an object, "
              f"{found['text_bytes'] / found['gzip_bytes']:.1f}:1); by event hour "
              f"{found['by_event_hour']}")
    print(f"{facts['symbols']:,} symbols; Firehose buffer {facts['firehose_buffer_mb']} MB or "
          f"{facts['firehose_buffer_seconds']} s; an object starts {args.boundary_lead} s before "
          f"{hours[1]}")
    runs: dict[str, Measured] = {}
    with tempfile.TemporaryDirectory() as work_dir:
        root = Path(work_dir) / "bucket"
        for raw in sorted((generated.root / BUCKET).glob(layout.RAW_PREFIX + "dt=*/hour=*")):
            link = root / BUCKET / raw.relative_to(generated.root / BUCKET)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(raw, target_is_directory=True)
        for name, hour in ((hours[0], hours[0]), (hours[1], hours[1]),
                           (f"{hours[0]} rerun", hours[0])):
            runs[name] = run_job(root, hour)
    report(runs)
    check(runs, facts, hours)
    costs(runs, hours[1], args.minutes)


if __name__ == "__main__":
    main()
