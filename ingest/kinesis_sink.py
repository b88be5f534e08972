"""PutRecords to a Kinesis Data Stream: full batches, and only failed records retried.

Limits are Kinesis's own: 500 records and 5 MiB a request, 1 MiB a record (data plus partition
key). A request that fails as a whole (throttled, endpoint down) leaves every record failed; a
partial failure names the records that failed, and only those are retried.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from botocore.config import Config

from .spool import Entry

MAX_RECORDS_PER_REQUEST = 500
MAX_BYTES_PER_REQUEST = 5 * 1024 * 1024
MAX_BYTES_PER_RECORD = 1024 * 1024

#: boto3's standard retry mode retries throttling and transient errors of a request a few times
#: with backoff; the sender's own loop handles what is still failing after that. Client-side
#: parameter validation is off: `batches` already enforces the limits that matter, Kinesis
#: validates again, and botocore's validator walks every record (bench/bench_ingest.py prints
#: the put's CPU per record with validation on and off).
CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=5,
    read_timeout=10,
    parameter_validation=False,
)


def batches(entries: Sequence[Entry]) -> Iterator[list[Entry]]:
    """Consecutive batches within the request limits, in order."""
    batch: list[Entry] = []
    size = 0
    for key, data in entries:
        record_size = len(key.encode()) + len(data)
        if record_size > MAX_BYTES_PER_RECORD:
            raise ValueError(f"record of {record_size} bytes exceeds Kinesis's 1 MiB limit")
        if batch and (len(batch) >= MAX_RECORDS_PER_REQUEST
                      or size + record_size > MAX_BYTES_PER_REQUEST):
            yield batch
            batch, size = [], 0
        batch.append((key, data))
        size += record_size
    if batch:
        yield batch


class KinesisSink:
    """Sends batches to one stream; reports which records failed and why."""

    def __init__(self, stream_name: str, client: Any) -> None:
        self.stream_name = stream_name
        self._client = client

    def put(self, batch: list[Entry]) -> tuple[list[Entry], str | None]:
        """Send one batch (see `batches`); returns the failed entries and an error summary."""
        try:
            response = self._client.put_records(
                StreamName=self.stream_name,
                Records=[{"Data": data, "PartitionKey": key} for key, data in batch],
            )
        except Exception as error:  # endpoint down, throttled after boto3's retries, ...
            return list(batch), f"{type(error).__name__}: {error}"
        if not response.get("FailedRecordCount"):
            return [], None
        failed = []
        codes: dict[str, int] = {}
        for entry, result in zip(batch, response["Records"]):
            code = result.get("ErrorCode")
            if code:
                failed.append(entry)
                codes[code] = codes.get(code, 0) + 1
        return failed, ", ".join(f"{code} x{count}" for code, count in sorted(codes.items()))
