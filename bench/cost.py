"""What the stack costs a month with its default settings, in us-east-1, as Markdown tables.

    .venv/bin/python bench/cost.py

Four workloads: ten symbols (the default stream list) and the whole market (``!miniTicker@arr``),
each with the hot table at every event and at a resolution of `RESOLUTION_SECONDS`. Nothing
here is copied from elsewhere:

- the load (events, bytes and records a second) is `stacks.capacity.estimate_load` of the
  stream list, from the record contract's planning figures (`miniticker.kinesis_record`);
- the settings are `stacks.settings.Settings`'s defaults (shards, batching, retention, Firehose,
  S3 lifecycle, price metrics), checked by `stacks.settings.check_capacity` as a synthesis
  would; the sizes of the Fargate task, the Lambda function and the Glue job are their
  constructs' constants;
- item sizes are those of the consumer's own items (`lambdas.consumer`) for generated records,
  the gzip ratio is measured on generated lines (`market_sim`), and the ClosePrice metric's log
  bytes on the consumer's own EMF output;
- prices are list prices, in `Price` below with the day they were taken.

What nothing here measures is an assumption: its name starts with ``ASSUMED_`` and the output
lists it under the tables. The README's cost section is this script's output between its
``cost-table`` markers (``tests/test_cost.py`` keeps them equal).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import math
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lambdas.consumer.items import event_item
from lambdas.consumer.observability import publish_close_prices
from lambdas.consumer.summaries import candle_item, candles_of, latest_item
from market_sim import POPULAR, WHOLE_MARKET, MarketDataGenerator
from miniticker import (
    ALL_MARKET_STREAM,
    MiniTicker,
    normalize_message,
    to_json_line,
)
from miniticker.hot_table import MINUTE_MS, event_item_key
from miniticker.kinesis_record import WHOLE_MARKET_EVENTS_PER_SECOND
from stacks.capacity import StreamLoad, estimate_load
from stacks.catalog_etl import JOB_CAPACITY_DPU
from stacks.consumer import MEMORY_MB
from stacks.ingest_service import TASK_CPU, TASK_MEMORY_MIB
from stacks.settings import (
    DEFAULT_STREAMS,
    Settings,
    check_capacity,
    default_secret_name,
)

#: The hot table's coarser resolution in the comparison: one event item per symbol a minute,
#: the candles' own step, is what a page that charts minutes needs.
RESOLUTION_SECONDS = 60

HOURS_PER_MONTH = 730  # AWS's billing month
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600
SECONDS_PER_DAY = 86_400
KB, GB = 1024, 1024**3


class Price:
    """us-east-1 list prices in USD, taken on 2026-12-01 from the services' pricing pages (the
    on-demand rates of the first tier; no free tier counted)."""

    TAKEN = "2026-12-01"
    KINESIS_SHARD_HOUR = 0.015  # provisioned mode, a shard an hour
    KINESIS_PUT_UNITS_MILLION = 0.014  # a million PUT payload units (25 KB of a record each)
    KINESIS_PUT_UNIT_BYTES = 25 * KB
    FIREHOSE_GB = 0.029  # ingested from a Kinesis stream, each record rounded up to 5 KB
    FIREHOSE_STEP_BYTES = 5 * KB
    S3_STANDARD_GB_MONTH = 0.023
    S3_STANDARD_IA_GB_MONTH = 0.0125
    S3_PUT_THOUSAND = 0.005  # PUT, COPY, POST and LIST requests, a thousand
    S3_GET_THOUSAND = 0.0004  # GET, HEAD and the others (DELETE is free), a thousand
    LAMBDA_REQUESTS_MILLION = 0.20
    LAMBDA_ARM_GB_SECOND = 0.0000133334
    DYNAMODB_WRITE_UNITS_MILLION = 0.625  # on-demand, a write unit per KB of an item
    DYNAMODB_READ_UNITS_MILLION = 0.125  # on-demand, a strongly consistent 4 KB read
    DYNAMODB_WRITE_UNIT_BYTES = 1 * KB
    DYNAMODB_READ_UNIT_BYTES = 4 * KB
    DYNAMODB_STORAGE_GB_MONTH = 0.25  # standard table class
    DYNAMODB_PITR_GB_MONTH = 0.20  # continuous backups, on the table's size
    DYNAMODB_ITEM_OVERHEAD_BYTES = 100  # what DynamoDB adds to each item's stored size
    FARGATE_ARM_VCPU_HOUR = 0.03238  # Linux/ARM
    FARGATE_ARM_GB_HOUR = 0.00356
    PUBLIC_IPV4_HOUR = 0.005  # the task's public address
    GLUE_DPU_HOUR = 0.44  # Python shell: billed by the second, one minute at least
    GLUE_MINIMUM_SECONDS = 60
    CLOUDWATCH_METRIC_MONTH = 0.30  # a custom metric, first 10,000
    CLOUDWATCH_LOGS_GB = 0.50  # log data ingested (the EMF documents)


# What nothing in the repository measures (printed under the tables):
#: The consumer's work an invocation, on the function's CPU (`stacks.consumer.MEMORY_MB`: one
#: vCPU): a fixed part (framing, the round trips that cannot overlap), each event (decode,
#: validate, build its item) and each latest and candle item (botocore's work for its call;
#: the calls' waits overlap on the writer's threads). ``bench/bench_consumer.py`` measures the
#: handler's CPU on this machine.
ASSUMED_INVOCATION_FIXED_SECONDS = 0.1
ASSUMED_SECONDS_PER_EVENT = 0.000_05
ASSUMED_SECONDS_PER_SUMMARY_ITEM = 0.000_75
#: The Glue job's pace on its 1/16 DPU (``bench/bench_raw_to_parquet.py`` measures it on a
#: whole machine).
ASSUMED_GLUE_EVENTS_PER_SECOND = 20_000

#: The hourly Glue run's S3 requests a symbol an hour, measured by
#: ``bench/bench_curation_cost.py`` on the generated whole market (9,200 PUTs and 3,151 GETs for
#: 1,533 symbols): each of the three tables' file of an event hour is written twice (the raw hour
#: before holds the event hour's first seconds) and the events' file read once to merge into it.
CURATION_PUTS_PER_SYMBOL_HOUR = 6
CURATION_GETS_PER_SYMBOL_HOUR = 2

#: The generated sample of the whole market (symbols, seconds) that item sizes and the gzip
#: ratio are measured on: every few symbols of `market_sim.WHOLE_MARKET`, to spare generating
#: them all. gzip's 32 KB window holds fewer lines than the sample has symbols, as it does in
#: the whole market's archive, so the sample compresses as the market would. A minute, so that
#: its candles are whole.
MARKET_SAMPLE_SYMBOLS = 300
MARKET_SAMPLE_SECONDS = 60
#: Ten symbols are generated as they are, for one Firehose buffer interval.
TEN_SYMBOL_SAMPLE_SECONDS = 300
SEED = 14


@dataclass(frozen=True)
class Workload:
    name: str
    settings: Settings  # the defaults for this stream list (and resolution)
    load: StreamLoad
    symbols: int  # distinct symbols a second
    sample_symbols: tuple[str, ...]  # generated, for sizes and the gzip ratio
    sample_seconds: int


def workloads() -> list[Workload]:
    ten = Settings(env_name="cost", streams=DEFAULT_STREAMS,
                   secret_name=default_secret_name("cost"))
    market = replace(ten, streams=(ALL_MARKET_STREAM,))
    found = []
    for label, settings, symbols, sample, seconds in (
            (f"{len(DEFAULT_STREAMS)} symbols", ten, len(DEFAULT_STREAMS), POPULAR,
             TEN_SYMBOL_SAMPLE_SECONDS),
            # One event a second each (the planning figure counts the symbols that changed).
            ("whole market", market, WHOLE_MARKET_EVENTS_PER_SECOND,
             WHOLE_MARKET[::max(1, len(WHOLE_MARKET) // MARKET_SAMPLE_SYMBOLS)]
             [:MARKET_SAMPLE_SYMBOLS], MARKET_SAMPLE_SECONDS)):
        for resolution in (settings.hot_table_resolution_seconds, RESOLUTION_SECONDS):
            configured = replace(settings, hot_table_resolution_seconds=resolution)
            check_capacity(configured)  # the defaults carry it, as synthesis would check
            when = "every event" if resolution == 0 else f"{resolution} s"
            found.append(Workload(f"{label}, {when}", configured,
                                  estimate_load(configured.streams), symbols, tuple(sample),
                                  seconds))
    return found


# --- measured on generated data -------------------------------------------------------------

@cache
def generated(symbols: tuple[str, ...], seconds: int) -> tuple[MiniTicker, ...]:
    generator = MarketDataGenerator(symbols, seed=SEED)
    return tuple(normalize_message(payload, received_at=payload["E"]).records[0]
                 for tick in generator.ticks(seconds) for payload in tick)


def gzip_ratio(records: Sequence[MiniTicker]) -> float:
    """Raw bytes over gzip bytes of the records' lines in arrival order, as Firehose writes
    them (default compression level)."""
    raw = b"".join(to_json_line(record) for record in records)
    return len(raw) / len(gzip.compress(raw))


def sample_gzip_ratio(workload: Workload) -> float:
    return gzip_ratio(generated(workload.sample_symbols, workload.sample_seconds))


def attribute_bytes(value: dict[str, Any]) -> int:
    """DynamoDB's size of one attribute value: a string's UTF-8 bytes; a number's significant
    digits, two a byte, plus one; a set, the sum of its members."""
    ((kind, content),) = value.items()
    if kind == "S":
        return len(content.encode())
    if kind == "N":
        digits = Decimal(content).normalize().as_tuple().digits
        return math.ceil(len(digits) / 2) + 1
    if kind == "NS":
        return sum(attribute_bytes({"N": member}) for member in content)
    raise ValueError(f"no size rule for DynamoDB type {kind}")


def item_bytes(item: dict[str, dict[str, Any]]) -> int:
    """An item's size as DynamoDB bills it: attribute names and values."""
    return sum(len(name.encode()) + attribute_bytes(value) for name, value in item.items())


@dataclass(frozen=True)
class ItemSizes:
    event: int
    latest: int
    candle: int  # the largest: a whole minute's candle


@cache
def item_sizes(symbols: tuple[str, ...], seconds: int, retention_seconds: int) -> ItemSizes:
    records = generated(symbols, seconds)
    event = max(item_bytes(event_item(r, event_item_key(r), retention_seconds))
                for r in records)
    latest = max(item_bytes(latest_item(r, retention_seconds)) for r in records)
    candle = max(item_bytes(candle_item(c, 1, retention_seconds))
                 for c in candles_of(records).values())
    return ItemSizes(event, latest, candle)


@cache
def close_price_document_bytes() -> int:
    """One ClosePrice EMF document, as the consumer prints it (one per symbol an invocation)."""
    (record, *_) = generated(tuple(POPULAR), 1)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        publish_close_prices({record.symbol: record})
    return len(printed.getvalue().encode())


# --- the model ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Flow:
    """A workload's rates a second, from its load and the event source mapping's settings."""

    record_bytes: float  # the average record
    invocations: float
    events_per_invocation: float
    symbols_per_invocation: float
    event_writes: float  # event items written (one per key a batch touches)
    latest_writes: float
    candle_writes: float  # each read (BatchGetItem) once, then written
    batch_seconds: float  # seconds of market a batch gathers
    invocation_seconds: float  # assumed, see ASSUMED_*


def flow(workload: Workload) -> Flow:
    settings, load = workload.settings, workload.load
    window = settings.consumer_batching_window_seconds
    if window == 0:
        raise ValueError("the model needs a batching window: the defaults have one")
    # The mapping reads each shard through `parallelization_factor` batchers, each closing a
    # batch at the batch size or at the window, whichever comes first (records spread evenly).
    batchers = settings.shard_count * settings.consumer_parallelization_factor
    records_per_batcher = load.records / batchers
    batches_per_batcher = min(records_per_batcher,
                              max(1 / window, records_per_batcher / settings.consumer_batch_size))
    invocations = batchers * batches_per_batcher
    span = 1 / batches_per_batcher  # seconds of market in one batch
    events_per_invocation = load.events / invocations
    symbols_in_batch = min(workload.symbols, events_per_invocation)
    per_symbol = events_per_invocation / symbols_in_batch  # a symbol's events in a batch

    def keys_touched(width_seconds: int) -> float:
        # Per symbol and batch: every event (width 0), or the width-second buckets its span
        # overlaps (1 + span / width on average), never more than its events.
        return per_symbol if width_seconds == 0 else min(per_symbol, 1 + span / width_seconds)

    touched = invocations * symbols_in_batch
    latest_writes = touched  # one conditional put per symbol a batch
    candle_writes = touched * keys_touched(MINUTE_MS // 1000)
    seconds = (ASSUMED_INVOCATION_FIXED_SECONDS
               + ASSUMED_SECONDS_PER_EVENT * events_per_invocation
               + ASSUMED_SECONDS_PER_SUMMARY_ITEM * (latest_writes + candle_writes)
               / invocations)
    return Flow(load.bytes / load.records, invocations, events_per_invocation,
                symbols_in_batch, touched * keys_touched(settings.hot_table_resolution_seconds),
                latest_writes, candle_writes, span, seconds)


Line = tuple[str, Callable[[Workload, Flow], float]]


def monthly(per_second: float) -> float:
    return per_second * SECONDS_PER_MONTH


def units(size: float, unit: int) -> int:
    return max(1, math.ceil(size / unit))


def kinesis_shards(w: Workload, f: Flow) -> float:
    # shards x hours a month x price a shard-hour
    return w.settings.shard_count * HOURS_PER_MONTH * Price.KINESIS_SHARD_HOUR


def kinesis_put_units(w: Workload, f: Flow) -> float:
    # records a second x PUT units a record (25 KB each) x seconds a month x price a unit
    per_record = units(f.record_bytes, Price.KINESIS_PUT_UNIT_BYTES)
    return monthly(w.load.records * per_record) / 1e6 * Price.KINESIS_PUT_UNITS_MILLION


def firehose(w: Workload, f: Flow) -> float:
    # records a second x each record rounded up to 5 KB x seconds a month x price a GB
    billed = units(f.record_bytes, Price.FIREHOSE_STEP_BYTES) * Price.FIREHOSE_STEP_BYTES
    return monthly(w.load.records * billed) / GB * Price.FIREHOSE_GB


def s3_raw(w: Workload, f: Flow) -> float:
    # gzip GB a day x (days in Standard x its price + days in Standard-IA x its price), the
    # steady state of the raw lifecycle: transition_days in Standard, then IA until expiry
    s = w.settings
    gb_a_day = w.load.bytes * SECONDS_PER_DAY / sample_gzip_ratio(w) / GB
    return gb_a_day * (s.raw_transition_days * Price.S3_STANDARD_GB_MONTH
                       + (s.raw_expiration_days - s.raw_transition_days)
                       * Price.S3_STANDARD_IA_GB_MONTH)


def lambda_requests(w: Workload, f: Flow) -> float:
    # invocations a second x seconds a month x price a request
    return monthly(f.invocations) / 1e6 * Price.LAMBDA_REQUESTS_MILLION


def lambda_duration(w: Workload, f: Flow) -> float:
    # invocations a second x assumed seconds each x memory GB x seconds a month x price a GB-s
    return (monthly(f.invocations * f.invocation_seconds) * MEMORY_MB / 1024
            * Price.LAMBDA_ARM_GB_SECOND)


def sizes(w: Workload) -> ItemSizes:
    return item_sizes(w.sample_symbols, w.sample_seconds,
                      w.settings.retention_days * SECONDS_PER_DAY)


def dynamodb_event_items(w: Workload, f: Flow) -> float:
    # event items written a second x write units an item x seconds a month x price a unit
    wru = units(sizes(w).event, Price.DYNAMODB_WRITE_UNIT_BYTES)
    return monthly(f.event_writes * wru) / 1e6 * Price.DYNAMODB_WRITE_UNITS_MILLION


def dynamodb_latest_items(w: Workload, f: Flow) -> float:
    # latest puts a second (one per symbol a batch) x write units x seconds a month x price
    wru = units(sizes(w).latest, Price.DYNAMODB_WRITE_UNIT_BYTES)
    return monthly(f.latest_writes * wru) / 1e6 * Price.DYNAMODB_WRITE_UNITS_MILLION


def dynamodb_candles(w: Workload, f: Flow) -> float:
    # candle merges a second (one per symbol-minute a batch) x (write units x write price +
    # strongly consistent read units x read price) x seconds a month
    candle = sizes(w).candle
    writes = units(candle, Price.DYNAMODB_WRITE_UNIT_BYTES) * Price.DYNAMODB_WRITE_UNITS_MILLION
    reads = units(candle, Price.DYNAMODB_READ_UNIT_BYTES) * Price.DYNAMODB_READ_UNITS_MILLION
    return monthly(f.candle_writes) / 1e6 * (writes + reads)


def dynamodb_storage(w: Workload, f: Flow) -> float:
    # items kept (retention days of event items and candles, a latest item per symbol) x
    # (their bytes + DynamoDB's overhead) x (storage + PITR price a GB-month)
    s, size = w.settings, sizes(w)
    kept = s.retention_days * SECONDS_PER_DAY
    resolution = s.hot_table_resolution_seconds
    events_kept = kept * (w.load.events if resolution == 0 else w.symbols / resolution)
    candles_kept = kept * w.symbols / (MINUTE_MS // 1000)
    overhead = Price.DYNAMODB_ITEM_OVERHEAD_BYTES
    stored = (events_kept * (size.event + overhead) + candles_kept * (size.candle + overhead)
              + w.symbols * (size.latest + overhead)) / GB
    pitr = Price.DYNAMODB_PITR_GB_MONTH if s.point_in_time_recovery else 0.0
    return stored * (Price.DYNAMODB_STORAGE_GB_MONTH + pitr)


def fargate(w: Workload, f: Flow) -> float:
    # hours a month x (vCPUs x price a vCPU-hour + GB x price a GB-hour + a public IPv4)
    return HOURS_PER_MONTH * (TASK_CPU / 1024 * Price.FARGATE_ARM_VCPU_HOUR
                              + TASK_MEMORY_MIB / 1024 * Price.FARGATE_ARM_GB_HOUR
                              + Price.PUBLIC_IPV4_HOUR)


def glue(w: Workload, f: Flow) -> float:
    # runs a month x billed hours a run (an hour's events at the assumed pace, one minute at
    # least) x DPUs x price a DPU-hour
    runs = runs_a_month(w.settings.etl_schedule)
    seconds = max(Price.GLUE_MINIMUM_SECONDS,
                  w.load.events * 3600 / ASSUMED_GLUE_EVENTS_PER_SECOND)
    return runs * seconds / 3600 * JOB_CAPACITY_DPU * Price.GLUE_DPU_HOUR


def curation_requests(w: Workload, f: Flow) -> float:
    # hours a month x symbols x (PUTs x price + GETs x price), per thousand requests
    return HOURS_PER_MONTH * w.symbols * (
        CURATION_PUTS_PER_SYMBOL_HOUR * Price.S3_PUT_THOUSAND
        + CURATION_GETS_PER_SYMBOL_HOUR * Price.S3_GET_THOUSAND) / 1000


def runs_a_month(schedule: str) -> int:
    """Runs of an hourly EventBridge cron (the default schedule) in a billing month."""
    fields = re.fullmatch(r"cron\((.+)\)", schedule)
    if not fields or fields.group(1).split()[1:] != ["*", "*", "*", "?", "*"]:
        raise ValueError(f"the model knows hourly cron schedules only, not {schedule!r}")
    return HOURS_PER_MONTH


def close_price_metrics(w: Workload, f: Flow) -> float:
    # with price metrics on: symbols x price a metric-month + EMF documents (one per symbol
    # a batch) x their bytes x seconds a month x price a GB of logs
    if not w.settings.price_metrics:
        return 0.0
    logs = monthly(f.latest_writes * close_price_document_bytes()) / GB
    return w.symbols * Price.CLOUDWATCH_METRIC_MONTH + logs * Price.CLOUDWATCH_LOGS_GB


LINES: tuple[Line, ...] = (
    ("Kinesis shard-hours", kinesis_shards),
    ("Kinesis PUT payload units", kinesis_put_units),
    ("Firehose ingestion (5 KB steps)", firehose),
    ("S3 raw archive (gzip)", s3_raw),
    ("Lambda requests", lambda_requests),
    ("Lambda duration (assumed)", lambda_duration),
    ("DynamoDB event items", dynamodb_event_items),
    ("DynamoDB latest items", dynamodb_latest_items),
    ("DynamoDB candles (read, write)", dynamodb_candles),
    ("DynamoDB storage and PITR", dynamodb_storage),
    ("Fargate task and its IPv4", fargate),
    ("Glue job runs (assumed pace)", glue),
    ("S3 requests of the curated tables", curation_requests),
    ("CloudWatch ClosePrice metrics", close_price_metrics),
)


def monthly_costs(workload: Workload, rates: Flow | None = None) -> dict[str, float]:
    """Each line item's dollars a month for ``workload``."""
    rates = rates or flow(workload)
    return {name: line(workload, rates) for name, line in LINES}


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.2f}".rstrip("0").rstrip(".")


def cost_table() -> str:
    """The Markdown the README shows: the workloads' rates, their monthly cost by part, and
    the assumptions."""
    found = workloads()
    flows = [flow(w) for w in found]
    head = [_row(["", *(w.name for w in found)]), _row(["---", *("---:" for _ in found)])]
    rates: list[tuple[str, Callable[[Workload, Flow], float]]] = [
        ("events/s", lambda w, f: w.load.events),
        ("Kinesis records/s", lambda w, f: w.load.records),
        ("bytes a record", lambda w, f: f.record_bytes),
        ("invocations/s", lambda w, f: f.invocations),
        ("events an invocation", lambda w, f: f.events_per_invocation),
        ("seconds of market a batch", lambda w, f: f.batch_seconds),
        ("seconds an invocation (assumed)", lambda w, f: f.invocation_seconds),
        ("event items written/s", lambda w, f: f.event_writes),
        ("latest and candle writes/s", lambda w, f: f.latest_writes + f.candle_writes),
    ]
    lines = ["**Workload**, with the default settings:", "", *head]
    lines += [_row([name, *(_number(rate(w, f)) for w, f in zip(found, flows))])
              for name, rate in rates]
    lines += ["", f"**Cost**, $ a month (us-east-1 list prices of {Price.TAKEN}):", "", *head]
    costs = [monthly_costs(w, f) for w, f in zip(found, flows)]
    for name, _ in LINES:
        lines.append(_row([name, *(f"{c[name]:,.2f}" for c in costs)]))
    lines.append(_row(["**total**", *(f"**{sum(c.values()):,.0f}**" for c in costs)]))
    ratios = ", ".join(f"{w.name.split(',')[0]} {sample_gzip_ratio(w):.1f}"
                       for w in found[::2])
    lines += ["", "Assumptions, not measured here: an invocation takes "
              f"{ASSUMED_INVOCATION_FIXED_SECONDS} s, plus {ASSUMED_SECONDS_PER_EVENT * 1e3:g} ms "
              f"an event and {ASSUMED_SECONDS_PER_SUMMARY_ITEM * 1e3:g} ms a latest or candle "
              f"item; the Glue job converts {ASSUMED_GLUE_EVENTS_PER_SECOND:,} events a second. "
              f"Measured on generated lines: gzip ratio {ratios}."]
    return "\n".join(lines)


def main() -> None:
    print(cost_table())


if __name__ == "__main__":
    main()
