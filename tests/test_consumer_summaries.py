"""The consumer's latest and candle items over moto's DynamoDB: exact, monotone in event time,
the same whatever the batches' order, splits, repeats and retries, and never lost silently; and
at a coarser hot-table resolution, one event item per symbol and bucket while they still count
every event."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from decimal import Decimal
from types import ModuleType
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lambdas.api.reads import HotTable
from lambdas.consumer.summaries import SummaryWriter, candles_of
from miniticker import MiniTicker
from miniticker import hot_table as ht
from tests.consumer_events import event_for, generated, packed_event, sequence_number
from tests.test_consumer import (
    emf_documents,
    expected_item,
    invoke,
    load_handler,
    scan,
    scan_all,
)

MINUTE = 60_000


@pytest.fixture
def consumer(monkeypatch: pytest.MonkeyPatch, table: str) -> ModuleType:
    return load_handler(monkeypatch, table)


def derived(dynamodb: Any, table: str) -> tuple[dict[str, dict[str, Any]],
                                                 dict[tuple[str, int], dict[str, Any]]]:
    """The table's latest items by symbol and candle items by (symbol, minute start)."""
    latest, candles = {}, {}
    for item in scan_all(dynamodb, table):
        key = item[ht.PARTITION_KEY]
        if key.startswith(ht.LATEST_PREFIX):
            assert key == ht.latest_partition(item[ht.SORT_KEY])
            price = json.loads(item[ht.LATEST_PRICE])
            assert price["event_time"] == item[ht.LATEST_EVENT_TIME]
            latest[item[ht.SORT_KEY]] = {**price, ht.TTL_ATTRIBUTE: item[ht.TTL_ATTRIBUTE]}
        elif key.endswith(ht.CANDLE_SUFFIX):
            candles[(item["symbol"], int(item["start"]))] = item
    return latest, candles


def expected_candles(records: list[MiniTicker]) -> dict[tuple[str, int], dict[str, Any]]:
    """Written independently of the consumer: sort each minute's events by time."""
    minutes: dict[tuple[str, int], dict[int, Decimal]] = defaultdict(dict)
    for r in records:
        minutes[(r.symbol, r.event_time // MINUTE * MINUTE)].setdefault(
            r.event_time, Decimal(r.close_price))  # a repeated event counts once
    out = {}
    for key, by_time in minutes.items():
        times = sorted(by_time)
        out[key] = {"open": by_time[times[0]], "high": max(by_time.values()),
                    "low": min(by_time.values()), "close": by_time[times[-1]],
                    "first_event_time": times[0], "last_event_time": times[-1],
                    "events": len(times)}
    return out


def candle_values(candles: dict[tuple[str, int], dict[str, Any]]
                  ) -> dict[tuple[str, int], dict[str, Any]]:
    names = ("open", "high", "low", "close", "first_event_time", "last_event_time", "events")
    return {key: {name: item[name] for name in names} for key, item in candles.items()}


def test_latest_items_hold_each_symbols_newest_record(consumer: ModuleType, dynamodb: Any,
                                                      table: str):
    records = generated(200, symbols=["BTCUSDT", "ETHUSDT", "SOLUSDT"])
    assert invoke(consumer, event_for(records)) == {"batchItemFailures": []}
    latest, _ = derived(dynamodb, table)
    newest = {r.symbol: r for r in sorted(records, key=lambda r: r.event_time)}
    assert set(latest) == set(newest)
    for symbol, record in newest.items():
        item = latest[symbol]
        assert item["event_time"] == record.event_time
        assert item["close_price"] == record.close_price  # the exact string
        assert item["open_price"] == record.open_price
        assert item[ht.TTL_ATTRIBUTE] == record.event_time // 1000 + 86_400


def test_the_latest_item_never_moves_back_in_time(consumer: ModuleType, dynamodb: Any,
                                                  table: str):
    records = generated(100, symbols=["BTCUSDT", "ETHUSDT"])
    newer, older = records[50:], records[:50]
    invoke(consumer, event_for(newer))
    before, _ = derived(dynamodb, table)
    invoke(consumer, event_for(older))  # out of order: an older batch after a newer one
    invoke(consumer, event_for(newer))  # and a retry of the newer one
    after, _ = derived(dynamodb, table)
    assert after == before
    assert {s: int(i["event_time"]) for s, i in after.items()} == {
        s: max(r.event_time for r in newer if r.symbol == s) for s in ("BTCUSDT", "ETHUSDT")}


def test_candles_are_exact_at_minute_and_day_boundaries(consumer: ModuleType, dynamodb: Any,
                                                        table: str):
    day = 1_795_478_400_000  # 2026-11-24T00:00:00Z
    base = generated(1, symbols=["BTCUSDT"])[0]
    times_prices = [(day - 1, "100.5"), (day, "99.00000001"), (day + 59_999, "101"),
                    (day + 60_000, "98.1"), (day + 30_000, "102.25"), (day - 60_000, "97")]
    records = [base._replace(event_time=t, iso_timestamp=ht.minute_key(t), close_price=p)
               for t, p in times_prices]
    assert invoke(consumer, event_for(records)) == {"batchItemFailures": []}
    _, candles = derived(dynamodb, table)
    assert sorted(candles) == [("BTCUSDT", day - 60_000), ("BTCUSDT", day),
                               ("BTCUSDT", day + 60_000)]
    first_of_day = candles[("BTCUSDT", day)]
    assert first_of_day[ht.SORT_KEY] == "2026-11-24T00:00:00.000Z"
    # Open and close by event time, not by arrival: day + 30 s came after day + 59.999 s.
    assert (first_of_day["open"], first_of_day["high"], first_of_day["low"],
            first_of_day["close"], first_of_day["events"]) == (
        Decimal("99.00000001"), Decimal("102.25"), Decimal("99.00000001"), Decimal("101"), 3)
    last_of_previous_day = candles[("BTCUSDT", day - 60_000)]
    assert last_of_previous_day[ht.SORT_KEY] == "2026-11-23T23:59:00.000Z"
    assert (last_of_previous_day["open"], last_of_previous_day["close"],
            last_of_previous_day["last_event_time"]) == (Decimal("97"), Decimal("100.5"), day - 1)
    assert candle_values(candles) == expected_candles(records)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_candles_are_the_same_whatever_the_batches(consumer: ModuleType, dynamodb: Any,
                                                   table: str, seed: int):
    """Split into batches at random, shuffled, some sent twice, with repeated events: the
    candles are those of the events, each counted once."""
    records = generated(600, seed=seed, symbols=["BTCUSDT", "ETHUSDT", "XRPUSDT"])
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(records)), 12))
    batches = [records[a:b] for a, b in zip([0, *cuts], [*cuts, len(records)])]
    batches += rng.sample(batches, 4)  # retried batches
    batches.append(rng.sample(records, 30))  # repeated events in a batch of their own
    rng.shuffle(batches)
    for batch in batches:
        assert invoke(consumer, event_for(batch)) == {"batchItemFailures": []}
    latest, candles = derived(dynamodb, table)
    assert candle_values(candles) == expected_candles(records)
    assert {s: int(i["event_time"]) for s, i in latest.items()} == {
        s: max(r.event_time for r in records if r.symbol == s) for s in latest}


class RacingDynamoDB:
    """The real client, but another writer merges into a candle between this writer's read and
    its write, the first ``races`` times."""

    def __init__(self, client: Any, table: str, rival: list[MiniTicker], races: int) -> None:
        self.client, self.table, self.rival, self.races = client, table, rival, races

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def batch_get_item(self, **kwargs: Any) -> Any:
        response = self.client.batch_get_item(**kwargs)
        if self.races > 0:
            self.races -= 1
            SummaryWriter(self.client, self.table).write(self.rival, 86_400, lambda: 60.0)
        return response


def test_a_lost_race_reads_and_merges_again(consumer: ModuleType, dynamodb: Any, table: str):
    records = generated(120, symbols=["BTCUSDT"])
    ours, theirs = records[::2], records[1::2]
    consumer.processor.summaries = SummaryWriter(
        RacingDynamoDB(dynamodb, table, theirs, races=2), table)
    assert invoke(consumer, event_for(ours)) == {"batchItemFailures": []}
    _, candles = derived(dynamodb, table)
    assert candle_values(candles) == expected_candles(records)


class RefusingDynamoDB:
    """The real client, but every conditional PutItem of one kind is throttled for good."""

    def __init__(self, client: Any, refuse_latest: bool, refuse_candles: bool) -> None:
        self.client = client
        self.refuse_latest, self.refuse_candles = refuse_latest, refuse_candles

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def put_item(self, **kwargs: Any) -> Any:
        key = kwargs["Item"][ht.PARTITION_KEY]["S"]
        if (self.refuse_latest and key.startswith(ht.LATEST_PREFIX)) or (
                self.refuse_candles and key.endswith(ht.CANDLE_SUFFIX)):
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException",
                                         "Message": "throttled"}}, "PutItem")
        return self.client.put_item(**kwargs)


def test_an_unwritten_latest_item_fails_the_symbols_newest_record(
        consumer: ModuleType, dynamodb: Any, table: str):
    records = generated(20, symbols=["BTCUSDT", "ETHUSDT"])
    consumer.processor.summaries = SummaryWriter(RefusingDynamoDB(dynamodb, True, False), table)
    response = invoke(consumer, event_for(records))
    newest = {r.symbol: i for i, r in enumerate(records)}  # generated in time order
    assert response == {"batchItemFailures": [
        {"itemIdentifier": sequence_number(i)} for i in sorted(newest.values())]}
    # The retry (from the first failure on) brings the latest items forward.
    consumer.processor.summaries = SummaryWriter(dynamodb, table)
    first = min(newest.values())
    assert invoke(consumer, event_for(records[first:])) == {"batchItemFailures": []}
    latest, _ = derived(dynamodb, table)
    assert {s: int(i["event_time"]) for s, i in latest.items()} == {
        r.symbol: r.event_time for r in records}


def test_an_unwritten_candle_fails_its_records(consumer: ModuleType, dynamodb: Any, table: str):
    records = generated(30, symbols=["BTCUSDT"])
    consumer.processor.summaries = SummaryWriter(RefusingDynamoDB(dynamodb, False, True), table)
    response = invoke(consumer, event_for(records))
    assert response == {"batchItemFailures": [
        {"itemIdentifier": sequence_number(i)} for i in range(len(records))]}
    consumer.processor.summaries = SummaryWriter(dynamodb, table)
    assert invoke(consumer, event_for(records)) == {"batchItemFailures": []}
    _, candles = derived(dynamodb, table)
    assert candle_values(candles) == expected_candles(records)


def test_candles_of_a_batch():
    records = generated(130, symbols=["BTCUSDT"])
    candles = candles_of(records)
    assert sum(len(c.event_times) for c in candles.values()) == 130
    for (symbol, start), candle in candles.items():
        assert symbol == "BTCUSDT"
        assert start % MINUTE == 0
        assert start <= candle.first_event_time <= candle.last_event_time < start + MINUTE


def test_at_resolution_five_one_item_per_symbol_per_bucket_holds_its_newest_event(
    monkeypatch: pytest.MonkeyPatch, dynamodb: Any, table: str,
    capsys: pytest.CaptureFixture[str]
):
    module = load_handler(monkeypatch, table, HOT_TABLE_RESOLUTION_SECONDS="5")
    records = generated(120, symbols=["BTCUSDT", "ETHUSDT", "SOLUSDT"])  # ~40 s of market
    bucket = 5_000
    # Two batches in shard order, the cut in the middle of a bucket, the first one out of
    # event order within itself (the newest of a bucket still wins).
    cut = next(i for i, r in enumerate(records) if r.event_time % bucket > bucket // 2
               and i > 40)
    assert records[cut - 1].event_time // bucket == records[cut].event_time // bucket
    first, second = list(reversed(records[:cut])), records[cut:]
    capsys.readouterr()
    for batch in (first, second):
        assert invoke(module, packed_event(batch, limit=1_500)) == {"batchItemFailures": []}
    newest: dict[tuple[str, int], MiniTicker] = {}
    for r in records:
        key = (r.symbol, r.event_time // bucket)
        if key not in newest or r.event_time > newest[key].event_time:
            newest[key] = r
    assert len(newest) < len(records) / 3
    assert scan(dynamodb, table) == sorted(
        (expected_item(r, bucket_ms=bucket) for r in newest.values()),
        key=lambda i: (str(i[ht.PARTITION_KEY]), str(i[ht.SORT_KEY])))
    # The read API plots each item at its event's own time.
    points, _ = HotTable(dynamodb, table).points("ETHUSDT", records[0].event_time - bucket)
    assert points == [{"event_time": r.event_time, "close_price": r.close_price}
                      for r in sorted(newest.values(), key=lambda r: r.event_time)
                      if r.symbol == "ETHUSDT"]
    # Latest items and candles still count every event.
    latest, candles = derived(dynamodb, table)
    assert candle_values(candles) == expected_candles(records)
    assert {s: int(i["event_time"]) for s, i in latest.items()} == {
        s: max(r.event_time for r in records if r.symbol == s) for s in latest}
    documents = emf_documents(capsys.readouterr().out)
    written = sum(d["ItemsWritten"][0] for d in documents if "ItemsWritten" in d)
    events = sum(d["EventsIn"][0] for d in documents if "EventsIn" in d)
    per_batch = [len({(r.symbol, r.event_time // bucket) for r in b}) for b in (first, second)]
    assert sum(per_batch) > len(newest)  # the buckets at the cut were written by both
    assert (events, written) == (len(records), sum(per_batch))
