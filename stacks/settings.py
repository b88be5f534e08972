"""Deployment settings, read from CDK context and validated before any resource is defined.

Defaults live here, once; ``cdk.json`` context or ``cdk deploy -c key=value`` overrides them (the
README lists the keys). A bad value stops synthesis with a message that names the context key.

Standard library only at run time (``constructs.Node`` is a type hint): the local mode names its
stand-ins from these settings without loading jsii or the CDK.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ingest.stream_secret import SECRET_VALUE_BYTES, secret_value
from miniticker import (
    ALL_MARKET_STREAM,
    POPULAR_SYMBOLS,
    catalog,
    check_stream_name,
    stream_name_for,
)
from miniticker.kinesis_record import MAX_RECORD_BYTES

from .capacity import (
    LAMBDA_PAYLOAD_BYTES,
    SHARD_SHARE,
    ShardCapacity,
    batch_payload_bytes,
    estimate_load,
    largest_batch_size,
    shards_needed,
)

if TYPE_CHECKING:
    from constructs import Node

#: Context keys, in one place; cdk.json and the README document them.
ENV_KEY = "crypto-live:env"
STREAMS_KEY = "crypto-live:streams"
SECRET_NAME_KEY = "crypto-live:secret-name"
REMOVAL_POLICY_KEY = "crypto-live:removal-policy"
RAW_TRANSITION_DAYS_KEY = "crypto-live:raw-transition-days"
RAW_EXPIRATION_DAYS_KEY = "crypto-live:raw-expiration-days"
RETENTION_DAYS_KEY = "crypto-live:retention-days"
POINT_IN_TIME_RECOVERY_KEY = "crypto-live:point-in-time-recovery"
STREAM_MODE_KEY = "crypto-live:stream-mode"
SHARD_COUNT_KEY = "crypto-live:shard-count"
FIREHOSE_BUFFER_MB_KEY = "crypto-live:firehose-buffer-mb"
FIREHOSE_BUFFER_SECONDS_KEY = "crypto-live:firehose-buffer-seconds"
BATCH_SIZE_KEY = "crypto-live:consumer-batch-size"
BATCHING_WINDOW_KEY = "crypto-live:consumer-batching-window-seconds"
PARALLELIZATION_FACTOR_KEY = "crypto-live:consumer-parallelization-factor"
RETRY_ATTEMPTS_KEY = "crypto-live:consumer-retry-attempts"
MAX_RECORD_AGE_KEY = "crypto-live:consumer-max-record-age-seconds"
PRICE_METRICS_KEY = "crypto-live:price-metrics"
HOT_TABLE_RESOLUTION_KEY = "crypto-live:hot-table-resolution-seconds"
DATABASE_NAME_KEY = "crypto-live:database-name"
ETL_SCHEDULE_KEY = "crypto-live:etl-schedule"
ALARM_EMAIL_KEY = "crypto-live:alarm-email"
NO_DATA_MINUTES_KEY = "crypto-live:no-data-minutes"
WEB_KEY = "crypto-live:web"
API_RESERVED_CONCURRENCY_KEY = "crypto-live:api-reserved-concurrency"

DEFAULT_ENV = catalog.DEFAULT_ENVIRONMENT
DEFAULT_STREAMS = tuple(stream_name_for(symbol) for symbol in POPULAR_SYMBOLS)

_ENV_NAME = re.compile(r"[a-z][a-z0-9-]{0,15}")
_DATABASE_NAME = re.compile(r"[a-z][a-z0-9_]{0,254}")
_SCHEDULE = re.compile(r"(cron|rate)\(.+\)")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class SettingsError(ValueError):
    """A context value that cannot be deployed; the message names the key."""


@dataclass(frozen=True)
class Settings:
    """What one environment of crypto-live is deployed with (defaults: the fields' own)."""

    env_name: str
    streams: tuple[str, ...]
    secret_name: str
    #: "retain" keeps the bucket and table (data) when the stack is deleted; "destroy" removes
    #: them, and empties the bucket first (for short-lived environments).
    removal_policy: str = "retain"
    raw_transition_days: int = 30  # raw objects to S3 Standard-IA after this many days
    raw_expiration_days: int = 365  # and deleted after this many
    retention_days: int = 1  # DynamoDB items expire this long after their event
    point_in_time_recovery: bool = True
    stream_mode: str = "provisioned"  # or "on-demand"
    #: Provisioned mode. One shard carries the whole market of aggregated records within
    #: `stacks.capacity.SHARD_SHARE` of its limits; a stream list it cannot carry is refused.
    shard_count: int = 1
    firehose_buffer_mb: int = 16
    firehose_buffer_seconds: int = 300
    # The consumer's event source mapping. Its cost and pace at the whole market are set by how
    # many invocations there are, not by how many events: each invocation writes a latest item
    # and a candle for every symbol in its batch, and at the whole market every batch holds
    # every symbol. So batches should be large and few, within what one invocation can take:
    #: Records a batch, at most. A record holds up to `MAX_RECORD_BYTES` of lines, so the
    #: worst-case event is 150 x 25,000 x 4/3 = 5,000,000 bytes in base64: within Lambda's
    #: 6 MB invocation payload, with room for the event's JSON around each record (the largest
    #: allowed is `stacks.capacity.largest_batch_size`, 180). At the whole market's planning
    #: figures (`WHOLE_MARKET_EVENTS_PER_SECOND` lines of `EVENT_LINE_BYTES`, 32 full records a
    #: second) 150 records are about 4.7 s of market, so the size closes a batch at about the
    #: time the window would: one invocation every few seconds, each with every symbol once.
    consumer_batch_size: int = 150
    #: Seconds the mapping gathers a batch, and batches of one shard processed at once
    #: (Lambda's 1..10). At the whole market one invocation is CPU-bound, and most of its work
    #: is per symbol, not per event (botocore's work for a latest item and a candle of every
    #: symbol in the batch): ``bench/bench_consumer.py`` prints that one invocation of a full
    #: batch takes about as long as the batch took to gather, so one batch at a time leaves no
    #: margin. Two batchers a shard, each gathering for up to 10 s, close on the batch size at
    #: the whole market (each gets half the records): the same invocations a second as one
    #: batcher with a 5 s window, so the same latest and candle writes (``bench/cost.py``),
    #: with each invocation given twice the time. At ten symbols the window closes the batches:
    #: two batchers every 10 s, an invocation about every 5 s, as with one batcher and 5 s.
    #: Concurrent invocations merging into one candle retry on its version check.
    consumer_batching_window_seconds: int = 10
    consumer_parallelization_factor: int = 2
    consumer_retry_attempts: int = 3
    consumer_max_record_age_seconds: int = 3600
    price_metrics: bool = True
    #: The hot table's event items: 0 keeps every event; N keeps the last event per symbol per
    #: N seconds (the latest items and the 1-minute candles still see every event). At the
    #: whole market every-event writes dominate the bill (``bench/cost.py``).
    hot_table_resolution_seconds: int = 0
    database_name: str = ""  # default crypto_live_<env>: docs/architecture.md §2.6
    #: When the Glue job runs (an EventBridge-style cron, UTC): a quarter past every hour, when
    #: Firehose (buffering at most 15 minutes) has flushed the hour before.
    etl_schedule: str = "cron(15 * * * ? *)"
    alarm_email: str | None = None  # subscribed to the alarm topic when set
    no_data_minutes: int = 10  # alarm when no event reached Kinesis for this long
    #: The price page, its distribution and the read API; false leaves all three out.
    web: bool = True
    #: The read API's reserved concurrency: a ceiling on what cache misses can cost, and
    #: capacity the rest of the account cannot take from it.
    api_reserved_concurrency: int = 10

    @property
    def stack_name(self) -> str:
        return f"crypto-live-{self.env_name}"

    @property
    def table_name(self) -> str:
        """The DynamoDB table (docs/architecture.md §2.4: one per environment)."""
        return f"{self.stack_name}-miniticker"

    @property
    def stream_name(self) -> str:
        return f"{self.stack_name}-miniticker"

    @classmethod
    def from_context(cls, node: Node) -> Settings:
        env_name = node.try_get_context(ENV_KEY) or DEFAULT_ENV
        if not isinstance(env_name, str):
            raise SettingsError(f"{ENV_KEY} must be a string, got {env_name!r}")
        if not _ENV_NAME.fullmatch(env_name):
            raise SettingsError(
                f"{ENV_KEY}={env_name!r}: use 1-16 lower-case letters, digits or '-', "
                "starting with a letter (it becomes part of resource names)"
            )
        configured = node.try_get_context(STREAMS_KEY)
        streams = DEFAULT_STREAMS if configured is None else _streams(configured)
        # The secret's name (docs/architecture.md §2.5) with the environment in it, so dev and
        # prod share an account.
        secret_name = node.try_get_context(SECRET_NAME_KEY) or default_secret_name(env_name)
        if not isinstance(secret_name, str):
            raise SettingsError(f"{SECRET_NAME_KEY} must be a string, got {secret_name!r}")
        context = _Context(node)
        retention = context.integer(RETENTION_DAYS_KEY, cls.retention_days, 1, 3650,
                                    "retention under one day")
        transition = context.integer(RAW_TRANSITION_DAYS_KEY, cls.raw_transition_days, 30, 3650,
                                     "S3 Standard-IA takes objects after 30 days at the earliest")
        expiration = context.integer(RAW_EXPIRATION_DAYS_KEY, cls.raw_expiration_days,
                                     transition + 1, 36500, "expiry not after the transition")
        mode = context.choice(STREAM_MODE_KEY, cls.stream_mode, ("provisioned", "on-demand"))
        settings = cls(
            env_name=env_name, streams=streams, secret_name=secret_name,
            removal_policy=context.choice(REMOVAL_POLICY_KEY, cls.removal_policy,
                                          ("retain", "destroy")),
            raw_transition_days=transition, raw_expiration_days=expiration,
            retention_days=retention,
            point_in_time_recovery=context.boolean(POINT_IN_TIME_RECOVERY_KEY,
                                                   cls.point_in_time_recovery),
            stream_mode=mode,
            shard_count=context.integer(SHARD_COUNT_KEY, cls.shard_count, 1, 500,
                                        "a shard count outside 1..500"),
            firehose_buffer_mb=context.integer(FIREHOSE_BUFFER_MB_KEY, cls.firehose_buffer_mb,
                                               1, 128, "Firehose buffers 1..128 MB"),
            firehose_buffer_seconds=context.integer(
                FIREHOSE_BUFFER_SECONDS_KEY, cls.firehose_buffer_seconds, 0, 900,
                "Firehose buffers 0..900 seconds"),
            consumer_batch_size=context.integer(BATCH_SIZE_KEY, cls.consumer_batch_size, 1,
                                                10_000, "Kinesis batches hold 1..10,000"),
            consumer_batching_window_seconds=context.integer(
                BATCHING_WINDOW_KEY, cls.consumer_batching_window_seconds, 0, 300,
                "the batching window is 0..300 seconds"),
            consumer_parallelization_factor=context.integer(
                PARALLELIZATION_FACTOR_KEY, cls.consumer_parallelization_factor, 1, 10,
                "Lambda processes 1..10 batches of a shard at once"),
            consumer_retry_attempts=context.integer(
                RETRY_ATTEMPTS_KEY, cls.consumer_retry_attempts, 0, 10_000,
                "retries are 0..10,000"),
            consumer_max_record_age_seconds=context.integer(
                MAX_RECORD_AGE_KEY, cls.consumer_max_record_age_seconds, 60, 604_800,
                "a record age limit is 60..604,800 seconds"),
            price_metrics=context.boolean(PRICE_METRICS_KEY, cls.price_metrics),
            hot_table_resolution_seconds=context.integer(
                HOT_TABLE_RESOLUTION_KEY, cls.hot_table_resolution_seconds, 0, 3600,
                "0 keeps every event; otherwise seconds, at most an hour"),
            database_name=context.text(DATABASE_NAME_KEY, catalog.default_database_name(env_name),
                                       _DATABASE_NAME, "lower-case letters, digits and '_'"),
            etl_schedule=context.text(ETL_SCHEDULE_KEY, cls.etl_schedule, _SCHEDULE,
                                      "cron(...) or rate(...)"),
            alarm_email=context.text(ALARM_EMAIL_KEY, "", _EMAIL, "an e-mail address") or None,
            no_data_minutes=context.integer(NO_DATA_MINUTES_KEY, cls.no_data_minutes, 1, 1440,
                                            "1..1440 minutes"),
            web=context.boolean(WEB_KEY, cls.web),
            api_reserved_concurrency=context.integer(
                API_RESERVED_CONCURRENCY_KEY, cls.api_reserved_concurrency, 1, 1000,
                "at least one, or the API is always throttled; at most Lambda's default "
                "account quota"),
        )
        check_capacity(settings)
        check_secret_size(settings.streams)
        return settings


def check_secret_size(streams: tuple[str, ...]) -> None:
    """Refuse a stream list the secret that carries it cannot hold (CDK would only warn, and
    the deployment fail)."""
    size = len(secret_value(streams).encode())
    if size > SECRET_VALUE_BYTES:
        raise SettingsError(
            f"{STREAMS_KEY}: {len(streams):,} streams make a secret of {size:,} bytes, above "
            f"Secrets Manager's {SECRET_VALUE_BYTES:,}: list fewer, or subscribe to "
            f"{ALL_MARKET_STREAM} (the whole market, one stream)")


def check_capacity(settings: Settings) -> None:
    """Refuse settings that cannot carry the configured stream list (`stacks.capacity`).

    On-demand streams are not checked: they scale their write capacity with the traffic (a new
    one takes 4 MB/s and 4,000 records a second, and grows to double its previous peak).
    """
    payload = batch_payload_bytes(settings.consumer_batch_size)
    if payload > LAMBDA_PAYLOAD_BYTES:
        raise SettingsError(
            f"{BATCH_SIZE_KEY}={settings.consumer_batch_size}: a batch of records of up to "
            f"{MAX_RECORD_BYTES:,} bytes makes a Lambda event of up to {payload:,} bytes "
            f"(base64), above Lambda's {LAMBDA_PAYLOAD_BYTES:,}-byte invocation payload: set "
            f"{BATCH_SIZE_KEY} to at most {largest_batch_size()}")
    if settings.stream_mode == "on-demand":
        return
    load = estimate_load(settings.streams)
    needed = shards_needed(load)
    if needed <= settings.shard_count:
        return
    capacity = ShardCapacity.of(settings.shard_count)
    bytes_short = load.bytes > capacity.bytes
    carried, wanted, unit = ((capacity.bytes, load.bytes, "bytes/s") if bytes_short
                             else (capacity.records, load.records, "records/s"))
    what = "bytes/s of records" if bytes_short else unit
    shards = f"{settings.shard_count} shard{'s' if settings.shard_count != 1 else ''}"
    raise SettingsError(
        f"{SHARD_COUNT_KEY}={settings.shard_count} carries {carried:,} {what} "
        f"({SHARD_SHARE * 100:.0f} % of {shards}); {STREAMS_KEY} ({load.description}) needs "
        f"about {wanted:,} {unit}: set {SHARD_COUNT_KEY} to at least {needed}, or "
        f"{STREAM_MODE_KEY} to on-demand")


def default_secret_name(env_name: str) -> str:
    return f"crypto-live-{env_name}.binance_ws"


def local_settings(streams: tuple[str, ...]) -> Settings:
    """The names the local mode gives its stand-ins: the stack's, for environment ``local``."""
    return Settings(env_name="local", streams=streams,
                    secret_name=default_secret_name("local"),
                    database_name=catalog.default_database_name("local"))


class _Context:
    """Typed reads of context values: cdk.json gives JSON types, ``-c key=value`` strings."""

    def __init__(self, node: Node) -> None:
        self._node = node

    def integer(self, key: str, default: int, low: int, high: int, why: str) -> int:
        value = self._node.try_get_context(key)
        if value is None:
            return default
        try:
            number = int(value) if not isinstance(value, bool) else None
        except (TypeError, ValueError):
            number = None
        if number is None or str(number) != str(value).strip():
            raise SettingsError(f"{key}={value!r} is not a whole number")
        if not low <= number <= high:
            raise SettingsError(f"{key}={number}: must be {low}..{high} ({why})")
        return number

    def boolean(self, key: str, default: bool) -> bool:
        value = self._node.try_get_context(key)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise SettingsError(f"{key}={value!r} is neither true nor false")

    def text(self, key: str, default: str, pattern: re.Pattern[str], shape: str) -> str:
        value = self._node.try_get_context(key)
        if value is None:
            return default
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise SettingsError(f"{key}={value!r}: expected {shape}")
        return value

    def choice(self, key: str, default: str, choices: tuple[str, ...]) -> str:
        value = self._node.try_get_context(key)
        if value is None:
            return default
        if value not in choices:
            raise SettingsError(f"{key}={value!r}: unknown, use one of {', '.join(choices)}")
        return str(value)


def _streams(value: Any) -> tuple[str, ...]:
    # `-c key=[...]` arrives as a JSON string; cdk.json gives a list.
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = [s.strip() for s in value.split(",") if s.strip()]
    if not isinstance(value, list) or not value:
        raise SettingsError(
            f"{STREAMS_KEY} must be a non-empty list of stream names, "
            f"e.g. [\"btcusdt@miniTicker\"], got {value!r}"
        )
    streams = []
    for name in value:
        if not isinstance(name, str):
            raise SettingsError(f"{STREAMS_KEY}: {name!r} is not a string")
        try:
            streams.append(check_stream_name(name))
        except ValueError as error:
            raise SettingsError(f"{STREAMS_KEY}: {error}") from None
    duplicates = sorted(s for s, n in Counter(streams).items() if n > 1)
    if duplicates:
        raise SettingsError(f"{STREAMS_KEY}: listed more than once: {duplicates}")
    return tuple(streams)
