"""The consumer Lambda's entry point: a Kinesis batch of mini-tickers into the DynamoDB table.

A Kinesis record holds one or more MiniTicker JSON lines (`miniticker.kinesis_record`). Every
line is validated on its own; the valid lines of the whole batch are then written together (25
event items a BatchWriteItem call, then the latest and candle items), the calls of each step
concurrently on a small bounded thread pool.

The batch response (Powertools' partial batch response; the event source mapping retries from
the lowest sequence number reported, bisecting the batch when asked to):

- **A bad line never fails its record.** A line that is empty, not JSON or not a valid
  MiniTicker is set aside at once: counted (``InvalidLines``) and logged with its record's
  sequence number, its line number (1-based), the reason and an excerpt. Validation is
  deterministic, so a retry would only fail it again; and the line is not lost: Firehose keeps
  every record in the raw archive, where the Glue job quarantines it. The record's good lines
  are written like any other.
- **A record fails only when an item of one of its valid lines was not written**: the event item
  of the line's key, the latest item its symbol's newest line moves, or the candle of its
  symbol-minute. Those records are the batch item failures; the retry writes them again, and
  every write is idempotent (an item is a function of its record; latest items only move
  forward; candles merge sets of event times), so a retry leaves the table as one delivery would.

So no good line is lost, and nothing is retried forever. Within a batch, one event item is
written per key: at the default resolution the key is the event's own, so a repeated event is
written once; at ``HOT_TABLE_RESOLUTION_SECONDS`` = N it is the symbol's N-second bucket, and
the bucket's newest event in the batch is the one written (ties: the later line). A record
whose line shares a key with an unwritten item fails with it.

Cold start: settings, clients, the thread pool, logger, tracer and metrics are made once per
container, at import; nothing heavier than boto3 and Powertools is imported.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import (
    KinesisStreamRecord,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from miniticker import InvalidMiniTicker, MiniTicker, parse_json_line
from miniticker.hot_table import event_item_key, minute_start
from miniticker.kinesis_record import lines_of
from miniticker.metrics import NAMESPACE

from .items import Item, Key, event_item
from .metric_names import SERVICE, MetricName
from .observability import publish, publish_close_prices
from .settings import ConsumerSettings, load
from .summaries import CandleKey, SummaryWriter, newest_per_symbol
from .writer import TableWriter

#: Stop retrying writes this long before the invocation's timeout, to answer in time.
DEADLINE_MARGIN_SECONDS = 2.0
#: Without a Lambda context (local runners), the time writes may take.
DEFAULT_BUDGET_SECONDS = 60.0
#: DynamoDB calls in flight at once (threads and pooled connections). Calls wait on the network,
#: not the CPU, so threads overlap them; `bench/bench_consumer.py` prints an invocation's time
#: at the whole market's shape for several sizes against this one.
WRITE_THREADS = 16
#: Invalid lines logged one by one per invocation; the rest are counted (the metric is exact)
#: and summed up in one more entry.
LOGGED_INVALID_LINES = 20

# Client-side parameter validation off: every request is built here from validated records
# (`items`, `summaries`), within DynamoDB's per-call limits by construction, and DynamoDB checks
# it again (a ValidationException fails the records concerned); validating each request's items
# again costs about as much CPU as serialising them (`bench/bench_consumer.py`).
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3},
                       connect_timeout=3, read_timeout=5, max_pool_connections=WRITE_THREADS,
                       parameter_validation=False)

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


class UnwrittenItem(Exception):
    """A valid line an item of which DynamoDB did not take; the reason is the message."""


class InvalidLine(NamedTuple):
    number: int  # 1-based, in its record
    error: InvalidMiniTicker


class RecordLines(NamedTuple):
    """What one Kinesis record held: its valid events, its bad lines, and how many lines."""

    events: list[MiniTicker]
    invalid: list[InvalidLine]
    lines: int


class MiniTickerBatch(BatchProcessor):
    """Powertools' Kinesis processor; the record handler validates, `process` then writes.

    Writing record by record would cost DynamoDB calls each; this writes the batch's items
    together and turns every item not written into a batch item failure of its records.
    """

    def __init__(self, settings: ConsumerSettings, writer: TableWriter,
                 summaries: SummaryWriter) -> None:
        super().__init__(event_type=EventType.KinesisDataStreams,
                         raise_on_entire_batch_failure=False)
        self.settings = settings
        self.writer = writer
        self.summaries = summaries

    def process(self) -> list[tuple[Any, ...]]:
        # A batch makes hundreds of thousands of short-lived containers (parsed lines, items,
        # request bodies) that reference counting frees; the cyclic collector would traverse
        # them again and again, for a large share of the invocation's CPU (the benchmark's
        # handler work shows it). Nothing here builds cycles worth collecting before the end.
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._process()
        finally:
            if collecting:
                gc.enable()

    def _process(self) -> list[tuple[Any, ...]]:
        started = time.monotonic()
        outcomes = super().process()  # each record through `validate_record`
        parsed: list[tuple[dict[str, Any], RecordLines]] = [
            (raw, result) for status, result, raw in outcomes if status == "success"]
        invalid_lines = self._report_invalid(parsed)
        events = [(raw, record) for raw, result in parsed for record in result.events]

        resolution = self.settings.resolution_seconds
        keys: list[Key] = []
        chosen: dict[Key, MiniTicker] = {}  # per key, the newest event (ties: the later line)
        for _, record in events:
            key = event_item_key(record, resolution)
            keys.append(key)
            held = chosen.get(key)
            if held is None or record.event_time >= held.event_time:
                chosen[key] = record
        items: list[tuple[Key, Item]] = [
            (key, event_item(record, key, self.settings.retention_seconds))
            for key, record in chosen.items()]

        requests_before = self.writer.requests, self.summaries.requests
        seconds_left = self._seconds_left(started)
        failed = self._write(items, seconds_left)
        written_at = int(time.time() * 1000)
        written = [record for (_, record), key in zip(events, keys) if key not in failed]
        latest_before, candles_before = self.summaries.latest_moved, self.summaries.candles_written
        latest_failed, candles_failed = self._summarise(written, seconds_left)

        latencies: list[int] = []
        newest = newest_per_symbol(written)
        # A symbol whose latest item was not written fails with its newest line's record, so the
        # retry brings the latest item forward.
        latest_unwritten = {id(newest[symbol]): reason for symbol, reason in latest_failed.items()}
        unwritten: dict[int, tuple[dict[str, Any], str]] = {}  # by record, in batch order
        write_failures = 0
        for (raw, record), key in zip(events, keys):
            reason = (failed.get(key) or latest_unwritten.get(id(record))
                      or candles_failed.get((record.symbol, minute_start(record.event_time))))
            if reason:
                write_failures += 1
                unwritten.setdefault(id(raw), (raw, reason))
                continue
            latencies.append(written_at - record.event_time)
        for raw, reason in unwritten.values():
            self._fail(raw, UnwrittenItem(reason))
        if unwritten:
            reasons = {*failed.values(), *latest_failed.values(), *candles_failed.values()}
            logger.error("items not written", extra={
                "records": len(unwritten), "lines": write_failures,
                "sequence_numbers": [raw["kinesis"]["sequenceNumber"]
                                     for raw, _ in list(unwritten.values())[:5]],
                "reasons": sorted(reasons)[:5], "event_items": len(failed),
                "latest_items": len(latest_failed), "candles": len(candles_failed)})
        publish(metrics, {
            MetricName.RECORDS_IN: len(outcomes),
            MetricName.EVENTS_IN: sum(result.lines for _, result in parsed),
            MetricName.INVALID_LINES: invalid_lines,
            MetricName.ITEMS_WRITTEN: len(items) - len(failed),
            MetricName.DUPLICATES_COLLAPSED: len(events) - (
                len({(r.stream_type, r.event_time) for _, r in events}) if resolution
                else len(chosen)),  # at resolution 0 a key is a (stream, event time)
            MetricName.WRITE_FAILURES: write_failures,
            MetricName.RECORDS_FAILED: len(self.fail_messages),
            MetricName.WRITE_REQUESTS: self.writer.requests - requests_before[0],
            MetricName.SUMMARY_REQUESTS: self.summaries.requests - requests_before[1],
            MetricName.LATEST_UPDATED: self.summaries.latest_moved - latest_before,
            MetricName.CANDLES_WRITTEN: self.summaries.candles_written - candles_before,
        }, latencies)
        if self.settings.price_metrics:
            publish_close_prices(newest)
        return outcomes

    @tracer.capture_method
    def _write(self, items: list[tuple[Key, Item]],
               seconds_left: Callable[[], float]) -> dict[Key, str]:
        return self.writer.write(items, seconds_left)

    @tracer.capture_method
    def _summarise(self, written: list[MiniTicker], seconds_left: Callable[[], float]
                   ) -> tuple[dict[str, str], dict[CandleKey, str]]:
        """The latest and candle items of what was written; what failed goes round again with
        its records (merging is idempotent, so a retry changes nothing that was merged)."""
        return self.summaries.write(written, self.settings.retention_seconds, seconds_left)

    def _report_invalid(self, parsed: list[tuple[dict[str, Any], RecordLines]]) -> int:
        """Log the batch's bad lines (the first `LOGGED_INVALID_LINES` one by one, the rest
        summed up); returns how many there were."""
        count = 0
        unlogged_records: list[str] = []
        for raw, result in parsed:
            for line in result.invalid:
                count += 1
                sequence_number = raw["kinesis"]["sequenceNumber"]
                if count > LOGGED_INVALID_LINES:
                    if not unlogged_records or unlogged_records[-1] != sequence_number:
                        unlogged_records.append(sequence_number)
                    continue
                logger.warning("invalid line set aside", extra={
                    "sequence_number": sequence_number,
                    "event_id": raw.get("eventID"),
                    "line": line.number,
                    "field": line.error.field,
                    "reason": line.error.reason,
                    "data": line.error.excerpt(),
                })
        if unlogged_records:
            logger.warning("more invalid lines set aside, not logged one by one", extra={
                "lines": count - LOGGED_INVALID_LINES, "records": len(unlogged_records),
                "first_sequence_number": unlogged_records[0],
                "last_sequence_number": unlogged_records[-1]})
        return count

    def _fail(self, raw: dict[str, Any], error: UnwrittenItem) -> None:
        # As Powertools records a record handler's exception (no traceback: nothing raised).
        self.failure_handler(KinesisStreamRecord(raw), (UnwrittenItem, error, None))

    def _seconds_left(self, started: float) -> Callable[[], float]:
        context = getattr(self, "lambda_context", None)
        if context is not None:
            return lambda: context.get_remaining_time_in_millis() / 1000 - DEADLINE_MARGIN_SECONDS
        deadline = started + DEFAULT_BUDGET_SECONDS
        return lambda: deadline - time.monotonic()


def validate_record(record: KinesisStreamRecord) -> RecordLines:
    """One Kinesis record's lines, each validated on its own; never raises for a bad line."""
    data = record.kinesis.data_as_bytes()
    lines = lines_of(data) or [data]  # a record with no data at all: one empty line
    events: list[MiniTicker] = []
    invalid: list[InvalidLine] = []
    for number, line in enumerate(lines, 1):
        try:
            events.append(parse_json_line(line))
        except InvalidMiniTicker as error:
            invalid.append(InvalidLine(number, error if line.strip()
                                       else InvalidMiniTicker(None, "empty line", line)))
    return RecordLines(events, invalid, len(lines))


SETTINGS = load()
_client = boto3.client("dynamodb", config=CLIENT_CONFIG)
# Shared by both writers, which take turns. Its threads outlive invocations (the container is
# frozen between them). In AWS, X-Ray gives each thread a segment from the invocation's trace
# header, so the calls made on it are traced too.
write_pool = ThreadPoolExecutor(max_workers=WRITE_THREADS, thread_name_prefix="dynamodb")
processor = MiniTickerBatch(SETTINGS,
                            TableWriter(_client, SETTINGS.table_name, pool=write_pool),
                            SummaryWriter(_client, SETTINGS.table_name, pool=write_pool))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    if event.get("Records") == []:  # Powertools refuses an empty batch; there is nothing to do
        publish(metrics, {MetricName.RECORDS_IN: 0, MetricName.EVENTS_IN: 0}, [])
        return {"batchItemFailures": []}
    return process_partial_response(event=event, record_handler=validate_record,
                                    processor=processor, context=context)
