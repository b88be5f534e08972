"""The consumer Lambda's cost per record, its DynamoDB requests, and its cold-start import.

    .venv/bin/python bench/bench_consumer.py [--records 200000] [--batch 100 --batch 10000]

1. Handler work: the real ``handler`` (Powertools batch, logger, metrics, tracer decorators)
   on Kinesis-shaped events of generated records, with a DynamoDB client that accepts every
   request at once: CPU per record without DynamoDB's time. Best of ``--repeat`` runs.
   Reference, same records, same run: the bare loop base64 -> ``parse_json_line``, the
   validation every record needs. Target: >= 20,000 records/s per core.
2. Requests: BatchWriteItem calls per 1,000 records (target: <= 40), and the calls that keep
   the latest and candle items (a PutItem per symbol and per symbol-minute, a BatchGetItem per
   hundred symbol-minutes, a batch).
3. Cold start: seconds to import the handler module in a fresh interpreter (settings, clients,
   Powertools), next to ``import boto3`` alone.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import importlib
import io
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ENVIRONMENT = {"TABLE_NAME": "bench", "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
               "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
               "POWERTOOLS_TRACE_DISABLED": "true"}
os.environ.update(ENVIRONMENT)

from lambdas.consumer.summaries import SummaryWriter  # noqa: E402
from lambdas.consumer.writer import TableWriter  # noqa: E402
from local.lambda_context import LocalContext  # noqa: E402
from miniticker import parse_json_line  # noqa: E402
from tests.consumer_events import event_for, generated  # noqa: E402


class AcceptAll:
    """A DynamoDB client that takes every write at once, as an empty table would (no candle
    to merge into), and counts the calls."""

    def __init__(self) -> None:
        self.requests = 0
        self.summary_requests = 0  # latest and candle items: PutItem, BatchGetItem

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        self.requests += 1
        return {"UnprocessedItems": {}}

    def put_item(self, **_: Any) -> dict[str, Any]:
        self.summary_requests += 1
        return {}

    def batch_get_item(self, **_: Any) -> dict[str, Any]:
        self.summary_requests += 1
        return {"Responses": {}}


def bare_loop(events: list[dict[str, Any]]) -> float:
    start = time.process_time()
    for event in events:
        for record in event["Records"]:
            parse_json_line(base64.b64decode(record["kinesis"]["data"]))
    return time.process_time() - start


def handler_run(module: Any, events: list[dict[str, Any]]) -> tuple[float, AcceptAll]:
    client = AcceptAll()
    module.processor.writer = TableWriter(client, "bench")
    module.processor.summaries = SummaryWriter(client, "bench")
    with contextlib.redirect_stdout(io.StringIO()):  # EMF and logs: made, not shown
        start = time.process_time()
        for event in events:
            response = module.handler(event, LocalContext("consumer"))
            if response["batchItemFailures"]:
                raise SystemExit(f"benchmark batch had failures: {response}")
        cpu = time.process_time() - start
    return cpu, client


def import_seconds(statement: str) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    output = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, text=True,
                            capture_output=True).stdout  # ENVIRONMENT is in os.environ
    return float(output)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--batch", type=int, action="append")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    module = importlib.import_module("lambdas.consumer.handler")
    records = generated(args.records)
    print(f"best of {args.repeat} runs; DynamoDB calls answered at once (their time excluded)")
    print(f"{'batch':>7}{'records':>9}{'bare rec/s':>12}{'handler rec/s':>15}{'us/rec':>8}"
          f"{'ratio':>7}{'requests/1000':>15}{'summary req/1000':>18}")
    for size in args.batch or [100, 10_000]:
        events = [event_for(records[i:i + size]) for i in range(0, len(records), size)]
        bare = handler = float("inf")
        client = AcceptAll()
        for _ in range(args.repeat):
            bare = min(bare, bare_loop(events))
            cpu, client = handler_run(module, events)
            handler = min(handler, cpu)
        count = len(records)
        print(f"{size:>7,}{count:>9,}{count / bare:>12,.0f}{count / handler:>15,.0f}"
              f"{handler / count * 1e6:>8.1f}{bare / handler:>7.2f}"
              f"{client.requests / count * 1000:>15.1f}"
              f"{client.summary_requests / count * 1000:>18.1f}")
    print("targets: >= 20,000 records/s per core of handler work, <= 40 requests per 1,000")
    boto3_alone = min(import_seconds("import boto3") for _ in range(3))
    cold = min(import_seconds("import lambdas.consumer.handler") for _ in range(3))
    print(f"cold-start import: handler module {cold * 1000:.0f} ms "
          f"(import boto3 alone: {boto3_alone * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
