"""The consumer Lambda's entry point: a Kinesis batch of mini-tickers into the DynamoDB table.

Every record is decoded and validated on its own (a poison record fails alone, logged with its
sequence number); the valid ones are then written together, 25 items a call. The response is
Powertools' partial batch response: the event source mapping retries from the first failed
record, and a retry rewrites identical items, so the table ends as one delivery would leave it.

Cold start: settings, clients, logger, tracer and metrics are made once per container, at
import; nothing heavier than boto3 and Powertools is imported.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

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
from miniticker.hot_table import minute_start

from .items import Item, Key, item_of, key_of_record
from .observability import NAMESPACE, SERVICE, MetricName, publish, publish_close_prices
from .settings import ConsumerSettings, load
from .summaries import CandleKey, SummaryWriter, newest_per_symbol
from .writer import TableWriter

#: Stop retrying writes this long before the invocation's timeout, to answer in time.
DEADLINE_MARGIN_SECONDS = 2.0
#: Without a Lambda context (local runners), the time writes may take.
DEFAULT_BUDGET_SECONDS = 60.0

CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3},
                       connect_timeout=3, read_timeout=5)

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


class UnwrittenItem(Exception):
    """A valid record whose item DynamoDB did not take; the reason is the message."""


class MiniTickerBatch(BatchProcessor):
    """Powertools' Kinesis processor; the record handler validates, `process` then writes.

    Writing record by record would cost a DynamoDB call each; this writes the batch's items
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
        started = time.monotonic()
        outcomes = super().process()  # each record through `validate_record`
        valid = [(raw, result) for status, result, raw in outcomes if status == "success"]
        items: list[tuple[Key, Item]] = [
            (key_of_record(record), item_of(record, self.settings.retention_seconds))
            for _, record in valid]
        requests_before = self.writer.requests, self.summaries.requests
        seconds_left = self._seconds_left(started)
        failed = self._write(items, seconds_left)
        written_at = int(time.time() * 1000)
        written = [record for (_, record), (key, _) in zip(valid, items) if key not in failed]
        latest_before, candles_before = self.summaries.latest_moved, self.summaries.candles_written
        latest_failed, candles_failed = self._summarise(written, seconds_left)

        latencies: list[int] = []
        newest = newest_per_symbol(written)
        # A symbol whose latest item was not written fails with its newest record, so the retry
        # brings the latest item forward.
        latest_unwritten = {id(newest[symbol]): reason for symbol, reason in latest_failed.items()}
        write_failures = 0
        for (raw, record), (key, _) in zip(valid, items):
            reason = (failed.get(key) or latest_unwritten.get(id(record))
                      or candles_failed.get((record.symbol, minute_start(record.event_time))))
            if reason:
                write_failures += 1
                self._fail(raw, UnwrittenItem(reason))
                continue
            latencies.append(written_at - record.event_time)
        if failed or latest_failed or candles_failed:
            reasons = {*failed.values(), *latest_failed.values(), *candles_failed.values()}
            logger.error("items not written", extra={
                "records": write_failures, "reasons": sorted(reasons)[:5],
                "latest_items": len(latest_failed), "candles": len(candles_failed)})
        distinct = len({key for key, _ in items})
        publish(metrics, {
            MetricName.RECORDS_IN: len(outcomes),
            MetricName.ITEMS_WRITTEN: distinct - len(failed),
            MetricName.DUPLICATES_COLLAPSED: len(items) - distinct,
            MetricName.INVALID_RECORDS: len(outcomes) - len(valid),
            MetricName.WRITE_FAILURES: write_failures,
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

    def _fail(self, raw: dict[str, Any], error: UnwrittenItem) -> None:
        # As Powertools records a record handler's exception (no traceback: nothing raised).
        self.failure_handler(KinesisStreamRecord(raw), (UnwrittenItem, error, None))

    def _seconds_left(self, started: float) -> Callable[[], float]:
        context = getattr(self, "lambda_context", None)
        if context is not None:
            return lambda: context.get_remaining_time_in_millis() / 1000 - DEADLINE_MARGIN_SECONDS
        deadline = started + DEFAULT_BUDGET_SECONDS
        return lambda: deadline - time.monotonic()


def validate_record(record: KinesisStreamRecord) -> MiniTicker:
    """One Kinesis record's line as a MiniTicker; an invalid one fails alone, logged."""
    data = record.kinesis.data_as_bytes()
    try:
        return parse_json_line(data)
    except InvalidMiniTicker as error:
        logger.warning("invalid record set aside", extra={
            "sequence_number": record.kinesis.sequence_number,
            "event_id": record.event_id,
            "field": error.field,
            "reason": error.reason,
            "data": error.excerpt(),
        })
        raise


SETTINGS = load()
_client = boto3.client("dynamodb", config=CLIENT_CONFIG)
processor = MiniTickerBatch(SETTINGS, TableWriter(_client, SETTINGS.table_name),
                            SummaryWriter(_client, SETTINGS.table_name))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    if event.get("Records") == []:  # Powertools refuses an empty batch; there is nothing to do
        publish(metrics, {MetricName.RECORDS_IN: 0}, [])
        return {"batchItemFailures": []}
    return process_partial_response(event=event, record_handler=validate_record,
                                    processor=processor, context=context)
