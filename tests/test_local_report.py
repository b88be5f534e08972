"""The local run's report: the built page made self-contained, with a snapshot of what the real
read API answers over moto's DynamoDB for every request the page makes (tests/test_web_page.py
renders it in Chromium)."""

from __future__ import annotations

import importlib
import json
import re
import sys
import time
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from lambdas.api.settings import environment as api_environment
from lambdas.consumer.settings import environment as consumer_environment
from local.function_url import FunctionUrl
from local.lambda_context import LocalContext
from local.report import (
    HISTORY_MINUTES,
    LATEST_PATH,
    ReportError,
    history_path,
    render,
    snapshot_paths,
    take_snapshot,
    write_report,
)
from miniticker import MiniTicker
from miniticker.metrics import NAMESPACE
from tests.consumer_events import event_for
from tests.test_local_web_server import recent

REPO = Path(__file__).resolve().parents[1]
SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]


def cold_start(module: str, monkeypatch: pytest.MonkeyPatch, environment: dict[str, str]
               ) -> Any:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    sys.modules.pop(module, None)
    return importlib.import_module(module).handler


@pytest.fixture
def run(table: str, monkeypatch: pytest.MonkeyPatch) -> tuple[FunctionUrl, list[MiniTicker]]:
    """A table the real consumer wrote three minutes of events into, and the real API over it."""
    consume = cold_start("lambdas.consumer.handler", monkeypatch,
                         consumer_environment(table, 1, price_metrics=False))
    records = recent(SYMBOLS, seconds=180)
    for at in range(0, len(records), 100):
        response = consume(event_for(records[at:at + 100]), LocalContext("consumer"))
        assert response == {"batchItemFailures": []}
    handler = cold_start("lambdas.api.handler", monkeypatch,
                         api_environment(table, 1, NAMESPACE))
    return FunctionUrl(handler, "api"), records


@pytest.fixture
def page(tmp_path: Path) -> Path:
    """A built page as web/dist holds one: a script, a style sheet and an icon to inline."""
    root = tmp_path / "dist"
    root.mkdir()
    (root / "index.html").write_text(
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>prices</title>\n'
        '<link rel="icon" href="favicon.svg"><link rel="stylesheet" href="app.css">\n'
        '<script src="app.js" defer></script></head>\n'
        '<body><main id="app"></main><a href="https://www.tradingview.com/">charts</a></body>'
        '</html>\n')
    (root / "app.js").write_text(
        'document.title = "</script><p>not markup</p>";\n'
        "document.getElementById('app').textContent = "
        "JSON.stringify(window.CRYPTO_LIVE_SNAPSHOT.responses['api/latest']);\n")
    (root / "app.css").write_text("main::after { content: '</style>'; }\n")
    (root / "favicon.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    return root


class Loads(HTMLParser):
    """Every URL the HTML would load (script, stylesheet, icon, image), and its scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in ("script", "img", "iframe", "source", "video", "audio") and values.get("src"):
            self.urls.append(values["src"] or "")
        if tag == "link" and values.get("href"):
            self.urls.append(values["href"] or "")
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts[-1] += data


def parsed(html: str) -> Loads:
    loads = Loads()
    loads.feed(html)
    return loads


def test_the_snapshot_answers_every_request_of_the_page_with_the_tables_data(run: Any):
    api, records = run
    before = int(time.time() * 1000)
    snapshot = take_snapshot(api)
    assert before <= snapshot["taken_at"] <= int(time.time() * 1000)
    responses = snapshot["responses"]
    assert sorted(responses) == sorted(snapshot_paths(SYMBOLS))
    prices = {p["symbol"]: p for p in responses[LATEST_PATH]["prices"]}
    assert sorted(prices) == SYMBOLS
    for symbol in SYMBOLS:
        mine = [r for r in records if r.symbol == symbol]
        newest = max(mine, key=lambda r: r.event_time)
        assert prices[symbol]["close_price"] == f"{Decimal(newest.close_price):.8f}"
        points = responses[history_path(symbol, HISTORY_MINUTES[0])]["points"]
        assert [p["event_time"] for p in points] == [r.event_time for r in mine]
        for minutes in HISTORY_MINUTES[1:]:
            candles = responses[history_path(symbol, minutes)]["candles"]
            assert sum(c["events"] for c in candles) == len(mine)
            assert candles[-1]["close"] == f"{Decimal(newest.close_price):.8f}"


def test_a_window_without_data_is_left_out_and_a_failing_api_stops_the_report(run: Any):
    api, _ = run
    answers = {history_path("SOLUSDT", minutes): 404 for minutes in HISTORY_MINUTES}
    real = api.handler

    def handler(event: dict[str, Any], context: Any) -> Any:
        target = f"{event['rawPath'][1:]}?{event['rawQueryString']}"
        status = answers.get(target)
        if status is not None:
            return {"statusCode": status, "headers": {}, "body": '{"error": "x"}'}
        return real(event, context)

    api.handler = handler
    responses = take_snapshot(api)["responses"]
    assert not any("SOLUSDT" in path for path in responses)  # the page reads absent as 404
    assert history_path("BTCUSDT", 15) in responses
    answers[history_path("ETHUSDT", 60)] = 503
    with pytest.raises(ReportError, match=r"minutes=60 answered 503"):
        take_snapshot(api)


def test_the_report_is_the_page_with_its_files_inline_and_the_snapshot_first(
        run: Any, page: Path, tmp_path: Path):
    api, _ = run
    path = write_report(tmp_path, api, page)
    assert path == tmp_path / "report.html"
    html = path.read_text()
    loads = parsed(html)
    assert all(url.startswith("data:") or url.startswith("#") for url in loads.urls), loads.urls
    for name in ("favicon.svg", "app.css", 'src="app.js"'):
        assert name not in html
    # The snapshot is set by the first script, the page's own code follows, whole.
    first, own = loads.scripts
    setter = re.fullmatch(r"window\.CRYPTO_LIVE_SNAPSHOT=(.*);", first, re.S)
    assert setter is not None, first[:100]
    snapshot = json.loads(setter[1])
    assert snapshot["responses"][LATEST_PATH]["prices"]
    assert "getElementById('app')" in own
    assert "<\\/script><p>not markup" in own
    assert "content: '<\\/style>'" in html  # the style sheet cannot end its element early
    assert '<a href="https://www.tradingview.com/">' in html  # a link, nothing it loads


def test_a_page_that_loads_from_elsewhere_is_refused(page: Path):
    index = page / "index.html"
    index.write_text(index.read_text().replace(
        "</head>", '<script src="https://cdn.example.com/x.js"></script></head>'))
    with pytest.raises(ReportError, match=r"loads https://cdn\.example\.com/x\.js from elsewhere"):
        render(page, {"taken_at": 0, "responses": {}})


def test_the_built_page_becomes_one_file(run: Any, tmp_path: Path):
    """The real build (make web): everything it loads is inlined."""
    web_root = REPO / "web" / "dist"
    assert (web_root / "index.html").is_file(), "the page is not built: run `make web`"
    api, _ = run
    html = write_report(tmp_path, api, web_root).read_text()
    loads = parsed(html)
    assert all(url.startswith("data:") for url in loads.urls), loads.urls
    assert len(loads.scripts) >= 2
    assert loads.scripts[0].startswith("window.CRYPTO_LIVE_SNAPSHOT=")
