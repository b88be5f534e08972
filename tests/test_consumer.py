"""The consumer Lambda over moto's DynamoDB: exact items from single- and multi-line records,
TTL, bad lines set aside, duplicates, the hot table's resolution, unprocessed items, throttling,
idempotent retries, concurrent writes, metrics and settings."""

from __future__ import annotations

import importlib
import json
import sys
import threading
from decimal import Decimal
from types import ModuleType
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from lambdas.consumer.settings import ConsumerConfigError, environment, load
from lambdas.consumer.summaries import SummaryWriter
from lambdas.consumer.writer import TableWriter
from local.lambda_context import LocalContext
from miniticker import FIELDS, FieldKind, MiniTicker, iso_from_millis, to_json_line
from miniticker.hot_table import (
    PARTITION_KEY,
    SORT_KEY,
    TTL_ATTRIBUTE,
    event_item_key,
    is_event_partition,
)
from tests.consumer_events import (
    event_for,
    event_of,
    generated,
    lines_per_record,
    packed_event,
    records_of_lines,
    sequence_number,
)

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


def expected_item(record: MiniTicker, retention_days: int = 1, bucket_ms: int = 0
                  ) -> dict[str, Any]:
    """Written independently of the handler: every field, numbers exact, TTL in seconds; with
    ``bucket_ms``, the sort key is the start of the event's bucket of that width."""
    item: dict[str, Any] = {
        spec.name: value if spec.kind is FieldKind.TEXT else Decimal(str(value))
        for spec, value in zip(FIELDS, record)}
    item[TTL_ATTRIBUTE] = Decimal(record.event_time // 1000 + retention_days * DAY)
    if bucket_ms:
        item[SORT_KEY] = iso_from_millis(record.event_time // bucket_ms * bucket_ms)
    return item


def expected_table(records: list[MiniTicker], retention_days: int = 1) -> list[dict[str, Any]]:
    return sorted((expected_item(r, retention_days) for r in records),
                  key=lambda i: (i[PARTITION_KEY], i[SORT_KEY]))


def warnings_logged(output: str, message: str) -> list[dict[str, Any]]:
    logs = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [entry for entry in logs if entry.get("message") == message]


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


def test_multi_line_records_become_exact_items(handler: ModuleType, dynamodb: Any, table: str):
    records = generated(300)
    event = packed_event(records, limit=3_000)  # a few lines a record
    assert len(event["Records"]) < len(records) / 5
    assert invoke(handler, event) == {"batchItemFailures": []}
    assert scan(dynamodb, table) == expected_table(records)


def test_a_bad_line_is_set_aside_and_its_records_good_lines_written(
    handler: ModuleType, dynamodb: Any, table: str, capsys: pytest.CaptureFixture[str]
):
    records = generated(9)
    lines = [to_json_line(r) for r in records]
    bad = b'{"stream_type": "btcusdt@miniTicker", '  # not JSON (cut short)
    event = event_of(records_of_lines([lines[0:3], [lines[3], bad, lines[4], lines[5]],
                                       lines[6:9]]))
    capsys.readouterr()
    assert invoke(handler, event) == {"batchItemFailures": []}
    assert scan(dynamodb, table) == expected_table(records)  # all nine good lines, no other
    output = capsys.readouterr().out
    (warning,) = warnings_logged(output, "invalid line set aside")
    assert (warning["sequence_number"], warning["line"]) == (sequence_number(1), 2)
    assert warning["reason"].startswith("not valid JSON")
    assert "btcusdt@miniTicker" in warning["data"]
    assert warning["function_request_id"]  # correlated with the invocation
    (main,) = [d for d in emf_documents(output) if "RecordsIn" in d]
    assert (main["RecordsIn"], main["EventsIn"], main["InvalidLines"], main["ItemsWritten"],
            main["RecordsFailed"]) == ([3.0], [10.0], [1.0], [9.0], [0.0])


def _without_close_price(line: bytes) -> bytes:
    data = json.loads(line)
    del data["close_price"]
    return json.dumps(data).encode()


@pytest.mark.parametrize("case", [
    (b"not json", None, "not valid JSON"),
    (b"", None, "empty line"),
    (b"   ", None, "empty line"),
    (b"\xff\xfe{}", None, "not valid JSON"),
    (b"[1, 2]", None, "expected a JSON object"),
    ("missing close_price", "close_price", ""),
])
def test_every_kind_of_bad_line_is_set_aside_alone(
    handler: ModuleType, dynamodb: Any, table: str, capsys: pytest.CaptureFixture[str],
    case: tuple[bytes | str, str | None, str]
):
    bad, field, reason = case
    records = generated(4)
    lines = [to_json_line(r) for r in records]
    line = _without_close_price(lines[0]) if isinstance(bad, str) else bad
    capsys.readouterr()
    event = event_of(records_of_lines([[lines[0], lines[1]], [lines[2], line, lines[3]]]))
    assert invoke(handler, event) == {"batchItemFailures": []}
    assert scan(dynamodb, table) == expected_table(records)
    (warning,) = warnings_logged(capsys.readouterr().out, "invalid line set aside")
    assert (warning["sequence_number"], warning["line"], warning.get("field")) == (
        sequence_number(1), 2, field)
    assert warning["reason"].startswith(reason)


def test_a_record_of_nothing_but_bad_lines_is_not_a_failure(
    handler: ModuleType, dynamodb: Any, table: str, capsys: pytest.CaptureFixture[str]
):
    records = generated(2)
    capsys.readouterr()
    event = event_of([to_json_line(records[0]), b"x\ny\n", b"", to_json_line(records[1])])
    assert invoke(handler, event) == {"batchItemFailures": []}
    assert scan(dynamodb, table) == expected_table(records)
    warnings = warnings_logged(capsys.readouterr().out, "invalid line set aside")
    assert [(w["sequence_number"], w["line"]) for w in warnings] == [
        (sequence_number(1), 1), (sequence_number(1), 2), (sequence_number(2), 1)]


def test_bad_lines_beyond_the_logged_ones_are_counted_exactly(
    handler: ModuleType, capsys: pytest.CaptureFixture[str]
):
    good = [to_json_line(r) for r in generated(3)]
    bad = [f"bad {i}".encode() for i in range(handler.LOGGED_INVALID_LINES + 7)]
    capsys.readouterr()
    event = event_of(records_of_lines([[good[0], *bad[:10]], [*bad[10:], good[1]], [good[2]]]))
    assert invoke(handler, event) == {"batchItemFailures": []}
    output = capsys.readouterr().out
    assert len(warnings_logged(output, "invalid line set aside")) == handler.LOGGED_INVALID_LINES
    (rest,) = warnings_logged(output, "more invalid lines set aside, not logged one by one")
    assert (rest["lines"], rest["records"], rest["first_sequence_number"]) == (
        7, 1, sequence_number(1))
    (main,) = [d for d in emf_documents(output) if "RecordsIn" in d]
    assert (main["InvalidLines"], main["EventsIn"]) == ([float(len(bad))], [float(len(bad) + 3)])


class UnwritableSymbol:
    """The real client, but DynamoDB leaves one symbol's event items unprocessed, every time."""

    def __init__(self, client: Any, stream_type: str) -> None:
        self.client = client
        self.stream_type = stream_type

    def batch_write_item(self, RequestItems: dict[str, list[Any]]) -> dict[str, Any]:
        ((table, requests),) = RequestItems.items()
        kept = [r for r in requests if r["PutRequest"]["Item"][PARTITION_KEY]["S"]
                != self.stream_type]
        left = [r for r in requests if r not in kept]
        if kept:
            self.client.batch_write_item(RequestItems={table: kept})
        return {"UnprocessedItems": {table: left} if left else {}}


def test_a_record_whose_items_were_not_written_fails_alone(
    handler: ModuleType, dynamodb: Any, table: str, capsys: pytest.CaptureFixture[str]
):
    two = generated(12, symbols=["BTCUSDT", "ETHUSDT"])
    sol = generated(3, symbols=["SOLUSDT"])
    lines = [[to_json_line(r) for r in group] for group in (two[:6], sol[:2], two[6:], sol[2:])]
    lines[1].append(b"bad line")  # set aside; it fails nothing
    datas = records_of_lines(lines)
    pauses = use_client(handler, UnwritableSymbol(dynamodb, "solusdt@miniTicker"))
    capsys.readouterr()
    assert invoke(handler, event_of(datas)) == {"batchItemFailures": [
        {"itemIdentifier": sequence_number(1)}, {"itemIdentifier": sequence_number(3)}]}
    assert pauses  # retried within the invocation first
    assert scan(dynamodb, table) == expected_table(two)
    output = capsys.readouterr().out
    (error,) = warnings_logged(output, "items not written")
    assert error["sequence_numbers"] == [sequence_number(1), sequence_number(3)]
    assert error["lines"] == 3
    (main,) = [d for d in emf_documents(output) if "RecordsIn" in d]
    assert (main["WriteFailures"], main["RecordsFailed"], main["InvalidLines"]) == (
        [3.0], [2.0], [1.0])
    # The mapping's retry (from the first failure on), once DynamoDB takes them.
    use_client(handler, dynamodb)
    assert invoke(handler, event_of(datas[1:])) == {"batchItemFailures": []}
    assert scan(dynamodb, table) == expected_table([*two, *sol])


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


def test_a_retried_batch_of_multi_line_records_leaves_the_table_as_one_delivery(
    handler: ModuleType, dynamodb: Any, table: str
):
    records = generated(200, symbols=["BTCUSDT", "ETHUSDT", "SOLUSDT"])
    event = packed_event(records, limit=4_000)
    invoke(handler, event)
    once = scan_all(dynamodb, table)
    invoke(handler, event)
    invoke(handler, packed_event(records[50:], limit=4_000))  # a retry from a later record
    assert scan_all(dynamodb, table) == once
    assert scan(dynamodb, table) == expected_table(records)


def test_an_empty_batch(handler: ModuleType, dynamodb: Any, table: str,
                        capsys: pytest.CaptureFixture[str]):
    requests = handler.processor.writer.requests
    capsys.readouterr()
    assert invoke(handler, {"Records": []}) == {"batchItemFailures": []}
    assert handler.processor.writer.requests == requests
    assert scan(dynamodb, table) == []
    (main,) = [d for d in emf_documents(capsys.readouterr().out) if "RecordsIn" in d]
    assert (main["RecordsIn"], main["EventsIn"]) == ([0.0], [0.0])


def test_a_batch_of_ten_thousand(handler: ModuleType, dynamodb: Any, table: str,
                                 capsys: pytest.CaptureFixture[str]):
    records = generated(10_000)
    requests = handler.processor.writer.requests
    assert invoke(handler, event_for(records)) == {"batchItemFailures": []}
    assert handler.processor.writer.requests - requests == 10_000 // 25
    assert scan(dynamodb, table) == expected_table(records)
    (main,) = [d for d in emf_documents(capsys.readouterr().out) if "RecordsIn" in d]
    assert main["RecordsIn"] == main["EventsIn"] == [10_000.0]
    assert len(main["EndToEndLatency"]) == 10  # a sample spread over the batch


def test_a_batch_of_the_whole_markets_shape(handler: ModuleType, dynamodb: Any, table: str,
                                            capsys: pytest.CaptureFixture[str]):
    """Many symbols, records of dozens of lines: every item exact, one latest item per symbol."""
    symbols = [f"S{i:03d}USDT" for i in range(400)]
    records = generated(2_000, symbols=symbols)
    event = packed_event(records)
    assert len(event["Records"]) == len(lines_per_record(records)) < 40
    capsys.readouterr()
    assert invoke(handler, event) == {"batchItemFailures": []}
    assert scan(dynamodb, table) == expected_table(records)
    latest = [i for i in scan_all(dynamodb, table) if i[PARTITION_KEY].startswith("latest#")]
    assert len(latest) == len({r.symbol for r in records})
    (main,) = [d for d in emf_documents(capsys.readouterr().out) if "RecordsIn" in d]
    assert (main["RecordsIn"], main["EventsIn"], main["ItemsWritten"]) == (
        [float(len(event["Records"]))], [2_000.0], [2_000.0])


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
    """Swap the handler's DynamoDB client for event items, with calls one after the other (so
    their order is known); returns the list the writer's pauses go to."""
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
        "RecordsIn", "EventsIn", "ItemsWritten", "DuplicatesCollapsed", "InvalidLines",
        "WriteFailures", "RecordsFailed", "WriteRequests", "LatestItemsUpdated",
        "CandlesWritten", "SummaryRequests")}
    candles = len({(r.symbol, r.event_time // 60_000) for r in records})
    assert counts == {"RecordsIn": [22.0], "EventsIn": [22.0], "ItemsWritten": [20.0],
                      "DuplicatesCollapsed": [1.0], "InvalidLines": [1.0],
                      "WriteFailures": [0.0], "RecordsFailed": [0.0], "WriteRequests": [1.0],
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
    ({"TABLE_NAME": "t", "HOT_TABLE_RESOLUTION_SECONDS": "-5"},
     "HOT_TABLE_RESOLUTION_SECONDS='-5' is not a whole number of seconds"),
    ({"TABLE_NAME": "t", "HOT_TABLE_RESOLUTION_SECONDS": "2.5"},
     "HOT_TABLE_RESOLUTION_SECONDS='2.5' is not a whole number"),
    ({"TABLE_NAME": "t", "HOT_TABLE_RESOLUTION_SECONDS": "5s"},
     "HOT_TABLE_RESOLUTION_SECONDS='5s'"),
    ({"TABLE_NAME": "t", "HOT_TABLE_RESOLUTION_SECONDS": "3601"},
     "HOT_TABLE_RESOLUTION_SECONDS=3601 is above 3600 s"),
])
def test_bad_settings_name_the_variable(env: dict[str, str], words: str):
    with pytest.raises(ConsumerConfigError, match=words):
        load(env)


def test_the_resolution_setting_round_trips():
    assert load({"TABLE_NAME": "t"}).resolution_seconds == 0
    assert load({"TABLE_NAME": "t", "HOT_TABLE_RESOLUTION_SECONDS": " 0 "}).resolution_seconds == 0
    for seconds in (0, 1, 5, 3600):
        assert load(environment("t", 1, False, seconds)).resolution_seconds == seconds
    assert environment("t", 1, True)["HOT_TABLE_RESOLUTION_SECONDS"] == "0"
    with pytest.raises(ConsumerConfigError, match="HOT_TABLE_RESOLUTION_SECONDS=3601"):
        environment("t", 1, True, 3601)


def test_event_item_keys_at_each_resolution():
    record = generated(1)[0]._replace(event_time=1_795_478_404_999,
                                      iso_timestamp="2026-11-24T00:00:04.999Z")
    assert event_item_key(record) == event_item_key(record, 0) == (
        "btcusdt@miniTicker", "2026-11-24T00:00:04.999Z")
    assert event_item_key(record, 5) == ("btcusdt@miniTicker", "2026-11-24T00:00:00.000Z")
    assert event_item_key(record._replace(event_time=1_795_478_405_000), 5)[1] == (
        "2026-11-24T00:00:05.000Z")
    assert event_item_key(record, 3600)[1] == "2026-11-24T00:00:00.000Z"
    for bad in (-1, 3601):
        with pytest.raises(ValueError, match="outside"):
            event_item_key(record, bad)


def test_at_resolution_zero_every_event_is_an_item(
    monkeypatch: pytest.MonkeyPatch, dynamodb: Any, table: str
):
    module = load_handler(monkeypatch, table, HOT_TABLE_RESOLUTION_SECONDS="0")
    records = generated(100, symbols=["BTCUSDT", "ETHUSDT"])
    assert invoke(module, packed_event(records, limit=2_000)) == {"batchItemFailures": []}
    assert scan(dynamodb, table) == expected_table(records)


class InMemoryDynamoDB:
    """Just enough of DynamoDB for the consumer's calls on a table that starts empty (writes
    stored by key, conditions not checked), safe to call from many threads."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.lock = threading.Lock()

    def _store(self, item: dict[str, Any]) -> None:
        with self.lock:
            self.items[(item[PARTITION_KEY]["S"], item[SORT_KEY]["S"])] = item

    def batch_write_item(self, RequestItems: dict[str, list[Any]]) -> dict[str, Any]:
        for (_, requests) in RequestItems.items():
            for request in requests:
                self._store(request["PutRequest"]["Item"])
        return {"UnprocessedItems": {}}

    def put_item(self, **kwargs: Any) -> dict[str, Any]:
        self._store(kwargs["Item"])
        return {}

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        ((table, request),) = RequestItems.items()
        with self.lock:
            found = [self.items[key] for key in (
                (k[PARTITION_KEY]["S"], k[SORT_KEY]["S"]) for k in request["Keys"])
                if key in self.items]
        return {"Responses": {table: found}}


class Gate:
    """A DynamoDB stand-in proving calls are concurrent: the first ``parties`` calls of
    ``operation`` each wait until all of them are in flight (a barrier; if the calls went one
    after the other, the first would wait out the timeout and the invocation fail)."""

    def __init__(self, client: Any, operation: str, parties: int) -> None:
        self.client = client
        self.operation = operation
        self.barrier = threading.Barrier(parties, timeout=60)
        self.calls = 0
        self.lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        call = getattr(self.client, name)
        if name != self.operation:
            return call

        def gated(**kwargs: Any) -> Any:
            with self.lock:
                self.calls += 1
                waits = self.calls <= self.barrier.parties
            if waits:
                self.barrier.wait()
            return call(**kwargs)
        return gated


def test_a_batchs_writes_go_out_together(handler: ModuleType):
    records = generated(200, symbols=[f"S{i:02d}USDT" for i in range(12)])
    pool = handler.processor.writer.pool
    assert pool is not None
    assert handler.WRITE_THREADS >= 8
    table = InMemoryDynamoDB()
    writes = Gate(table, "batch_write_item", parties=8)  # 200 items: 8 calls of 25
    puts = Gate(table, "put_item", parties=8)  # latest items first: one per symbol
    handler.processor.writer = TableWriter(writes, "t", pool=pool)
    handler.processor.summaries = SummaryWriter(puts, "t", pool=pool)
    assert invoke(handler, packed_event(records)) == {"batchItemFailures": []}
    assert writes.calls == 8
    symbols = {r.symbol for r in records}
    minutes = {(r.symbol, r.event_time // 60_000) for r in records}
    assert puts.calls == len(symbols) + len(minutes)  # a latest item each, a candle each
    events = {key for key in table.items if is_event_partition(key[0])}
    assert events == {(r.stream_type, r.iso_timestamp) for r in records}
