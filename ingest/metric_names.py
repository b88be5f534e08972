"""The names of the ingester's metrics and its service dimension.

Standard library only: the CDK app's alarms and dashboards (`stacks/monitoring.py`) and the
local mode's progress line read these names without the ingester's runtime libraries;
`ingest.observability` publishes under them, in `miniticker.metrics.NAMESPACE`.
"""

from __future__ import annotations

SERVICE = "ingest"  # the ``service`` dimension of every metric below


class MetricName:
    """Every metric the ingester publishes (dimension service=ingest)."""

    EVENTS_RECEIVED = "EventsReceived"  # valid mini-tickers read, before duplicates are dropped
    DUPLICATES_DROPPED = "DuplicatesDropped"  # seen already (rotation overlap)
    EVENTS_PUT = "EventsPut"  # acknowledged by Kinesis
    RECORDS_PUT = "RecordsPut"  # Kinesis records acknowledged (each holds one or more events)
    PUT_FAILURES = "PutFailures"  # Kinesis records refused; each is retried
    THROTTLED_RECORDS = "ThrottledRecords"  # of those, refused for the shard's throughput
    EVENTS_SPILLED = "EventsSpilled"  # written to the disk spool
    MALFORMED_FRAMES = "MalformedFrames"  # invalid JSON, acks, payloads the contract rejects
    RECONNECTS = "Reconnects"
    GAP_SECONDS = "GapSeconds"  # summed length of the gaps closed in the interval
    ROTATIONS = "Rotations"
    CONNECTION_FAILURES = "ConnectionFailures"
    LAG = "LagMilliseconds"  # received_at - event_time of each delivered batch's first record
    PUT_LAG = "PutLagMilliseconds"  # a record's oldest event, from its arrival to Kinesis's ack
    BACKLOG = "Backlog"  # events accepted and not yet put


#: Metrics published as one summed value an interval, and counted since start in the status
#: file's totals (the lags and the backlog are published apart).
COUNTERS = tuple(value for name, value in vars(MetricName).items()
                 if name.isupper()
                 and value not in (MetricName.LAG, MetricName.PUT_LAG, MetricName.BACKLOG))
