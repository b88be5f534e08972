"""The local mode end to end (`python -m local`), accelerated: exact counts from the data it
exports, a clean stop on SIGTERM, a failing part named, and the report drawn in Chromium."""

from __future__ import annotations

import gzip
import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"


def start_demo(out: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "local", "--out", str(out), *args], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def exported(out: Path) -> dict[str, list[tuple[str, int]]]:
    """What the run left in DIR, read independently of the demo's own counting."""
    sent = [(e["symbol"], e["event_time"]) for e in map(json.loads, (
        out / "sent.jsonl").read_text().splitlines())]
    raw = []
    for path in sorted((out / "raw").rglob("*.gz")):
        for line in gzip.decompress(path.read_bytes()).splitlines():
            record = json.loads(line)
            raw.append((record["symbol"], record["event_time"]))
    table = ds.dataset(out / "curated" / "miniticker", format="parquet",
                       partitioning="hive").to_table(columns=["symbol", "event_time"])
    parquet = list(zip(table["symbol"].cast(pa.string()).to_pylist(),
                       table["event_time"].cast(pa.int64()).to_pylist()))
    items = [(i["symbol"], int(i["event_time"])) for i in map(json.loads, (
        out / "dynamodb.jsonl").read_text().splitlines())]
    return {"sent": sent, "raw": raw, "parquet": parquet, "items": items}


def assert_exact(out: Path, summary: dict[str, Any]) -> None:
    data = exported(out)
    sent = sorted(data["sent"])
    assert len(sent) == len(set(sent)) > 0
    assert sorted(data["raw"]) == sent  # every generated event in raw S3, once
    assert sorted(data["parquet"]) == sent  # and in Parquet, once
    assert sorted(data["items"]) == sent  # all within the day's retention: all in DynamoDB
    assert summary["exact"] is True
    assert (summary["events_generated"], summary["events_in_raw_s3"], summary["rows_in_parquet"],
            summary["items_in_dynamodb"], summary["events_put_to_kinesis"]) == (len(sent),) * 5


def assert_ports_free(summary: dict[str, Any]) -> None:
    for url in summary["endpoints"].values():
        parts = urlsplit(url)
        with socket.socket() as probe:
            probe.settimeout(1)
            assert probe.connect_ex((parts.hostname, parts.port)) != 0, url


def test_a_short_accelerated_run_is_exact(tmp_path: Path):
    out = tmp_path / "run"
    demo = start_demo(out, "--duration", "10", "--speed", "5", "--symbols", "BTCUSDT,ETHUSDT")
    stdout, stderr = demo.communicate(timeout=300)
    assert demo.returncode == 0, stderr[-3000:]
    # Progress a person can follow: a line a second (the summary also says "generated").
    assert re.search(r"^\s*\d+s  generated \d", stdout, re.MULTILINE), stdout[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert_exact(out, summary)
    assert summary["latency_ms"]["p50"] is not None
    assert (out / "report.html").exists()
    assert_ports_free(summary)
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copytree(out, ARTIFACTS / "demo-run", dirs_exist_ok=True)  # for the browser test


def test_sigterm_stops_cleanly_and_a_second_run_starts_fresh(tmp_path: Path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "left-from-before").write_text("x")
    demo = start_demo(out, "--duration", "300", "--speed", "4", "--symbols", "SOLUSDT")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (out / "heartbeat.json").exists():
        time.sleep(0.5)
    time.sleep(4)
    demo.send_signal(signal.SIGTERM)
    _, stderr = demo.communicate(timeout=300)
    assert demo.returncode == 0, stderr[-3000:]
    assert not (out / "left-from-before").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stopped_early"] is True
    assert summary["duration_seconds"] < 120
    assert_exact(out, summary)  # the ingester flushed: nothing read was lost
    assert_ports_free(summary)


def test_a_failing_part_stops_the_run_and_is_named(tmp_path: Path):
    out = tmp_path / "run"
    demo = start_demo(out, "--duration", "120", "--symbols", "BTCUSDT")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (out / "heartbeat.json").exists():
        time.sleep(0.5)
    ingester = subprocess.run(["pgrep", "-P", str(demo.pid), "-f", "python -m ingest"],
                              capture_output=True, text=True, check=True).stdout.split()
    subprocess.run(["kill", "-KILL", *ingester], check=True)
    _, stderr = demo.communicate(timeout=120)
    assert demo.returncode == 1
    assert "demo stopped: the ingester exited with status -9" in stderr
    assert "ingest.log" in stderr


def test_bad_options_are_refused_before_anything_starts(tmp_path: Path):
    demo = start_demo(tmp_path / "run", "--symbols", "BTC-USDT")
    _, stderr = demo.communicate(timeout=60)
    assert demo.returncode == 2
    assert "--symbols: 'BTC-USDT' is not an upper-case symbol" in stderr
    assert not (tmp_path / "run").exists()


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


def test_the_report_draws_its_charts_in_chromium(tmp_path: Path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no Chromium on this machine (.ci/run installs Debian's chromium): the "
                    "report was not rendered")
    report = ARTIFACTS / "demo-run" / "report.html"
    if not report.exists():
        pytest.skip("the end-to-end run did not leave a report to render")
    common = [browser, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*common, "--dump-dom", report.as_uri()], capture_output=True,
                         text=True, timeout=120, check=True).stdout
    symbols = json.loads((report.parent / "summary.json").read_text())["symbols"]
    for symbol in symbols:
        section = dom.split(f'data-symbol="{symbol}"', 1)[1].split("</section>", 1)[0]
        points = section.split('points="', 1)[1].split('"', 1)[0].split()
        assert len(points) > 10, symbol  # a line through the run's closes
        assert "% in 24 h" in section
    screenshot = ARTIFACTS / "report.png"
    subprocess.run([*common, "--window-size=1400,1200", f"--screenshot={screenshot}",
                    report.as_uri()], capture_output=True, timeout=120, check=True)
    assert screenshot.stat().st_size > 10_000
