"""raw_to_parquet over moto's S3 and Glue catalog: exact rows, duplicates, bad input, empty
hours, reruns, day boundaries, backfills, partitions, and the command line.

The curated tables are read the way Athena reads them, through the catalog's partitions
(tests/curated_reader.py); tests/test_curated_exactly_once.py covers copies across raw hours."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from glue_jobs.curation import hourly, settings
from glue_jobs.curation.reading import Piece, list_keys, pieces
from glue_jobs.curation.spill import Spill, deduplicate, groups, read_spilled
from glue_jobs.curation.validation import parse_piece
from glue_jobs.curation.writing import DICTIONARY_COLUMNS, parquet_bytes
from market_sim import POPULAR, MarketDataGenerator
from miniticker import FIELDS, FieldKind, MiniTicker, normalize, to_json_line

from .curated_reader import locations, read_rows

REPO = Path(__file__).resolve().parents[1]
HOUR = datetime(2026, 11, 24, 10, tzinfo=timezone.utc)
HOUR_MS = int(HOUR.timestamp() * 1000)
DAY = f"{HOUR:%Y-%m-%d}"
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def records_at(start_ms: int, count: int, seed: int = 1) -> list[MiniTicker]:
    generator = MarketDataGenerator(POPULAR[:3], seed=seed, start_ms=start_ms)
    return [normalize(p, received_at=p["E"] + 40) for p in generator.payloads(count)]


def put_raw(s3: Any, bucket: str, hour: datetime, name: str, lines: list[bytes],
            *, cut: int = 0) -> str:
    key = f"raw/miniticker/dt={hour:%Y-%m-%d}/hour={hour:%H}/{name}.gz"
    body = gzip.compress(b"".join(lines))
    s3.put_object(Bucket=bucket, Key=key, Body=body[:len(body) - cut] if cut else body)
    return key


def lines_of(records: list[MiniTicker]) -> list[bytes]:
    return [to_json_line(r) for r in records]


def convert(bucket: str, database: str, *args: str, s3: Any = None,
            glue: Any = None) -> dict[str, Any]:
    """The job over the catalog's tables (``database``)."""
    argv = ["--bucket", bucket, "--database", database, *args]
    return hourly.run(settings.parse_settings(argv), s3=s3, glue=glue)


def curated_rows(glue: Any, database: str, table: str = "miniticker") -> list[dict[str, Any]]:
    """Every row of a curated table as Athena reads it: through the catalog's partitions."""
    rows = read_rows(glue, database, table)
    time_column = {"miniticker": "event_time", "candles_1m": "minute", "coverage": "hour"}[table]
    return sorted(rows, key=lambda r: (r["symbol"], r[time_column]))


def expected_rows(records: list[MiniTicker]) -> list[dict[str, Any]]:
    """Written from the contract independently of the job: exact decimals, UTC timestamps."""
    rows = []
    for record in records:
        row: dict[str, Any] = {}
        value: Any
        for spec, value in zip(FIELDS, record):
            if spec.kind is FieldKind.DECIMAL:
                row[spec.name] = Decimal(value)
            elif spec.kind is FieldKind.EPOCH_MILLIS:
                row[spec.name] = EPOCH + timedelta(milliseconds=value)
            else:
                row[spec.name] = value
        row["dt"] = row["event_time"].strftime("%Y-%m-%d")
        rows.append(row)
    return sorted(rows, key=lambda r: (r["symbol"], r["event_time"]))


def keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    return list_keys(s3, bucket, prefix)


def test_an_hour_becomes_exact_parquet_rows(s3: Any, bucket: str, catalog: str, glue: Any):
    records = records_at(HOUR_MS + 60_000, 900)
    put_raw(s3, bucket, HOUR, "a", lines_of(records[:450]))
    put_raw(s3, bucket, HOUR, "b", lines_of(records[450:]))
    summary = convert(bucket, catalog, "--hour", "2026-11-24T10")
    assert curated_rows(glue, catalog) == expected_rows(records)
    symbols = sorted(POPULAR[:3])
    assert keys(s3, bucket, "curated/") == sorted(
        f"curated/{table}/dt=2026-11-24/symbol={s}/hourly/10.parquet"
        for table in ("miniticker", "candles_1m", "coverage") for s in symbols)
    assert (summary["files_read"], summary["lines"], summary["rows_new"],
            summary["rows_already_curated"], summary["duplicates"],
            summary["quarantined"]) == (2, 900, 900, 0, 0, 0)
    assert summary["files_written"] == 9
    assert summary["pieces_checked_line_by_line"] == 0  # clean input takes the vectorised path
    assert summary["peak_memory_mb"] > 0
    for table in ("miniticker", "candles_1m", "coverage"):
        assert locations(glue, catalog, table) == {
            ("2026-11-24", s): f"s3://{bucket}/curated/{table}/dt=2026-11-24/symbol={s}/hourly/"
            for s in symbols}
    assert summary["partitions_registered"] == 9
    # The derived tables count the same events.
    assert sum(c["events"] for c in curated_rows(glue, catalog, "candles_1m")) == 900
    coverage = curated_rows(glue, catalog, "coverage")
    assert [(c["symbol"], c["events"]) for c in coverage] == [(s, 300) for s in symbols]
    again = convert(bucket, catalog, "--hour", "2026-11-24T10")
    assert again["partitions_registered"] == 0  # already there
    assert (again["rows_new"], again["rows_already_curated"], again["files_written"]) == (
        0, 900, 0)


def test_duplicates_across_files_are_dropped(s3: Any, bucket: str, catalog: str, glue: Any):
    records = records_at(HOUR_MS, 300)
    put_raw(s3, bucket, HOUR, "a", lines_of(records[:200]))
    put_raw(s3, bucket, HOUR, "b", lines_of(records[150:]))  # 50 again
    put_raw(s3, bucket, HOUR, "c", lines_of(records[:10]) * 2)  # and within one file
    summary = convert(bucket, catalog, "--hour", "2026-11-24T10")
    assert curated_rows(glue, catalog) == expected_rows(records)
    assert summary["duplicates"] == 50 + 20
    assert summary["rows_new"] == 300


def test_bad_input_is_quarantined_with_reasons(s3: Any, bucket: str, catalog: str, glue: Any):
    records = records_at(HOUR_MS, 60)
    lines = lines_of(records[:20])
    missing = json.loads(lines[7])
    del missing["low_price"]
    lines[7] = json.dumps(missing).encode() + b"\n"
    lines[12] = b"this is not json\n"
    put_raw(s3, bucket, HOUR, "bad-lines", lines)
    put_raw(s3, bucket, HOUR, "truncated", lines_of(records[20:40]), cut=100)
    put_raw(s3, bucket, HOUR, "good", lines_of(records[40:]))
    summary = convert(bucket, catalog, "--hour", "2026-11-24T10")
    written = curated_rows(glue, catalog)
    survivors = expected_rows([r for i, r in enumerate(records[:20]) if i not in (7, 12)]
                              + records[40:])
    from_truncated = [r for r in written if r not in survivors]
    assert [r for r in written if r in survivors] == survivors
    # The truncated file's complete lines are kept, in order; its torn last line is set aside.
    assert 0 < len(from_truncated) < 20
    assert from_truncated == expected_rows(records[20:20 + len(from_truncated)])
    assert summary["damaged_files"] == 1
    rejected = {}
    for key in keys(s3, bucket, "quarantine/"):
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
        rejected[key.rsplit("/", 1)[-1]] = [json.loads(line) for line in body.splitlines()]
    assert sorted(rejected) == ["bad-lines.gz.rejected.jsonl", "truncated.gz.rejected.jsonl"]
    bad = rejected["bad-lines.gz.rejected.jsonl"]
    assert [(r["line_number"], r["reason"].split(":")[0]) for r in bad] == [
        (8, "low_price"), (13, "not valid JSON")]
    assert bad[1]["line"] == "this is not json"
    assert all(r["source"].endswith("/hour=10/bad-lines.gz") for r in bad)
    (torn,) = rejected["truncated.gz.rejected.jsonl"]
    assert torn["reason"].startswith("truncated gzip stream")
    assert summary["quarantined"] == 3
    assert summary["quarantine_files"] == 2
    assert summary["lines"] == summary["rows_new"] + 3


def test_an_empty_hour(s3: Any, bucket: str, catalog: str):
    summary = convert(bucket, catalog, "--hour", "2026-11-24T10")
    assert (summary["files_read"], summary["rows_new"], summary["files_written"]) == (0, 0, 0)
    assert keys(s3, bucket, "curated/") == []


def test_a_rerun_writes_nothing_and_replaces_its_quarantine(s3: Any, bucket: str, catalog: str,
                                                            glue: Any):
    records = records_at(HOUR_MS, 300)
    lines = lines_of(records)
    put_raw(s3, bucket, HOUR, "a", [*lines, b"not json\n"])
    convert(bucket, catalog, "--hour", "2026-11-24T10")
    first = {k: s3.get_object(Bucket=bucket, Key=k)["Body"].read()
             for k in keys(s3, bucket, "curated/")}
    again = convert(bucket, catalog, "--hour", "2026-11-24T10")
    second = {k: s3.get_object(Bucket=bucket, Key=k)["Body"].read()
              for k in keys(s3, bucket, "curated/")}
    assert first == second  # same keys, same bytes
    assert (again["rows_new"], again["rows_already_curated"], again["files_written"]) == (
        0, 300, 0)
    assert curated_rows(glue, catalog) == expected_rows(records)
    manifest = json.loads(s3.get_object(
        Bucket=bucket, Key="manifests/raw_to_parquet/2026-11-24T10.json")["Body"].read())
    assert manifest["quarantine"] == keys(s3, bucket, "quarantine/") != []
    assert manifest["summary"]["rows_already_curated"] == 300

    # The hour's input changed (the bad line is gone): the rerun deletes its quarantine
    # document; curated rows belong to no raw hour and stay.
    put_raw(s3, bucket, HOUR, "a", lines[100:])
    convert(bucket, catalog, "--hour", "2026-11-24T10")
    assert keys(s3, bucket, "quarantine/") == []
    assert curated_rows(glue, catalog) == expected_rows(records)


def test_a_manifest_of_the_layout_before_has_its_files_deleted(s3: Any, bucket: str,
                                                                catalog: str, glue: Any):
    """An hour curated by the job before the hourly files (a file a raw hour, day and symbol,
    in the partition's directory): rerunning the hour removes them, as its manifest lists."""
    records = records_at(HOUR_MS, 30)
    put_raw(s3, bucket, HOUR, "a", lines_of(records))
    old = "curated/miniticker/dt=2026-11-24/symbol=BTCUSDT/raw-hour=2026-11-24T10.parquet"
    s3.put_object(Bucket=bucket, Key=old, Body=b"old")
    s3.put_object(Bucket=bucket, Key="manifests/raw_to_parquet/2026-11-24T10.json",
                  Body=json.dumps({"hour": "2026-11-24T10", "outputs": [old]}).encode())
    convert(bucket, catalog, "--hour", "2026-11-24T10")
    assert old not in keys(s3, bucket, "curated/")
    assert curated_rows(glue, catalog) == expected_rows(records)


def test_events_land_in_their_own_day(s3: Any, bucket: str, catalog: str, glue: Any):
    midnight = datetime(2026, 11, 25, 0, tzinfo=timezone.utc)
    late = records_at(int(midnight.timestamp() * 1000) - 30_000, 120)  # across midnight
    put_raw(s3, bucket, midnight, "a", lines_of(late))
    convert(bucket, catalog, "--hour", "2026-11-25T00")
    rows = curated_rows(glue, catalog)
    assert rows == expected_rows(late)
    assert {r["dt"] for r in rows} == {"2026-11-24", "2026-11-25"}
    written = keys(s3, bucket, "curated/")
    assert "curated/miniticker/dt=2026-11-24/symbol=BTCUSDT/hourly/23.parquet" in written
    assert "curated/miniticker/dt=2026-11-25/symbol=BTCUSDT/hourly/00.parquet" in written
    assert keys(s3, bucket, "manifests/raw_to_parquet/locks/") == []  # both days' released


def test_a_backfill_of_several_hours(s3: Any, bucket: str, catalog: str, glue: Any):
    every: list[MiniTicker] = []
    for offset in range(3):
        hour = HOUR + timedelta(hours=offset)
        records = records_at(int(hour.timestamp() * 1000), 90, seed=offset)
        put_raw(s3, bucket, hour, "a", lines_of(records))
        every += records
    summary = convert(bucket, catalog, "--start", "2026-11-24T10", "--end", "2026-11-24T13")
    assert [h["hour"] for h in summary["hours"]] == [
        "2026-11-24T10", "2026-11-24T11", "2026-11-24T12"]
    assert curated_rows(glue, catalog) == expected_rows(every)
    again = convert(bucket, catalog, "--hour", "2026-11-24T12", "--hours", "3")
    assert (again["rows_new"], again["rows_already_curated"]) == (0, 270)


def test_lines_the_fast_check_refuses_are_judged_by_the_contract(s3: Any, bucket: str,
                                                                 catalog: str, glue: Any):
    records = records_at(HOUR_MS, 30)
    unusual = records[5]._replace(symbol="ÄBCUSDT", stream_type="äbcusdt@miniTicker")
    spaced = json.dumps(json.loads(to_json_line(records[6])), indent=None,
                        separators=(", ", ": ")).encode() + b"\n"
    lines = lines_of(records)
    lines[5] = to_json_line(unusual)
    lines[6] = spaced
    put_raw(s3, bucket, HOUR, "a", lines)
    summary = convert(bucket, catalog, "--hour", "2026-11-24T10")
    assert summary["quarantined"] == 0
    assert summary["pieces_checked_line_by_line"] == 1
    assert curated_rows(glue, catalog) == expected_rows([unusual if r is records[5] else r
                                                         for r in records])


def test_the_command_line(s3: Any, bucket: str, aws: str):
    put_raw(s3, bucket, HOUR, "a", lines_of(records_at(HOUR_MS, 30)))
    env = {**os.environ, "AWS_ENDPOINT_URL": aws}
    done = subprocess.run([sys.executable, "glue_jobs/raw_to_parquet.py", "--bucket", bucket,
                           "--hour", "2026-11-24T10", "--register-partitions", "false",
                           "--JOB_RUN_ID", "jr_1"],  # Glue's own arguments are ignored
                          cwd=REPO, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rows_new"] == 30
    assert keys(s3, bucket, "curated/miniticker/") == [
        f"curated/miniticker/dt=2026-11-24/symbol={s}/hourly/10.parquet"
        for s in sorted(POPULAR[:3])]
    missing = subprocess.run([sys.executable, "glue_jobs/raw_to_parquet.py", "--bucket", bucket,
                              "--hour", "2026-11-24T10", "--database", "nope"],
                             cwd=REPO, env=env, capture_output=True, text=True, check=False)
    assert missing.returncode == 2
    assert "Glue table nope.miniticker not found" in missing.stderr


@pytest.mark.parametrize(("argv", "words"), [
    (["--hour", "2026-11-24 10"], "--hour '2026-11-24 10' is not an hour"),
    (["--start", "2026-11-24T10"], "--start and --end go together"),
    (["--start", "2026-11-24T10", "--end", "2026-11-24T09"], "is not after --start"),
    (["--hours", "0"], "--hours 0 is below 1"),
    (["--raw-prefix", "raw"], "must end with '/'"),
])
def test_bad_arguments_name_the_option(argv: list[str], words: str):
    with pytest.raises(settings.JobError, match=words):
        settings.parse_settings(["--bucket", "b", *argv])


def test_the_default_hour_is_the_last_complete_one():
    now = datetime(2026, 11, 24, 10, 17, tzinfo=timezone.utc)
    assert settings.last_complete_hour(now) == datetime(2026, 11, 24, 9, tzinfo=timezone.utc)


@pytest.mark.parametrize(("field", "value"), [
    ("event_type", "24hrTicker"),
    ("event_time", -1),
    ("received_at", 253_402_300_800_000),
    ("close_price", "1e5"),
    ("open_price", "-1.5"),
    ("total_traded_volume", "1.123456789"),
    ("low_price", "999999999.0"),  # above the high
    ("symbol", "btcusdt"),
    ("stream_type", "ethusdt@miniTicker"),
    ("iso_timestamp", "2026-11-24T10:00:00Z"),
    ("symbol", ""),
])
def test_the_fast_check_lets_no_invalid_line_through(s3: Any, bucket: str, catalog: str,
                                                     glue: Any, *, field: str, value: Any):
    records = records_at(HOUR_MS, 30)
    lines = lines_of(records)
    broken = json.loads(lines[9])
    broken[field] = value
    lines[9] = json.dumps(broken, separators=(",", ":")).encode() + b"\n"
    put_raw(s3, bucket, HOUR, "a", lines)
    summary = convert(bucket, catalog, "--hour", "2026-11-24T10")
    assert summary["quarantined"] == 1
    assert curated_rows(glue, catalog) == expected_rows(records[:9] + records[10:])
    (key,) = keys(s3, bucket, "quarantine/")
    (rejected,) = [json.loads(line) for line in
                   s3.get_object(Bucket=bucket, Key=key)["Body"].read().splitlines()]
    assert rejected["line_number"] == 10
    assert rejected["line"] == lines[9].decode().rstrip("\n")


def test_the_first_copy_of_a_duplicate_wins(s3: Any, bucket: str, catalog: str, glue: Any):
    records = records_at(HOUR_MS, 60)
    later = [r._replace(received_at=r.received_at + 999) for r in records[20:30]]
    put_raw(s3, bucket, HOUR, "a", lines_of(records[30:] + records[:30]))  # out of order too
    put_raw(s3, bucket, HOUR, "b", lines_of(later))
    summary = convert(bucket, catalog, "--hour", "2026-11-24T10")
    assert summary["duplicates"] == 10
    assert curated_rows(glue, catalog) == expected_rows(records)


def test_the_spill_bounds_its_files_and_keeps_every_row(tmp_path: Path):
    records = records_at(HOUR_MS, 500)  # three symbols
    rows = parse_piece(Piece("k", 1, b"".join(lines_of(records)), None)).rows
    spill = Spill(str(tmp_path), max_files=2)
    spill.add(rows.slice(0, 200))
    spill.add(rows.slice(200))
    by_day = spill.close()
    assert list(by_day) == [DAY]
    files = [read_spilled(path) for path in by_day[DAY]]
    assert len(files) == 2  # the third symbol shares a file
    assert sum(f.num_rows for f in files) == 500
    for table in files:
        for symbol in set(table["symbol"].to_pylist()):
            mine = [r for r in table.to_pylist() if r["symbol"] == symbol]
            assert [r["event_time"] for r in mine] == sorted(r["event_time"] for r in mine)
    assert list(tmp_path.iterdir()) == []  # read back and removed


def test_the_spill_keeps_each_event_day_in_files_of_its_own(tmp_path: Path):
    day_ms = 86_400_000
    records = [*records_at(HOUR_MS, 30), *records_at(HOUR_MS + day_ms, 30),
               *records_at(HOUR_MS + 2 * day_ms, 30)]
    rows = parse_piece(Piece("k", 1, b"".join(lines_of(records)), None)).rows
    spill = Spill(str(tmp_path), max_files=2)  # fewer than the (day, symbol) pairs
    spill.add(rows)
    by_day = spill.close()
    assert len(by_day) == 3
    for day, paths in by_day.items():
        tables = [read_spilled(path) for path in paths]
        assert {d for t in tables for d in t["dt"].to_pylist()} == {day}
        assert sum(t.num_rows for t in tables) == 30


def test_only_the_constant_columns_are_dictionary_encoded():
    records = records_at(HOUR_MS, 300)
    rows = parse_piece(Piece("k", 1, b"".join(lines_of(records)), None)).rows
    _, _, group = next(groups(deduplicate(rows)[0]))
    metadata = pq.ParquetFile(io.BytesIO(parquet_bytes(group))).metadata
    assert metadata.num_rows == group.num_rows
    chunks = {metadata.schema.column(i).name: metadata.row_group(0).column(i)
              for i in range(metadata.num_columns)}
    assert set(DICTIONARY_COLUMNS) < set(chunks)  # a name not in the file is a mistake
    dictionary = {name for name, chunk in chunks.items() if chunk.dictionary_page_offset}
    assert dictionary == set(DICTIONARY_COLUMNS)


@pytest.mark.parametrize("piece_bytes", [1, 700, 5_000, 10**9])
def test_pieces_are_whole_lines_numbered_from_their_object(piece_bytes: int):
    text = b"".join(lines_of(records_at(HOUR_MS, 40)))
    half = text.index(b"\n", len(text) // 2) + 1
    body = gzip.compress(text[:half]) + gzip.compress(text[half:])  # two gzip members
    got = list(pieces(io.BytesIO(body), "k", piece_bytes=piece_bytes))
    assert b"".join(p.data for p in got) == text
    assert all(p.data.endswith(b"\n") and p.damage is None for p in got)
    assert [p.first_line for p in got] == [
        1 + sum(q.data.count(b"\n") for q in got[:i]) for i in range(len(got))]
    if piece_bytes < len(text):
        assert len(got) > 1

    truncated = list(pieces(io.BytesIO(body[:-40]), "k", piece_bytes=piece_bytes))
    assert truncated[-1].damage == "truncated gzip stream"
    assert text.startswith(b"".join(p.data for p in truncated))
    assert all(p.damage is None for p in truncated[:-1])
