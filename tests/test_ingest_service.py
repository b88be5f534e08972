"""`python -m ingest` end to end: the local Binance server in, moto's Kinesis out, real signals."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from ingest.kinesis_sink import CLIENT_CONFIG
from ingest.metric_names import MetricName
from ingest.packing import PARTITION_KEY_CHARS
from ingest.status import read_status
from market_sim import MarketDataGenerator
from market_sim.server import BinanceServer
from miniticker import parse_json_line
from miniticker.kinesis_record import MAX_RECORD_BYTES
from tests.conftest import FAKE_CREDENTIALS
from tests.exact import assert_exactly_what_was_sent
from tests.kinesis import create_stream, read_all, read_lines, read_shards
from tests.loopback import free_port
from tests.waiting import wait_for

REPO = Path(__file__).resolve().parents[1]


class Ingester:
    """`python -m ingest` as a child process, its output in files."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.stdout = tmp_path / "stdout.log"
        self.stderr = tmp_path / "stderr.log"
        base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        with self.stdout.open("ab") as out, self.stderr.open("ab") as err:
            self.process = subprocess.Popen([sys.executable, "-m", "ingest"], cwd=REPO,
                                            env={**base, **env}, stdout=out, stderr=err)

    def stop(self, timeout: float = 30.0) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def logs(self) -> list[dict[str, Any]]:
        lines = self.stdout.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def log(self, message: str) -> dict[str, Any]:
        (entry,) = [e for e in self.logs() if e.get("message") == message]
        return entry



@pytest.fixture
def kinesis(aws: str) -> Any:
    return boto3.client("kinesis", config=CLIENT_CONFIG)


@pytest.fixture
def server() -> Iterator[BinanceServer]:
    generator = MarketDataGenerator(["BTCUSDT", "ETHUSDT", "SOLUSDT"], seed=1)
    with BinanceServer(generator, tick_seconds=0.01, ping_interval=0.5,
                       ping_timeout=1.0) as srv:
        yield srv


def settings(tmp_path: Path, server: BinanceServer, stream: str, endpoint: str,
             **extra: str) -> dict[str, str]:
    return {
        **FAKE_CREDENTIALS,
        "AWS_ENDPOINT_URL": endpoint,
        "BINANCE_WS_URL": server.url,
        "BINANCE_STREAMS": "btcusdt@miniTicker,ethusdt@miniTicker,!miniTicker@arr",
        "KINESIS_STREAM_NAME": stream,
        "SPOOL_DIR": str(tmp_path / "spool"),
        "HEALTH_FILE": str(tmp_path / "heartbeat"),
        # Long: these tests stop the market to settle, and the watchdog must not reconnect
        # then (it is tested in test_ingest_connection.py).
        "DATA_TIMEOUT_SECONDS": "60",
        "METRICS_INTERVAL_SECONDS": "1",
        "FLUSH_TIMEOUT_SECONDS": "10",
        **extra,
    }


def stored_records(kinesis: Any, stream: str) -> list[Any]:
    """Every event in the stream; each record whole lines within the bound, its key the
    ingester's fixed-width counter."""
    stored = read_all(kinesis, stream)
    for key, data in stored:
        assert len(key) == PARTITION_KEY_CHARS
        assert data.endswith(b"\n")
        assert len(data) + len(key) <= MAX_RECORD_BYTES
    return [parse_json_line(line) for line in read_lines(kinesis, stream)]


def quiesce(server: BinanceServer, kinesis: Any, stream: str) -> None:
    """Stop the market and wait until the stream stops growing."""
    server.halt()
    count = -1
    while count != len(read_lines(kinesis, stream)):
        count = len(read_lines(kinesis, stream))
        time.sleep(1.0)


def test_every_event_reaches_kinesis_once_through_faults(
    tmp_path: Path, server: BinanceServer, kinesis: Any, aws: str
):
    stream = create_stream(kinesis, shards=2)
    ingester = Ingester(tmp_path, settings(tmp_path, server, stream, aws))
    wait_for(lambda: len(server.sent) > 200)
    server.inject("{not json")
    server.inject('{"result":null,"id":7}')
    server.drop()
    wait_for(lambda: server.connections_opened >= 2 and server.open_connections == 1)
    server.announce_shutdown(close_after=0.5)
    wait_for(lambda: server.connections_opened >= 3)
    time.sleep(1.0)
    quiesce(server, kinesis, stream)
    assert ingester.stop() == 0

    assert_exactly_what_was_sent(stored_records(kinesis, stream), server)
    totals = ingester.log("ingest stopped")["totals"]
    assert totals["EventsPut"] == len({(e.symbol, e.event_time) for e in server.sent})
    shards = read_shards(kinesis, stream)
    assert totals["RecordsPut"] == sum(map(len, shards.values())) < totals["EventsPut"]
    assert all(shards.values())  # the keys spread the records over both shards
    assert totals["DuplicatesDropped"] > 0  # each symbol came twice: alone and in the array
    assert totals["MalformedFrames"] == 2
    assert totals["Reconnects"] == 1
    assert totals["Rotations"] == 1
    emf = [e for e in ingester.logs() if "_aws" in e]
    assert emf
    assert sum(sum(e.get("EventsPut", [0])) for e in emf) == totals["EventsPut"]
    assert any(e.get("LagMilliseconds") for e in emf)
    assert any(e.get("PutLagMilliseconds") for e in emf)
    assert ingester.log("ingest stopped")["left_in_spool"] == 0

    # The status file's last write is the final account, the same as the log's.
    status = read_status(tmp_path / "heartbeat")
    assert status is not None
    assert status.stopped
    assert (status.connections, status.backlog) == (1, 0)
    assert status.totals == totals
    assert status.count(MetricName.EVENTS_PUT) == totals["EventsPut"]
    check = subprocess.run([sys.executable, "-m", "ingest.healthcheck"], cwd=REPO, check=False,
                           env={**os.environ, "HEALTH_FILE": str(tmp_path / "heartbeat")})
    assert check.returncode == 0


def test_sigterm_mid_stream_flushes_what_was_read(
    tmp_path: Path, server: BinanceServer, kinesis: Any, aws: str
):
    stream = create_stream(kinesis)
    ingester = Ingester(tmp_path, settings(tmp_path, server, stream, aws,
                                           BINANCE_STREAMS="!miniTicker@arr"))
    wait_for(lambda: len(server.sent) > 1000)
    assert ingester.stop() == 0  # the market is still running
    records = stored_records(kinesis, stream)
    totals = ingester.log("ingest stopped")["totals"]
    assert len(records) == totals["EventsReceived"] - totals.get("DuplicatesDropped", 0)
    sent = {(e.symbol, e.event_time) for e in server.sent}
    keys = [(r.symbol, r.event_time) for r in records]
    assert len(keys) == len(set(keys))
    assert set(keys) <= sent


def test_sigterm_while_kinesis_is_down_keeps_the_spool_for_the_next_run(
    tmp_path: Path, server: BinanceServer, kinesis: Any, aws: str
):
    stream = create_stream(kinesis)
    dead = f"http://127.0.0.1:{free_port()}"
    ingester = Ingester(tmp_path, settings(tmp_path, server, stream, dead,
                                           FLUSH_TIMEOUT_SECONDS="1"))
    wait_for(lambda: len(server.sent) > 300)
    server.halt()
    time.sleep(1.0)
    assert ingester.stop() == 0
    left = ingester.log("ingest stopped")["left_in_spool"]
    assert left == len({(e.symbol, e.event_time) for e in server.sent})  # all of it, once
    status = read_status(tmp_path / "heartbeat")
    assert status is not None
    assert (status.stopped, status.backlog) == (True, left)
    assert list((tmp_path / "spool").glob("*.spool"))
    assert read_all(kinesis, stream) == []

    # Kinesis is back: the next run replays the spool before anything else.
    again = Ingester(tmp_path, settings(tmp_path, server, stream, aws))
    wait_for(lambda: len(read_lines(kinesis, stream)) >= left)
    assert again.stop() == 0
    assert_exactly_what_was_sent(stored_records(kinesis, stream), server)
    assert not list((tmp_path / "spool").glob("*.spool"))


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"BINANCE_STREAMS": ""}, "no streams: set BINANCE_STREAMS"),
        ({"BINANCE_STREAMS": "BTC"}, "BINANCE_STREAMS: stream name 'BTC'"),
        ({"KINESIS_STREAM_NAME": ""}, "KINESIS_STREAM_NAME is not set"),
        ({"KINESIS_STREAM_NAME": "no-such-stream"}, "KINESIS_STREAM_NAME='no-such-stream'"),
        ({"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "",
          "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/nonexistent",
          "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}, "no AWS credentials"),
    ],
)
def test_invalid_configuration_exits_at_once_naming_the_setting(
    tmp_path: Path, server: BinanceServer, aws: str, changes: dict[str, str], words: str
):
    env = {**settings(tmp_path, server, "ticks", aws), **changes}
    started = time.monotonic()
    result = Ingester(tmp_path, env).process.wait(30)
    assert result == 2
    assert words in (tmp_path / "stderr.log").read_text()
    assert time.monotonic() - started < 15
    assert server.connections_opened == 0


def test_the_health_check_fails_without_a_fresh_heartbeat(tmp_path: Path):
    heartbeat = tmp_path / "heartbeat"
    env = {**os.environ, "HEALTH_FILE": str(heartbeat)}
    command = [sys.executable, "-m", "ingest.healthcheck", "--max-age", "5"]
    missing = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                             check=False)
    assert missing.returncode == 1
    assert "no heartbeat" in missing.stderr
    heartbeat.write_text("{}")
    os.utime(heartbeat, (time.time() - 60, time.time() - 60))
    stale = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                           check=False)
    assert stale.returncode == 1
    age = re.search(r"heartbeat (\d+) s old", stale.stderr)  # 60 s, and a slow start's time
    assert age is not None, stale.stderr
    assert int(age.group(1)) >= 60
