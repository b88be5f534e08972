"""The read API's settings, from its environment, checked once per cold start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import NamedTuple

from .observability import SERVICE

#: The variables the function reads (the CDK app and the local mode set them by these names).
TABLE_NAME = "TABLE_NAME"
RETENTION_DAYS = "RETENTION_DAYS"
MINUTES_PER_DAY = 1_440


class ApiConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


class ApiSettings(NamedTuple):
    table_name: str
    retention_days: int  # the table keeps this many days: the longest history window

    @property
    def max_minutes(self) -> int:
        return self.retention_days * MINUTES_PER_DAY


def load(environ: Mapping[str, str] = os.environ) -> ApiSettings:
    table_name = environ.get(TABLE_NAME, "").strip()
    if not table_name:
        raise ApiConfigError("TABLE_NAME is not set: name the DynamoDB table to read")
    raw_days = environ.get(RETENTION_DAYS, "1").strip()
    try:
        retention_days = int(raw_days)
    except ValueError:
        raise ApiConfigError(
            f"RETENTION_DAYS={raw_days!r} is not a whole number of days") from None
    if retention_days < 1:
        raise ApiConfigError(f"RETENTION_DAYS={retention_days} is below one day")
    return ApiSettings(table_name, retention_days)


def environment(table_name: str, retention_days: int, namespace: str) -> dict[str, str]:
    """The variables `load` reads, plus Powertools' names, for whoever starts the function (the
    CDK app; the local mode, which calls the handler in-process)."""
    return {TABLE_NAME: table_name, RETENTION_DAYS: str(retention_days),
            "POWERTOOLS_SERVICE_NAME": SERVICE, "POWERTOOLS_METRICS_NAMESPACE": namespace}
