"""The consumer Lambda: CPU per event, its DynamoDB requests, an invocation's time at the whole
market's shape, and its cold-start import.

    .venv/bin/python bench/bench_consumer.py [--events 150000] [--repeat 3]
        [--dynamodb-ms 8] [--invocations 2] [--threads 4 --threads 8 ...]

Shapes (Kinesis-shaped events, as the event source mapping builds them):
- ``1 line/record``: a producer that does not aggregate, batches of 100 records;
- ``packed``: records packed as the ingester packs them (`pack_lines`, dozens of lines each),
  batches of the stack's default batch size, ten popular symbols;
- ``whole market``: the same over `market_sim.WHOLE_MARKET` (about 1,500 symbols) at
  `WHOLE_MARKET_EVENTS_PER_SECOND`: a batch holds most symbols several times, so a latest item
  and a candle for each.

1. Handler work: the real ``handler`` (Powertools batch, logger, metrics, tracer decorators,
   its thread pool) with a DynamoDB client that accepts every request at once: CPU per event
   without DynamoDB's time. Best of ``--repeat`` runs. Reference, same events, same run: the
   bare loop base64 -> ``lines_of`` -> ``parse_json_line``, the validation every line needs.
   The whole-market shape once more with Python's cyclic garbage collector left on during the
   batch (the handler switches it off for a batch): what that saves.
   Target: >= 20,000 events/s per core.
2. Requests: BatchWriteItem calls per 1,000 events (target: <= 40), and the calls that keep the
   latest and candle items (a PutItem per symbol and per symbol-minute, a BatchGetItem per
   hundred symbol-minutes, a batch).
3. A whole-market invocation's wall-clock time, with a DynamoDB stand-in that answers every
   request after ``--dynamodb-ms`` (8 ms by default: an assumption, not a measurement, for a
   conditional or batch write from Lambda in the table's region): a real botocore client (its
   serialising, signing and parsing are the client's CPU in Lambda too) whose requests are
   answered in process, never sent. The same batches with the writes one after the other (the
   reference) and on thread pools of several sizes; each line says whether one invocation
   stream keeps up with the whole market at the stack's default batch size, window, shards and
   parallelization factor (each of a shard's batchers gathers its share of the records): an
   invocation must end within the market time its batch spans.
   A last line: the handler's pool with ``HOT_TABLE_RESOLUTION_SECONDS=5`` (fewer event items).
   The machine's other load counts in wall-clock time; the CPU column is the invocation's own.
   Then the client's CPU a request, by operation, with botocore's parameter validation on and
   off (the handler turns it off).
4. Cold start: seconds to import the handler module in a fresh interpreter (settings, clients,
   Powertools), next to ``import boto3`` alone.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import importlib
import io
import math
import os
import statistics
import subprocess
import sys
import threading
import time
import types
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ENVIRONMENT = {"TABLE_NAME": "bench", "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
               "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
               "POWERTOOLS_TRACE_DISABLED": "true"}
os.environ.update(ENVIRONMENT)

import boto3  # noqa: E402
from botocore.awsrequest import AWSResponse  # noqa: E402
from botocore.config import Config  # noqa: E402

from lambdas.consumer.items import item_of  # noqa: E402
from lambdas.consumer.summaries import SummaryWriter, latest_item  # noqa: E402
from lambdas.consumer.writer import TableWriter  # noqa: E402
from local.lambda_context import LocalContext  # noqa: E402
from market_sim import WHOLE_MARKET, MarketDataGenerator, spec_for  # noqa: E402
from miniticker import MiniTicker, normalize, parse_json_line, to_json_line  # noqa: E402
from miniticker.kinesis_record import (  # noqa: E402
    WHOLE_MARKET_EVENTS_PER_SECOND,
    lines_of,
    pack_lines,
)
from stacks.settings import Settings  # noqa: E402
from tests.consumer_events import event_for, event_of, generated  # noqa: E402

Event = dict[str, Any]


class Shape(NamedTuple):
    name: str
    events: list[Event]
    lines: int


class AcceptAll:
    """A DynamoDB client that takes every write at once, as an empty table would (no candle
    to merge into), and counts the calls (thread-safe: the handler's pool calls it)."""

    def __init__(self) -> None:
        self.requests = 0
        self.summary_requests = 0  # latest and candle items: PutItem, BatchGetItem
        self._lock = threading.Lock()

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.requests += 1
        return {"UnprocessedItems": {}}

    def put_item(self, **_: Any) -> dict[str, Any]:
        with self._lock:
            self.summary_requests += 1
        return {}

    def batch_get_item(self, **_: Any) -> dict[str, Any]:
        with self._lock:
            self.summary_requests += 1
        return {"Responses": {}}


class _Body:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self) -> list[bytes]:
        return [self.body]


#: What DynamoDB answers a write or read of an empty table, by operation.
_ANSWERS = {"BatchWriteItem": b'{"UnprocessedItems":{}}', "PutItem": b"{}",
            "BatchGetItem": b'{"Responses":{},"UnprocessedKeys":{}}'}


class SlowDynamoDB:
    """A real botocore DynamoDB client whose requests are answered in process after a fixed
    latency, never sent (the endpoint is a closed loopback port, in case one ever were)."""

    def __init__(self, latency_seconds: float, connections: int,
                 config: Config | None = None) -> None:
        config = (config or importlib.import_module("lambdas.consumer.handler").CLIENT_CONFIG
                  ).merge(Config(max_pool_connections=connections))
        self.client = boto3.client("dynamodb", endpoint_url="http://127.0.0.1:9", config=config)
        self.client.meta.events.register("before-send.dynamodb", self._answer)
        self.latency = latency_seconds
        self.requests = 0
        self._lock = threading.Lock()

    def _answer(self, request: Any, **_: Any) -> AWSResponse:
        operation = request.headers["X-Amz-Target"].decode().rsplit(".", 1)[-1]
        time.sleep(self.latency)
        with self._lock:
            self.requests += 1
        return AWSResponse(request.url, 200,
                           {"Content-Type": "application/x-amz-json-1.0"},
                           _Body(_ANSWERS[operation]))


def bare_loop(events: list[Event]) -> float:
    start = time.process_time()
    for event in events:
        for record in event["Records"]:
            for line in lines_of(base64.b64decode(record["kinesis"]["data"])):
                parse_json_line(line)
    return time.process_time() - start


def use(module: Any, client: Any, pool: ThreadPoolExecutor | None) -> None:
    module.processor.writer = TableWriter(client, "bench", pool=pool)
    module.processor.summaries = SummaryWriter(client, "bench", pool=pool)


def invoke(module: Any, event: Event) -> None:
    with contextlib.redirect_stdout(io.StringIO()):  # EMF and logs: made, not shown
        response = module.handler(event, LocalContext("consumer", timeout_seconds=900))
    if response["batchItemFailures"]:
        raise SystemExit(f"benchmark batch had failures: {response['batchItemFailures'][:3]}")


def handler_run(module: Any, events: list[Event]) -> tuple[float, AcceptAll]:
    client = AcceptAll()
    use(module, client, module.write_pool)
    start = time.process_time()
    for event in events:
        invoke(module, event)
    return time.process_time() - start, client


def packed_events(records: list[MiniTicker], batch_records: int) -> list[Event]:
    """Records packed as the ingester packs them, in batches of ``batch_records`` records."""
    datas = pack_lines([to_json_line(r) for r in records])
    return [event_of(datas[i:i + batch_records])
            for i in range(0, len(datas), batch_records)]


def whole_market(events_wanted: int) -> list[MiniTicker]:
    """Events of `WHOLE_MARKET` at `WHOLE_MARKET_EVENTS_PER_SECOND` of event time: the
    generator's ticks are spaced so that its symbols' mean activity gives that rate."""
    activity = statistics.fmean(spec_for(s).activity for s in WHOLE_MARKET)
    interval_ms = round(1000 * activity * len(WHOLE_MARKET) / WHOLE_MARKET_EVENTS_PER_SECOND)
    generator = MarketDataGenerator(WHOLE_MARKET, seed=7, interval_ms=interval_ms,
                                    jitter_ms=interval_ms // 2)
    return [normalize(p, received_at=p["E"] + 35) for p in generator.payloads(events_wanted)]


def mapping_batch_records(lines_per_record: float) -> tuple[int, float]:
    """Records in a batch of the default mapping at the whole market's rate (the batch closes
    at its size or at its window, whichever comes first; each of a shard's
    `consumer_parallelization_factor` batchers gathers its share of the shard's records), and
    the seconds of market it spans."""
    defaults = Settings  # the dataclass's field defaults, the stack's defaults
    per_batcher = WHOLE_MARKET_EVENTS_PER_SECOND / (
        defaults.shard_count * defaults.consumer_parallelization_factor)
    in_window = math.ceil(defaults.consumer_batching_window_seconds * per_batcher
                          / lines_per_record)
    records = min(defaults.consumer_batch_size, in_window)
    return records, records * lines_per_record / per_batcher


def import_seconds(statement: str) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    output = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, text=True,
                            capture_output=True).stdout  # ENVIRONMENT is in os.environ
    return float(output)


@contextlib.contextmanager
def collector_left_on(module: Any, on: bool) -> Iterator[None]:
    """With ``on``, the handler's switching off of the cyclic collector does nothing."""
    if not on:
        yield
        return
    real = module.gc
    module.gc = types.SimpleNamespace(isenabled=lambda: False, disable=lambda: None,
                                      enable=lambda: None)
    try:
        yield
    finally:
        module.gc = real


def work_per_event(module: Any, shapes: list[Shape], repeat: int) -> None:
    print(f"1-2. handler work: best of {repeat} runs; DynamoDB calls answered at once "
          f"(their time excluded)")
    print(f"{'shape':>20}{'events':>9}{'batches':>9}{'bare ev/s':>11}{'handler ev/s':>14}"
          f"{'us/ev':>7}{'ratio':>7}{'writes/1000':>13}{'summary req/1000':>18}")
    # The last shape once more with the cyclic collector left on during the batch (the
    # handler turns it off): what that saves.
    runs = [(shape, False) for shape in shapes] + [(shapes[-1], True)]
    for shape, collecting in runs:
        bare = handler = float("inf")
        client = AcceptAll()
        for _ in range(repeat):
            bare = min(bare, bare_loop(shape.events))
            with collector_left_on(module, collecting):
                cpu, client = handler_run(module, shape.events)
            handler = min(handler, cpu)
        n = shape.lines
        name = f"{shape.name}, gc on" if collecting else shape.name
        print(f"{name:>20}{n:>9,}{len(shape.events):>9,}{n / bare:>11,.0f}"
              f"{n / handler:>14,.0f}{handler / n * 1e6:>7.1f}{bare / handler:>7.2f}"
              f"{client.requests / n * 1000:>13.1f}{client.summary_requests / n * 1000:>18.1f}")
    print("targets: >= 20,000 events/s per core of handler work, <= 40 BatchWriteItem calls "
          "per 1,000 events")


def invocation_time(module: Any, events: list[Event], span: float, latency_ms: float,
                    pools: list[int]) -> None:
    lines = sum(len(lines_of(base64.b64decode(r["kinesis"]["data"])))
                for r in events[0]["Records"])
    print(f"\n3. whole-market invocation: {len(events[0]['Records'])} records, {lines:,} events "
          f"a batch ({span:.2f} s of market for one batcher of the default mapping at "
          f"{WHOLE_MARKET_EVENTS_PER_SECOND:,} events/s), DynamoDB answering after "
          f"{latency_ms:g} ms a request; median of {len(events)} invocations")
    print(f"{'writes':>22}{'wall s':>9}{'CPU s':>8}{'requests':>10}{'events/s':>10}"
          f"{'vs sequential':>15}  keeps up with the whole market?")
    settings = module.processor.settings
    # Each pool size at the default resolution, then the handler's own at a 5-second one
    # (HOT_TABLE_RESOLUTION_SECONDS=5: an event item per symbol per 5 s).
    runs = [(0, 0), *((threads, 0) for threads in pools), (module.WRITE_THREADS, 5)]
    sequential = 0.0
    for threads, resolution in runs:
        module.processor.settings = settings._replace(resolution_seconds=resolution)
        pool = ThreadPoolExecutor(threads, thread_name_prefix="bench") if threads else None
        slow = SlowDynamoDB(latency_ms / 1000, max(threads, 1))
        use(module, slow.client, pool)
        walls, cpus = [], []
        for event in events:
            wall, cpu = time.perf_counter(), time.process_time()
            invoke(module, event)
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        if pool:
            pool.shutdown()
        wall = statistics.median(walls)
        sequential = sequential or wall
        verdict = (f"yes ({span / wall:.2f}x the pace)" if wall <= span
                   else f"NO: {wall / span:.2f}x too slow")
        name = f"{threads} threads" if threads else "sequential"
        if resolution:
            name += f", {resolution} s items"
        print(f"{name:>22}{wall:>9.2f}"
              f"{statistics.median(cpus):>8.2f}{slow.requests / len(events):>10,.0f}"
              f"{lines / wall:>10,.0f}{sequential / wall:>14.1f}x  {verdict}")
    module.processor.settings = settings
    print(f"the handler's pool: {module.WRITE_THREADS} threads (lambdas/consumer/handler.py)")


def client_cpu(module: Any, records: list[MiniTicker]) -> None:
    """CPU of the DynamoDB client a request (the stand-in answering at once), by operation,
    with botocore's client-side parameter validation on and off (the handler's: off)."""
    items = [item_of(r, 86_400) for r in records[:2_500]]
    latest = [latest_item(r, 86_400) for r in records[:500]]
    print(f"\n{'client CPU a request':>28}{'BatchWriteItem (25)':>21}{'PutItem (latest)':>18}")
    for validation in (True, False):
        config = module.CLIENT_CONFIG.merge(Config(parameter_validation=validation))
        client = SlowDynamoDB(0, 1, config).client
        start = time.process_time()
        for i in range(0, len(items), 25):
            client.batch_write_item(RequestItems={
                "bench": [{"PutRequest": {"Item": item}} for item in items[i:i + 25]]})
        writes = (time.process_time() - start) / (len(items) / 25)
        start = time.process_time()
        for item in latest:
            client.put_item(TableName="bench", Item=item,
                            ConditionExpression="attribute_not_exists(#t) OR #t < :t",
                            ExpressionAttributeNames={"#t": "event_time"},
                            ExpressionAttributeValues={":t": item["event_time"]})
        puts = (time.process_time() - start) / len(latest)
        print(f"{'parameter validation ' + ('on' if validation else 'off'):>28}"
              f"{writes * 1000:>18.2f} ms{puts * 1000:>15.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=150_000,
                        help="events of ten symbols for the handler-work shapes")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dynamodb-ms", type=float, default=8.0,
                        help="the stand-in's latency per request (assumption: 8 ms)")
    parser.add_argument("--invocations", type=int, default=2,
                        help="whole-market batches timed per thread-pool size")
    parser.add_argument("--threads", type=int, action="append",
                        help="thread-pool sizes to time (default 4, 8, 16, 32)")
    args = parser.parse_args()
    module = importlib.import_module("lambdas.consumer.handler")
    # At ~1,500 symbols a ClosePrice metric each would be ~1,500 EMF documents an invocation:
    # the README's advice for large symbol sets is PRICE_METRICS=false, and so it is here.
    module.processor.settings = module.processor.settings._replace(price_metrics=False)

    records = generated(args.events)
    invocations = max(args.invocations, 1)
    # Enough of the market for the batches whatever the lines a record (~25,000 bytes of lines
    # of ~330 bytes): one generator, its warm-up is the slow part.
    market = whole_market(invocations * Settings.consumer_batch_size * 80)
    datas = pack_lines([to_json_line(r) for r in market])
    batch_records, span = mapping_batch_records(
        sum(len(lines_of(d)) for d in datas[:-1]) / (len(datas) - 1))
    market_events = [event_of(datas[i:i + batch_records])
                     for i in range(0, batch_records * invocations, batch_records)]
    market_lines = sum(len(lines_of(base64.b64decode(r["kinesis"]["data"])))
                       for e in market_events for r in e["Records"])
    shapes = [
        Shape("1 line/record", [event_for(records[i:i + 100])
                                for i in range(0, len(records), 100)], len(records)),
        Shape("packed", packed_events(records, batch_records), len(records)),
        Shape("whole market", market_events, market_lines),
    ]
    work_per_event(module, shapes, args.repeat)
    invocation_time(module, market_events, span, args.dynamodb_ms,
                    args.threads or [4, 8, 16, 32])
    client_cpu(module, market)

    boto3_alone = min(import_seconds("import boto3") for _ in range(3))
    cold = min(import_seconds("import lambdas.consumer.handler") for _ in range(3))
    print(f"\n4. cold-start import: handler module {cold * 1000:.0f} ms "
          f"(import boto3 alone: {boto3_alone * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
