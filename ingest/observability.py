"""Metrics and sampled logs of the ingester.

Counters are aggregated here under one lock (the readers, the connection supervisors and the
sender all report) and published once per interval as one CloudWatch EMF document through
Powertools Metrics, printed to stdout, where CloudWatch extracts it from the ECS log stream.
The two lags (a frame's events from the exchange to the ingester, and a Kinesis record from its
oldest event's arrival to Kinesis's acknowledgement) are each published as a uniform sample of
up to 100 values an interval, so CloudWatch can chart their percentiles. The metrics' names:
`ingest.metric_names`; their namespace: `miniticker.metrics`.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import defaultdict
from collections.abc import Sequence

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from miniticker import InvalidMiniTicker
from miniticker.metrics import NAMESPACE

from .frames import FrameKind
from .metric_names import COUNTERS, SERVICE, MetricName

LAG_SAMPLE = 100  # EMF takes at most 100 values of one metric in one document

_UNITS = {MetricName.GAP_SECONDS: MetricUnit.Seconds, MetricName.LAG: MetricUnit.Milliseconds,
          MetricName.PUT_LAG: MetricUnit.Milliseconds}


class LagSample:
    """A uniform sample of up to `LAG_SAMPLE` of the values offered since the last `take`.

    Reservoir sampling, Li's "Algorithm L": every value has the same chance to be in the
    sample, and the values skipped in between cost a comparison, not a random number. Not
    thread-safe: `IngestMetrics` calls it under its lock.
    """

    __slots__ = ("_next_slot", "_rng", "_seen", "_values", "_weight")

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._values: list[int] = []
        self._seen = 0
        self._weight = 1.0
        self._next_slot = 0
        self._restart()

    def offer(self, value: int) -> None:
        seen = self._seen = self._seen + 1
        if seen <= LAG_SAMPLE:
            self._values.append(value)
        elif seen == self._next_slot:
            self._values[self._rng.randrange(LAG_SAMPLE)] = value
            self._skip()

    def take(self) -> list[int]:
        """The sample, in the order the values were kept; the next sample starts empty."""
        values = self._values
        self._restart()
        return values

    def _restart(self) -> None:
        self._values, self._seen = [], 0
        self._weight = 1.0
        self._next_slot = LAG_SAMPLE
        self._skip()

    def _skip(self) -> None:
        rng = self._rng
        self._weight *= math.exp(math.log(1.0 - rng.random()) / LAG_SAMPLE)
        weight = min(self._weight, 1.0 - 1e-12)
        self._next_slot += int(math.log(1.0 - rng.random()) / math.log1p(-weight)) + 1


class IngestMetrics:
    """Thread-safe counters, published by `flush`; also the connection supervisors' and the
    sender's observer. The names: `ingest.metric_names`."""

    def __init__(self, logger: Logger, metrics: Metrics | None = None,
                 rng: random.Random | None = None) -> None:
        self._logger = logger
        self._metrics = metrics or Metrics(namespace=NAMESPACE, service=SERVICE)
        self._lock = threading.Lock()
        self._counts: defaultdict[str, float] = defaultdict(float)
        # Since start; every counter from the outset, so a reader finds zeros, not gaps.
        self._totals: defaultdict[str, float] = defaultdict(float, dict.fromkeys(COUNTERS, 0.0))
        # The readers' two counters are plain ints, folded into the dicts when read: `received`
        # runs for every batch a reader hands on, and the dicts' float sums cost twice as much.
        self._received = 0
        self._duplicates = 0
        rng = rng or random.Random()
        self._lags = LagSample(rng)
        self._put_lags = LagSample(rng)
        self._sampled_logs: dict[str, tuple[float, int]] = {}

    def _add(self, name: str, value: float) -> None:
        with self._lock:
            self._counts[name] += value
            self._totals[name] += value

    def _fold_locked(self) -> None:
        for name, value in ((MetricName.EVENTS_RECEIVED, self._received),
                            (MetricName.DUPLICATES_DROPPED, self._duplicates)):
            if value:
                self._counts[name] += value
                self._totals[name] += value
        self._received = self._duplicates = 0

    @property
    def totals(self) -> dict[str, float]:
        with self._lock:
            self._fold_locked()
            return dict(self._totals)

    # --- what the readers report --------------------------------------------------------------

    def received(self, count: int, duplicates: int, lag: int | None) -> None:
        """A batch of records read: ``lag`` is ``received_at - event_time`` of its first fresh
        record (None when all were duplicates)."""
        with self._lock:  # once a batch, on every reader's path
            self._received += count
            if duplicates:
                self._duplicates += duplicates
            if lag is not None:
                self._lags.offer(lag)

    def malformed(self, kind: FrameKind, count: int, sample: InvalidMiniTicker) -> None:
        """Count frames set aside; log the first of each kind, then one a minute with a count."""
        self._add(MetricName.MALFORMED_FRAMES, count)
        now = time.monotonic()
        with self._lock:
            last, suppressed = self._sampled_logs.get(kind.value, (-1e9, 0))
            if now - last < 60.0:
                self._sampled_logs[kind.value] = (last, suppressed + count)
                return
            self._sampled_logs[kind.value] = (now, 0)
        self._logger.warning("frame set aside", extra={  # the excerpt only when logged
            "kind": kind.value, "sample": sample.excerpt(), "reason": str(sample),
            "similar_since_last_log": suppressed})

    # --- ConnectionObserver -------------------------------------------------------------------

    def connection_failed(self, supervisor: str, reason: str, status: int | None) -> None:
        self._add(MetricName.CONNECTION_FAILURES, 1)

    def reconnected(self, supervisor: str, gap_seconds: float) -> None:
        self._add(MetricName.RECONNECTS, 1)
        self._add(MetricName.GAP_SECONDS, gap_seconds)
        self._logger.warning("gap in the feed",
                             extra={"supervisor": supervisor, "gap_seconds": gap_seconds})

    def rotated(self, supervisor: str, reason: str) -> None:
        self._add(MetricName.ROTATIONS, 1)
        self._logger.info("connection rotated",
                          extra={"supervisor": supervisor, "reason": reason})

    # --- DeliveryObserver ---------------------------------------------------------------------

    def put(self, records: int, events: int, lags: Sequence[int]) -> None:
        """Kinesis stored ``records`` records holding ``events`` events; ``lags``: each
        record's milliseconds from its oldest event's arrival to the acknowledgement."""
        with self._lock:
            for name, value in ((MetricName.RECORDS_PUT, records),
                                (MetricName.EVENTS_PUT, events)):
                self._counts[name] += value
                self._totals[name] += value
            for lag in lags:
                self._put_lags.offer(lag)

    def put_failed(self, records: int, throttled: int, reason: str) -> None:
        """Kinesis refused ``records`` records (each is retried), ``throttled`` of them for the
        shard's throughput."""
        with self._lock:
            for name, value in ((MetricName.PUT_FAILURES, records),
                                (MetricName.THROTTLED_RECORDS, throttled)):
                self._counts[name] += value
                self._totals[name] += value

    def spilled(self, events: int) -> None:
        self._add(MetricName.EVENTS_SPILLED, events)

    # --- publishing ---------------------------------------------------------------------------

    def flush(self, backlog: int) -> None:
        """Publish the interval's counters (zeros included, so alarms see them) as EMF."""
        with self._lock:
            self._fold_locked()
            counts, self._counts = self._counts, defaultdict(float)
            samples = ((MetricName.LAG, self._lags.take()),
                       (MetricName.PUT_LAG, self._put_lags.take()))
        # Lags first: Powertools prints a metric set by itself when one metric reaches 100
        # values, so a full sample goes out as a document of its own and the counters' flush
        # below always has something to publish.
        for name, lags in samples:
            for lag in lags:
                self._metrics.add_metric(name=name, unit=MetricUnit.Milliseconds, value=lag)
        for name in COUNTERS:
            self._metrics.add_metric(name=name, unit=_UNITS.get(name, MetricUnit.Count),
                                     value=counts.get(name, 0))
        self._metrics.add_metric(name=MetricName.BACKLOG, unit=MetricUnit.Count, value=backlog)
        self._metrics.flush_metrics()

