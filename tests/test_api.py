"""The read API over moto's DynamoDB, with the table written by the real consumer: exact
decimals, the latest of every symbol, points and candles, every bad request, DynamoDB trouble."""

from __future__ import annotations

import importlib
import json
import sys
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from lambdas.api import reads
from lambdas.api.reads import decimal_text
from lambdas.consumer.items import KEY_SCHEMA
from local.lambda_context import LocalContext
from local.lambda_events import function_url_event
from market_sim import MarketDataGenerator
from miniticker import MiniTicker, normalize
from miniticker import hot_table as ht
from miniticker.metrics import NAMESPACE
from tests.conftest import FAKE_CREDENTIALS
from tests.consumer_events import event_for
from tests.test_consumer import CurrentStdout, invoke, load_handler
from tests.test_consumer_summaries import expected_candles

SYMBOLS = ["BTCUSDT", "ETHUSDT", "DOGEUSDT"]
MINUTE = 60_000


@pytest.fixture(scope="module")
def filled(moto_endpoint: str) -> Iterator[tuple[str, list[MiniTicker]]]:
    """A table with twenty minutes of three symbols up to now, written by the real consumer
    (once for the module: the tests below only read, or put back what they change)."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": moto_endpoint}.items():
            patch.setenv(name, value)
        client = boto3.client("dynamodb")
        name = f"api-{uuid.uuid4().hex[:8]}"
        client.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **KEY_SCHEMA)
        now = int(time.time() * 1000)
        generator = MarketDataGenerator(SYMBOLS, seed=5, start_ms=now - 20 * MINUTE)
        made = [normalize(p, received_at=p["E"] + 20) for p in generator.payloads(20 * 60 * 3)]
        consumer = load_handler(patch, name)
        for start in range(0, len(made), 500):
            assert invoke(consumer, event_for(made[start:start + 500])) == {
                "batchItemFailures": []}
        yield name, made
        client.delete_table(TableName=name)


@pytest.fixture
def table(filled: tuple[str, list[MiniTicker]], aws: str) -> str:
    return filled[0]


@pytest.fixture
def records(filled: tuple[str, list[MiniTicker]]) -> list[MiniTicker]:
    return filled[1]


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch, table: str) -> Iterator[ModuleType]:
    monkeypatch.setenv("TABLE_NAME", table)
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", NAMESPACE)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    sys.modules.pop("lambdas.api.handler", None)  # a cold start with this environment
    module = importlib.import_module("lambdas.api.handler")
    module.logger.registered_handler.setStream(CurrentStdout())  # the test's capture
    yield module
    sys.modules.pop("lambdas.api.handler", None)


def call(api: ModuleType, target: str, method: str = "GET") -> tuple[int, dict[str, str], Any]:
    result = api.handler(function_url_event(method, target, []), LocalContext("api"))
    headers = {k.lower(): v for k, v in result.get("headers", {}).items()}
    body = json.loads(result["body"]) if result.get("body") else None
    return result["statusCode"], headers, body


def newest(records: list[MiniTicker]) -> dict[str, MiniTicker]:
    return {r.symbol: r for r in sorted(records, key=lambda r: r.event_time)}


def test_latest_is_every_symbols_newest_record_with_exact_decimals(
        api: ModuleType, records: list[MiniTicker]):
    status, headers, body = call(api, "/api/latest")
    assert status == 200
    assert headers["cache-control"] == "public, max-age=1, stale-while-revalidate=5"
    assert headers["content-type"] == "application/json"
    assert [p["symbol"] for p in body["prices"]] == sorted(SYMBOLS)
    assert abs(body["server_time"] - time.time() * 1000) < 10_000
    for price in body["prices"]:
        record = newest(records)[price["symbol"]]
        expected = {**record._asdict()}
        change = Decimal(record.close_price) - Decimal(record.open_price)
        expected["change_24h"] = f"{change:.8f}"
        expected["change_24h_percent"] = str(
            (change / Decimal(record.open_price) * 100).quantize(Decimal("0.01")))
        assert price == expected  # every field, decimals as the record's exact strings
        assert all(isinstance(price[name], str) for name in (
            "close_price", "open_price", "high_price", "low_price", "change_24h"))


def test_the_latest_never_moves_back_under_an_out_of_order_batch(
        api: ModuleType, records: list[MiniTicker], monkeypatch: pytest.MonkeyPatch, table: str):
    """(The consumer's tests prove it of the items; this, of what the API serves.)"""
    before = call(api, "/api/latest")[2]["prices"]
    consumer = load_handler(monkeypatch, table)
    invoke(consumer, event_for(records[:300]))  # old events, delivered again, late
    assert call(api, "/api/latest")[2]["prices"] == before


def test_short_history_is_every_event_in_the_window(api: ModuleType, records: list[MiniTicker]):
    status, headers, body = call(api, "/api/history?symbol=ETHUSDT&minutes=5")
    assert status == 200
    assert headers["cache-control"].startswith("public, max-age=1")
    start = int(time.time() * 1000) - 5 * MINUTE
    start -= start % MINUTE
    expected = [{"event_time": r.event_time, "close_price": r.close_price}
                for r in records if r.symbol == "ETHUSDT" and r.event_time >= start]
    # The window's start moves with the clock: compare from the first point both hold.
    assert body["resolution"] == "event"
    assert body["truncated"] is False
    assert body["points"] == expected[len(expected) - len(body["points"]):]
    assert len(body["points"]) >= len(expected) - 60


def test_points_are_bounded_keeping_the_newest(api: ModuleType, records: list[MiniTicker],
                                               monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(reads, "MAX_POINTS", 50)
    body = call(api, "/api/history?symbol=BTCUSDT&minutes=15")[2]
    newest_50 = [r for r in records if r.symbol == "BTCUSDT"][-50:]
    assert body["truncated"] is True
    assert [p["event_time"] for p in body["points"]] == [r.event_time for r in newest_50]


def test_long_history_is_one_minute_candles(api: ModuleType, records: list[MiniTicker]):
    status, headers, body = call(api, "/api/history?symbol=BTCUSDT&minutes=60")
    assert status == 200
    assert headers["cache-control"] == "public, max-age=10, stale-while-revalidate=30"
    assert body["resolution"] == "1m"
    expected = expected_candles([r for r in records if r.symbol == "BTCUSDT"])
    assert [c["start"] for c in body["candles"]] == sorted(start for _, start in expected)
    for candle in body["candles"]:
        want = expected[("BTCUSDT", candle["start"])]
        assert candle == {"start": candle["start"],
                          **{k: f"{v:.8f}" if isinstance(v, Decimal) else v
                             for k, v in want.items()}}


def test_a_number_dynamodb_shortened_is_written_with_the_contracts_scale():
    assert decimal_text("67432.15") == "67432.15000000"
    assert decimal_text("67432.15000000") == "67432.15000000"
    assert decimal_text("0") == "0.00000000"
    assert decimal_text("1E+3") == "1000.00000000"
    assert decimal_text("0.00000001") == "0.00000001"
    assert decimal_text("1.8E-7") == "0.00000018"  # never an exponent


def test_a_tiny_or_zero_change_is_written_plainly():
    record = generated_record(open_price="0.00001000", close_price="0.00001018")
    price = ht.latest_price(record)
    assert (price["change_24h"], price["change_24h_percent"]) == ("0.00000018", "1.80")
    flat = ht.latest_price(generated_record(open_price="0", close_price="0.00000001"))
    assert (flat["change_24h"], flat["change_24h_percent"]) == ("0.00000001", None)
    down = ht.latest_price(generated_record(open_price="2.00000000", close_price="1.99999999"))
    assert (down["change_24h"], down["change_24h_percent"]) == ("-0.00000001", "0.00")


def generated_record(**fields: Any) -> MiniTicker:
    record = MarketDataGenerator(["BTCUSDT"], seed=1).payloads(1)
    return normalize(next(iter(record)), received_at=0)._replace(**fields)


def test_a_shortened_candle_reads_exact(api: ModuleType, records: list[MiniTicker],
                                       dynamodb: Any, table: str):
    # What real DynamoDB answers for 67432.10000000: trailing zeros gone.
    start = records[-1].event_time // MINUTE * MINUTE
    key = {ht.PARTITION_KEY: {"S": ht.candle_partition("BTCUSDT")},
           ht.SORT_KEY: {"S": ht.minute_key(start)}}
    stored = dynamodb.get_item(TableName=table, Key=key)["Item"]
    dynamodb.update_item(TableName=table, Key=key, UpdateExpression="SET #c = :c",
                         ExpressionAttributeNames={"#c": ht.CANDLE_CLOSE},
                         ExpressionAttributeValues={":c": {"N": "67432.1"}})
    try:
        candles = call(api, "/api/history?symbol=BTCUSDT&minutes=60")[2]["candles"]
    finally:
        dynamodb.put_item(TableName=table, Item=stored)
    assert candles[-1]["start"] == start
    assert candles[-1]["close"] == "67432.10000000"


@pytest.mark.parametrize(("target", "status", "words"), [
    ("/api/history?symbol=NOPEUSDT&minutes=5", 404, "no data for symbol NOPEUSDT"),
    ("/api/history?symbol=btcusdt&minutes=5", 400, "is not an upper-case symbol"),
    ("/api/history?symbol=BTC-USDT&minutes=5", 400, "symbol"),
    ("/api/history?symbol=" + "A" * 33 + "&minutes=5", 400, "at most 32"),
    ("/api/history?minutes=5", 400, "symbol is required"),
    ("/api/history?symbol=BTCUSDT", 400, "minutes is required"),
    ("/api/history?symbol=BTCUSDT&minutes=0", 400, "out of range: 1 to 1440"),
    ("/api/history?symbol=BTCUSDT&minutes=1441", 400, "out of range"),
    ("/api/history?symbol=BTCUSDT&minutes=-5", 400, "not a whole number"),
    ("/api/history?symbol=BTCUSDT&minutes=1e3", 400, "not a whole number"),
    ("/api/history?symbol=BTCUSDT&minutes=99999999999999999999", 400, "not a whole number"),
    ("/api/history?symbol=BTCUSDT&minutes=5&minutes=6", 400, "not a whole number"),
    ("/api/history?symbol=BTCUSDT&minutes=5&limit=9", 400, "unknown parameter 'limit'"),
    ("/api/latest?symbol=BTCUSDT", 400, "unknown parameter 'symbol'"),
    ("/api/prices", 404, "no such endpoint"),
    ("/", 404, "no such endpoint"),
])
def test_bad_requests_get_a_json_error(api: ModuleType, records: list[MiniTicker], target: str,
                                       status: int, words: str):
    got, headers, body = call(api, target)
    assert got == status
    assert headers["content-type"] == "application/json"
    assert set(body) == {"error"}
    assert words in body["error"]
    assert headers["cache-control"] == ("public, max-age=5" if status == 404 else "no-store")


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_methods_other_than_get_and_head_are_refused(api: ModuleType, method: str):
    status, headers, body = call(api, "/api/latest", method)
    assert (status, headers["allow"]) == (405, "GET, HEAD")
    assert body == {"error": f"{method} is not allowed here: use GET"}


def test_head_has_the_headers_and_no_body(api: ModuleType, records: list[MiniTicker]):
    result = api.handler(function_url_event("HEAD", "/api/latest", []), LocalContext("api"))
    assert result["statusCode"] == 200
    assert result["body"] == ""
    assert result["headers"]["Cache-Control"].startswith("public, max-age=1")


class BrokenTable:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def query(self, **_: Any) -> Any:
        raise self.error

    get_item = query


def test_dynamodb_trouble_is_a_503_and_a_bug_a_500_without_a_trace(
        api: ModuleType, capsys: pytest.CaptureFixture[str]):
    api.table.client = BrokenTable(ClientError(
        {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
        "Query"))
    status, headers, body = call(api, "/api/latest")
    assert (status, headers["cache-control"]) == (503, "no-store")
    assert body == {"error": "the price table is unavailable; try again shortly"}
    api.table.client = BrokenTable(KeyError("Items"))
    status, _, body = call(api, "/api/history?symbol=BTCUSDT&minutes=5")
    assert (status, body) == (500, {"error": "internal error"})
    logged = capsys.readouterr().out
    assert "unexpected error" in logged
    assert "KeyError" in logged


def test_metrics_count_requests_and_errors(api: ModuleType, records: list[MiniTicker],
                                           capsys: pytest.CaptureFixture[str]):
    capsys.readouterr()
    call(api, "/api/latest")
    call(api, "/api/history?symbol=BTCUSDT&minutes=x")
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines()
                 if line.startswith("{") and "_aws" in line]
    assert [d.get("LatestRequests") for d in documents if "LatestRequests" in d] == [[1.0]]
    assert [d.get("ClientErrors") for d in documents if "ClientErrors" in d] == [[1.0]]
    assert all(d["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "CryptoLive"
               for d in documents)
