"""The local mode end to end (`python -m local`), accelerated: exact counts from the data it
exports, the page's URL first, serving after the run only when asked (a terminal, --linger), a
clean stop on SIGTERM, a failing part named, a busy port named; the whole market on the
all-market stream, exact, with the progress saying how far behind each part is. The page and
the report in Chromium: tests/test_web_page.py."""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from local import demo
from market_sim import WHOLE_MARKET
from miniticker import normalize
from miniticker.hot_table import (
    LATEST_EVENT_TIME,
    LATEST_PRICE,
    SORT_KEY,
    event_item_key,
    minute_start,
)

REPO = Path(__file__).resolve().parents[1]
PAGE_LINE = re.compile(r"page: (http://127\.0\.0\.1:\d+/)")


def start_demo(out: Path, *args: str, stdin: int | IO[Any] = subprocess.DEVNULL
               ) -> subprocess.Popen[str]:
    """`python -m local` as a script runs it: standard input not a terminal (the test's own
    might be one, and the demo would then serve until Ctrl+C); any free port for the page."""
    return subprocess.Popen([sys.executable, "-m", "local", "--out", str(out),
                             "--web-port", "0", *args], cwd=REPO, stdin=stdin,
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
    items = [(i["symbol"], int(i["event_time"])) for i in lines(out / "dynamodb.jsonl")]
    return {"sent": sent, "raw": raw, "parquet": parquet, "items": items}


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def assert_exact(out: Path, summary: dict[str, Any],
                 event_items: list[tuple[str, int]] | None = None) -> None:
    """Every event sent is in each store once; ``event_items``: the event items expected
    when the hot table keeps fewer than one per event (default: one per event)."""
    data = exported(out)
    sent = sorted(data["sent"])
    assert len(sent) == len(set(sent)) > 0
    assert sorted(data["raw"]) == sent  # every generated event in raw S3, once
    assert sorted(data["parquet"]) == sent  # and in Parquet, once
    # All within the day's retention: all in DynamoDB.
    assert sorted(data["items"]) == (sent if event_items is None else event_items)
    assert summary["exact"] is True
    assert (summary["events_generated"], summary["events_in_raw_s3"], summary["rows_in_parquet"],
            summary["events_put_to_kinesis"], summary["events_in_candles"]) == (len(sent),) * 5
    assert summary["items_in_dynamodb"] == len(data["items"])
    # The read API's items, in files of their own: each symbol's latest item is its newest
    # event; the candles count every event once, in its exchange-time minute.
    newest: dict[str, int] = {}
    for symbol, event_time in sent:
        newest[symbol] = max(event_time, newest.get(symbol, event_time))
    latest = lines(out / "dynamodb-latest.jsonl")
    assert {i[SORT_KEY]: int(i[LATEST_EVENT_TIME]) for i in latest} == newest
    for item in latest:  # the API's price object, made by the consumer from the newest event
        assert json.loads(item[LATEST_PRICE])["event_time"] == newest[item[SORT_KEY]]
    candles = lines(out / "dynamodb-candles.jsonl")
    assert Counter({(c["symbol"], int(c["start"])): int(c["events"]) for c in candles}) == Counter(
        (symbol, minute_start(event_time)) for symbol, event_time in sent)
    assert (summary["latest_items"], summary["candle_items"]) == (len(latest), len(candles))


def assert_ports_free(summary: dict[str, Any]) -> None:
    for url in summary["endpoints"].values():
        parts = urlsplit(url)
        with socket.socket() as probe:
            probe.settimeout(1)
            assert probe.connect_ex((parts.hostname, parts.port)) != 0, url


def test_a_short_accelerated_run_is_exact_and_a_script_run_ends_with_it(tmp_path: Path):
    out = tmp_path / "run"
    run = start_demo(out, "--duration", "10", "--speed", "5", "--symbols", "BTCUSDT,ETHUSDT")
    stdout, stderr = run.communicate(timeout=300)
    assert run.returncode == 0, stderr[-3000:]
    # The page's URL comes first, then progress a person can follow: a line a second (the
    # summary also says "generated").
    first = PAGE_LINE.fullmatch(stdout.splitlines()[0])
    assert first, stdout[:500]
    assert re.search(r"^\s*\d+s  generated \d", stdout, re.MULTILINE), stdout[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert_exact(out, summary)
    assert summary["latency_ms"]["p50"] is not None
    assert (out / "report.html").exists()
    endpoints = json.loads((out / "endpoints.json").read_text())
    assert endpoints["page"] == summary["endpoints"]["page"] == first[1]
    assert endpoints["aws"] == summary["endpoints"]["aws"]
    assert endpoints["table"] == "crypto-live-local-miniticker"
    # The functions' logs and metrics (EMF) go to their files, none to the console.
    assert '"_aws"' not in stdout
    assert '"LatestRequests"' in (out / "api.log").read_text()  # the report asked the API
    assert '"RecordsIn"' in (out / "consumer.log").read_text()
    # Standard input is not a terminal and no --linger: nothing kept serving.
    assert "serving the page" not in stdout
    assert_ports_free(summary)


def test_from_a_terminal_it_serves_the_page_until_ctrl_c(tmp_path: Path):
    out = tmp_path / "run"
    controller, terminal = os.openpty()
    try:
        run = start_demo(out, "--duration", "3", "--speed", "2", "--symbols", "SOLUSDT",
                         stdin=terminal)
        assert run.stdout is not None
        page = PAGE_LINE.fullmatch(run.stdout.readline().strip())
        assert page, "the page's URL is not the first line"
        for line in run.stdout:  # progress, the summary, then what it does next
            if line.startswith("the run is over; serving the page"):
                assert page[1] in line
                assert "until Ctrl+C" in line
                break
        else:
            pytest.fail(f"it did not say it serves the page: {run.communicate()[1][-2000:]}")
        with urllib.request.urlopen(page[1] + "api/latest", timeout=10) as answer:
            prices = json.load(answer)["prices"]
        assert [p["symbol"] for p in prices] == ["SOLUSDT"]
        with urllib.request.urlopen(page[1], timeout=10) as answer:
            assert answer.headers["Content-Type"].startswith("text/html")
        time.sleep(2)
        assert run.poll() is None  # still serving
        run.send_signal(signal.SIGINT)
        _, stderr = run.communicate(timeout=60)
        assert run.returncode == 0, stderr[-3000:]
    finally:
        os.close(controller)
        os.close(terminal)
    assert_ports_free(json.loads((out / "summary.json").read_text()))


def test_linger_serves_the_page_that_long_after_the_run(tmp_path: Path):
    out = tmp_path / "run"
    started = time.monotonic()
    run = start_demo(out, "--duration", "2", "--symbols", "SOLUSDT", "--linger", "6")
    assert run.stdout is not None
    for line in run.stdout:
        if line.startswith("the run is over; serving the page"):
            break
    lingering_from = time.monotonic()
    assert "for 6 s (Ctrl+C ends it)" in line
    page = json.loads((out / "endpoints.json").read_text())["page"]
    with urllib.request.urlopen(page + "api/latest", timeout=10) as answer:
        assert answer.status == 200
    _, stderr = run.communicate(timeout=60)
    assert run.returncode == 0, stderr[-3000:]
    assert 5 <= time.monotonic() - lingering_from < 30, time.monotonic() - started


def test_sigterm_stops_cleanly_and_a_second_run_starts_fresh(tmp_path: Path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "left-from-before").write_text("x")
    run = start_demo(out, "--duration", "300", "--speed", "4", "--symbols", "SOLUSDT")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (out / "heartbeat.json").exists():
        time.sleep(0.5)
    time.sleep(4)
    run.send_signal(signal.SIGTERM)
    _, stderr = run.communicate(timeout=300)
    assert run.returncode == 0, stderr[-3000:]
    assert not (out / "left-from-before").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stopped_early"] is True
    assert summary["duration_seconds"] < 120
    assert_exact(out, summary)  # the ingester flushed: nothing read was lost
    assert_ports_free(summary)


def test_a_failing_part_stops_the_run_and_is_named(tmp_path: Path):
    out = tmp_path / "run"
    run = start_demo(out, "--duration", "120", "--symbols", "BTCUSDT")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (out / "heartbeat.json").exists():
        time.sleep(0.5)
    ingester = subprocess.run(["pgrep", "-P", str(run.pid), "-f", "python -m ingest"],
                              capture_output=True, text=True, check=True).stdout.split()
    subprocess.run(["kill", "-KILL", *ingester], check=True)
    _, stderr = run.communicate(timeout=120)
    assert run.returncode == 1
    assert "demo stopped: the ingester exited with status -9" in stderr
    assert "ingest.log" in stderr


def test_a_busy_web_port_stops_the_run_naming_the_option(tmp_path: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = start_demo(tmp_path / "run", "--web-port", str(port))
        _, stderr = run.communicate(timeout=120)
    assert run.returncode == 1
    assert (f"demo stopped: port {port} on 127.0.0.1 is already in use: choose another with "
            f"--web-port PORT") in stderr
    assert not (tmp_path / "run" / "sent.jsonl").exists()  # no market was started


@pytest.mark.parametrize(("option", "message"), [
    (["--symbols", "BTC-USDT"], "--symbols: 'BTC-USDT' is not an upper-case symbol"),
    (["--market", "all", "--symbols", "BTCUSDT"],
     "argument --symbols: not allowed with argument --market"),
    (["--market", "most"], "argument --market: invalid choice: 'most'"),
    (["--hot-table-resolution", "-1"], "--hot-table-resolution must be 0 to 3600 seconds"),
    (["--web-port", "70000"], "--web-port must be a port number (0 to 65535)"),
    (["--linger", "-1"], "--linger must be a number of seconds, 0 or more"),
])
def test_bad_options_are_refused_before_anything_starts(tmp_path: Path, option: list[str],
                                                        message: str):
    run = start_demo(tmp_path / "run", *option)
    _, stderr = run.communicate(timeout=60)
    assert run.returncode == 2
    assert message in stderr
    assert not (tmp_path / "run").exists()


def test_without_the_built_page_it_says_how_to_build_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.setattr(demo, "WEB_ROOT", tmp_path / "web" / "dist")
    monkeypatch.setattr(demo, "REPO", tmp_path)
    assert demo.main(["--out", str(tmp_path / "run")]) == 2
    assert "web/dist/index.html is missing): run `make web`" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_the_whole_market_on_the_all_market_stream_is_exact_and_shows_who_is_behind(
        tmp_path: Path):
    """A few seconds of Binance's whole market, an array a second, through the same pipeline:
    exact at the end however far the stand-ins fell behind, and the progress said how far."""
    out = tmp_path / "run"
    run = start_demo(out, "--market", "all", "--duration", "5", "--no-report")
    stdout, stderr = run.communicate(timeout=900)
    assert run.returncode == 0, stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert_exact(out, summary)
    assert (summary["market"], summary["streams"]) == ("all", 1)
    assert summary["symbols"] == list(WHOLE_MARKET)
    # The ingester read the stream list from the secret: one stream, the all-market array.
    started = next(json.loads(line) for line in (out / "ingest.log").read_text().splitlines()
                   if '"ingest started"' in line)
    assert (started["streams"], started["connections"]) == (1, 1)
    sent = exported(out)["sent"]
    seconds = len({event_time for _, event_time in sent})  # a tick's events share their time
    assert seconds >= 3
    assert len(sent) / seconds > len(WHOLE_MARKET) / 2  # most symbols trade every second
    symbols = {symbol for symbol, _ in sent}
    assert len(symbols) > 1_000  # the whole market's shape, not a handful of pairs
    assert summary["latest_items"] == len(symbols)
    # Progress a line a second, with how far each part is behind; the drain after the market
    # stopped, to the end; the rates and peaks in the summary.
    assert re.search(r"behind: ingester [\d,]+, consumer [\d,]+ = [\d.]+ s of market", stdout)
    assert "(the Firehose drain and the event-source poller: done)" in stdout
    rates = summary["rates_per_second"]
    assert rates["generated"] > len(WHOLE_MARKET) / 2
    assert all(rates[part] > 0 for part in ("put", "archived", "written"))
    assert summary["peak_backlog"]["consumer_events"] >= 0
    assert summary["catch_up_seconds"] >= 0
    assert not (out / "report.html").exists()  # --no-report
    assert_ports_free(summary)


def test_a_coarser_hot_table_keeps_the_newest_event_of_each_bucket(tmp_path: Path):
    out = tmp_path / "run"
    run = start_demo(out, "--duration", "4", "--speed", "4", "--symbols", "BTCUSDT,ETHUSDT",
                     "--hot-table-resolution", "2", "--no-report")
    _, stderr = run.communicate(timeout=300)
    assert run.returncode == 0, stderr[-3000:]
    sent = [json.loads(line) for line in (out / "sent.jsonl").read_text().splitlines()]
    newest: dict[tuple[str, str], tuple[str, int]] = {}
    for event in sent:  # the consumer's key function, over records built from what was sent
        record = normalize({"e": "24hrMiniTicker", "E": event["event_time"],
                            "s": event["symbol"], "c": "1", "o": "1", "h": "1", "l": "1",
                            "v": "1", "q": "1"}, received_at=event["event_time"])
        key = event_item_key(record, 2)
        newest[key] = max(newest.get(key, (record.symbol, 0)), (record.symbol,
                                                                  record.event_time))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["hot_table_resolution_seconds"] == 2
    assert len(newest) < len(sent)  # fewer items than events: a bucket holds several
    assert_exact(out, summary, event_items=sorted(newest.values()))
