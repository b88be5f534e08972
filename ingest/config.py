"""The ingester's settings: environment variables (flags may override them), validated at start.

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

DEFAULT_WS_URL = "wss://data-stream.binance.vision"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(ValueError):
    """A setting the ingester cannot start with; the message names the variable."""


@dataclass(frozen=True)
class Setting:
    """One environment variable, its default and its meaning (the README lists them)."""

    env: str
    default: str | None
    help: str

    @property
    def flag(self) -> str:
        return "--" + self.env.lower().replace("_", "-")


SETTINGS = {
    s.env: s
    for s in (
        Setting("BINANCE_WS_URL", DEFAULT_WS_URL,
                "base websocket URL; the service appends /stream?streams=..."),
        Setting("BINANCE_STREAMS", None,
                "comma-separated stream names (btcusdt@miniTicker, !miniTicker@arr)"),
        Setting("BINANCE_SECRET_ID", None,
                "Secrets Manager secret with {\"streams\": [...]}, read when BINANCE_STREAMS "
                "is unset"),
        Setting("KINESIS_STREAM_NAME", None, "the Kinesis Data Stream records are put to"),
        Setting("SPOOL_DIR", "/tmp/crypto-live/spool",
                "disk buffer for records Kinesis could not take yet"),
        Setting("HEALTH_FILE", "/tmp/crypto-live/heartbeat",
                "heartbeat file the container health check reads"),
        Setting("LOG_LEVEL", "INFO", "one of " + ", ".join(LOG_LEVELS)),
        Setting("DATA_TIMEOUT_SECONDS", "10",
                "reconnect when a connection delivers no data frame for this long"),
        Setting("ROTATE_AFTER_SECONDS", "82800",
                "replace each connection after this long (Binance closes them at 24 h)"),
        Setting("FLUSH_TIMEOUT_SECONDS", "25",
                "on SIGTERM, time to put what is buffered (keep it below the ECS stop timeout)"),
        Setting("METRICS_INTERVAL_SECONDS", "60", "how often metrics are published as EMF"),
    )
}


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

    ws_url = (get("BINANCE_WS_URL") or DEFAULT_WS_URL).rstrip("/")
    parts = urlsplit(ws_url)
    if parts.scheme not in ("ws", "wss") or not parts.netloc or parts.path or parts.query:
        raise ConfigError(
            f"BINANCE_WS_URL={ws_url!r}: expected a ws:// or wss:// base URL such as "
            f"{DEFAULT_WS_URL!r} (the service adds /stream?streams=...)"
        )
    kinesis_stream_name = get("KINESIS_STREAM_NAME")
    if not kinesis_stream_name:
        raise ConfigError("KINESIS_STREAM_NAME is not set: name the Kinesis Data Stream")
    log_level = (get("LOG_LEVEL") or "INFO").upper()
    if log_level not in LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL={log_level!r}: use one of {', '.join(LOG_LEVELS)}")
    return IngestConfig(
        ws_url=ws_url,
        streams=_streams(get("BINANCE_STREAMS"), get("BINANCE_SECRET_ID"), secret_reader),
        kinesis_stream_name=kinesis_stream_name,
        spool_dir=Path(get("SPOOL_DIR") or ""),
        health_file=Path(get("HEALTH_FILE") or ""),
        log_level=log_level,
        data_timeout=_seconds("DATA_TIMEOUT_SECONDS", get("DATA_TIMEOUT_SECONDS")),
        rotate_after=_seconds("ROTATE_AFTER_SECONDS", get("ROTATE_AFTER_SECONDS")),
        flush_timeout=_seconds("FLUSH_TIMEOUT_SECONDS", get("FLUSH_TIMEOUT_SECONDS")),
        metrics_interval=_seconds("METRICS_INTERVAL_SECONDS", get("METRICS_INTERVAL_SECONDS")),
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
        source = "BINANCE_STREAMS"
        names: Any = [name.strip() for name in listed.split(",") if name.strip()]
    elif secret_id:
        source = f"BINANCE_SECRET_ID={secret_id!r}"
        try:
            text = reader(secret_id)
        except Exception as error:  # any SDK failure: the message must name the setting
            raise ConfigError(f"{source}: cannot read the secret: {error}") from error
        try:
            document = json.loads(text)
        except ValueError:
            raise ConfigError(f"{source}: the secret is not JSON") from None
        names = document.get("streams") if isinstance(document, dict) else None
        if not isinstance(names, list):
            raise ConfigError(f'{source}: expected {{"streams": [...]}} in the secret')
    else:
        raise ConfigError(
            "no streams: set BINANCE_STREAMS (comma-separated) or BINANCE_SECRET_ID "
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
