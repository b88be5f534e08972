"""The ingester's environment variables: their names, defaults and meaning, and the mapping a
launcher passes.

Standard library only: the CDK app (the task definition's environment), the local mode (the
ingester as a child process) and the container's health check import this module without the
ingester's runtime libraries. `ingest.config` validates the values at start.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: Binance's public market-data websocket (spot, market data only, no API key): the ingester's
#: default, and what the local mode's ``--source binance`` reads.
LIVE_URL = "wss://data-stream.binance.vision"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# The variables' names: launchers set them through `variables`, never as literals.
BINANCE_WS_URL = "BINANCE_WS_URL"
BINANCE_STREAMS = "BINANCE_STREAMS"
BINANCE_SECRET_ID = "BINANCE_SECRET_ID"
KINESIS_STREAM_NAME = "KINESIS_STREAM_NAME"
SPOOL_DIR = "SPOOL_DIR"
HEALTH_FILE = "HEALTH_FILE"
LOG_LEVEL = "LOG_LEVEL"
DATA_TIMEOUT_SECONDS = "DATA_TIMEOUT_SECONDS"
ROTATE_AFTER_SECONDS = "ROTATE_AFTER_SECONDS"
FLUSH_TIMEOUT_SECONDS = "FLUSH_TIMEOUT_SECONDS"
METRICS_INTERVAL_SECONDS = "METRICS_INTERVAL_SECONDS"


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
        Setting(BINANCE_WS_URL, LIVE_URL,
                "base websocket URL; the service appends /stream?streams=..."),
        Setting(BINANCE_STREAMS, None,
                "comma-separated stream names (btcusdt@miniTicker, !miniTicker@arr)"),
        Setting(BINANCE_SECRET_ID, None,
                "Secrets Manager secret with {\"streams\": [...]}, read when BINANCE_STREAMS "
                "is unset"),
        Setting(KINESIS_STREAM_NAME, None, "the Kinesis Data Stream records are put to"),
        Setting(SPOOL_DIR, "/tmp/crypto-live/spool",
                "disk buffer for records Kinesis could not take yet"),
        Setting(HEALTH_FILE, "/tmp/crypto-live/heartbeat",
                "status file (heartbeat): the health check reads its age, the local mode its "
                "counts"),
        Setting(LOG_LEVEL, "INFO", "one of " + ", ".join(LOG_LEVELS)),
        Setting(DATA_TIMEOUT_SECONDS, "10",
                "reconnect when a connection delivers no data frame for this long"),
        Setting(ROTATE_AFTER_SECONDS, "82800",
                "replace each connection after this long (Binance closes them at 24 h)"),
        Setting(FLUSH_TIMEOUT_SECONDS, "25",
                "on SIGTERM, time to put what is buffered (keep it below the ECS stop timeout)"),
        Setting(METRICS_INTERVAL_SECONDS, "60", "how often metrics are published as EMF"),
    )
}


def default_health_file() -> Path:
    """Where the status file is when `HEALTH_FILE` is not set."""
    return Path(SETTINGS[HEALTH_FILE].default or "")


def variables(
    *,
    kinesis_stream_name: str,
    ws_url: str | None = None,
    streams: tuple[str, ...] | None = None,
    secret_id: str | None = None,
    spool_dir: Path | str | None = None,
    health_file: Path | str | None = None,
    log_level: str | None = None,
    data_timeout_seconds: float | None = None,
    rotate_after_seconds: float | None = None,
    flush_timeout_seconds: float | None = None,
    metrics_interval_seconds: float | None = None,
) -> dict[str, str]:
    """The variables for whoever starts the ingester (the CDK app's task definition, the local
    mode's child process); a value left out keeps its default. Checked by the ingester at start
    (`ingest.config.load`), not here: the CDK app may pass tokens resolved at deploy time."""
    values: dict[str, object | None] = {
        KINESIS_STREAM_NAME: kinesis_stream_name,
        BINANCE_WS_URL: ws_url,
        BINANCE_STREAMS: ",".join(streams) if streams is not None else None,
        BINANCE_SECRET_ID: secret_id,
        SPOOL_DIR: spool_dir,
        HEALTH_FILE: health_file,
        LOG_LEVEL: log_level,
        DATA_TIMEOUT_SECONDS: data_timeout_seconds,
        ROTATE_AFTER_SECONDS: rotate_after_seconds,
        FLUSH_TIMEOUT_SECONDS: flush_timeout_seconds,
        METRICS_INTERVAL_SECONDS: metrics_interval_seconds,
    }
    return {name: _text(value) for name, value in values.items() if value is not None}


def _text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # "20", not "20.0"
    return str(value)
