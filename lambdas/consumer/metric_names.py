"""The consumer's metric names and its ``service`` dimension.

Standard library only: the CDK app's alarms and dashboards (`stacks/monitoring.py`) read these
names without the function's libraries; `lambdas.consumer.observability` publishes under them,
in `miniticker.metrics.NAMESPACE`.
"""

SERVICE = "consumer"  # the ``service`` dimension of every metric below


class MetricName:
    RECORDS_IN = "RecordsIn"  # Kinesis records in the invocation's batch
    EVENTS_IN = "EventsIn"  # their lines (one event each, when valid)
    #: Lines that are not JSON, not a valid MiniTicker, or empty: set aside (kept in the raw
    #: archive, quarantined by the Glue job), never a batch item failure.
    INVALID_LINES = "InvalidLines"
    ITEMS_WRITTEN = "ItemsWritten"  # event items DynamoDB accepted (one per key of the batch)
    DUPLICATES_COLLAPSED = "DuplicatesCollapsed"  # valid lines repeating an event of the batch
    WRITE_FAILURES = "WriteFailures"  # valid lines an item of which was not written
    RECORDS_FAILED = "RecordsFailed"  # Kinesis records reported as batch item failures
    WRITE_REQUESTS = "WriteRequests"  # BatchWriteItem calls
    SUMMARY_REQUESTS = "SummaryRequests"  # reads and writes of latest and candle items
    LATEST_UPDATED = "LatestItemsUpdated"  # latest items moved forward to a newer event
    CANDLES_WRITTEN = "CandlesWritten"  # 1-minute candle items created or merged into
    LATENCY = "EndToEndLatency"  # ms from event_time to its items written (a sample)
    LATENCY_MAX = "EndToEndLatencyMax"  # the invocation's largest latency
    CLOSE_PRICE = "ClosePrice"  # per symbol
