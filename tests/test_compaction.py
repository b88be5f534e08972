"""The daily compaction over moto's S3 and Glue catalog (curation/compaction.py): exact, one file
a partition (or parts under the size limit), idempotent, the partition switch seen by a reader
that never counts a row twice or misses one, late rows after it, and the sweep after the grace.

The hourly files are made by the hourly run itself (tests/test_raw_to_parquet.py's helpers);
the tables are read the way Athena reads them, through the catalog (tests/curated_reader.py).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from glue_jobs.curation import compaction, writing
from glue_jobs.curation.days import DayLock, DayState
from glue_jobs.curation.settings import JobError
from glue_jobs.curation.tables import EVENTS, TABLES, hourly_key, hourly_location
from glue_jobs.curation.writing import table_bytes
from miniticker import MiniTicker

from .curated_reader import files_at, filesystem, locations, read_table
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

DAY = "2026-11-24"
NEXT_DAY = "2026-11-25"
DAY_MS = HOUR_MS - 10 * 3_600_000
MANIFESTS = "manifests/raw_to_parquet/"
TABLE_NAMES = [t.name for t in TABLES]
SYMBOLS = ["BNBUSDT", "BTCUSDT", "ETHUSDT"]  # records_at's three, sorted


def at_hour(hour: int, count: int = 90, offset_ms: int = 60_000) -> list[MiniTicker]:
    """``count`` events of three symbols from minute one of the day's ``hour`` (a second
    apart)."""
    return records_at(DAY_MS + hour * 3_600_000 + offset_ms, count, seed=hour + 1)


def raw_hour(hour: int) -> str:
    return (HOUR + timedelta(hours=hour - 10)).strftime("%Y-%m-%dT%H")


def curate_day(s3: Any, bucket: str, database: str) -> list[MiniTicker]:
    """Events of three hours of the day through the hourly run, as the schedule leaves them:
    hour 23's last events arrive in raw hour 00 of the next day, and the last few of them are
    the next day's first. Returns every event curated."""
    hours = {0: at_hour(0), 10: at_hour(10), 23: at_hour(23, offset_ms=3_600_000 - 20_000)}
    late = [r for r in hours[23] if r.event_time >= DAY_MS + 24 * 3_600_000]
    assert late  # some of "hour 23" are the next day's
    put_raw(s3, bucket, HOUR - timedelta(hours=10), "a", lines_of(hours[0]))
    put_raw(s3, bucket, HOUR, "a", lines_of(hours[10]))
    put_raw(s3, bucket, HOUR + timedelta(hours=13), "a", lines_of(hours[23][:30]))
    put_raw(s3, bucket, HOUR + timedelta(hours=14), "a", lines_of(hours[23][30:]))
    for hour in (0, 10, 23, 24):
        convert(bucket, database, "--hour", raw_hour(hour))
    return [*hours[0], *hours[10], *hours[23]]


def compact(bucket: str, database: str, *args: str, s3: Any = None, glue: Any = None,
            clock: Callable[[], float] = time.time) -> dict[str, Any]:
    argv = ["--bucket", bucket, "--database", database, *(args or ("--day", DAY))]
    return compaction.run(compaction.parse_settings(argv), s3=s3, glue=glue, clock=clock)


def every_table(glue: Any, database: str) -> dict[str, list[dict[str, Any]]]:
    return {name: curated_rows(glue, database, name) for name in TABLE_NAMES}


def snapshot(s3: Any, bucket: str) -> dict[str, str]:
    """Every object's key and ETag, the day lock apart (taken and released by each run)."""
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        found.update({o["Key"]: o["ETag"] for o in page.get("Contents", [])
                      if "/locks/" not in o["Key"]})
    return found


def test_a_day_is_compacted_exactly_into_one_file_a_partition(s3: Any, bucket: str,
                                                              catalog: str, glue: Any):
    events = curate_day(s3, bucket, catalog)
    before = every_table(glue, catalog)
    assert before["miniticker"] == expected_rows(events)
    hourly_files = {name: len(keys(s3, bucket, f"curated/{name}/dt={DAY}/")) for name in
                    TABLE_NAMES}
    next_day = {name: {k: v for k, v in locations(glue, catalog, name).items()
                       if k[0] == NEXT_DAY} for name in TABLE_NAMES}

    summary = compact(bucket, catalog, s3=s3, glue=glue)

    assert every_table(glue, catalog) == before  # the same rows, each once
    (day,) = summary["days"]
    assert day["day"] == DAY
    assert (day["partitions_compacted"], day["files_in"], day["files_out"], day["skipped"]) == (
        9, sum(hourly_files.values()), 9, 0)
    assert day["rows"] == sum(row["dt"] == DAY for rows in before.values() for row in rows)
    assert day["partitions_moved"] == 9
    fs = filesystem()
    state = DayState.load(s3, bucket, MANIFESTS, DAY)
    for table in TABLES:
        found = locations(glue, catalog, table.name)
        for symbol in SYMBOLS:
            generation = state.generation(table.name, symbol)
            assert generation is not None
            location = found[(DAY, symbol)]
            assert location == (f"s3://{bucket}/curated/{table.name}/dt={DAY}/symbol={symbol}/"
                                f"compacted-{generation}/")
            (part,) = files_at(location, fs)
            assert part.endswith("/part-0000.parquet")
            times = pq.read_table(part, filesystem=fs)[table.time_column]
            assert pc.all(pc.greater(times[1:], times[:-1])).as_py()  # sorted, each once
        # The next day is left alone: still hourly.
        assert {k: v for k, v in found.items() if k[0] == NEXT_DAY} == next_day[table.name]
        assert all(v.endswith("/hourly/") for v in next_day[table.name].values())
    # The old files are retired, not deleted: a query planned before the switch may read them.
    assert len(keys(s3, bucket, f"curated/miniticker/dt={DAY}/symbol=BTCUSDT/hourly/")) == 3
    entries = keys(s3, bucket, f"{MANIFESTS}retired/")
    retired = sorted(p for e in entries for p in json.loads(
        s3.get_object(Bucket=bucket, Key=e)["Body"].read())["prefixes"])
    assert retired == sorted(hourly_location(t, DAY, s) for t in TABLES for s in SYMBOLS)
    assert not keys(s3, bucket, f"{MANIFESTS}locks/")  # released


def test_a_second_run_writes_nothing(s3: Any, bucket: str, catalog: str, glue: Any):
    curate_day(s3, bucket, catalog)
    compact(bucket, catalog, s3=s3, glue=glue)
    objects = snapshot(s3, bucket)
    where = {name: locations(glue, catalog, name) for name in TABLE_NAMES}
    again = compact(bucket, catalog, s3=s3, glue=glue)
    (day,) = again["days"]
    assert (day["partitions_compacted"], day["files_out"], day["skipped"],
            day["partitions_moved"]) == (0, 0, 9, 0)
    assert snapshot(s3, bucket) == objects
    assert {name: locations(glue, catalog, name) for name in TABLE_NAMES} == where


def test_parts_stay_under_the_size_limit(s3: Any, bucket: str, catalog: str, glue: Any):
    curate_day(s3, bucket, catalog)
    before = every_table(glue, catalog)
    limit_mb = 0.006  # a file of the day's events of one symbol is larger
    compact(bucket, catalog, "--day", DAY, "--max-file-mb", str(limit_mb), s3=s3, glue=glue)
    assert every_table(glue, catalog) == before
    fs = filesystem()
    location = locations(glue, catalog, "miniticker")[(DAY, "BTCUSDT")]
    parts = files_at(location, fs)
    assert len(parts) > 1
    assert [p.rsplit("/", 1)[-1] for p in parts] == [f"part-{i:04d}.parquet"
                                                     for i in range(len(parts))]
    assert all(fs.get_file_info(p).size <= limit_mb * 2**20 for p in parts)
    times = pa.concat_tables(pq.read_table(p, filesystem=fs) for p in parts)["event_time"]
    assert pc.all(pc.greater(times[1:], times[:-1])).as_py()  # in order across the parts


@pytest.mark.parametrize("limit", [8_000, 30_000, 100_000])
def test_write_parts_splits_by_the_measured_size(tmp_path: Any, limit: int):
    rows = expected_events(records_at(HOUR_MS, 9_000))
    for folder in ("whole", "parts", "one"):
        (tmp_path / folder).mkdir()
    (whole,) = writing.write_parts(rows, EVENTS, 10**9, str(tmp_path / "whole"))
    assert pq.read_table(whole).equals(rows)
    parts = writing.write_parts(rows, EVENTS, limit, str(tmp_path / "parts"))
    sizes = [p.stat().st_size for p in parts]
    assert all(size <= limit for size in sizes), sizes
    assert pa.concat_tables(pq.read_table(p) for p in parts).equals(rows)
    # Not many more parts than the size needs: each part repeats a file's fixed overhead (a
    # file of one row is nearly all overhead).
    (one,) = writing.write_parts(rows.slice(0, 1), EVENTS, limit, str(tmp_path / "one"))
    room = limit * writing.PART_FILL - one.stat().st_size
    assert whole.stat().st_size / limit < len(parts) <= whole.stat().st_size / room + 2


def test_write_parts_of_no_rows_is_one_empty_part(tmp_path: Any):
    (part,) = writing.write_parts(EVENTS.schema.empty_table(), EVENTS, 1000, str(tmp_path))
    assert pq.read_table(part).num_rows == 0


def expected_events(records: list[MiniTicker]) -> pa.Table:
    """One symbol's curated rows, sorted, as the hourly run writes them."""
    rows = [{k: v for k, v in r.items() if k not in ("dt", "symbol")}
            for r in expected_rows(records) if r["symbol"] == "BTCUSDT"]
    return pa.Table.from_pylist(rows, schema=EVENTS.schema)


class SlowS3:
    """The S3 client, with a pause before each compacted part is written: the compaction
    takes long enough for a reader to read the table many times meanwhile."""

    def __init__(self, client: Any, pause: float) -> None:
        self.client = client
        self.pause = pause

    def put_object(self, **kwargs: Any) -> Any:
        if "/compacted-" in kwargs["Key"]:
            time.sleep(self.pause)
        return self.client.put_object(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def test_a_reader_during_the_switch_counts_every_row_once(s3: Any, bucket: str, catalog: str,
                                                          glue: Any,
                                                          monkeypatch: pytest.MonkeyPatch):
    events = curate_day(s3, bucket, catalog)
    total = read_table(glue, catalog, "miniticker").num_rows
    assert total == len(events)
    # One partition moved at a time, so the reader sees the table half switched too.
    monkeypatch.setattr(compaction, "PARTITIONS_PER_REQUEST", 1)
    counts: list[int] = []
    seen: set[tuple[int, int]] = set()  # (partitions of the day hourly, compacted) per read
    done = threading.Event()
    failures: list[BaseException] = []

    def reader() -> None:
        client = boto3.client("glue")
        try:
            while not done.is_set():
                where = [v for k, v in locations(client, catalog, "miniticker").items()
                         if k[0] == DAY]
                counts.append(read_table(client, catalog, "miniticker").num_rows)
                seen.add((sum("/hourly/" in v for v in where),
                          sum("/compacted-" in v for v in where)))
        except BaseException as error:  # reported by the test's own thread
            failures.append(error)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        compact(bucket, catalog, s3=SlowS3(s3, 0.5), glue=glue)
    finally:
        done.set()
        thread.join()
    assert not failures, failures
    counts.append(read_table(glue, catalog, "miniticker").num_rows)
    assert len(counts) > 5
    assert set(counts) == {total}  # never twice, never fewer
    assert {(3, 0), (0, 3)} <= seen  # read before and after
    assert seen - {(3, 0), (0, 3)}  # and half switched


def test_the_sweep_deletes_retired_files_only_after_the_grace(s3: Any, bucket: str,
                                                             catalog: str, glue: Any):
    curate_day(s3, bucket, catalog)
    now = [time.time()]
    compact(bucket, catalog, s3=s3, glue=glue, clock=lambda: now[0])
    before = every_table(glue, catalog)
    hourly = keys(s3, bucket, f"curated/miniticker/dt={DAY}/symbol=BTCUSDT/hourly/")
    retired = len([k for t in TABLES for s in SYMBOLS
                   for k in keys(s3, bucket, hourly_location(t, DAY, s))])
    now[0] += 59 * 60  # inside the default grace of 60 minutes
    assert compact(bucket, catalog, s3=s3, glue=glue,
                   clock=lambda: now[0])["retired_files_deleted"] == 0
    assert keys(s3, bucket, f"curated/miniticker/dt={DAY}/symbol=BTCUSDT/hourly/") == hourly
    now[0] += 2 * 60
    assert compact(bucket, catalog, s3=s3, glue=glue,
                   clock=lambda: now[0])["retired_files_deleted"] == retired
    assert not [k for t in TABLES for s in SYMBOLS
                for k in keys(s3, bucket, hourly_location(t, DAY, s))]
    assert not keys(s3, bucket, f"{MANIFESTS}retired/")
    assert every_table(glue, catalog) == before  # the catalog never pointed there any more
    # A shorter grace by option.
    assert compact(bucket, catalog, "--day", NEXT_DAY, s3=s3, glue=glue)[
        "retired_files_deleted"] == 0
    assert compact(bucket, catalog, "--day", NEXT_DAY, "--retire-after-minutes", "0",
                   s3=s3, glue=glue)["retired_files_deleted"] > 0


def test_late_rows_after_compaction_then_a_second_compaction(s3: Any, bucket: str,
                                                             catalog: str, glue: Any):
    events = curate_day(s3, bucket, catalog)
    compact(bucket, catalog, s3=s3, glue=glue)
    state = DayState.load(s3, bucket, MANIFESTS, DAY)
    # A replay two days on: copies of events already curated, the day's missing events for
    # BTCUSDT (merged by the hourly run into a new generation), and a symbol the day lacked
    # (at its hourly location until the next compaction).
    missing = [r for r in at_hour(15, 60) if r.symbol == "BTCUSDT"]
    newcomer = [r._replace(symbol="XRPUSDT", stream_type="xrpusdt@miniTicker")
                for r in at_hour(16, 30) if r.symbol == "ETHUSDT"]
    put_raw(s3, bucket, HOUR + timedelta(hours=38), "a", lines_of(events[:20] + missing +
                                                                  newcomer))
    hourly = convert(bucket, catalog, "--hour", raw_hour(48))
    assert (hourly["rows_new"], hourly["rows_already_curated"]) == (
        len(missing) + len(newcomer), 20)
    merged = DayState.load(s3, bucket, MANIFESTS, DAY)
    assert merged.generation("miniticker", "BTCUSDT") != state.generation("miniticker",
                                                                           "BTCUSDT")
    assert merged.generation("miniticker", "XRPUSDT") is None
    assert locations(glue, catalog, "miniticker")[(DAY, "XRPUSDT")].endswith("/hourly/")
    before = every_table(glue, catalog)

    summary = compact(bucket, catalog, s3=s3, glue=glue)

    (day,) = summary["days"]
    assert (day["partitions_compacted"], day["skipped"]) == (3, 9)  # XRPUSDT's three tables
    assert every_table(glue, catalog) == before
    rows = [r for r in curated_rows(glue, catalog) if r["dt"] == DAY]
    assert rows == [r for r in expected_rows(events + missing + newcomer) if r["dt"] == DAY]
    for table in TABLES:
        assert all("/compacted-" in v for k, v in locations(glue, catalog, table.name).items()
                   if k[0] == DAY)
    after = DayState.load(s3, bucket, MANIFESTS, DAY)
    assert after.generation("miniticker", "BTCUSDT") == merged.generation("miniticker",
                                                                          "BTCUSDT")
    assert after.generation("coverage", "XRPUSDT") is not None


def test_a_repeated_time_is_a_bug_and_nothing_is_written(s3: Any, bucket: str, catalog: str,
                                                         glue: Any):
    rows = expected_events(at_hour(10, 30))
    # The same event in the files of two hours: never written by the hourly run.
    for hour in (10, 11):
        s3.put_object(Bucket=bucket, Key=hourly_key(EVENTS, DAY, "BTCUSDT", hour),
                      Body=table_bytes(EVENTS, rows))
    objects = snapshot(s3, bucket)
    with pytest.raises(JobError, match=r"miniticker dt=2026-11-24 symbol=BTCUSDT: two rows at "
                                       r"event_time"):
        compact(bucket, catalog, s3=s3, glue=glue)
    assert snapshot(s3, bucket) == objects
    assert not keys(s3, bucket, f"{MANIFESTS}locks/")  # the lock released all the same


def test_a_row_of_another_day_is_a_bug(s3: Any, bucket: str, catalog: str, glue: Any):
    s3.put_object(Bucket=bucket, Key=hourly_key(EVENTS, NEXT_DAY, "BTCUSDT", 0),
                  Body=table_bytes(EVENTS, expected_events(at_hour(10, 30))))
    with pytest.raises(JobError, match="outside the day"):
        compact(bucket, catalog, "--day", NEXT_DAY, s3=s3, glue=glue)


def test_the_compaction_takes_the_day_lock_a_batch_at_a_time(
        s3: Any, bucket: str, catalog: str, glue: Any, monkeypatch: pytest.MonkeyPatch):
    curate_day(s3, bucket, catalog)
    settings = compaction.parse_settings(["--bucket", bucket, "--database", catalog,
                                          "--day", DAY])
    taken: list[str] = []

    def quick(*args: Any, **kwargs: Any) -> DayLock:
        taken.append(kwargs["owner"])
        return DayLock(*args, timeout_seconds=0.5, **kwargs)

    with DayLock(s3, bucket, MANIFESTS, DAY, owner="raw_to_parquet 2026-11-25T03"), \
            pytest.raises(JobError, match="held by 'raw_to_parquet 2026-11-25T03'"):
        compaction.compact(settings, DAY, s3, glue, lock=quick)
    assert not keys(s3, bucket, f"curated/miniticker/dt={DAY}/symbol=BNBUSDT/compacted-")
    # Let go between batches (here of two partitions), so an hourly run waits for a batch only.
    monkeypatch.setattr(compaction, "PARTITIONS_PER_REQUEST", 2)
    taken.clear()
    assert compaction.compact(settings, DAY, s3, glue, lock=quick)["partitions_compacted"] == 9
    assert len(taken) == 3 * 2  # three tables of three symbols
    assert len(set(taken)) == 1  # one owner: the run


def test_without_the_catalog(s3: Any, bucket: str, catalog: str, glue: Any):
    curate_day(s3, bucket, catalog)
    where = locations(glue, catalog, "miniticker")
    summary = compact(bucket, catalog, "--day", DAY, "--register-partitions", "false", s3=s3)
    assert (summary["partitions_compacted"], summary["partitions_moved"]) == (9, 0)
    assert locations(glue, catalog, "miniticker") == where  # left to whoever reads the state


def test_the_command_line(s3: Any, bucket: str, catalog: str, glue: Any,
                          capsys: pytest.CaptureFixture[str]):
    curate_day(s3, bucket, catalog)
    argv = ["--bucket", bucket, "--database", catalog, "--start-day", "2026-11-23",
            "--end-day", "2026-11-26", "--JOB_RUN_ID", "jr_1"]  # Glue's own are ignored
    assert compaction.main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert [d["day"] for d in summary["days"]] == ["2026-11-23", DAY, NEXT_DAY]
    assert summary["partitions_compacted"] == 18  # both days' nine; none on the 23rd
    assert summary["peak_memory_mb"] > 0
    assert compaction.main(["--bucket", bucket, "--database", "nope"]) == 2
    assert "Glue table nope.miniticker not found" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "words"), [
    (["--day", "2026-11-24T10"], "--day '2026-11-24T10' is not a day"),
    (["--start-day", "2026-11-24"], "--start-day and --end-day go together"),
    (["--start-day", "2026-11-24", "--end-day", "2026-11-24"], "is not after --start-day"),
    (["--day", DAY, "--start-day", DAY, "--end-day", NEXT_DAY], "not both"),
    (["--max-file-mb", "0"], "--max-file-mb 0 is not above 0"),
    (["--retire-after-minutes", "-1"], "--retire-after-minutes -1 is negative"),
    (["--manifest-prefix", "manifests"], "must end with '/'"),
])
def test_bad_arguments_name_the_option(argv: list[str], words: str):
    with pytest.raises(JobError, match=words):
        compaction.parse_settings(["--bucket", "b", *argv])


def test_the_days_and_defaults():
    settings = compaction.parse_settings(["--bucket", "b"], today=date(2026, 11, 25))
    assert settings.days == (DAY,)  # yesterday, UTC
    assert (settings.retire_after_minutes, settings.max_file_bytes) == (60, 128 * 2**20)
    assert settings.manifest_prefix == MANIFESTS
    backfill = compaction.parse_settings(["--bucket", "b", "--start-day", "2026-10-30",
                                          "--end-day", "2026-11-02"])
    assert backfill.days == ("2026-10-30", "2026-10-31", "2026-11-01")  # the end excluded
