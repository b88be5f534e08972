"""The read API's entry point: a function URL (payload 2.0) through Powertools' resolver.

Two GET routes over the hot table (docs/api.md). Every parameter is checked before anything
reaches DynamoDB; every answer, errors included, is JSON with a ``Cache-Control`` a CDN can act
on, so CloudFront absorbs any number of viewers polling once a second. DynamoDB trouble is a 503,
anything unexpected a logged 500: never a stack trace to the caller.

Cold start: settings, the client, logger, tracer and metrics are made once per container.
"""

from __future__ import annotations

import json
import time
from http import HTTPStatus
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from miniticker import InvalidMiniTicker
from miniticker.validate import check_symbol

from .observability import SERVICE, MetricName
from .reads import MAX_WINDOW_MINUTES, POINTS_MAX_MINUTES, HotTable
from .settings import load

LATEST_PATH = "/api/latest"
HISTORY_PATH = "/api/history"
ALLOWED = "GET, HEAD"
#: Methods answered 405 on the API's paths (GET and HEAD are routed).
REFUSED_METHODS = ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

#: Cache lifetimes: a second for what changes every second, longer for candles (closed ones
#: never change), briefly for an unknown symbol, never for a caller's mistake or our failure.
CACHE_LIVE = "public, max-age=1, stale-while-revalidate=5"
CACHE_CANDLES = "public, max-age=10, stale-while-revalidate=30"
CACHE_NOT_FOUND = "public, max-age=5"
CACHE_NONE = "no-store"

CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3},
                       connect_timeout=2, read_timeout=3)

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(service=SERVICE)  # namespace: POWERTOOLS_METRICS_NAMESPACE (settings.py)
app = LambdaFunctionUrlResolver()

SETTINGS = load()
table = HotTable(boto3.client("dynamodb", config=CLIENT_CONFIG), SETTINGS.table_name)
MAX_MINUTES = min(SETTINGS.max_minutes, MAX_WINDOW_MINUTES)


class ApiError(Exception):
    """An answer other than 200; the message is what the caller reads."""

    def __init__(self, status: HTTPStatus, message: str, cache: str = CACHE_NONE,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.cache = cache
        self.headers = headers or {}


def json_response(status: int, body: dict[str, Any], cache: str,
                  headers: dict[str, str] | None = None) -> Response[str]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON,
                    body=json.dumps(body, separators=(",", ":")),
                    headers={"Cache-Control": cache, **(headers or {})})


@app.route(LATEST_PATH, method=["GET", "HEAD"])
def latest() -> Response[str]:
    parameters(set())
    metrics.add_metric(name=MetricName.LATEST_REQUESTS, unit=MetricUnit.Count, value=1)
    # The prices arrive as JSON already (the consumer made each one): joined, not re-encoded.
    body = f'{{"server_time":{now_ms()},"prices":{table.latest_json()}}}'
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=body,
                    headers={"Cache-Control": CACHE_LIVE})


@app.route(HISTORY_PATH, method=["GET", "HEAD"])
def history() -> Response[str]:
    query = parameters({"symbol", "minutes"})
    symbol, minutes = checked_symbol(query.get("symbol")), checked_minutes(query.get("minutes"))
    metrics.add_metric(name=MetricName.HISTORY_REQUESTS, unit=MetricUnit.Count, value=1)
    if table.newest_event_time(symbol) is None:
        raise ApiError(HTTPStatus.NOT_FOUND, f"no data for symbol {symbol}", CACHE_NOT_FOUND)
    start = now_ms() - minutes * 60_000
    start -= start % 60_000  # the window starts on a whole minute
    if minutes <= POINTS_MAX_MINUTES:
        points, truncated = table.points(symbol, start)
        return json_response(200, {"symbol": symbol, "minutes": minutes, "resolution": "event",
                                   "truncated": truncated, "points": points}, CACHE_LIVE)
    return json_response(200, {"symbol": symbol, "minutes": minutes, "resolution": "1m",
                               "candles": table.candles(symbol, start)}, CACHE_CANDLES)


@app.route(LATEST_PATH, method=REFUSED_METHODS)
@app.route(HISTORY_PATH, method=REFUSED_METHODS)
def refused() -> Response[str]:
    raise ApiError(HTTPStatus.METHOD_NOT_ALLOWED,
                   f"{app.current_event.http_method} is not allowed here: use GET",
                   headers={"Allow": ALLOWED})


def not_found(_error: Exception) -> Response[str]:
    return error_response(ApiError(HTTPStatus.NOT_FOUND,
                                   f"no such endpoint: {app.current_event.path[:100]}",
                                   CACHE_NOT_FOUND))


def error_response(error: ApiError) -> Response[str]:
    metrics.add_metric(name=MetricName.CLIENT_ERRORS if error.status < 500
                       else MetricName.SERVER_ERRORS,
                       unit=MetricUnit.Count, value=1)
    return json_response(error.status, {"error": str(error)}, error.cache, error.headers)


def table_unavailable(_error: Exception) -> Response[str]:
    logger.exception("the table did not answer")
    return error_response(ApiError(HTTPStatus.SERVICE_UNAVAILABLE,
                                   "the price table is unavailable; try again shortly"))


def unexpected(_error: Exception) -> Response[str]:
    logger.exception("unexpected error")
    return error_response(ApiError(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error"))


# Registered by call rather than as decorators: Powertools' decorators are untyped.
app.not_found(not_found)
app.exception_handler(ApiError)(error_response)
app.exception_handler([ClientError, BotoCoreError])(table_unavailable)
app.exception_handler(Exception)(unexpected)


def parameters(allowed: set[str]) -> dict[str, str]:
    """The query string's parameters; an unknown or repeated one is the caller's mistake."""
    query = app.current_event.query_string_parameters or {}
    unknown = sorted(set(query) - allowed)
    if unknown:
        raise ApiError(HTTPStatus.BAD_REQUEST,
                       f"unknown parameter {unknown[0][:40]!r}; this endpoint takes "
                       f"{', '.join(sorted(allowed)) or 'none'}")
    return dict(query)


def checked_symbol(value: str | None) -> str:
    if not value:
        raise ApiError(HTTPStatus.BAD_REQUEST, "symbol is required, e.g. symbol=BTCUSDT")
    try:
        check_symbol(value, None)  # the record contract's rule
    except InvalidMiniTicker as error:
        raise ApiError(HTTPStatus.BAD_REQUEST, f"symbol: {error.reason[:120]}") from None
    return value


def checked_minutes(value: str | None) -> int:
    if not value:
        raise ApiError(HTTPStatus.BAD_REQUEST, "minutes is required, e.g. minutes=60")
    if not (value.isascii() and value.isdigit()) or len(value) > 9:
        raise ApiError(HTTPStatus.BAD_REQUEST,
                       f"minutes={value[:20]!r} is not a whole number of minutes")
    minutes = int(value)
    if not 1 <= minutes <= MAX_MINUTES:
        raise ApiError(HTTPStatus.BAD_REQUEST,
                       f"minutes={minutes} is out of range: 1 to {MAX_MINUTES} "
                       "(the table's retention)")
    return minutes


def now_ms() -> int:
    return int(time.time() * 1000)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.LAMBDA_FUNCTION_URL)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response: dict[str, Any] = app.resolve(event, context)
    if event.get("requestContext", {}).get("http", {}).get("method") == "HEAD":
        response["body"] = ""  # the headers a GET would have, no body
    return response
