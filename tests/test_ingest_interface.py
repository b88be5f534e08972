"""What the rest of the project imports of the ingester: its environment variables, its metric
names and its status file, from modules that load no runtime library."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ingest import environment
from ingest.config import load
from ingest.environment import LIVE_URL, SETTINGS, variables
from ingest.metric_names import COUNTERS, MetricName
from ingest.status import IngestStatus, read_status, write_status

REPO = Path(__file__).resolve().parents[1]
#: What the CDK app, the local mode and the health check must not load to read these facts.
RUNTIME_LIBRARIES = ("boto3", "botocore", "aws_lambda_powertools", "websocket", "aws_cdk",
                     "jsii", "pyarrow")


def test_the_shared_modules_load_no_runtime_library():
    probe = ("import json, sys; import ingest.environment, ingest.metric_names, ingest.status, "
             "ingest.healthcheck, miniticker.metrics; "
             f"print(json.dumps([m for m in {RUNTIME_LIBRARIES!r} if m in sys.modules]))")
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True,
                            text=True, check=True).stdout
    assert json.loads(loaded) == []


def test_every_variable_a_launcher_sets_is_a_setting_the_ingester_reads(tmp_path: Path):
    values = variables(
        kinesis_stream_name="ticks", ws_url="ws://127.0.0.1:9000",
        streams=("btcusdt@miniTicker", "!miniTicker@arr"), secret_id="arn:secret",
        spool_dir=tmp_path / "spool", health_file=tmp_path / "status.json", log_level="DEBUG",
        data_timeout_seconds=2.5, rotate_after_seconds=60, flush_timeout_seconds=20.0,
        metrics_interval_seconds=1)
    assert set(values) == set(SETTINGS)  # every keyword names one setting, and all are covered
    config = load(values, secret_reader=lambda _: "never read: the streams are listed")
    assert config.kinesis_stream_name == "ticks"
    assert config.ws_url == "ws://127.0.0.1:9000"
    assert config.streams == ("btcusdt@miniTicker", "!miniTicker@arr")
    assert (config.spool_dir, config.health_file) == (tmp_path / "spool",
                                                      tmp_path / "status.json")
    assert (config.log_level, config.data_timeout, config.rotate_after) == ("DEBUG", 2.5, 60)
    assert (config.flush_timeout, config.metrics_interval) == (20, 1)
    assert values[environment.FLUSH_TIMEOUT_SECONDS] == "20"  # whole seconds stay whole


def test_a_launcher_leaves_out_what_keeps_its_default():
    values = variables(kinesis_stream_name="ticks", secret_id="arn:secret")
    assert values == {environment.KINESIS_STREAM_NAME: "ticks",
                      environment.BINANCE_SECRET_ID: "arn:secret"}
    assert SETTINGS[environment.BINANCE_WS_URL].default == LIVE_URL


def test_the_counters_are_every_summed_metric():
    assert MetricName.EVENTS_PUT in COUNTERS
    assert not {MetricName.LAG, MetricName.PUT_LAG, MetricName.BACKLOG} & set(COUNTERS)


def test_the_status_file_round_trips_and_is_absent_until_written(tmp_path: Path):
    path = tmp_path / "run" / "status.json"
    assert read_status(path) is None
    status = IngestStatus(connections=2, connected=1, backlog=7,
                          totals={MetricName.EVENTS_PUT: 5.0}, stopped=True)
    write_status(path, status)
    assert read_status(path) == status
    assert status.count(MetricName.EVENTS_PUT) == 5
    assert status.count(MetricName.EVENTS_SPILLED) == 0
    path.write_text("{}")  # not a status: as if there were none
    assert read_status(path) is None
