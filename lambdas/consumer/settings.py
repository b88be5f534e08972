"""The consumer's settings, from its environment, checked once per cold start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import NamedTuple

from miniticker.hot_table import MAX_RESOLUTION_SECONDS
from miniticker.metrics import NAMESPACE

from .metric_names import SERVICE

SECONDS_PER_DAY = 86_400
#: The variables the function reads (the CDK app sets them by these names).
TABLE_NAME = "TABLE_NAME"
RETENTION_DAYS = "RETENTION_DAYS"
PRICE_METRICS = "PRICE_METRICS"
HOT_TABLE_RESOLUTION_SECONDS = "HOT_TABLE_RESOLUTION_SECONDS"


class ConsumerConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


class ConsumerSettings(NamedTuple):
    table_name: str
    retention_days: int  # items expire this long after their event (DynamoDB TTL)
    price_metrics: bool  # one ClosePrice metric per symbol and invocation
    #: 0: an event item per event; N: at most one per symbol per N-second bucket of event time
    #: (`miniticker.hot_table.event_item_key`). Latest items and candles count every event.
    resolution_seconds: int = 0

    @property
    def retention_seconds(self) -> int:
        return self.retention_days * SECONDS_PER_DAY


def load(environ: Mapping[str, str] = os.environ) -> ConsumerSettings:
    table_name = environ.get(TABLE_NAME, "").strip()
    if not table_name:
        raise ConsumerConfigError("TABLE_NAME is not set: name the DynamoDB table to write")
    raw_days = environ.get(RETENTION_DAYS, "1").strip()
    try:
        retention_days = int(raw_days)
    except ValueError:
        raise ConsumerConfigError(
            f"RETENTION_DAYS={raw_days!r} is not a whole number of days") from None
    if retention_days < 1:
        raise ConsumerConfigError(f"RETENTION_DAYS={retention_days} is below one day")
    raw_flag = environ.get(PRICE_METRICS, "true").strip().lower()
    if raw_flag not in ("true", "false"):
        raise ConsumerConfigError(f"PRICE_METRICS={raw_flag!r} is neither true nor false")
    raw_resolution = environ.get(HOT_TABLE_RESOLUTION_SECONDS, "0").strip()
    if not raw_resolution.isdigit() or not raw_resolution.isascii():
        raise ConsumerConfigError(
            f"{HOT_TABLE_RESOLUTION_SECONDS}={raw_resolution!r} is not a whole number of seconds "
            f"(0 keeps every event; 1..{MAX_RESOLUTION_SECONDS} keeps one a symbol a bucket)")
    resolution = int(raw_resolution)
    if resolution > MAX_RESOLUTION_SECONDS:
        raise ConsumerConfigError(
            f"{HOT_TABLE_RESOLUTION_SECONDS}={resolution} is above {MAX_RESOLUTION_SECONDS} s")
    return ConsumerSettings(table_name, retention_days, raw_flag == "true", resolution)


def environment(table_name: str, retention_days: int, price_metrics: bool,
                resolution_seconds: int = 0) -> dict[str, str]:
    """The variables `load` reads, plus Powertools' names, for whoever starts the function (the
    CDK app; the local mode, which runs the handler in-process)."""
    if not 0 <= resolution_seconds <= MAX_RESOLUTION_SECONDS:
        raise ConsumerConfigError(f"{HOT_TABLE_RESOLUTION_SECONDS}={resolution_seconds} is "
                                  f"outside 0..{MAX_RESOLUTION_SECONDS}")
    return {TABLE_NAME: table_name, RETENTION_DAYS: str(retention_days),
            PRICE_METRICS: str(price_metrics).lower(),
            HOT_TABLE_RESOLUTION_SECONDS: str(resolution_seconds),
            "POWERTOOLS_SERVICE_NAME": SERVICE, "POWERTOOLS_METRICS_NAMESPACE": NAMESPACE}
