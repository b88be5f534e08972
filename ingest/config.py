"""The ingester's settings: environment variables (`ingest.environment` names them; flags may
override them), validated at start.

Invalid configuration stops the service at once with a `ConfigError` that names the setting, so
a misconfigured ECS task fails its deployment instead of idling or reconnecting in a loop.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3

from miniticker import check_stream_name

from .environment import (
    BINANCE_SECRET_ID,
    BINANCE_STREAMS,
    BINANCE_WS_URL,
    DATA_TIMEOUT_SECONDS,
    FLUSH_TIMEOUT_SECONDS,
    HEALTH_FILE,
    KINESIS_STREAM_NAME,
    LIVE_URL,
    LOG_LEVEL,
    LOG_LEVELS,
    METRICS_INTERVAL_SECONDS,
    ROTATE_AFTER_SECONDS,
    SETTINGS,
    SPOOL_DIR,
)
from .stream_secret import STREAMS


class ConfigError(ValueError):
    """A setting the ingester cannot start with; the message names the variable."""


@dataclass(frozen=True)
class IngestConfig:
    ws_url: str
    streams: tuple[str, ...]
    kinesis_stream_name: str
    spool_dir: Path
    health_file: Path
    log_level: str
    data_timeout: float
    rotate_after: float
    flush_timeout: float
    metrics_interval: float


SecretReader = Callable[[str], str]


def read_secret(secret_id: str) -> str:
    """The secret's string from Secrets Manager (region and endpoint from the environment)."""
    response = boto3.client("secretsmanager").get_secret_value(SecretId=secret_id)
    return str(response["SecretString"])


def load(
    values: Mapping[str, str | None],
    *,
    secret_reader: SecretReader = read_secret,
) -> IngestConfig:
    """Validate ``values`` (environment variables by name; unset or empty means the default).

    Raises:
        ConfigError: naming the first setting that is missing or invalid.
    """

    def get(name: str) -> str | None:
        value = values.get(name)
        if value is None or not value.strip():
            return SETTINGS[name].default
        return value.strip()

    ws_url = (get(BINANCE_WS_URL) or LIVE_URL).rstrip("/")
    parts = urlsplit(ws_url)
    if parts.scheme not in ("ws", "wss") or not parts.netloc or parts.path or parts.query:
        raise ConfigError(
            f"{BINANCE_WS_URL}={ws_url!r}: expected a ws:// or wss:// base URL such as "
            f"{LIVE_URL!r} (the service adds /stream?streams=...)"
        )
    kinesis_stream_name = get(KINESIS_STREAM_NAME)
    if not kinesis_stream_name:
        raise ConfigError(f"{KINESIS_STREAM_NAME} is not set: name the Kinesis Data Stream")
    log_level = (get(LOG_LEVEL) or "INFO").upper()
    if log_level not in LOG_LEVELS:
        raise ConfigError(f"{LOG_LEVEL}={log_level!r}: use one of {', '.join(LOG_LEVELS)}")
    return IngestConfig(
        ws_url=ws_url,
        streams=_streams(get(BINANCE_STREAMS), get(BINANCE_SECRET_ID), secret_reader),
        kinesis_stream_name=kinesis_stream_name,
        spool_dir=Path(get(SPOOL_DIR) or ""),
        health_file=Path(get(HEALTH_FILE) or ""),
        log_level=log_level,
        data_timeout=_seconds(DATA_TIMEOUT_SECONDS, get(DATA_TIMEOUT_SECONDS)),
        rotate_after=_seconds(ROTATE_AFTER_SECONDS, get(ROTATE_AFTER_SECONDS)),
        flush_timeout=_seconds(FLUSH_TIMEOUT_SECONDS, get(FLUSH_TIMEOUT_SECONDS)),
        metrics_interval=_seconds(METRICS_INTERVAL_SECONDS, get(METRICS_INTERVAL_SECONDS)),
    )


def load_from_environment(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> IngestConfig:
    """Environment variables, overridden by the matching flags (``--binance-streams ...``)."""
    parser = argparse.ArgumentParser(
        prog="python -m ingest",
        description="Binance mini-tickers into a Kinesis Data Stream.",
    )
    for setting in SETTINGS.values():
        default = f" (default: {setting.default})" if setting.default else ""
        parser.add_argument(setting.flag, dest=setting.env, help=setting.help + default)
    flags = vars(parser.parse_args(argv))
    merged: dict[str, str | None] = dict(os.environ if environ is None else environ)
    merged.update({name: value for name, value in flags.items() if value is not None})
    return load(merged)


def _streams(listed: str | None, secret_id: str | None, reader: SecretReader) -> tuple[str, ...]:
    if listed:
        source = BINANCE_STREAMS
        names: Any = [name.strip() for name in listed.split(",") if name.strip()]
    elif secret_id:
        source = f"{BINANCE_SECRET_ID}={secret_id!r}"
        try:
            text = reader(secret_id)
        except Exception as error:  # any SDK failure: the message must name the setting
            raise ConfigError(f"{source}: cannot read the secret: {error}") from error
        try:
            document = json.loads(text)
        except ValueError:
            raise ConfigError(f"{source}: the secret is not JSON") from None
        names = document.get(STREAMS) if isinstance(document, dict) else None
        if not isinstance(names, list):
            raise ConfigError(f'{source}: expected {{"streams": [...]}} in the secret')
    else:
        raise ConfigError(
            f"no streams: set {BINANCE_STREAMS} (comma-separated) or {BINANCE_SECRET_ID} "
            "(a secret holding {\"streams\": [...]})"
        )
    if not names:
        raise ConfigError(f"{source}: the stream list is empty")
    streams: list[str] = []
    for name in names:
        if not isinstance(name, str):
            raise ConfigError(f"{source}: {name!r} is not a stream name")
        try:
            check_stream_name(name)
        except ValueError as error:
            raise ConfigError(f"{source}: {error}") from None
        if name in streams:
            raise ConfigError(f"{source}: {name!r} is listed twice")
        streams.append(name)
    return tuple(streams)


def _seconds(name: str, value: str | None) -> float:
    try:
        seconds = float(value or "")
    except ValueError:
        raise ConfigError(f"{name}={value!r}: expected a number of seconds") from None
    if not 0 < seconds < math.inf:
        raise ConfigError(f"{name}={value!r}: must be a finite number greater than zero")
    return seconds
