"""The local mode's web server without a browser: the built page's files (and nothing else), and
every /api/ request through a function-URL event to a handler in process: the real read API over
moto's DynamoDB, HEAD, a 405, and a handler that raises (a 502, and the server goes on)."""

from __future__ import annotations

import contextlib
import http.client
import importlib
import io
import json
import logging
import socket
import sys
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from lambdas.api.settings import environment as api_environment
from lambdas.consumer.settings import environment as consumer_environment
from local import output
from local.function_url import FunctionUrl
from local.lambda_context import LocalContext
from local.web_server import PortBusy, WebServer
from market_sim import MarketDataGenerator
from miniticker import MiniTicker, normalize
from miniticker.metrics import NAMESPACE
from tests.consumer_events import event_for

INDEX = "<!doctype html><title>page</title><script src=app.js></script>"


@pytest.fixture
def web_root(tmp_path: Path) -> Path:
    """A built page, a directory, and files outside the root that must stay unreachable."""
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text(INDEX)
    (root / "app.js").write_text("console.log('app');\n")
    (root / "app.css").write_text("body { margin: 0 }\n")
    (root / "assets" / "logo.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    (tmp_path / "secret.txt").write_text("not for the browser")
    (root / "link.txt").symlink_to(tmp_path / "secret.txt")
    return root


class Recorder:
    """A handler that keeps what it was called with and answers as told."""

    def __init__(self, answer: Any = None, error: Exception | None = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.contexts: list[Any] = []
        self.answer = answer if answer is not None else {
            "statusCode": 200, "headers": {"Content-Type": "application/json",
                                           "Cache-Control": "public, max-age=1"},
            "cookies": ["a=1", "b=2"], "body": json.dumps({"ok": True}),
            "isBase64Encoded": False}
        self.error = error

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        self.events.append(event)
        self.contexts.append(context)
        if self.error is not None:
            raise self.error
        return self.answer


@pytest.fixture
def serve(web_root: Path) -> Iterator[Any]:
    started: list[WebServer] = []

    def start(handler: Any) -> WebServer:
        server = WebServer(web_root, FunctionUrl(handler, "api"), port=0).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def request(server: WebServer, method: str, target: str, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """One request as sent, target unnormalised (http.client keeps ``..`` and ``%2e``)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request(method, target, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def test_the_page_files_with_their_types(serve: Any, web_root: Path):
    server = serve(Recorder())
    assert server.url == f"http://127.0.0.1:{server.port}/"
    for target, content_type, file in [
            ("/", "text/html; charset=utf-8", "index.html"),
            ("/index.html", "text/html; charset=utf-8", "index.html"),
            ("/app.js", "text/javascript; charset=utf-8", "app.js"),
            ("/app.css?v=1", "text/css; charset=utf-8", "app.css"),
            ("/assets/logo.svg", "image/svg+xml", "assets/logo.svg")]:
        status, headers, body = request(server, "GET", target)
        assert (status, headers["content-type"]) == (200, content_type), target
        assert body == (web_root / file).read_bytes()
        assert headers["content-length"] == str(len(body))
        assert headers["x-content-type-options"] == "nosniff"


def test_head_has_the_headers_of_get_and_no_body(serve: Any, web_root: Path):
    server = serve(Recorder())
    status, headers, body = request(server, "HEAD", "/app.css")
    assert (status, body) == (200, b"")
    assert headers["content-length"] == str(len((web_root / "app.css").read_bytes()))
    assert headers["content-type"] == "text/css; charset=utf-8"


@pytest.mark.parametrize("target", [
    "/missing.js", "/assets", "/assets/", "/../secret.txt", "/assets/../../secret.txt",
    "/%2e%2e/secret.txt", "/assets/..%2f..%2fsecret.txt", "/..%5csecret.txt", "/link.txt",
    "/app.js%00.html", "//etc/passwd", "/%2fetc%2fpasswd"])
def test_nothing_but_the_page_files_no_listing_no_traversal(serve: Any, target: str):
    server = serve(Recorder())
    status, headers, body = request(server, "GET", target)
    assert status == 404, target
    assert headers["content-type"] == "application/json"
    assert b"not for the browser" not in body
    assert b"root:" not in body
    assert b"logo.svg" not in body  # no directory listing


def test_files_answer_only_get_and_head(serve: Any):
    server = serve(Recorder())
    status, headers, _ = request(server, "POST", "/index.html", body=b"x")
    assert status == 405
    assert headers["allow"] == "GET, HEAD"


def test_a_busy_port_is_an_error_naming_the_option(web_root: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortBusy) as refused:
            WebServer(web_root, FunctionUrl(Recorder(), "api"), port=port)
    assert f"port {port} on 127.0.0.1 is already in use" in str(refused.value)
    assert "--web-port" in str(refused.value)


def test_an_api_request_becomes_a_function_url_event(serve: Any):
    recorder = Recorder()
    server = serve(recorder)
    status, headers, body = request(
        server, "GET", "/api/history?symbol=BTCUSDT&minutes=15&x=a%20b&x=c",
        headers={"Accept": "application/json", "Cookie": "k=v; other=w", "X-Twice": "1"})
    assert (status, json.loads(body)) == (200, {"ok": True})
    assert headers["cache-control"] == "public, max-age=1"
    event = recorder.events[-1]
    assert event["version"] == "2.0"
    assert event["rawPath"] == "/api/history"
    assert event["rawQueryString"] == "symbol=BTCUSDT&minutes=15&x=a%20b&x=c"
    assert event["queryStringParameters"] == {"symbol": "BTCUSDT", "minutes": "15", "x": "a b,c"}
    assert event["headers"]["accept"] == "application/json"
    assert event["headers"]["x-twice"] == "1"
    assert "cookie" not in event["headers"]
    assert event["cookies"] == ["k=v", "other=w"]
    assert event["isBase64Encoded"] is False
    assert "body" not in event
    http_context = event["requestContext"]["http"]
    assert http_context["method"] == "GET"
    assert http_context["path"] == "/api/history"
    assert http_context["sourceIp"] == "127.0.0.1"
    assert isinstance(event["requestContext"]["timeEpoch"], int)
    assert recorder.contexts[-1].get_remaining_time_in_millis() > 0
    # The function's cookies become Set-Cookie headers, as the function URL sends them.
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("GET", "/api/latest")
    assert connection.getresponse().headers.get_all("Set-Cookie") == ["a=1", "b=2"]
    connection.close()


def test_every_method_reaches_the_function_and_bodies_arrive_as_lambda_passes_them(
        serve: Any):
    recorder = Recorder()
    server = serve(recorder)
    request(server, "POST", "/api/latest", body=b'{"a": 1}',
            headers={"Content-Type": "application/json"})
    request(server, "PUT", "/api/latest", body=b"\x00\xff",
            headers={"Content-Type": "application/octet-stream"})
    status, _, body = request(server, "HEAD", "/api/latest")
    assert (status, body) == (200, b"")  # the function's body, not sent for HEAD
    text, binary, head = recorder.events
    assert (text["requestContext"]["http"]["method"], text["body"],
            text["isBase64Encoded"]) == ("POST", '{"a": 1}', False)
    assert (binary["body"], binary["isBase64Encoded"]) == ("AP8=", True)
    assert head["requestContext"]["http"]["method"] == "HEAD"


def test_a_failing_function_is_a_502_and_the_server_goes_on(
        serve: Any, caplog: pytest.LogCaptureFixture):
    failing = serve(Recorder(error=RuntimeError("boom")))
    with caplog.at_level(logging.ERROR, logger="local.function_url"):
        status, headers, body = request(failing, "GET", "/api/latest")
    assert status == 502
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"error": "the function failed: RuntimeError"}
    assert "RuntimeError: boom" in caplog.text  # logged with its traceback
    assert request(failing, "GET", "/")[0] == 200  # still serving
    unreadable = serve(Recorder(answer={"statusCode": "fine", "body": "x"}))
    assert request(unreadable, "GET", "/api/latest")[0] == 502


def test_each_threads_output_goes_where_that_thread_routed_it():
    """Functions called on several threads at once (the consumer on the poller's, the API on
    the server's) each print to their own log; the rest of the process prints as before."""
    console, first, second = io.StringIO(), io.StringIO(), io.StringIO()
    barrier = threading.Barrier(2)

    def work(target: io.StringIO, text: str) -> None:
        with output.to(target):
            barrier.wait()  # both routed at once
            for _ in range(200):
                print(text)
            barrier.wait()

    with contextlib.redirect_stdout(console), output.installed():
        threads = [threading.Thread(target=work, args=(first, "one")),
                   threading.Thread(target=work, args=(second, "two"))]
        for thread in threads:
            thread.start()
        print("main")
        for thread in threads:
            thread.join()
        print("after")
    assert first.getvalue() == "one\n" * 200
    assert second.getvalue() == "two\n" * 200
    assert console.getvalue() == "main\nafter\n"


# --- the real read API over moto's DynamoDB --------------------------------------------------


def recent(symbols: list[str], seconds: int) -> list[MiniTicker]:
    """A generated record per symbol and second, up to now (the API's windows end now)."""
    generator = MarketDataGenerator(symbols, seed=5, start_ms=int(time.time() * 1000)
                                    - seconds * 1000, jitter_ms=0)
    return [normalize(p, received_at=p["E"] + 30) for tick in generator.ticks(seconds)
            for p in tick]


def cold_start(module: str, monkeypatch: pytest.MonkeyPatch, environment: dict[str, str]
               ) -> ModuleType:
    """A function's handler module as a cold start with this environment makes it."""
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    sys.modules.pop(module, None)
    return importlib.import_module(module)


def test_latest_through_the_server_is_the_tables_newest_record(
        serve: Any, table: str, monkeypatch: pytest.MonkeyPatch):
    consumer = cold_start("lambdas.consumer.handler", monkeypatch,
                          consumer_environment(table, 1, price_metrics=False))
    records = recent(["BTCUSDT", "ETHUSDT"], seconds=20)
    response = consumer.handler(event_for(records), LocalContext("consumer"))
    assert response == {"batchItemFailures": []}
    api = cold_start("lambdas.api.handler", monkeypatch,
                     api_environment(table, 1, NAMESPACE))
    server = serve(api.handler)

    status, headers, body = request(server, "GET", "/api/latest")
    assert status == 200, body
    assert headers["content-type"].startswith("application/json")
    prices = {p["symbol"]: p for p in json.loads(body)["prices"]}
    assert sorted(prices) == ["BTCUSDT", "ETHUSDT"]
    for symbol, price in prices.items():
        newest = max((r for r in records if r.symbol == symbol), key=lambda r: r.event_time)
        assert price["event_time"] == newest.event_time
        assert Decimal(price["close_price"]) == Decimal(newest.close_price)
        assert len(price["close_price"].split(".")[1]) == 8  # the contract's scale

    head_status, head_headers, head_body = request(server, "HEAD", "/api/latest")
    assert (head_status, head_body) == (200, b"")
    assert head_headers["content-type"] == headers["content-type"]

    status, headers, body = request(server, "DELETE", "/api/latest")
    assert status == 405
    assert "error" in json.loads(body)
