"""Every event once in the curated tables, whichever raw hours hold copies of it: across the
hour boundary, after a spool replay hours later, hours run out of order or twice, runs at the
same time, and a late event for a day already compacted. Read through the catalog, as Athena
reads (tests/curated_reader.py)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

import boto3
import pytest

from glue_jobs.curation.days import DayState
from glue_jobs.curation.partitions import ensure_partitions, s3_location
from glue_jobs.curation.tables import TABLES, compacted_location, hourly_location
from glue_jobs.curation.writing import read_location, write_generation
from miniticker import MiniTicker

from .curated_reader import locations
from .test_raw_to_parquet import (
    HOUR,
    HOUR_MS,
    convert,
    curated_rows,
    expected_rows,
    keys,
    lines_of,
    put_raw,
    records_at,
)

HOUR_MS_11 = HOUR_MS + 3_600_000
HOUR_16 = HOUR + timedelta(hours=6)
DAY = "2026-11-24"
MANIFESTS = "manifests/raw_to_parquet/"




def copies(records: list[MiniTicker], later_ms: int = 999) -> list[MiniTicker]:
    """The same events, received again later (as a reconnect or a replay does)."""
    return [r._replace(received_at=r.received_at + later_ms) for r in records]


def curated_bytes(s3: Any, bucket: str) -> dict[str, bytes]:
    return {key: s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            for key in keys(s3, bucket, "curated/")}


def assert_derived_match(glue: Any, database: str, events: list[dict[str, Any]]) -> None:
    """The candles and coverage count exactly the curated events, per symbol and minute/hour."""
    minutes = Counter((e["symbol"], e["event_time"].replace(second=0, microsecond=0))
                      for e in events)
    candles = curated_rows(glue, database, "candles_1m")
    assert Counter({(c["symbol"], c["minute"]): c["events"] for c in candles}) == minutes
    assert len(candles) == len(minutes)  # one row a minute
    hours = Counter((e["symbol"], e["event_time"].replace(minute=0, second=0, microsecond=0))
                    for e in events)
    coverage = curated_rows(glue, database, "coverage")
    assert Counter({(c["symbol"], c["hour"]): c["events"] for c in coverage}) == hours
    assert len(coverage) == len(hours)


def test_copies_on_both_sides_of_the_hour_are_written_once(s3: Any, bucket: str, catalog: str,
                                                           glue: Any):
    # Events of 10:59 to 11:00: the last ones arrived again in raw hour 11 (a reconnect).
    around = records_at(HOUR_MS_11 - 60_000, 240)
    late = [r for r in around if r.event_time < HOUR_MS_11][-30:]
    put_raw(s3, bucket, HOUR, "a", lines_of(around))
    put_raw(s3, bucket, HOUR + timedelta(hours=1), "a", lines_of(copies(late)))
    first = convert(bucket, catalog, "--hour", "2026-11-24T10")
    second = convert(bucket, catalog, "--hour", "2026-11-24T11")
    rows = curated_rows(glue, catalog)
    assert rows == expected_rows(around)  # the first copy read won: received_at as in hour 10
    assert (first["rows_new"], second["rows_new"], second["rows_already_curated"]) == (
        240, 0, 30)
    assert second["files_written"] == 0  # nothing new: hour 10's files are left as they are
    assert second["duplicates"] == 0  # within the raw hour only
    assert_derived_match(glue, catalog, rows)


def test_the_first_copy_read_wins_whichever_hour_runs_first(s3: Any, bucket: str,
                                                            catalog: str, glue: Any):
    around = records_at(HOUR_MS_11 - 60_000, 240)
    late = [r for r in around if r.event_time < HOUR_MS_11][-30:]
    put_raw(s3, bucket, HOUR, "a", lines_of(around))
    put_raw(s3, bucket, HOUR + timedelta(hours=1), "a", lines_of(copies(late)))
    convert(bucket, catalog, "--hour", "2026-11-24T11")  # the later raw hour first
    convert(bucket, catalog, "--hour", "2026-11-24T10")
    winners = [r for r in around if r not in late] + copies(late)
    assert curated_rows(glue, catalog) == expected_rows(winners)


def test_a_replay_six_hours_later_adds_nothing_twice(s3: Any, bucket: str, catalog: str,
                                                     glue: Any):
    hour_10 = records_at(HOUR_MS, 300)
    new_16 = records_at(HOUR_MS + 6 * 3_600_000, 90, seed=2)
    put_raw(s3, bucket, HOUR, "a", lines_of(hour_10))
    # The ingester's spool, replayed after an outage: hour 10's events again, same lines.
    put_raw(s3, bucket, HOUR_16, "a", lines_of(new_16 + hour_10[100:250]))
    convert(bucket, catalog, "--hour", "2026-11-24T10")
    replayed = convert(bucket, catalog, "--hour", "2026-11-24T16")
    assert (replayed["rows_new"], replayed["rows_already_curated"]) == (90, 150)
    rows = curated_rows(glue, catalog)
    assert rows == expected_rows(hour_10 + new_16)
    assert_derived_match(glue, catalog, rows)


def test_hours_in_any_order_and_twice_give_the_same_files(s3: Any, bucket: str, catalog: str,
                                                          glue: Any):
    hour_10 = records_at(HOUR_MS, 300)
    new_16 = records_at(HOUR_MS + 6 * 3_600_000, 90, seed=2)
    other = f"crypto-live-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=other)
    for name in (bucket, other):
        put_raw(s3, name, HOUR, "a", lines_of(hour_10[:200]))
        put_raw(s3, name, HOUR_16, "a", lines_of(new_16 + hour_10[100:]))
    for hour in ("10", "16"):
        convert(bucket, catalog, "--hour", f"2026-11-24T{hour}", "--register-partitions",
                "false")
    for hour in ("16", "10", "16", "10"):
        convert(other, catalog, "--hour", f"2026-11-24T{hour}", "--register-partitions",
                "false")
    assert curated_bytes(s3, bucket) == curated_bytes(s3, other)
    convert(bucket, catalog, "--hour", "2026-11-24T16")  # now registered
    assert curated_rows(glue, catalog) == expected_rows(hour_10 + new_16)


def test_runs_at_the_same_time_write_every_event_once(s3: Any, bucket: str, catalog: str,
                                                      glue: Any):
    shared = records_at(HOUR_MS_11 - 120_000, 360)  # around 11:00, in both raw hours
    own_10 = records_at(HOUR_MS + 600_000, 150, seed=3)
    own_11 = records_at(HOUR_MS_11 + 600_000, 150, seed=4)
    put_raw(s3, bucket, HOUR, "a", lines_of(own_10 + shared))
    put_raw(s3, bucket, HOUR + timedelta(hours=1), "a", lines_of(shared + own_11))
    summaries: dict[str, dict[str, Any]] = {}
    failures: list[BaseException] = []
    start = threading.Barrier(2)

    def run(hour: str) -> None:
        try:
            start.wait(10)
            summaries[hour] = convert(bucket, catalog, "--hour", hour,
                                      s3=boto3.client("s3"), glue=boto3.client("glue"))
        except BaseException as error:  # reported below
            failures.append(error)

    threads = [threading.Thread(target=run, args=(hour,))
               for hour in ("2026-11-24T10", "2026-11-24T11")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert not failures, failures
    rows = curated_rows(glue, catalog)
    assert rows == expected_rows(own_10 + shared + own_11)
    assert sum(s["rows_new"] for s in summaries.values()) == 660
    assert sum(s["rows_already_curated"] for s in summaries.values()) == 360
    assert keys(s3, bucket, f"{MANIFESTS}locks/") == []
    assert_derived_match(glue, catalog, rows)


def compact_by_hand(s3: Any, glue: Any, bucket: str, database: str, symbols: list[str]) -> str:
    """What the daily compaction does to a day (helper C's job), done here directly: every
    table's partition into one generation, the state, the catalog."""
    generation = "20261125T010000Z-0badcafe"
    state = DayState.load(s3, bucket, MANIFESTS, DAY)
    for table in TABLES:
        for symbol in symbols:
            rows = read_location(s3, bucket, hourly_location(table, DAY, symbol), table.schema)
            write_generation(s3, bucket, table, DAY, symbol, generation=generation, rows=rows)
            state.set_generation(table.name, symbol, generation)
        ensure_partitions(glue, database, glue.get_table(
            DatabaseName=database, Name=table.name)["Table"],
            [(DAY, s, s3_location(bucket, compacted_location(table, DAY, s, generation)))
             for s in symbols])
    state.save(s3)
    return generation


def test_a_late_event_for_a_compacted_day_lands_in_a_new_generation(s3: Any, bucket: str,
                                                                     catalog: str, glue: Any):
    hour_10 = records_at(HOUR_MS, 300)
    put_raw(s3, bucket, HOUR, "a", lines_of(hour_10[::2]))  # every other event, for now
    convert(bucket, catalog, "--hour", "2026-11-24T10")
    symbols = sorted({r.symbol for r in hour_10})
    old = compact_by_hand(s3, glue, bucket, catalog, symbols)
    hourly_before = keys(s3, bucket, "curated/miniticker/dt=2026-11-24/symbol=BTCUSDT/hourly/")
    # A replay after the day closed: copies of what is there, and the events that were missing
    # (BTCUSDT only).
    missing = [r for r in hour_10[1::2] if r.symbol == "BTCUSDT"]
    put_raw(s3, bucket, HOUR_16, "a", lines_of(hour_10[::2][:40] + missing))
    started = time.time()
    summary = convert(bucket, catalog, "--hour", "2026-11-24T16")
    assert (summary["rows_new"], summary["rows_already_curated"]) == (len(missing), 40)
    rows = curated_rows(glue, catalog)
    assert rows == expected_rows(hour_10[::2] + missing)
    assert_derived_match(glue, catalog, rows)
    state = DayState.load(s3, bucket, MANIFESTS, DAY)
    new = state.generation("miniticker", "BTCUSDT")
    assert new is not None
    assert new != old
    for table in TABLES:
        found = locations(glue, catalog, table.name)
        assert found[(DAY, "BTCUSDT")] == s3_location(
            bucket, compacted_location(table, DAY, "BTCUSDT", new))
        assert state.generation(table.name, "BTCUSDT") == new
        for symbol in set(symbols) - {"BTCUSDT"}:  # only copies: left in their generation
            assert found[(DAY, symbol)] == s3_location(
                bucket, compacted_location(table, DAY, symbol, old))
    # Nothing written at the hourly location again; the old generation retired, not deleted.
    assert keys(s3, bucket, "curated/miniticker/dt=2026-11-24/symbol=BTCUSDT/hourly/") == \
        hourly_before
    (entry,) = keys(s3, bucket, f"{MANIFESTS}retired/")
    ledger = json.loads(s3.get_object(Bucket=bucket, Key=entry)["Body"].read())
    assert ledger["retired_at"] >= started
    assert ledger["prefixes"] == sorted(compacted_location(t, DAY, "BTCUSDT", old)
                                        for t in TABLES)
    assert keys(s3, bucket, compacted_location(TABLES[0], DAY, "BTCUSDT", old))
    again = convert(bucket, catalog, "--hour", "2026-11-24T16")
    assert (again["rows_new"], again["files_written"]) == (0, 0)
    assert DayState.load(s3, bucket, MANIFESTS, DAY).generation("miniticker", "BTCUSDT") == new


@pytest.mark.parametrize("order", [("10", "11"), ("11", "10")])
def test_the_manifest_records_the_run(s3: Any, bucket: str, catalog: str,
                                      order: tuple[str, str]):
    around = records_at(HOUR_MS_11 - 30_000, 90)
    put_raw(s3, bucket, HOUR, "a", lines_of(around))
    put_raw(s3, bucket, HOUR + timedelta(hours=1), "a", lines_of(around))
    for hour in order:
        convert(bucket, catalog, "--hour", f"2026-11-24T{hour}")
    manifests = {hour: json.loads(s3.get_object(
        Bucket=bucket, Key=f"{MANIFESTS}2026-11-24T{hour}.json")["Body"].read())
        for hour in order}
    first, second = (manifests[hour]["summary"] for hour in order)
    assert (first["rows_new"], second["rows_new"], second["rows_already_curated"]) == (
        90, 0, 90)
    assert all(m["quarantine"] == [] for m in manifests.values())
