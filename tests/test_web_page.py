"""The price page in a real browser (Debian's Chromium, driven by Playwright) during a short
`python -m local` run: every symbol's card shows the table's newest close exactly, prices change
without a reload, the detail view draws its chart, the error banner comes and goes with the API,
a symbol goes stale when its data stops, and nothing is logged as an error. Then the run's report
from file://, with no server: the same page, drawn from its snapshot.

A screenshot of the grid goes to test-artifacts/page.png; with UPDATE_SCREENSHOT=1 a passing
run also copies it to docs/page.png, the README's picture.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import boto3
import pytest
from boto3.dynamodb.conditions import Key

from local.aws import REGION
from local.report import snapshot_paths
from market_sim import POPULAR
from miniticker import stream_name_for
from miniticker.hot_table import PARTITION_KEY

pytest.importorskip("playwright", reason="the playwright package is not installed "
                    "(requirements-dev.txt)")
from playwright.sync_api import (  # after the skip that names what is missing
    Browser,
    ConsoleMessage,
    Page,
    Playwright,
    Route,
    expect,
    sync_playwright,
)

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
SCREENSHOT = "page.png"
SYMBOLS = list(POPULAR)  # the demo's default: the page as `make demo` shows it
DURATION_SECONDS = 36
LINGER_SECONDS = 120  # an upper bound: the test ends the linger with Ctrl+C once done
STALE_AFTER_MS = 30_000  # web/src/stale.ts: STALE_AFTER_MS
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
GRID_PRICES = "#grid [data-symbol][data-close]"
READ_GRID = """() => Object.fromEntries([...document.querySelectorAll('#grid [data-close]')]
    .map(node => [node.dataset.symbol, node.dataset.close]))"""


class Run(NamedTuple):
    process: subprocess.Popen[str]
    out: Path
    page_url: str
    table: Any  # boto3's Table at the run's moto endpoint


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("no Chromium on this machine (.ci/run installs Debian's chromium): the "
                    "page was not opened in a browser")
    with sync_playwright() as playwright:
        browser = launch(playwright, executable)
        yield browser
        browser.close()


def launch(playwright: Playwright, executable: str) -> Browser:
    # Playwright's own browser download needs the internet; Debian's package is the browser.
    return playwright.chromium.launch(executable_path=executable, headless=True,
                                      args=CHROMIUM_ARGS)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, chromium: Browser) -> Iterator[Run]:
    """A short accelerated run that serves its page for a while after the market stops."""
    out = tmp_path_factory.mktemp("web") / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "local", "--duration", str(DURATION_SECONDS), "--speed", "1",
         "--symbols", ",".join(SYMBOLS), "--web-port", "0", "--linger", str(LINGER_SECONDS),
         "--out", str(out)],
        cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        endpoints = until(lambda: _endpoints(out, process), timeout=60,
                          what="the demo's endpoints.json")
        table = boto3.resource("dynamodb", endpoint_url=endpoints["aws"], region_name=REGION,
                               aws_access_key_id="local",
                               aws_secret_access_key="local").Table(endpoints["table"])
        yield Run(process, out, endpoints["page"], table)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # ends the linger, as Ctrl+C does
        try:
            process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


def _endpoints(out: Path, process: subprocess.Popen[str]) -> dict[str, str] | None:
    if process.poll() is not None:
        pytest.fail(f"the demo exited with {process.returncode}: {process.communicate()[1]}")
    try:
        endpoints: dict[str, str] = json.loads((out / "endpoints.json").read_text())
    except (OSError, ValueError):
        return None
    return endpoints if "page" in endpoints else None


def until(condition: Callable[[], Any], *, timeout: float, what: str) -> Any:
    """``condition()``'s first true value, polled; fails naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:g} s")
        time.sleep(0.1)


def newest_closes(table: Any) -> dict[str, str]:
    """Each symbol's newest event item's close, as the API writes it (8 fraction digits)."""
    closes = {}
    for symbol in SYMBOLS:
        items = table.query(KeyConditionExpression=Key(PARTITION_KEY).eq(stream_name_for(symbol)),
                            ScanIndexForward=False, Limit=1)["Items"]
        if items:
            closes[symbol] = f"{Decimal(items[0]['close_price']):.8f}"
    return closes


class Console:
    """The page's console errors and uncaught exceptions; failed /api/ loads while the test
    itself makes the API fail are expected (Chromium logs each one)."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        self.api_failing = False
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        if self.api_failing and "/api/" in message.location.get("url", ""):
            return
        self.errors.append(f"console: {message.text} at {message.location}")


def test_the_live_page_shows_the_tables_prices_and_tells_when_they_fail_or_stop(
        run: Run, chromium: Browser):
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    console = Console(page)
    requested: set[str] = set()
    page.on("request", lambda r: requested.add(_api_path(r.url)) if "/api/" in r.url else None)
    page.clock.install()  # real time flows; the stale check jumps ahead instead of waiting 30 s
    page.goto(run.page_url)
    page.evaluate("window.__loadedOnce = true")  # gone if anything reloads the page

    # Every symbol of the run gets a card, none stale while the market runs.
    until(lambda: page.locator(GRID_PRICES).count() == len(SYMBOLS),
          timeout=45, what="a card for every symbol")
    assert sorted(page.evaluate(READ_GRID)) == sorted(SYMBOLS)
    assert page.locator('#grid [data-stale="true"]').count() == 0

    # Each price is the table's newest close at that moment (per symbol: a poll may fall
    # between the table's write and the page's read).
    matched: set[str] = set()

    def all_matched() -> bool:
        shown, table = page.evaluate(READ_GRID), newest_closes(run.table)
        matched.update(s for s in SYMBOLS if shown.get(s) is not None and shown[s] == table.get(s))
        return matched == set(SYMBOLS)

    until(all_matched, timeout=15, what=f"data-close = the table's newest close for "
                                        f"{sorted(set(SYMBOLS) - matched)}")

    # Prices move without a reload.
    before = page.evaluate(READ_GRID)
    until(lambda: page.evaluate(READ_GRID) != before, timeout=10, what="a price change")
    assert page.evaluate("window.__loadedOnce") is True

    until(lambda: page.locator("#grid canvas").count() >= len(SYMBOLS), timeout=10,
          what="a sparkline per card")

    # The detail view: a chart and the range buttons, reached from the card's link.
    page.click('#grid a[href="#/BTCUSDT"]')
    detail = page.locator("#detail")
    detail.wait_for(state="visible", timeout=10_000)
    assert page.url.endswith("#/BTCUSDT")
    until(lambda: page.locator("#detail-chart canvas").count() > 0, timeout=10,
          what="the detail chart")
    buttons = page.locator(".range button")
    assert buttons.all_inner_texts() == ["1 h", "6 h", "24 h"]
    for index in (1, 2, 0):
        buttons.nth(index).click()
        expect(buttons.nth(index)).to_have_attribute("aria-pressed", "true", timeout=5_000)
    assert page.locator("#detail-price").get_attribute("data-symbol") == "BTCUSDT"
    page.click("#detail-back")
    page.locator("#grid").wait_for(state="visible", timeout=5_000)

    # The run ends (the summary is written); the table no longer changes, and the page still
    # polls it: every price is now exactly the table's newest close.
    until(lambda: (run.out / "summary.json").exists() or run.process.poll() is not None,
          timeout=DURATION_SECONDS + 60, what="the end of the run")
    assert run.process.poll() is None, run.process.communicate()[1][-3000:]
    final = newest_closes(run.table)
    until(lambda: page.evaluate(READ_GRID) == final, timeout=10,
          what="every price equal to the final table's newest close")
    # The grid as a person sees it at the end of the run: the whole run in each sparkline (no
    # focus ring left by the detail view's Back, no hover).
    page.evaluate("document.activeElement instanceof HTMLElement && document.activeElement.blur()")
    page.mouse.move(0, 0)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / SCREENSHOT))

    # The API fails: the banner appears; it recovers: the banner goes.
    banner = page.locator("#api-error")
    assert banner.get_attribute("role") == "alert"
    assert banner.is_hidden()
    console.api_failing = True

    def failing(route: Route) -> None:
        route.fulfill(status=500, content_type="application/json",
                      body='{"error": "the test made the API fail"}')

    page.route("**/api/**", failing)
    banner.wait_for(state="visible", timeout=10_000)
    assert "the test made the API fail" in banner.inner_text()
    page.unroute("**/api/**", failing)
    banner.wait_for(state="hidden", timeout=20_000)
    console.api_failing = False

    # The data has stopped: past 30 s of the page's clock without a newer event, every card is
    # marked stale, visibly.
    assert page.locator('#grid [data-stale="true"]').count() == 0
    page.clock.fast_forward(STALE_AFTER_MS + 2_000)
    until(lambda: page.locator('#grid article[data-stale="true"]').count() == len(SYMBOLS),
          timeout=10, what="every card marked stale")
    label = page.locator('#grid article[data-symbol="BTCUSDT"] .stale-label')
    assert label.is_visible()
    assert label.inner_text().startswith("stale")

    assert console.errors == []
    # The report's snapshot answers every request the page made (what it shows from file://).
    assert requested <= set(snapshot_paths(SYMBOLS)), requested - set(snapshot_paths(SYMBOLS))
    context.close()

    run.process.send_signal(signal.SIGINT)  # Ctrl+C ends the linger
    _, stderr = run.process.communicate(timeout=60)
    assert run.process.returncode == 0, stderr[-3000:]
    if os.environ.get("UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(ARTIFACTS / SCREENSHOT, REPO / "docs" / SCREENSHOT)


def _api_path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path.lstrip("/") + (f"?{parts.query}" if parts.query else "")


def test_the_report_is_the_same_page_from_file_without_a_server(run: Run, chromium: Browser):
    report = run.out / "report.html"
    until(lambda: report.exists() or run.process.poll() is not None,
          timeout=DURATION_SECONDS + 60, what="the run's report")
    assert report.exists(), f"the demo exited with {run.process.returncode}"
    html = report.read_text()
    setter = re.search(r"<script>window\.CRYPTO_LIVE_SNAPSHOT=(.*?);</script>", html, re.S)
    assert setter is not None
    snapshot = json.loads(setter[1])
    latest = snapshot["responses"]["api/latest"]["prices"]
    expected = {price["symbol"]: price["close_price"] for price in latest}
    assert sorted(expected) == sorted(SYMBOLS)

    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    console = Console(page)
    loads: list[str] = []
    page.on("request", lambda r: loads.append(r.url))
    page.goto(report.as_uri())
    until(lambda: page.locator(GRID_PRICES).count() == len(SYMBOLS),
          timeout=20, what="a card for every symbol in the report")
    assert page.evaluate(READ_GRID) == expected
    page.click('#grid a[href="#/ETHUSDT"]')
    until(lambda: page.locator("#detail-chart canvas").count() > 0, timeout=10,
          what="the report's detail chart")
    for index in (1, 2):
        page.locator(".range button").nth(index).click()
    assert page.locator("#api-error").is_hidden()  # every request answered by the snapshot
    assert console.errors == []
    # Nothing loaded but the file itself (and inline data: URLs).
    assert all(url == report.as_uri() or url.startswith("data:") for url in loads), loads
    context.close()
