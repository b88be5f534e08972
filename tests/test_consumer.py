"""The consumer Lambda over moto's DynamoDB: exact items, TTL, poison records, duplicates,
unprocessed items, throttling, idempotent retries, metrics and settings."""

from __future__ import annotations

import importlib
import json
import sys
from decimal import Decimal
from types import ModuleType
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from lambdas.consumer.settings import ConsumerConfigError, load
from lambdas.consumer.writer import TableWriter
from local.lambda_context import LocalContext
from miniticker import FIELDS, FieldKind, MiniTicker, to_json_line
from miniticker.hot_table import PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE, is_event_partition
from tests.consumer_events import event_for, event_of, generated, sequence_number

DAY = 86_400


def load_handler(monkeypatch: pytest.MonkeyPatch, table: str, **env: str) -> ModuleType:
    """The handler module as a cold start with this environment would make it."""
    monkeypatch.setenv("TABLE_NAME", table)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # A fresh import each time: the module reads its settings and makes its clients on load.
    sys.modules.pop("lambdas.consumer.handler", None)
    module = importlib.import_module("lambdas.consumer.handler")
    # The logging handler keeps the stream of the first load; write to the current one, which
    # is the test's capture.
    module.logger.registered_handler.setStream(CurrentStdout())
    return module


class CurrentStdout:
    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@pytest.fixture
def handler(monkeypatch: pytest.MonkeyPatch, table: str) -> ModuleType:
    """The consumer's handler module over the test's table (fresh for each test)."""
    return load_handler(monkeypatch, table)


def invoke(module: ModuleType, event: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = module.handler(event, LocalContext("consumer"))
    return response


def scan(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    """The table's event items (latest and candle items: tests/test_consumer_summaries.py)."""
    return [i for i in scan_all(dynamodb, table) if is_event_partition(i[PARTITION_KEY])]


def scan_all(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    deserialize = TypeDeserializer().deserialize
    items: list[dict[str, Any]] = []
    start: dict[str, Any] = {}
    while True:
        page = dynamodb.scan(TableName=table, **start)
        items += [{k: deserialize(v) for k, v in item.items()} for item in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return sorted(items, key=lambda i: (i[PARTITION_KEY], i[SORT_KEY]))
        start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}


def expected_item(record: MiniTicker, retention_days: int = 1) -> dict[str, Any]:
    """Written independently of the handler: every field, numbers exact, TTL in seconds."""
    item: dict[str, Any] = {
        spec.name: value if spec.kind is FieldKind.TEXT else Decimal(str(value))
        for spec, value in zip(FIELDS, record)}
    item[TTL_ATTRIBUTE] = Decimal(record.event_time // 1000 + retention_days * DAY)
    return item


def expected_table(records: list[MiniTicker], retention_days: int = 1) -> list[dict[str, Any]]:
    return sorted((expected_item(r, retention_days) for r in records),
                  key=lambda i: (i[PARTITION_KEY], i[SORT_KEY]))


def emf_documents(output: str) -> list[dict[str, Any]]:
    documents = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [d for d in documents if "_aws" in d]


def test_every_record_becomes_its_exact_item(handler: ModuleType, dynamodb: Any, table: str):
    records = generated(60)
    assert invoke(handler, event_for(records)) == {"batchItemFailures": []}
    stored = scan(dynamodb, table)
    assert stored == expected_table(records)
    first = stored[0]
    assert first["close_price"] == Decimal(next(
        r.close_price for r in records
        if (r.stream_type, r.iso_timestamp) == (first[PARTITION_KEY], first[SORT_KEY])))
    # TTL in epoch seconds, a day after the event (not milliseconds: DynamoDB would never
    # expire those).
    assert all(i[TTL_ATTRIBUTE] < 10**11 for i in stored)


def test_retention_is_configurable(monkeypatch: pytest.MonkeyPatch, dynamodb: Any, table: str):
    module = load_handler(monkeypatch, table, RETENTION_DAYS="7")
    records = generated(5)
    invoke(module, event_for(records))
    assert scan(dynamodb, table) == expected_table(records, retention_days=7)


def test_a_poison_record_fails_alone(handler: ModuleType, dynamodb: Any, table: str,
                                     capsys: pytest.CaptureFixture[str]):
    records = generated(6)
    lines = [to_json_line(r) for r in records]
    missing_field = json.loads(lines[3])
    del missing_field["close_price"]
    lines[2] = b'{"stream_type": "btcusdt@miniTicker", '  # not JSON (cut short)
    lines[3] = json.dumps(missing_field).encode()
    response = invoke(handler, event_of(lines))
    assert response == {"batchItemFailures": [{"itemIdentifier": sequence_number(2)},
                                              {"itemIdentifier": sequence_number(3)}]}
    assert scan(dynamodb, table) == expected_table([records[i] for i in (0, 1, 4, 5)])
    logs = [json.loads(line) for line in capsys.readouterr().out.splitlines()
            if line.startswith("{")]
    warnings = [entry for entry in logs if entry.get("message") == "invalid record set aside"]
    assert [w["sequence_number"] for w in warnings] == [sequence_number(2), sequence_number(3)]
    assert warnings[1]["field"] == "close_price"
    assert all(w["function_request_id"] for w in warnings)  # correlated with the invocation


def test_duplicate_keys_in_one_batch_collapse_to_the_last(
    handler: ModuleType, dynamodb: Any, table: str
):
    records = generated(10)
    later = records[4]._replace(close_price="1.00000000", received_at=records[4].received_at + 5)
    batch = [*records, records[2], later]  # an exact repeat and a changed one, same keys
    assert invoke(handler, event_for(batch)) == {"batchItemFailures": []}
    assert scan(dynamodb, table) == expected_table(
        [later if r is records[4] else r for r in records])


def test_a_retried_batch_leaves_the_table_as_one_delivery(
    handler: ModuleType, dynamodb: Any, table: str
):
    records = generated(40)
    invoke(handler, event_for(records))
    once = scan(dynamodb, table)
    invoke(handler, event_for(records))
    assert scan(dynamodb, table) == once == expected_table(records)


def test_an_empty_batch(handler: ModuleType, dynamodb: Any, table: str):
    requests = handler.processor.writer.requests
    assert invoke(handler, {"Records": []}) == {"batchItemFailures": []}
    assert handler.processor.writer.requests == requests
    assert scan(dynamodb, table) == []


def test_a_batch_of_ten_thousand(handler: ModuleType, dynamodb: Any, table: str,
                                 capsys: pytest.CaptureFixture[str]):
    records = generated(10_000)
    requests = handler.processor.writer.requests
    assert invoke(handler, event_for(records)) == {"batchItemFailures": []}
    assert handler.processor.writer.requests - requests == 10_000 // 25
    assert scan(dynamodb, table) == expected_table(records)
    (main,) = [d for d in emf_documents(capsys.readouterr().out) if "RecordsIn" in d]
    assert main["RecordsIn"] == [10_000.0]
    assert len(main["EndToEndLatency"]) == 10  # a sample spread over the batch


class FlakyDynamoDB:
    """The real client, but the first calls leave items unprocessed or are throttled."""

    def __init__(self, client: Any, *, unprocessed_calls: int = 0, throttled_calls: int = 0,
                 refuse: str = "") -> None:
        self.client = client
        self.unprocessed_calls = unprocessed_calls
        self.throttled_calls = throttled_calls
        self.refuse = refuse  # a non-retryable error code for every call
        self.sizes: list[int] = []

    def batch_write_item(self, RequestItems: dict[str, list[Any]]) -> dict[str, Any]:
        ((table, requests),) = RequestItems.items()
        self.sizes.append(len(requests))
        if self.refuse:
            raise ClientError({"Error": {"Code": self.refuse, "Message": "refused"}},
                              "BatchWriteItem")
        if self.throttled_calls > 0:
            self.throttled_calls -= 1
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException",
                                         "Message": "throttled"}}, "BatchWriteItem")
        if self.unprocessed_calls > 0:  # write the first half, hand back the rest
            self.unprocessed_calls -= 1
            half = len(requests) // 2
            self.client.batch_write_item(RequestItems={table: requests[:half]})
            return {"UnprocessedItems": {table: requests[half:]}}
        response: dict[str, Any] = self.client.batch_write_item(RequestItems=RequestItems)
        return response


def use_client(module: ModuleType, client: Any) -> list[float]:
    """Swap the handler's DynamoDB client; returns the list the writer's pauses go to."""
    pauses: list[float] = []
    module.processor.writer = TableWriter(client, module.SETTINGS.table_name,
                                          sleep=pauses.append)
    return pauses


def test_unprocessed_items_are_sent_again(handler: ModuleType, dynamodb: Any, table: str):
    flaky = FlakyDynamoDB(dynamodb, unprocessed_calls=3)
    pauses = use_client(handler, flaky)
    records = generated(50)
    assert invoke(handler, event_for(records)) == {"batchItemFailures": []}
    assert scan(dynamodb, table) == expected_table(records)
    # Round one: 2 calls, 13 of each 25 handed back. Round two: the 26 left, 25 + 1 (13 of the
    # 25 handed back again). Round three: those 13. A pause before each round after the first.
    assert flaky.sizes == [25, 25, 25, 1, 13]
    assert len(pauses) == 2


def test_throttling_is_retried_then_reported_as_failed_items(
    handler: ModuleType, dynamodb: Any, table: str
):
    records = generated(30)
    flaky = FlakyDynamoDB(dynamodb, throttled_calls=2)
    use_client(handler, flaky)
    assert invoke(handler, event_for(records)) == {"batchItemFailures": []}
    assert scan(dynamodb, table) == expected_table(records)

    # Throttled for good: every record is a batch item failure, nothing raises.
    more = generated(30, seed=2)
    use_client(handler, FlakyDynamoDB(dynamodb, throttled_calls=10**6))
    response = invoke(handler, event_for(more))
    assert response == {"batchItemFailures": [
        {"itemIdentifier": sequence_number(i)} for i in range(30)]}
    assert scan(dynamodb, table) == expected_table(records)


def test_a_refused_write_fails_its_records_without_retrying(
    handler: ModuleType, dynamodb: Any, table: str
):
    flaky = FlakyDynamoDB(dynamodb, refuse="ValidationException")
    pauses = use_client(handler, flaky)
    response = invoke(handler, event_for(generated(3)))
    assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == [
        sequence_number(i) for i in range(3)]
    assert flaky.sizes == [3]
    assert pauses == []


def test_metrics_for_the_dashboards(handler: ModuleType, capsys: pytest.CaptureFixture[str]):
    records = generated(20, symbols=["BTCUSDT", "ETHUSDT"])
    lines = [to_json_line(r) for r in records] + [to_json_line(records[0]), b"not json"]
    capsys.readouterr()
    invoke(handler, event_of(lines))
    documents = emf_documents(capsys.readouterr().out)
    (main,) = [d for d in documents if "RecordsIn" in d]
    assert main["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "CryptoLive"
    assert main["service"] == "consumer"
    counts = {name: main[name] for name in (
        "RecordsIn", "ItemsWritten", "DuplicatesCollapsed", "InvalidRecords", "WriteFailures",
        "WriteRequests", "LatestItemsUpdated", "CandlesWritten", "SummaryRequests")}
    candles = len({(r.symbol, r.event_time // 60_000) for r in records})
    assert counts == {"RecordsIn": [22.0], "ItemsWritten": [20.0], "DuplicatesCollapsed": [1.0],
                      "InvalidRecords": [1.0], "WriteFailures": [0.0], "WriteRequests": [1.0],
                      "LatestItemsUpdated": [2.0], "CandlesWritten": [float(candles)],
                      # a latest item per symbol, one read of the candles, a write per candle
                      "SummaryRequests": [2.0 + 1 + candles]}
    assert len(main["EndToEndLatency"]) == 10  # a sample of the 21 valid records' latencies
    assert main["EndToEndLatencyMax"][0] >= max(main["EndToEndLatency"])
    prices = {d["symbol"]: d["ClosePrice"] for d in documents if "ClosePrice" in d}
    newest = {r.symbol: r for r in records}
    assert prices == {s: [float(r.close_price)] for s, r in newest.items()}


def test_price_metrics_can_be_switched_off(monkeypatch: pytest.MonkeyPatch, table: str,
                                           capsys: pytest.CaptureFixture[str]):
    module = load_handler(monkeypatch, table, PRICE_METRICS="false")
    capsys.readouterr()
    invoke(module, event_for(generated(10)))
    documents = emf_documents(capsys.readouterr().out)
    assert documents
    assert not [d for d in documents if "ClosePrice" in d]


@pytest.mark.parametrize(("env", "words"), [
    ({}, "TABLE_NAME is not set"),
    ({"TABLE_NAME": "t", "RETENTION_DAYS": "0"}, "RETENTION_DAYS=0 is below one day"),
    ({"TABLE_NAME": "t", "RETENTION_DAYS": "1.5"}, "RETENTION_DAYS='1.5' is not a whole"),
    ({"TABLE_NAME": "t", "PRICE_METRICS": "maybe"}, "PRICE_METRICS='maybe'"),
])
def test_bad_settings_name_the_variable(env: dict[str, str], words: str):
    with pytest.raises(ConsumerConfigError, match=words):
        load(env)
