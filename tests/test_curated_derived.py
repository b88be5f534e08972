"""The derived curated tables (candles_1m, coverage): their functions, their catalog columns
and their Athena queries."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from glue_jobs.curation.candles import CANDLES_SCHEMA, candles
from glue_jobs.curation.coverage import (
    COVERAGE_SCHEMA,
    DEFAULT_SILENCE_SECONDS,
    coverage,
)
from glue_jobs.curation.schemas import MILLIS_PER_HOUR
from miniticker import catalog, layout
from stacks import queries

TIMESTAMP = pa.timestamp("ms", tz="UTC")
DECIMAL = pa.decimal128(38, 8)
#: The Glue types the derived tables use, as Arrow writes them.
GLUE_TO_ARROW = {
    "timestamp": TIMESTAMP,
    "bigint": pa.int64(),
    "decimal(38,8)": DECIMAL,
    "array<struct<start:timestamp,length_ms:bigint>>":
        pa.list_(pa.struct([("start", TIMESTAMP), ("length_ms", pa.int64())])),
}
THRESHOLD_MS = DEFAULT_SILENCE_SECONDS * 1000


def ms(text: str) -> int:
    """Epoch milliseconds of an ISO time, UTC."""
    moment = datetime.fromisoformat(text).replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def events(times: list[int], prices: list[str] | None = None) -> pa.Table:
    """One symbol's curated events (only the columns the derived tables read, plus one more)."""
    prices = prices if prices is not None else ["1"] * len(times)
    return pa.table({
        "event_time": pa.array(times, pa.int64()).cast(TIMESTAMP),
        "close_price": pa.array([Decimal(p) for p in prices], DECIMAL),
        "event_type": pa.array(["24hrMiniTicker"] * len(times)),
    })


# --- candles -------------------------------------------------------------------------------

def test_candles_split_at_the_minute_boundary():
    result = candles(events([ms("2026-11-24T10:00:59.999"), ms("2026-11-24T10:01:00.000")],
                            ["1.5", "2.5"]))
    assert result.schema == CANDLES_SCHEMA
    assert result.to_pylist() == [
        {"minute": at("2026-11-24T10:00"), "open": Decimal("1.5"), "high": Decimal("1.5"),
         "low": Decimal("1.5"), "close": Decimal("1.5"),
         "first_event_time": at("2026-11-24T10:00:59.999"),
         "last_event_time": at("2026-11-24T10:00:59.999"), "events": 1},
        {"minute": at("2026-11-24T10:01"), "open": Decimal("2.5"), "high": Decimal("2.5"),
         "low": Decimal("2.5"), "close": Decimal("2.5"),
         "first_event_time": at("2026-11-24T10:01:00"),
         "last_event_time": at("2026-11-24T10:01:00"), "events": 1},
    ]


def test_candles_across_a_day_boundary():
    times = [ms("2026-11-24T23:59:00"), ms("2026-11-24T23:59:59.999"), ms("2026-11-25T00:00:00")]
    result = candles(events(times, ["1", "2", "3"]))
    assert result["minute"].to_pylist() == [at("2026-11-24T23:59"), at("2026-11-25T00:00")]
    assert result["events"].to_pylist() == [2, 1]
    assert result["close"].to_pylist() == [Decimal(2), Decimal(3)]


def test_candles_follow_event_order_not_price_order():
    base = ms("2026-11-24T10:00:00")
    # Lowest and highest prices in the middle: open and close are the first and last events'.
    prices = ["5", "9", "1", "7", "3"]
    result = candles(events([base + i * 1000 for i in range(5)], prices))
    [row] = result.to_pylist()
    assert (row["open"], row["high"], row["low"], row["close"]) == (
        Decimal(5), Decimal(9), Decimal(1), Decimal(3))
    assert row["events"] == 5
    assert row["first_event_time"] == at("2026-11-24T10:00:00")
    assert row["last_event_time"] == at("2026-11-24T10:00:04")


def test_candles_of_unsorted_events_are_those_of_the_sorted_ones():
    base = ms("2026-11-24T10:00:00")
    times = [base + 3000, base + 1000, base + 61_000, base + 2000]
    shuffled = events(times, ["3", "1", "4", "2"])
    ordered = shuffled.sort_by("event_time")
    assert candles(shuffled).equals(candles(ordered))
    assert candles(shuffled)["open"].to_pylist() == [Decimal(1), Decimal(4)]
    assert candles(shuffled)["close"].to_pylist() == [Decimal(3), Decimal(4)]


def test_candles_keep_exact_decimals():
    huge = "999999999999999999999999999999.99999999"  # 38 digits: beyond any float
    tiny = "0.00000001"
    base = ms("2026-11-24T10:00:00")
    result = candles(events([base, base + 1, base + 2], [tiny, huge, "0.00000002"]))
    [row] = result.to_pylist()
    assert row["open"] == Decimal(tiny)
    assert row["high"] == Decimal(huge)
    assert row["low"] == Decimal(tiny)
    assert row["close"] == Decimal("0.00000002")
    assert result.schema.field("high").type == DECIMAL


def test_candles_count_every_event_of_a_minute_over_chunks():
    base = ms("2026-11-24T10:00:00")
    first = events([base + i * 100 for i in range(600)])  # ten a second for a minute
    second = events([base + 60_000 + i for i in range(7)])
    result = candles(pa.concat_tables([first, second]))
    assert result["events"].to_pylist() == [600, 7]
    assert result["minute"].to_pylist() == [at("2026-11-24T10:00"), at("2026-11-24T10:01")]


def test_candles_of_no_events_is_an_empty_table():
    result = candles(events([]))
    assert result.num_rows == 0
    assert result.schema == CANDLES_SCHEMA


# --- coverage -------------------------------------------------------------------------------

HOUR = ms("2026-11-24T10:00:00")


def silences(row: dict[str, Any]) -> list[tuple[datetime, int]]:
    return [(s["start"], s["length_ms"]) for s in row["silences"]]


def test_coverage_finds_an_injected_hole():
    # An event every second of the hour but a 25 s hole: no events from :10:01 to :10:25.
    times = [HOUR + s * 1000 for s in range(3600) if not 601 <= s <= 625]
    result = coverage(events(times), HOUR, THRESHOLD_MS)
    assert result.schema == COVERAGE_SCHEMA
    [row] = result.to_pylist()
    assert row["hour"] == at("2026-11-24T10:00")
    assert row["events"] == 3600 - 25
    assert row["first_event_time"] == at("2026-11-24T10:00:00")
    assert row["last_event_time"] == at("2026-11-24T10:59:59")
    assert row["silence_threshold_ms"] == THRESHOLD_MS
    # From the event before the hole to the one after it: 26 s.
    assert silences(row) == [(at("2026-11-24T10:10:00"), 26_000)]


def test_a_gap_of_exactly_the_threshold_is_no_silence():
    times = [HOUR, HOUR + THRESHOLD_MS, HOUR + 2 * THRESHOLD_MS + 1, HOUR + MILLIS_PER_HOUR - 1]
    [row] = coverage(events(times), HOUR, THRESHOLD_MS).to_pylist()
    assert silences(row) == [
        (at("2026-11-24T10:00:10"), THRESHOLD_MS + 1),
        (at("2026-11-24T10:00:20.001"), MILLIS_PER_HOUR - 1 - 2 * THRESHOLD_MS - 1),
    ]


def test_coverage_leading_and_trailing_edges():
    times = [ms("2026-11-24T10:20:00"), ms("2026-11-24T10:20:05"), ms("2026-11-24T10:40:00")]
    [row] = coverage(events(times), HOUR, THRESHOLD_MS).to_pylist()
    assert silences(row) == [
        (at("2026-11-24T10:00"), 20 * 60_000),  # from the hour's start to the first event
        (at("2026-11-24T10:20:05"), 20 * 60_000 - 5000),  # between two events
        (at("2026-11-24T10:40"), 20 * 60_000),  # from the last event to the hour's end
    ]


def test_coverage_edges_within_the_threshold_are_no_silences():
    times = [HOUR + THRESHOLD_MS, HOUR + MILLIS_PER_HOUR - THRESHOLD_MS]
    [row] = coverage(events(times), HOUR, THRESHOLD_MS).to_pylist()
    assert silences(row) == [(at("2026-11-24T10:00:10"), MILLIS_PER_HOUR - 2 * THRESHOLD_MS)]


def test_coverage_of_one_event_and_no_silence():
    [row] = coverage(events([HOUR + 1]), HOUR, MILLIS_PER_HOUR).to_pylist()
    assert (row["events"], row["first_event_time"], row["last_event_time"]) == (
        1, at("2026-11-24T10:00:00.001"), at("2026-11-24T10:00:00.001"))
    assert silences(row) == []
    [row] = coverage(events([HOUR + 1]), HOUR, 0).to_pylist()
    assert silences(row) == [(at("2026-11-24T10:00"), 1),
                             (at("2026-11-24T10:00:00.001"), MILLIS_PER_HOUR - 1)]


def test_coverage_sorts_unsorted_events():
    times = [HOUR + 30_000, HOUR, HOUR + 3_599_000]
    [row] = coverage(events(times), HOUR, THRESHOLD_MS).to_pylist()
    assert row["first_event_time"] == at("2026-11-24T10:00")
    assert silences(row) == [(at("2026-11-24T10:00"), 30_000),
                             (at("2026-11-24T10:00:30"), 3_569_000)]


@pytest.mark.parametrize(("times", "hour", "threshold", "message"), [
    ([], HOUR, THRESHOLD_MS, "no events"),
    ([HOUR - 1], HOUR, THRESHOLD_MS, "outside the hour"),
    ([HOUR, HOUR + MILLIS_PER_HOUR], HOUR, THRESHOLD_MS, "outside the hour"),
    ([HOUR + 1], HOUR + 1, THRESHOLD_MS, "not at the start of a UTC hour"),
    ([HOUR], HOUR, -1, "negative"),
], ids=["empty", "before", "after", "hour-start", "threshold"])
def test_coverage_refuses_what_is_not_one_hour_of_events(times, hour, threshold, message):
    with pytest.raises(ValueError, match=message):
        coverage(events(times), hour, threshold)


# --- the catalog, the layout and the queries --------------------------------------------------

@pytest.mark.parametrize(("schema", "columns"), [
    (CANDLES_SCHEMA, catalog.candles_columns()),
    (COVERAGE_SCHEMA, catalog.coverage_columns()),
], ids=["candles", "coverage"])
def test_arrow_schemas_match_the_catalog_columns(schema: pa.Schema, columns):
    assert [(c["Name"], GLUE_TO_ARROW[c["Type"]]) for c in columns] == [
        (f.name, f.type) for f in schema]
    assert all(0 < len(c["Comment"]) <= 255 for c in columns)
    assert not set(schema.names) & set(catalog.CURATED_PARTITION_KEYS)


def test_silences_glue_type_is_the_one_the_design_names():
    assert catalog.SILENCES_GLUE_TYPE == "array<struct<start:timestamp,length_ms:bigint>>"
    assert catalog.DECIMAL_GLUE_TYPE == "decimal(38,8)"


@pytest.mark.parametrize(("make", "name", "columns"), [
    (catalog.candles_table_input, "candles_1m", catalog.candles_columns()),
    (catalog.coverage_table_input, "coverage", catalog.coverage_columns()),
], ids=["candles", "coverage"])
def test_table_inputs_are_parquet_partitioned_like_the_events(make, name, columns):
    location = "s3://bucket/curated/x/"
    table = make(location)
    curated = catalog.curated_table_input(location)
    assert table["Name"] == name
    assert table["StorageDescriptor"]["Columns"] == columns
    assert table["StorageDescriptor"]["Location"] == location
    assert table["PartitionKeys"] == curated["PartitionKeys"] == [
        {"Name": "dt", "Type": "string"}, {"Name": "symbol", "Type": "string"}]
    for key in ("InputFormat", "OutputFormat", "SerdeInfo"):
        assert table["StorageDescriptor"][key] == curated["StorageDescriptor"][key]
    assert table["Parameters"] == catalog.CURATED_PARAMETERS


def test_derived_tables_have_their_own_prefixes():
    prefixes = [layout.CURATED_PREFIX, layout.CANDLES_PREFIX, layout.COVERAGE_PREFIX]
    assert layout.CANDLES_PREFIX == "curated/candles_1m/"
    assert layout.COVERAGE_PREFIX == "curated/coverage/"
    # No prefix inside another: a listing of one never finds another's files.
    assert not any(a != b and b.startswith(a) for a in prefixes for b in prefixes)


@pytest.mark.parametrize(("sql", "table"), [
    (queries.CANDLES_QUERY, catalog.CANDLES_TABLE),
    (queries.GAPS_QUERY, catalog.COVERAGE_TABLE),
], ids=["candles", "gaps"])
def test_queries_format_with_a_database_and_read_their_table(sql: str, table: str):
    text = sql.format(database="crypto_live_test")
    assert f'"crypto_live_test"."{table}"' in text
    assert "{" not in text
    # As many execution parameters as the query's comment asks for, dt bounds included.
    assert text.count("?") == 5
    comment = " ".join(line.removeprefix("-- ") for line in text.splitlines()
                       if line.startswith("--"))
    assert "five execution parameters" in comment
    assert "dt BETWEEN" in text


def test_gaps_query_unnests_the_silences():
    assert "CROSS JOIN UNNEST(silences)" in queries.GAPS_QUERY


# --- the queries' logic, run by DuckDB over rows the functions made ----------------------------

def duckdb_dialect(sql: str, table: str, path: Path) -> str:
    """Athena's (Trino's) SQL as DuckDB runs it: only the few functions that differ change."""
    sql = sql.format(database="db").replace(f'"db"."{table}"', f"read_parquet('{path}')")
    sql = re.sub(r"date_add\('millisecond', ([\w.]+), ([\w.]+)\)", r"(\2 + to_milliseconds(\1))",
                 sql)
    sql = sql.replace("date_add('hour', 1, hour)", "(hour + INTERVAL 1 HOUR)")
    sql = sql.replace("date_format(", "strftime(")
    return sql.replace(
        "CROSS JOIN UNNEST(silences) AS s(start, length_ms)",
        "CROSS JOIN LATERAL (SELECT u.start AS start, u.length_ms AS length_ms"
        " FROM (SELECT UNNEST(silences) AS u)) AS s")


def partitioned(rows: pa.Table, day: str, symbol: str) -> pa.Table:
    """Rows as Athena sees them: with the partition keys from the path."""
    return (rows.append_column("dt", pa.array([day] * rows.num_rows))
            .append_column("symbol", pa.array([symbol] * rows.num_rows)))


def run_duckdb(sql: str, parameters: list[str]) -> list[tuple[Any, ...]]:
    duckdb = pytest.importorskip("duckdb")
    with duckdb.connect() as connection:
        connection.execute("SET TimeZone='UTC'")
        return connection.execute(sql, parameters).fetchall()  # type: ignore[no-any-return]


def test_gaps_query_finds_holes_inside_and_across_hours(tmp_path: Path):
    first = ms("2026-11-24T22:00:00")
    hours = {  # 2026-11-25T00 has no events at all
        first: [first + s * 1000 for s in range(3600) if not 601 <= s <= 625],
        first + MILLIS_PER_HOUR: [first + MILLIS_PER_HOUR + s * 1000 for s in range(1800)],
        first + 3 * MILLIS_PER_HOUR: [first + 3 * MILLIS_PER_HOUR + 300_000 + s * 1000
                                      for s in range(100)],
    }
    rows = [partitioned(coverage(events(times), hour, THRESHOLD_MS),
                        f"{datetime.fromtimestamp(hour / 1000, timezone.utc):%Y-%m-%d}", "BTCUSDT")
            for hour, times in hours.items()]
    path = tmp_path / "coverage.parquet"
    pq.write_table(pa.concat_tables(rows), path)
    sql = duckdb_dialect(queries.GAPS_QUERY, catalog.COVERAGE_TABLE, path)
    start, end = "2026-11-24 22:00:00", "2026-11-25 02:00:00"
    found = run_duckdb(sql, ["BTCUSDT", start, end, start, end])
    assert found == [
        ("BTCUSDT", at("2026-11-24T22:10:00"), at("2026-11-24T22:10:26"), 26_000),
        # from the last event of 23h to the first of 01h, across the hour without a row
        ("BTCUSDT", at("2026-11-24T23:29:59"), at("2026-11-25T01:05:00"), 5_701_000),
        ("BTCUSDT", at("2026-11-25T01:06:39"), at("2026-11-25T02:00:00"), 3_201_000),
    ]


def test_candles_query_reads_one_symbols_minutes_in_range(tmp_path: Path):
    base = ms("2026-11-24T23:58:30")
    times = [base + s * 1000 for s in range(180)]  # 23:58:30 to 00:01:29
    prices = [str(s) for s in range(180)]
    day_one = [t for t in times if t < ms("2026-11-25T00:00:00")]
    tables = [partitioned(candles(events(day_one, prices[:len(day_one)])), "2026-11-24", "BTCUSDT"),
              partitioned(candles(events(times[len(day_one):], prices[len(day_one):])),
                          "2026-11-25", "BTCUSDT"),
              partitioned(candles(events(times)), "2026-11-24", "ETHUSDT")]
    path = tmp_path / "candles.parquet"
    pq.write_table(pa.concat_tables(tables), path)
    sql = duckdb_dialect(queries.CANDLES_QUERY, catalog.CANDLES_TABLE, path)
    start, end = "2026-11-24 23:59:00", "2026-11-25 00:01:00"
    found = run_duckdb(sql, ["BTCUSDT", start, end, start, end])
    assert [(row[0], row[1], row[4], row[5]) for row in found] == [
        (at("2026-11-24T23:59"), Decimal(30), Decimal(89), 60),
        (at("2026-11-25T00:00"), Decimal(90), Decimal(149), 60),
    ]
