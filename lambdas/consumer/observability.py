"""The consumer's metrics (CloudWatch EMF through Powertools Metrics), for the dashboards.

Namespace ``CryptoLive``. Per invocation, with the dimension ``service=consumer``: the counts in
`MetricName` and a sample of end-to-end latencies. Per symbol, when enabled: ``ClosePrice`` with
the dimensions ``service=consumer`` and ``symbol=BTCUSDT``, the close of the symbol's newest
event in the batch (a float: a chart, not a record; the table keeps the exact value).
"""

from __future__ import annotations

from aws_lambda_powertools import Metrics, single_metric
from aws_lambda_powertools.metrics import MetricUnit

from miniticker import MiniTicker
from miniticker.metrics import NAMESPACE

from .metric_names import SERVICE, MetricName

# Latencies published an invocation, spread over its batch. Few: each value is a Powertools
# add_metric call on the handler's path, and over many invocations CloudWatch's percentiles
# still see the whole distribution; the maximum is published apart.
LATENCY_SAMPLE = 10


def publish(metrics: Metrics, counts: dict[str, int], latencies: list[int]) -> None:
    """Add the invocation's counts and latency sample; Powertools flushes them at its end."""
    for name, value in counts.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    for latency in sample(latencies, LATENCY_SAMPLE):
        metrics.add_metric(name=MetricName.LATENCY, unit=MetricUnit.Milliseconds, value=latency)
    if latencies:
        metrics.add_metric(name=MetricName.LATENCY_MAX, unit=MetricUnit.Milliseconds,
                           value=max(latencies))


def sample(values: list[int], size: int) -> list[int]:
    """At most ``size`` values spread evenly over ``values`` (all of them when few)."""
    if len(values) <= size:
        return values
    return [values[i * len(values) // size] for i in range(size)]


def publish_close_prices(newest: dict[str, MiniTicker]) -> None:
    """One EMF document per symbol: a metric's dimensions are per document."""
    for symbol, record in newest.items():
        with single_metric(name=MetricName.CLOSE_PRICE, unit=MetricUnit.NoUnit,
                           value=float(record.close_price), namespace=NAMESPACE,
                           default_dimensions={"service": SERVICE}) as metric:
            metric.add_dimension(name="symbol", value=symbol)
