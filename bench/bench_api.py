"""The read API's CPU per request, DynamoDB answered at once.

    .venv/bin/python bench/bench_api.py [--repeat 30]

The real ``handler`` (Powertools resolver, logger, metrics, tracer decorators) over a real
botocore DynamoDB client whose HTTP send is answered at once from items made by the consumer's
own code (``before-send``): request serialising, signing and response parsing are counted, the
network is not. Answers are paged as DynamoDB pages them (1 MB of items read). Workloads:

- ``latest`` with 10 and with 2,000 symbols (one latest item each);
- ``history`` of 24 h: 1,440 one-minute candles of 60 events each;
- ``history`` of 15 min at event resolution: 900 points.

Reference, same answers, same run: the bare loop that replays the DynamoDB calls the handler
made, through the same kind of client, and serialises the items it gets to JSON as they come
(no contract formatting, no routing, no Powertools). Targets: ``latest`` for 2,000 symbols
under 50 ms of handler CPU, ``history`` 24 h under 200 ms. Figures are the median of
``--repeat`` requests after a warm-up.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from miniticker.metrics import NAMESPACE  # noqa: E402  # standard library only

os.environ.update({"TABLE_NAME": "bench", "AWS_REGION": "us-east-1",
                   "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "bench",
                   "AWS_SECRET_ACCESS_KEY": "bench", "POWERTOOLS_TRACE_DISABLED": "true",
                   "POWERTOOLS_METRICS_NAMESPACE": NAMESPACE})

import boto3  # noqa: E402
from botocore.awsrequest import AWSResponse  # noqa: E402

from lambdas.consumer.items import item_of  # noqa: E402
from lambdas.consumer.summaries import candle_item, candles_of, latest_item  # noqa: E402
from local.lambda_context import LocalContext  # noqa: E402
from local.lambda_events import function_url_event  # noqa: E402
from market_sim import MarketDataGenerator  # noqa: E402
from miniticker import MiniTicker, normalize  # noqa: E402
from miniticker import hot_table as ht  # noqa: E402

PAGE_BYTES = 1 << 20  # DynamoDB stops a Query page after 1 MB of items read
RETENTION = 86_400


class Raw(io.BytesIO):
    def stream(self, **_: Any) -> Any:
        yield self.getvalue()


class InstantTable:
    """Answers Query and GetItem from stored items, as DynamoDB would, without a network."""

    def __init__(self) -> None:
        self.partitions: dict[str, list[dict[str, Any]]] = {}
        # Answers by request body: after the warm-up request, answering costs a dict lookup,
        # so the figures are the caller's CPU, not this stand-in's.
        self.answers: dict[tuple[str, bytes], bytes] = {}
        self.seen: list[tuple[str, dict[str, Any]]] = []  # (operation, request) as made

    def put(self, item: dict[str, Any]) -> None:
        self.partitions.setdefault(item[ht.PARTITION_KEY]["S"], []).append(item)

    def sort(self) -> None:
        for items in self.partitions.values():
            items.sort(key=lambda i: i[ht.SORT_KEY]["S"])

    def answer(self, request: Any, **_: Any) -> AWSResponse:
        operation = request.headers["X-Amz-Target"].decode().split(".")[-1]
        key = (operation, bytes(request.body))
        answer = self.answers.get(key)
        if answer is None:
            body = json.loads(request.body)
            self.seen.append((operation, body))
            result = self.get_item(body) if operation == "GetItem" else self.query(body)
            answer = self.answers[key] = json.dumps(result).encode()
        return AWSResponse(request.url, 200, {}, Raw(answer))

    def get_item(self, body: dict[str, Any]) -> dict[str, Any]:
        key = body["Key"]
        for item in self.partitions.get(key[ht.PARTITION_KEY]["S"], []):
            if item[ht.SORT_KEY] == key[ht.SORT_KEY]:
                return {"Item": project(item, body)}
        return {}

    def query(self, body: dict[str, Any]) -> dict[str, Any]:
        values = body["ExpressionAttributeValues"]
        items = self.partitions.get(values[":k"]["S"], [])
        if ":t" in values:
            items = [i for i in items if i[ht.SORT_KEY]["S"] >= values[":t"]["S"]]
        if body.get("ScanIndexForward") is False:
            items = items[::-1]
        start = body.get("ExclusiveStartKey")
        if start:
            keys = [i[ht.SORT_KEY] for i in items]
            items = items[keys.index(start[ht.SORT_KEY]) + 1:]
        page, size = [], 0
        for item in items[:body.get("Limit", len(items))]:
            page.append(item)
            size += len(json.dumps(item))
            if size >= PAGE_BYTES:
                break
        result: dict[str, Any] = {"Items": [project(i, body) for i in page], "Count": len(page)}
        if len(page) < len(items) and page:
            result["LastEvaluatedKey"] = {k: page[-1][k] for k in (ht.PARTITION_KEY, ht.SORT_KEY)}
        return result


def project(item: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    expression = body.get("ProjectionExpression")
    if not expression:
        return item
    names = body.get("ExpressionAttributeNames", {})
    wanted = [names.get(n.strip(), n.strip()) for n in expression.split(",")]
    return {n: item[n] for n in wanted if n in item}


def market(symbols: list[str], seconds: int, start_ms: int) -> list[MiniTicker]:
    generator = MarketDataGenerator(symbols, seed=7, start_ms=start_ms)
    return [normalize(p, received_at=p["E"] + 20)
            for p in generator.payloads(seconds * len(symbols))]


def instant_client(table: InstantTable) -> Any:
    client = boto3.client("dynamodb", endpoint_url="http://dynamodb.bench")
    client.meta.events.register("before-send.dynamodb.*", table.answer)
    return client


def fill(now_ms: int) -> InstantTable:
    table = InstantTable()
    # A day of one symbol: an event a second, as Binance sends (events and candles).
    day = market(["BTCUSDT"], 86_400, now_ms - 86_400_000)
    for record in day:
        table.put(item_of(record, RETENTION))
    for candle in candles_of(day).values():
        table.put(candle_item(candle, 1, RETENTION))
    # Latest items of 2,000 symbols (BTCUSDT's is its newest event); 10 of them in a table
    # of their own below.
    symbols = ["BTCUSDT", *(f"X{i:04d}USDT" for i in range(1, 2_000))]
    for record in [day[-1], *market(symbols[1:], 1, now_ms - 1_000)]:
        table.put(latest_item(record, RETENTION))
    table.sort()
    return table


def small(big: InstantTable) -> InstantTable:
    table = InstantTable()
    latest = [i for p in ht.latest_partitions() for i in big.partitions.get(p, [])]
    for item in sorted(latest, key=lambda i: i[ht.SORT_KEY]["S"])[:10]:
        table.put(item)
    table.sort()
    return table


def cpu_of(call: Any, repeat: int) -> tuple[float, Any]:
    result = call()  # warm-up: caches, lazy imports
    times = []
    for _ in range(repeat):
        start = time.process_time()
        result = call()
        times.append(time.process_time() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    module = importlib.import_module("lambdas.api.handler")
    now = int(time.time() * 1000)
    built = time.perf_counter()
    big = fill(now)
    print(f"data made in {time.perf_counter() - built:.0f} s; median of {args.repeat} "
          "requests, DynamoDB answered at once (client CPU counted, network not)")
    print(f"{'request':<34}{'DynamoDB calls':>15}{'bare ms':>9}{'handler ms':>12}"
          f"{'ratio':>7}{'body KB':>9}{'target ms':>11}")

    def run(name: str, table: InstantTable, target: str, goal: float | None,
            check: Any) -> None:
        module.table.client = instant_client(table)
        reference = instant_client(table)

        def handler_call() -> dict[str, Any]:
            with contextlib.redirect_stdout(io.StringIO()):  # EMF and logs: made, not shown
                result: dict[str, Any] = module.handler(
                    function_url_event("GET", target, []), LocalContext("api"))
            return result

        table.seen.clear()
        handler_cpu, result = cpu_of(handler_call, args.repeat)
        made = list(table.seen)  # the calls of the warm-up request (later ones are the same)
        if result["statusCode"] != 200:
            raise SystemExit(f"{target}: {result['statusCode']} {result['body'][:200]}")
        check(json.loads(result["body"]))

        def bare_call() -> int:
            size = 0
            for operation, request in made:
                page = (reference.get_item if operation == "GetItem" else reference.query)(
                    **request)
                size += len(json.dumps(page.get("Items", page.get("Item"))))
            return size

        bare_cpu, _ = cpu_of(bare_call, args.repeat)
        print(f"{name:<34}{len(made):>15}{bare_cpu * 1000:>9.1f}{handler_cpu * 1000:>12.1f}"
              f"{bare_cpu / handler_cpu:>7.2f}{len(result['body']) / 1024:>9.0f}"
              f"{f'< {goal:.0f}' if goal else '':>11}")

    def symbols_are(count: int) -> Any:
        def check(body: dict[str, Any]) -> None:
            assert len(body["prices"]) == count, len(body["prices"])
        return check

    run("latest, 10 symbols", small(big), "/api/latest", None, symbols_are(10))
    run("latest, 2,000 symbols", big, "/api/latest", 50, symbols_are(2_000))

    def whole_day(body: dict[str, Any]) -> None:
        assert len(body["candles"]) >= 1_440, len(body["candles"])
        assert sum(c["events"] for c in body["candles"]) >= 86_400 - 60

    run("history 24 h (1-minute candles)", big, "/api/history?symbol=BTCUSDT&minutes=1440",
        200, whole_day)

    def fifteen_minutes(body: dict[str, Any]) -> None:
        assert len(body["points"]) >= 15 * 60 - 60, len(body["points"])

    run("history 15 min (event points)", big, "/api/history?symbol=BTCUSDT&minutes=15",
        None, fifteen_minutes)
    print("targets: latest for 2,000 symbols < 50 ms, history 24 h < 200 ms of handler CPU")


if __name__ == "__main__":
    main()
