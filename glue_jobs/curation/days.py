"""One writer per event day: the day lock, the day state, and retired locations.

Every event of a (symbol, event hour) lives in exactly one file, and several runs may want to
add to it at once: Glue runs the hourly job for different raw hours concurrently (its
MaxConcurrentRuns is 4: a backfill, a rerun and the schedule overlap), a replay's raw hour holds
events of days long past, and the daily compaction rewrites a whole day. So whoever reads and
writes the files of an event day holds that day's lock, an S3 object created only if absent
(``put_object(IfNoneMatch="*")``): S3's conditional writes make it a lock with no other service.

The lock is a lease: a run that dies leaves it behind, and it expires; a waiting run takes an
expired lock over with ``put_object(IfMatch=<its etag>)`` (so of two runs taking it over, one
wins), and a holder renews its lease the same way with its own etag, which fails once another
run has taken the lock over: the holder then stops before writing anything more.

The day state (which partitions are compacted, and into which generation) is read and written
only under the lock. A location a switch leaves behind is never deleted at once (an Athena query
planned before the switch may still read it); it is written down as retired and deleted by
`sweep_retired` after a grace period.
"""

import json
import logging
import random
import secrets
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Callable, Optional

from botocore.exceptions import ClientError

from .settings import JobError

logger = logging.getLogger("curation")

#: How S3 (and moto) refuse a conditional write whose condition failed: 412, or 409 when another
#: conditional write to the key is in flight. Either way another run holds (or just took) it.
CONDITION_FAILED = ("PreconditionFailed", "ConditionalRequestConflict")
#: A conditional write on a key that is gone (``IfMatch`` on a deleted lock).
GONE = ("NoSuchKey", "404")

DEFAULT_LEASE_SECONDS = 600.0
DEFAULT_TIMEOUT_SECONDS = 900.0
#: Waiting for a lock: the first pause, and the longest (each pause doubles, with jitter).
FIRST_WAIT_SECONDS = 0.2
LONGEST_WAIT_SECONDS = 10.0
DELETE_BATCH = 1000  # DeleteObjects' limit


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def lock_key(manifest_prefix: str, day: str) -> str:
    return f"{manifest_prefix}locks/dt={day}.json"


def state_key(manifest_prefix: str, day: str) -> str:
    return f"{manifest_prefix}days/dt={day}.json"


def retired_prefix(manifest_prefix: str) -> str:
    return f"{manifest_prefix}retired/"


class DayLock:
    """The lock of one event day (``manifest_prefix + "locks/dt=D.json"``), as a context manager.

    Entering waits (polling with jittered backoff) until the lock is free or its lease expired,
    up to ``timeout_seconds``, then raises `JobError` naming the holder and its lease's expiry.
    Leaving deletes the lock if it is still ours. ``clock`` gives epoch seconds (tests move it).
    """

    def __init__(self, s3: Any, bucket: str, manifest_prefix: str, day: str, *, owner: str,
                 lease_seconds: float = DEFAULT_LEASE_SECONDS,
                 timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
                 clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.day = day
        self.key = lock_key(manifest_prefix, day)
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.timeout_seconds = timeout_seconds
        self.clock = clock
        self.sleep = sleep
        self.expires = 0.0
        self._etag: Optional[str] = None

    # --- acquiring ---

    def __enter__(self) -> "DayLock":
        deadline = self.clock() + self.timeout_seconds
        wait = FIRST_WAIT_SECONDS
        while True:
            if self._put(IfNoneMatch="*"):
                return self
            holder = self._read()
            if holder is None:  # released meanwhile: try again at once
                continue
            body, etag = holder
            if body.get("owner") == self.owner:  # ours: a retried create that had succeeded
                self._etag, self.expires = etag, float(body["expires"])
                return self
            now = self.clock()
            if float(body.get("expires", 0)) <= now:
                logger.warning("taking over the lock of %s: %s's lease expired at %s",
                               self.day, body.get("owner"), _utc(body.get("expires", 0)))
                if self._put(IfMatch=etag):
                    return self
                continue  # another run took it over first (or it was released): look again
            if now >= deadline:
                raise JobError(
                    f"the lock of day {self.day} ({self.key}) is held by {body.get('owner')!r} "
                    f"until {_utc(body.get('expires', 0))}; gave up after waiting "
                    f"{self.timeout_seconds:g} s")
            pause = min(wait, deadline - now) * random.uniform(0.5, 1.0)
            self.sleep(max(pause, 0.01))
            wait = min(wait * 2, LONGEST_WAIT_SECONDS)

    def _put(self, **condition: str) -> bool:
        """Write our lease under ``condition``; whether it held."""
        expires = self.clock() + self.lease_seconds
        body = json.dumps({"owner": self.owner, "expires": expires}).encode()
        try:
            response = self.s3.put_object(Bucket=self.bucket, Key=self.key, Body=body,
                                          ContentType="application/json", **condition)
        except ClientError as error:
            if _code(error) in CONDITION_FAILED + GONE:
                return False
            raise
        self._etag, self.expires = response["ETag"], expires
        return True

    def _read(self) -> Optional[tuple[dict[str, Any], str]]:
        """The lock's body and etag, or None when there is no lock."""
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=self.key)
        except ClientError as error:
            if _code(error) in GONE:
                return None
            raise
        return json.loads(response["Body"].read()), response["ETag"]

    # --- holding ---

    def renew_if_due(self) -> None:
        """Renew the lease when less than half of it is left; call it before each piece of
        work. Raises `JobError` when the lock is no longer ours (taken over after our lease
        expired, or deleted): nothing more may be written for the day."""
        if self._etag is None:
            raise JobError(f"the lock of day {self.day} is not held")
        if self.expires - self.clock() >= self.lease_seconds / 2:
            return
        if not self._put(IfMatch=self._etag):
            self._etag = None
            raise JobError(f"lost the lock of day {self.day} ({self.key}): another run took it "
                           f"over after our lease expired at {_utc(self.expires)}")

    @property
    def held(self) -> bool:
        return self._etag is not None

    # --- releasing ---

    def __exit__(self, kind: Optional[type[BaseException]], error: Optional[BaseException],
                 trace: Optional[TracebackType]) -> None:
        """Delete the lock if it is still ours: the delete is conditional on our etag, so a
        lock another run took over is left to it. Losing it unnoticed is an error, unless the
        block already failed."""
        etag, self._etag = self._etag, None
        if etag is None:
            return
        try:
            self.s3.delete_object(Bucket=self.bucket, Key=self.key, IfMatch=etag)
        except ClientError as failure:
            if _code(failure) not in CONDITION_FAILED + GONE:
                raise
            if error is None:
                raise JobError(f"lost the lock of day {self.day} ({self.key}) before releasing "
                               "it: another run took it over after our lease expired") from None


def _utc(epoch_seconds: Any) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(epoch_seconds)))


class DayState:
    """Which partitions of an event day are compacted, and into which generation
    (``manifest_prefix + "days/dt=D.json"``); a partition not listed is at its hourly location.
    Read and written only under the day's lock."""

    def __init__(self, bucket: str, manifest_prefix: str, day: str,
                 compacted: Optional[dict[str, dict[str, str]]] = None) -> None:
        self.bucket = bucket
        self.manifest_prefix = manifest_prefix
        self.day = day
        self.compacted: dict[str, dict[str, str]] = compacted or {}

    @classmethod
    def load(cls, s3: Any, bucket: str, manifest_prefix: str, day: str) -> "DayState":
        try:
            body = s3.get_object(Bucket=bucket, Key=state_key(manifest_prefix, day))["Body"]
        except ClientError as error:
            if _code(error) in GONE:
                return cls(bucket, manifest_prefix, day)
            raise
        data = json.loads(body.read())
        return cls(bucket, manifest_prefix, day, data.get("compacted", {}))

    def generation(self, table: str, symbol: str) -> Optional[str]:
        """The partition's compacted generation; None: it is at its hourly location."""
        return self.compacted.get(table, {}).get(symbol)

    def set_generation(self, table: str, symbol: str, generation: str) -> None:
        self.compacted.setdefault(table, {})[symbol] = generation

    def to_json(self) -> bytes:
        compacted = {table: dict(sorted(symbols.items()))
                     for table, symbols in sorted(self.compacted.items()) if symbols}
        return json.dumps({"day": self.day, "compacted": compacted}, indent=1).encode()

    def save(self, s3: Any) -> None:
        s3.put_object(Bucket=self.bucket, Key=state_key(self.manifest_prefix, self.day),
                      Body=self.to_json(), ContentType="application/json")


def new_generation(now: float) -> str:
    """A compacted generation's name: its UTC time and 8 random hex digits, so two never meet
    (``YYYYMMDDTHHMMSSZ-1a2b3c4d``) and names sort by time."""
    return f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(now))}-{secrets.token_hex(4)}"


def retire(s3: Any, bucket: str, manifest_prefix: str, prefixes: Sequence[str],
           now: float) -> None:
    """Write a ledger entry for locations a switch left behind; `sweep_retired` deletes them
    once no query planned before the switch can still be reading them."""
    if not prefixes:
        return
    name = f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(now))}-{secrets.token_hex(4)}.json"
    s3.put_object(Bucket=bucket, Key=retired_prefix(manifest_prefix) + name,
                  Body=json.dumps({"retired_at": now, "prefixes": sorted(prefixes)}).encode(),
                  ContentType="application/json")


def sweep_retired(s3: Any, bucket: str, manifest_prefix: str, *, older_than_seconds: float,
                  now: float) -> int:
    """Delete the objects under every prefix retired more than ``older_than_seconds`` before
    ``now``, then the ledger entry; returns the objects deleted (entries not counted). An entry
    is deleted only after its objects, so a run stopped halfway leaves it for the next sweep."""
    deleted = 0
    entries: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=retired_prefix(manifest_prefix)):
        entries.extend(item["Key"] for item in page.get("Contents", []))
    for entry in sorted(entries):
        try:
            data = json.loads(s3.get_object(Bucket=bucket, Key=entry)["Body"].read())
        except ClientError as error:
            if _code(error) in GONE:  # another sweep took it
                continue
            raise
        if float(data["retired_at"]) > now - older_than_seconds:
            continue
        for prefix in data["prefixes"]:
            deleted += _delete_under(s3, bucket, prefix)
        s3.delete_object(Bucket=bucket, Key=entry)
    return deleted


def _delete_under(s3: Any, bucket: str, prefix: str) -> int:
    if not prefix.endswith("/"):  # a location, never a key's beginning shared with others
        raise ValueError(f"retired prefix {prefix!r} does not end with '/'")
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(item["Key"] for item in page.get("Contents", []))
    for start in range(0, len(keys), DELETE_BATCH):
        batch = keys[start:start + DELETE_BATCH]
        response = s3.delete_objects(Bucket=bucket, Delete={
            "Objects": [{"Key": key} for key in batch], "Quiet": True})
        if response.get("Errors"):
            raise JobError(f"could not delete retired objects: {response['Errors'][:3]}")
    return len(keys)
