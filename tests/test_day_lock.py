"""The day lock over moto's S3 conditional writes, the day state, retired locations, and the
catalog partitions' create-or-move (curation/days.py, curation/partitions.py)."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Any

import boto3
import pytest

from glue_jobs.curation.days import (
    DayLock,
    DayState,
    lock_key,
    new_generation,
    retire,
    sweep_retired,
)
from glue_jobs.curation.partitions import PARTITIONS_PER_REQUEST, ensure_partitions
from glue_jobs.curation.settings import JobError
from miniticker.catalog import curated_table_input

PREFIX = "manifests/raw_to_parquet/"
DAY = "2026-11-24"
AT_10 = datetime(2026, 11, 24, 10, tzinfo=timezone.utc).timestamp()


class Clock:
    """Epoch seconds that move only when a test says so."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def lock(s3: Any, bucket: str, owner: str, **options: Any) -> DayLock:
    return DayLock(s3, bucket, PREFIX, DAY, owner=owner, **options)


def lock_body(s3: Any, bucket: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(
        s3.get_object(Bucket=bucket, Key=lock_key(PREFIX, DAY))["Body"].read())
    return body


def exists(s3: Any, bucket: str, key: str) -> bool:
    return "Contents" in s3.list_objects_v2(Bucket=bucket, Prefix=key)


def test_the_lock_is_an_object_while_held(s3: Any, bucket: str):
    clock = Clock()
    with lock(s3, bucket, "run-a", clock=clock, lease_seconds=600) as held:
        assert held.held
        assert lock_body(s3, bucket) == {"owner": "run-a", "expires": clock.now + 600}
    assert not exists(s3, bucket, lock_key(PREFIX, DAY))
    assert lock_key(PREFIX, DAY) == f"{PREFIX}locks/dt={DAY}.json"


def test_a_second_holder_waits_for_the_first(aws: str, bucket: str):
    events: list[str] = []
    first_holds = threading.Event()

    def first() -> None:
        with lock(boto3.client("s3"), bucket, "run-a"):
            events.append("a in")
            first_holds.set()
            time.sleep(0.8)
            events.append("a out")

    def second() -> None:
        first_holds.wait(10)
        with lock(boto3.client("s3"), bucket, "run-b", timeout_seconds=30):
            events.append("b in")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert events == ["a in", "a out", "b in"]


def test_an_expired_lease_is_taken_over_and_the_loser_knows(s3: Any, bucket: str):
    clock = Clock()
    stale = lock(s3, bucket, "run-a", clock=clock, lease_seconds=60)
    stale.__enter__()  # and never leaves: the run died, or stalled
    clock.now += 61
    with lock(s3, bucket, "run-b", clock=clock, lease_seconds=60, timeout_seconds=0) as taker:
        assert lock_body(s3, bucket)["owner"] == "run-b"
        with pytest.raises(JobError, match="lost the lock of day 2026-11-24"):
            stale.renew_if_due()  # the stalled run wakes up: it must write nothing more
        taker.renew_if_due()  # still ours
    assert not exists(s3, bucket, lock_key(PREFIX, DAY))


def test_releasing_a_lock_taken_over_leaves_it_to_the_new_holder(s3: Any, bucket: str):
    clock = Clock()
    stale = lock(s3, bucket, "run-a", clock=clock, lease_seconds=60).__enter__()
    clock.now += 61
    taker = lock(s3, bucket, "run-b", clock=clock, lease_seconds=60).__enter__()
    with pytest.raises(JobError, match="lost the lock"):
        stale.__exit__(None, None, None)
    assert lock_body(s3, bucket)["owner"] == "run-b"
    taker.__exit__(None, None, None)


def test_the_lease_is_renewed_when_half_is_gone(s3: Any, bucket: str):
    clock = Clock()
    with lock(s3, bucket, "run-a", clock=clock, lease_seconds=600) as held:
        first = lock_body(s3, bucket)["expires"]
        clock.now += 299
        held.renew_if_due()
        assert lock_body(s3, bucket)["expires"] == first  # more than half left: no write
        clock.now += 2
        held.renew_if_due()
        assert lock_body(s3, bucket)["expires"] == clock.now + 600
        clock.now += 400  # past the first lease, within the renewed one: still ours
        held.renew_if_due()


def test_giving_up_names_the_holder_and_its_expiry(s3: Any, bucket: str):
    clock = Clock(AT_10)
    with lock(s3, bucket, "raw_to_parquet 2026-11-24T10 host/1 ab12cd34", clock=clock,
              lease_seconds=600):
        waited: list[float] = []

        def sleep(seconds: float) -> None:  # the waiting run's time passes, not the test's
            waited.append(seconds)
            clock.now += seconds

        waiting = lock(s3, bucket, "run-b", clock=clock, sleep=sleep, timeout_seconds=120)
        with pytest.raises(JobError) as raised:
            waiting.__enter__()
        assert 119 <= sum(waited) <= 121
        assert len(waited) > 5  # it polled, backing off
    message = str(raised.value)
    assert "'raw_to_parquet 2026-11-24T10 host/1 ab12cd34'" in message
    assert "until 2026-11-24T10:10:00Z" in message
    assert "day 2026-11-24" in message


def test_the_day_state_round_trip(s3: Any, bucket: str):
    state = DayState.load(s3, bucket, PREFIX, DAY)
    assert state.generation("miniticker", "BTCUSDT") is None
    state.set_generation("miniticker", "BTCUSDT", "20261125T010203Z-0a1b2c3d")
    state.save(s3)
    again = DayState.load(s3, bucket, PREFIX, DAY)
    assert again.generation("miniticker", "BTCUSDT") == "20261125T010203Z-0a1b2c3d"
    assert again.generation("candles_1m", "BTCUSDT") is None
    stored = json.loads(s3.get_object(Bucket=bucket, Key=f"{PREFIX}days/dt={DAY}.json")
                        ["Body"].read())
    assert stored == {"day": DAY, "compacted": {
        "miniticker": {"BTCUSDT": "20261125T010203Z-0a1b2c3d"}}}


def test_generations_are_named_by_time_and_never_meet():
    names = {new_generation(AT_10 + 1.5) for _ in range(100)}
    assert len(names) == 100
    assert all(re.fullmatch(r"20261124T100001Z-[0-9a-f]{8}", name) for name in names)


def test_retired_locations_are_swept_after_the_grace_period(s3: Any, bucket: str):
    old = ["curated/miniticker/dt=2026-11-24/symbol=BTCUSDT/hourly/",
           "curated/candles_1m/dt=2026-11-24/symbol=BTCUSDT/hourly/"]
    kept = "curated/miniticker/dt=2026-11-24/symbol=BTCUSDT/hourly-not/x.parquet"
    for prefix in old:
        for hour in range(3):
            s3.put_object(Bucket=bucket, Key=f"{prefix}{hour:02d}.parquet", Body=b"x")
    s3.put_object(Bucket=bucket, Key=kept, Body=b"x")
    retire(s3, bucket, PREFIX, old, now=1000.0)
    retire(s3, bucket, PREFIX, [], now=1000.0)  # nothing to retire: no entry
    assert len(s3.list_objects_v2(Bucket=bucket, Prefix=f"{PREFIX}retired/")["Contents"]) == 1
    assert sweep_retired(s3, bucket, PREFIX, older_than_seconds=3600, now=4000.0) == 0
    assert all(exists(s3, bucket, prefix) for prefix in old)
    assert sweep_retired(s3, bucket, PREFIX, older_than_seconds=3600, now=4601.0) == 6
    assert not any(exists(s3, bucket, prefix) for prefix in old)
    assert exists(s3, bucket, kept)
    assert not exists(s3, bucket, f"{PREFIX}retired/")


def test_partitions_are_created_and_moved_in_batches(aws: str, bucket: str):
    glue = boto3.client("glue")
    database = f"db_{uuid.uuid4().hex[:8]}"
    glue.create_database(DatabaseInput={"Name": database})
    glue.create_table(DatabaseName=database,
                      TableInput=curated_table_input(f"s3://{bucket}/curated/miniticker/"))
    table = glue.get_table(DatabaseName=database, Name="miniticker")["Table"]
    count = PARTITIONS_PER_REQUEST + 50
    hourly = [(DAY, f"S{i:03d}USDT", f"s3://{bucket}/curated/miniticker/dt={DAY}/"
               f"symbol=S{i:03d}USDT/hourly/") for i in range(count)]
    assert ensure_partitions(glue, database, table, hourly) == count
    assert ensure_partitions(glue, database, table, hourly) == 0
    moved = [(day, symbol, location.replace("hourly/", "compacted-g1/"))
             for day, symbol, location in hourly[:3]]
    assert ensure_partitions(glue, database, table, moved + hourly[3:]) == 3
    found = {}
    for page in glue.get_paginator("get_partitions").paginate(DatabaseName=database,
                                                              TableName="miniticker"):
        found.update({tuple(p["Values"]): p["StorageDescriptor"]["Location"]
                      for p in page["Partitions"]})
    assert found == {(d, s): location for d, s, location in moved + hourly[3:]}
    first = glue.get_partition(DatabaseName=database, TableName="miniticker",
                               PartitionValues=[DAY, "S000USDT"])["Partition"]
    assert first["StorageDescriptor"]["Columns"] == table["StorageDescriptor"]["Columns"]
