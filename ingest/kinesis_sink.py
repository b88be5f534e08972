"""PutRecords to a Kinesis Data Stream through boto3, behind the small `Sink` protocol.

`Delivery` builds the calls: whole Kinesis records (one or more JSON lines, see
`miniticker.kinesis_record`), within Kinesis's request limits. This module sends one call and
says which of its records Kinesis did not store, how many of those it throttled, and why.

The client is a plain boto3 Kinesis client built with `CLIENT_CONFIG`: boto3 brings the
endpoint (``AWS_ENDPOINT_URL``, region), the credentials chain (an ECS task role included),
the signature, TLS and proxies. A call that fails as a whole is retried by botocore's standard
retry mode a few times; what still fails (the whole call, or single records of a partial
failure) goes back to `Delivery`, whose one loop retries only the failed records, with jittered
backoff. With records aggregated, botocore's work a record (walking the service model, reading
each result) is shared by dozens of events; what remains is work a byte (base64, JSON, the
signature's hash), all of it in C. ``bench/bench_ingest.py`` prints the sender's CPU an event.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol, TypedDict

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

#: The boto3 client configuration of the service's Kinesis client (the sink's and the start-up
#: check's). Standard retry mode: a call that fails as a whole with a throttling or transient
#: error is sent again, up to three attempts in all, with backoff. No parameter validation:
#: `Delivery`'s batching already keeps every call within Kinesis's limits, and validation would
#: walk every record.
CLIENT_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 3},
    connect_timeout=5,
    read_timeout=10,
    parameter_validation=False,
)

#: The error code of a record refused for its shard's throughput (records or bytes a second).
THROTTLED = "ProvisionedThroughputExceededException"


class PutRecordsEntry(TypedDict):
    """One record of a PutRecords call, as boto3 takes it."""

    Data: bytes
    PartitionKey: str


class PutOutcome(NamedTuple):
    """What became of one call's records."""

    #: Positions, in the records sent, of those Kinesis did not store (ascending).
    failed: list[int]
    #: How many of the failed ones Kinesis refused with `THROTTLED` (a whole call refused with
    #: it counts every record).
    throttled: int
    #: None when every record was stored; else why not, e.g.
    #: ``ProvisionedThroughputExceededException x3`` or ``InternalFailure: ...``.
    reason: str | None


class Sink(Protocol):
    """Where `Delivery` puts its calls: `KinesisSink`, or a stand-in in a benchmark."""

    def put(self, records: Sequence[PutRecordsEntry]) -> PutOutcome: ...


class KinesisSink:
    """Sends calls to one stream with a boto3 Kinesis client (see `CLIENT_CONFIG`)."""

    def __init__(self, stream_name: str, client: Any) -> None:
        self.stream_name = stream_name
        self._client = client

    def put(self, records: Sequence[PutRecordsEntry]) -> PutOutcome:
        """One PutRecords call (within Kinesis's limits: `Delivery` sees to them)."""
        try:
            answer = self._client.put_records(StreamName=self.stream_name, Records=records)
        except ClientError as error:  # answered, but refused as a whole: stream missing, 5xx
            details = error.response.get("Error", {})
            code = details.get("Code") or "UnknownError"
            message = details.get("Message") or ""
            return PutOutcome(list(range(len(records))),
                              len(records) if code == THROTTLED else 0,
                              f"{code}: {message}" if message else code)
        except BotoCoreError as error:  # not answered: endpoint unreachable, timeout
            return PutOutcome(list(range(len(records))), 0, f"{type(error).__name__}: {error}")
        return failures(answer, len(records))


def failures(answer: Any, count: int) -> PutOutcome:
    """The failed records of a PutRecords answer to a call of ``count`` records."""
    results = answer.get("Records")
    if not isinstance(results, list) or len(results) != count:
        # Not Kinesis's answer (a 200 from something else in between, which botocore reads as
        # an empty one). Kinesis may have stored some: resending all can duplicate, not lose.
        found = len(results) if isinstance(results, list) else "no"
        return PutOutcome(list(range(count)), 0,
                          f"unreadable PutRecords answer: {found} results for {count} records")
    if not answer.get("FailedRecordCount"):
        return PutOutcome([], 0, None)
    failed = [position for position, result in enumerate(results) if result.get("ErrorCode")]
    if not failed:  # a count without a failed result: each record's own result decides
        return PutOutcome([], 0, None)
    codes = Counter(results[position]["ErrorCode"] for position in failed)
    return PutOutcome(failed, codes[THROTTLED],
                      ", ".join(f"{code} x{times}" for code, times in sorted(codes.items())))
