"""The ingester's configuration: defaults, overrides, and a clear error naming each bad setting."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from ingest.config import ConfigError, load, load_from_environment
from ingest.environment import LIVE_URL

MINIMAL = {"BINANCE_STREAMS": "btcusdt@miniTicker", "KINESIS_STREAM_NAME": "ticks"}


def no_secret(secret_id: str) -> str:
    raise AssertionError("the secret must not be read when BINANCE_STREAMS is set")


def test_defaults():
    config = load(MINIMAL, secret_reader=no_secret)
    assert config.ws_url == LIVE_URL
    assert config.streams == ("btcusdt@miniTicker",)
    assert config.kinesis_stream_name == "ticks"
    assert config.spool_dir == Path("/tmp/crypto-live/spool")
    assert config.health_file == Path("/tmp/crypto-live/heartbeat")
    assert config.log_level == "INFO"
    assert config.data_timeout == 10
    assert config.rotate_after == 23 * 3600


def test_every_setting_from_the_environment(tmp_path: Path):
    config = load({
        "BINANCE_WS_URL": "ws://127.0.0.1:9000/",
        "BINANCE_STREAMS": " btcusdt@miniTicker, !miniTicker@arr ,",
        "KINESIS_STREAM_NAME": "ticks",
        "SPOOL_DIR": str(tmp_path / "spool"),
        "HEALTH_FILE": str(tmp_path / "alive"),
        "LOG_LEVEL": "debug",
        "DATA_TIMEOUT_SECONDS": "2.5",
        "ROTATE_AFTER_SECONDS": "60",
    }, secret_reader=no_secret)
    assert config.ws_url == "ws://127.0.0.1:9000"
    assert config.streams == ("btcusdt@miniTicker", "!miniTicker@arr")
    assert (config.spool_dir, config.health_file) == (tmp_path / "spool", tmp_path / "alive")
    assert (config.log_level, config.data_timeout, config.rotate_after) == ("DEBUG", 2.5, 60)


def test_flags_override_the_environment():
    config = load_from_environment(
        ["--binance-streams", "ethusdt@miniTicker", "--log-level", "WARNING"],
        environ={**MINIMAL, "LOG_LEVEL": "DEBUG"},
    )
    assert config.streams == ("ethusdt@miniTicker",)
    assert config.log_level == "WARNING"


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"BINANCE_STREAMS": None}, "no streams: set BINANCE_STREAMS"),
        ({"BINANCE_STREAMS": " , "}, "BINANCE_STREAMS: the stream list is empty"),
        ({"BINANCE_STREAMS": "BTCUSDT@miniTicker"}, "BINANCE_STREAMS: stream name"),
        ({"BINANCE_STREAMS": "btcusdt"}, "BINANCE_STREAMS: stream name 'btcusdt'"),
        ({"BINANCE_STREAMS": "btcusdt@miniTicker,btcusdt@miniTicker"}, "listed twice"),
        ({"KINESIS_STREAM_NAME": ""}, "KINESIS_STREAM_NAME is not set"),
        ({"BINANCE_WS_URL": "https://data-stream.binance.vision"}, "BINANCE_WS_URL="),
        ({"BINANCE_WS_URL": "wss://host/stream"}, "BINANCE_WS_URL="),
        ({"BINANCE_WS_URL": "wss://"}, "BINANCE_WS_URL="),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL='LOUD'"),
        ({"DATA_TIMEOUT_SECONDS": "soon"}, "DATA_TIMEOUT_SECONDS='soon'"),
        ({"DATA_TIMEOUT_SECONDS": "0"}, "greater than zero"),
        ({"ROTATE_AFTER_SECONDS": "inf"}, "ROTATE_AFTER_SECONDS='inf'"),
        ({"ROTATE_AFTER_SECONDS": "nan"}, "ROTATE_AFTER_SECONDS='nan'"),
    ],
)
def test_invalid_settings_are_named(changes: dict[str, Any], words: str):
    with pytest.raises(ConfigError) as caught:
        load({**MINIMAL, **changes}, secret_reader=no_secret)
    assert words in str(caught.value)


# --- streams from Secrets Manager (moto server) ---------------------------------------------


def create_secret(client: Any, value: str) -> str:
    name = f"crypto-live-test-{uuid.uuid4().hex[:8]}.binance_ws"
    client.create_secret(Name=name, SecretString=value)
    return name


def test_streams_from_the_secret(secretsmanager: Any):
    secret = create_secret(secretsmanager, json.dumps(
        {"streams": ["ethusdt@miniTicker", "solusdt@miniTicker"]}))
    config = load({"BINANCE_SECRET_ID": secret, "KINESIS_STREAM_NAME": "ticks"})
    assert config.streams == ("ethusdt@miniTicker", "solusdt@miniTicker")


def test_binance_streams_wins_over_the_secret(secretsmanager: Any):
    secret = create_secret(secretsmanager, json.dumps({"streams": ["ethusdt@miniTicker"]}))
    config = load({**MINIMAL, "BINANCE_SECRET_ID": secret}, secret_reader=no_secret)
    assert config.streams == ("btcusdt@miniTicker",)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("not json", "the secret is not JSON"),
        ('["btcusdt@miniTicker"]', 'expected {"streams": [...]}'),
        ('{"streams": "btcusdt@miniTicker"}', 'expected {"streams": [...]}'),
        ('{"streams": []}', "the stream list is empty"),
        ('{"streams": ["btcusdt@miniTicker", 5]}', "5 is not a stream name"),
        ('{"streams": ["btc"]}', "stream name 'btc'"),
    ],
)
def test_a_bad_secret_is_named(secretsmanager: Any, value: str, words: str):
    secret = create_secret(secretsmanager, value)
    with pytest.raises(ConfigError) as caught:
        load({"BINANCE_SECRET_ID": secret, "KINESIS_STREAM_NAME": "ticks"})
    assert f"BINANCE_SECRET_ID={secret!r}" in str(caught.value)
    assert words in str(caught.value)


def test_a_missing_secret_is_named(aws: str):
    with pytest.raises(ConfigError) as caught:
        load({"BINANCE_SECRET_ID": "no-such-secret", "KINESIS_STREAM_NAME": "ticks"})
    assert "BINANCE_SECRET_ID='no-such-secret': cannot read the secret" in str(caught.value)
    assert "ResourceNotFoundException" in str(caught.value)
