"""A loopback Kinesis endpoint for one stream of one shard, enforcing that shard's write limits.

moto's Kinesis accepts whatever it is sent, so it cannot show whether the ingester keeps within
a shard's throughput. This endpoint speaks Kinesis's JSON 1.1 protocol (``X-Amz-Target:
Kinesis_20131202.<Operation>``, ``application/x-amz-json-1.1``) closely enough for a boto3 client
pointed at it with ``endpoint_url`` (or ``AWS_ENDPOINT_URL``) to work unchanged, and answers as
Kinesis does at its limits (`miniticker.kinesis_record`):

- a shard's write budget, ``SHARD_RECORDS_PER_SECOND`` records and ``SHARD_BYTES_PER_SECOND``
  bytes of data plus partition key a second: a PutRecords entry beyond it fails with
  ``ProvisionedThroughputExceededException`` (HTTP 200, ``FailedRecordCount``), a PutRecord call
  beyond it fails whole (HTTP 400), as Kinesis does;
- the request limits: more than ``MAX_RECORDS_PER_REQUEST`` entries, or a record's data over
  ``MAX_BYTES_PER_RECORD``, are a ``ValidationException``; over ``MAX_BYTES_PER_REQUEST`` of data
  and keys in one call is ``InvalidArgumentException: Records size exceeds 5 MB limit``. Kinesis
  counts the partition key into a record's 1 MiB; its answer to a record whose data fits but
  data and key do not is not documented: this endpoint refuses the call with an
  ``InvalidArgumentException`` naming the record;
- another stream name: ``ResourceNotFoundException``.

Operations: PutRecords, PutRecord, ListShards and DescribeStreamSummary (what the ingester's start
check and a reader of the figures need); any other is ``UnknownOperationException``.

How "a second" is measured: the clock (an injectable callable, epoch seconds) is read once per
call, and every entry of the call is accounted at that instant against the budget of the
clock's whole second (``floor(now)``): a fixed window, refilled when the whole second changes.
Kinesis documents its limits per second without saying how it measures them; a fixed window
makes every count exact to reason about (N calls in one second share one budget; the next
second starts afresh), which the tests need, and over any run of whole seconds it lets through
exactly what a per-second limit allows. What it gives up: at a boundary, the end of one second
and the start of the next may take a budget each within moments, where a sliding window would
refuse the second one; a sender that stays within the rate over whole seconds is unaffected,
one that relies on such bursts is measured more kindly than Kinesis might. Within a call,
entries are admitted in index order, each on its own: one that does not fit what is left of
the second (records or bytes) fails and a later, smaller one may still fit.

What it accepted is kept: each record's partition key, data, sequence number and acceptance
time (epoch ms), and counters (records and bytes accepted, entries throttled, calls by
operation, errors by kind). With ``line_stats`` it also reads every accepted record's lines
(`lines_of`, each a MiniTicker JSON line) for the benchmark's figures: lines accepted,
duplicate lines by ``(symbol, event_time)``, and each line's lag, acceptance time minus the
line's ``received_at`` (p50/p99/max).

Run it in a thread (``with KinesisShard("ticks") as shard: ... shard.url``) or as a process::

    python -m local.kinesis_shard --stream NAME [--port 0]

which prints its URL on the first line of stdout and serves until SIGTERM or SIGINT, with line
statistics on and the records' data not kept (its memory then grows with the lines' keys and
lags, not with the data). Besides the Kinesis API on ``POST /`` it serves ``GET /stats`` (counters,
limits and line figures as JSON; ``?received_from=MS&received_to=MS`` limits the lag figures to
lines received in that window), ``GET /keys`` (every accepted line's ``[symbol, event_time]``,
in acceptance order) and ``POST /limits`` (``{"records_per_second": N, "bytes_per_second": N}``,
either or both: the benchmark's squeeze).
"""

from __future__ import annotations

import argparse
import binascii
import json
import math
import signal
import sys
import threading
import time
import uuid
from array import array
from collections.abc import Callable
from dataclasses import asdict, dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

from miniticker.kinesis_record import (
    MAX_BYTES_PER_RECORD,
    MAX_BYTES_PER_REQUEST,
    MAX_RECORDS_PER_REQUEST,
    SHARD_BYTES_PER_SECOND,
    SHARD_RECORDS_PER_SECOND,
    lines_of,
)

TARGET_PREFIX = "Kinesis_20131202"
CONTENT_TYPE = "application/x-amz-json-1.1"
ACCOUNT = "000000000000"  # the account moto and the local mode use
REGION = "us-east-1"
SHARD_ID = "shardId-000000000000"
MAX_PARTITION_KEY_LENGTH = 256  # Kinesis's model: 1 to 256 Unicode characters
HASH_KEY_END = 2**128 - 1  # one shard holds the whole hash key range
#: Sequence numbers are decimal strings of Kinesis's width (56 digits), rising per record.
SEQUENCE_BASE = 49 * 10**54
#: Unreadable lines whose first bytes are kept for the report (all are counted).
UNREADABLE_SAMPLES = 10

Clock = Callable[[], float]


class KinesisError(Exception):
    """An error answer: Kinesis's error type (``__type``) and message, with its HTTP status."""

    def __init__(self, kind: str, message: str, status: int = HTTPStatus.BAD_REQUEST) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message
        self.status = status


@dataclass
class Limits:
    """A shard's write budget a second (Kinesis's own unless a benchmark squeezes it)."""

    records_per_second: int = SHARD_RECORDS_PER_SECOND
    bytes_per_second: int = SHARD_BYTES_PER_SECOND

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a whole number of at least 1, got {value!r}")


class AcceptedRecord(NamedTuple):
    partition_key: str
    data: bytes
    sequence_number: str
    accepted_at: int  # epoch ms, the call's clock reading


def nearest_rank(ordered: list[int], fraction: float) -> int | None:
    """The nearest-rank percentile of ascending ``ordered`` (None when empty)."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


class LineStats:
    """Per-line figures of what the shard accepted: the benchmark's exactness and lag.

    A line that is not a JSON object with a text ``symbol`` and integer ``event_time`` and
    ``received_at`` is counted as unreadable (Kinesis took it all the same) and its start kept.
    """

    def __init__(self) -> None:
        self.lines = 0
        self.duplicates = 0
        self.unreadable = 0
        self.unreadable_samples: list[str] = []
        self._seen: set[tuple[str, int]] = set()
        self.keys: list[tuple[str, int]] = []  # acceptance order, duplicates included
        self._received = array("q")  # per line: received_at
        self._lags = array("q")  # per line: accepted_at - received_at

    def add(self, data: bytes, accepted_at: int) -> None:
        for line in lines_of(data):
            try:
                document = json.loads(line)
                key = (document["symbol"], document["event_time"])
                received_at = document["received_at"]
                if not (isinstance(key[0], str) and type(key[1]) is int
                        and type(received_at) is int):
                    raise TypeError("symbol, event_time or received_at of the wrong type")
            except (ValueError, KeyError, TypeError):
                self.unreadable += 1
                if len(self.unreadable_samples) < UNREADABLE_SAMPLES:
                    self.unreadable_samples.append(line[:200].decode("utf-8", "replace"))
                continue
            self.lines += 1
            if key in self._seen:
                self.duplicates += 1
            else:
                self._seen.add(key)
            self.keys.append(key)
            self._received.append(received_at)
            self._lags.append(accepted_at - received_at)

    def summary(self, received_from: int | None = None,
                received_to: int | None = None) -> dict[str, Any]:
        """Counts, and lag percentiles (ms) of the lines received in ``[from, to)``."""
        if received_from is None and received_to is None:
            lags = sorted(self._lags)
        else:
            low = -(2**63) if received_from is None else received_from
            high = 2**63 - 1 if received_to is None else received_to
            lags = sorted(lag for received, lag in zip(self._received, self._lags)
                          if low <= received < high)
        return {
            "lines": self.lines,
            "duplicate_lines": self.duplicates,
            "unreadable_lines": self.unreadable,
            "unreadable_samples": list(self.unreadable_samples),
            "lag_ms": {"lines": len(lags), "p50": nearest_rank(lags, 0.50),
                       "p99": nearest_rank(lags, 0.99), "max": lags[-1] if lags else None},
        }


class KinesisShard:
    """One stream of one shard on loopback: ``with KinesisShard("ticks") as shard:``.

    Args:
        stream_name: the one stream; any other name is ``ResourceNotFoundException``.
        clock: epoch seconds, read once per call (tests pass a manual clock).
        limits: the shard's budget a second (Kinesis's by default).
        keep_records: keep every accepted record's key and data (`records`).
        line_stats: read every accepted record's lines (`line_stats`, ``GET /stats``).
    """

    def __init__(
        self,
        stream_name: str,
        *,
        clock: Clock = time.time,
        limits: Limits | None = None,
        keep_records: bool = True,
        line_stats: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.stream_name = stream_name
        self.stream_arn = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{stream_name}"
        self.keep_records = keep_records
        self.line_stats = LineStats() if line_stats else None
        self._clock = clock
        self._limits = limits or Limits()
        self._created = clock()
        self._lock = threading.Lock()
        self._records: list[AcceptedRecord] = []
        self._window = -1  # the whole second the budget below belongs to
        self._window_records = 0
        self._window_bytes = 0
        self._sequence = 0
        self.accepted_records = 0
        self.accepted_bytes = 0
        self.throttled_entries = 0
        self.calls: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        self._host, self._port = host, port
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None
        self._operations: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "PutRecords": self._put_records,
            "PutRecord": self._put_record,
            "ListShards": self._list_shards,
            "DescribeStreamSummary": self._describe_stream_summary,
        }

    # --- life cycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the endpoint is not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> KinesisShard:
        self._httpd = _HttpServer((self._host, self._port), _Handler, self)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.1,),
                                        name="kinesis-shard", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> KinesisShard:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- what it holds ------------------------------------------------------------------------

    @property
    def records(self) -> list[AcceptedRecord]:
        """Every accepted record, in acceptance order (empty unless ``keep_records``)."""
        with self._lock:
            return list(self._records)

    @property
    def limits(self) -> Limits:
        with self._lock:
            return Limits(**asdict(self._limits))

    def set_limits(self, *, records_per_second: int | None = None,
                   bytes_per_second: int | None = None) -> Limits:
        """Change the budget from the next call on (the current second keeps what it used)."""
        with self._lock:
            current = asdict(self._limits)
            if records_per_second is not None:
                current["records_per_second"] = records_per_second
            if bytes_per_second is not None:
                current["bytes_per_second"] = bytes_per_second
            self._limits = Limits(**current)
            return Limits(**current)

    def counters(self) -> dict[str, Any]:
        """Records and bytes accepted, entries throttled, calls by operation, errors by kind."""
        with self._lock:
            return self._counters_locked()

    def _counters_locked(self) -> dict[str, Any]:
        return {"accepted_records": self.accepted_records,
                "accepted_bytes": self.accepted_bytes,
                "throttled_entries": self.throttled_entries,
                "calls": dict(self.calls), "errors": dict(self.errors)}

    def stats(self, received_from: int | None = None,
              received_to: int | None = None) -> dict[str, Any]:
        """``GET /stats``: counters, limits and (with line statistics) the line figures."""
        with self._lock:
            document: dict[str, Any] = {"stream": self.stream_name,
                                        **self._counters_locked(),
                                        "limits": asdict(self._limits)}
            if self.line_stats is not None:
                document.update(self.line_stats.summary(received_from, received_to))
            return document

    def line_keys(self) -> list[tuple[str, int]]:
        """Every accepted line's ``(symbol, event_time)`` in acceptance order (line stats)."""
        if self.line_stats is None:
            raise RuntimeError("line statistics are off")
        with self._lock:
            return list(self.line_stats.keys)

    # --- the API ------------------------------------------------------------------------------

    def call(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        """One API call's answer document; raises `KinesisError` for an error answer."""
        handler = self._operations.get(operation)
        with self._lock:
            self.calls[operation] = self.calls.get(operation, 0) + 1
        try:
            if handler is None:
                raise KinesisError("UnknownOperationException",
                                   f"{operation or 'no operation'} is not an operation of this "
                                   "endpoint (PutRecords, PutRecord, ListShards, "
                                   "DescribeStreamSummary)")
            return handler(request)
        except KinesisError as error:
            with self._lock:
                self.errors[error.kind] = self.errors.get(error.kind, 0) + 1
            raise

    def _put_records(self, request: dict[str, Any]) -> dict[str, Any]:
        entries = request.get("Records")
        problems = self._stream_problems(request)
        if not isinstance(entries, list):
            problems.append("Value null at 'records' failed to satisfy constraint: "
                            "Member must not be null")
            entries = []
        elif not entries:
            problems.append("Value '[]' at 'records' failed to satisfy constraint: "
                            "Member must have length greater than or equal to 1")
        elif len(entries) > MAX_RECORDS_PER_REQUEST:
            problems.append("Value at 'records' failed to satisfy constraint: Member must have "
                            f"length less than or equal to {MAX_RECORDS_PER_REQUEST}")
        decoded = [_entry(entry, f"records.{index}.member.", problems)
                   for index, entry in enumerate(entries, 1)]
        _raise_validation(problems)
        self._check_stream(request)
        sizes = [len(data) + len(key.encode()) for key, data in decoded]
        if sum(sizes) > MAX_BYTES_PER_REQUEST:
            raise KinesisError("InvalidArgumentException", "Records size exceeds 5 MB limit")
        for index, size in enumerate(sizes, 1):  # numbered from 1, as the model's errors are
            if size > MAX_BYTES_PER_RECORD:
                raise KinesisError(
                    "InvalidArgumentException",
                    f"Record {index} has {size} bytes of data and partition key; a record "
                    f"holds at most {MAX_BYTES_PER_RECORD}")
        results: list[dict[str, str]] = []
        failed = 0
        with self._lock:
            accepted_at = self._open_window()
            for (key, data), size in zip(decoded, sizes):
                if self._fits(size):
                    results.append({"SequenceNumber": self._accept(key, data, size, accepted_at),
                                    "ShardId": SHARD_ID})
                else:
                    failed += 1
                    results.append({"ErrorCode": "ProvisionedThroughputExceededException",
                                    "ErrorMessage": self._rate_exceeded()})
            self.throttled_entries += failed
        return {"FailedRecordCount": failed, "Records": results, "EncryptionType": "NONE"}

    def _put_record(self, request: dict[str, Any]) -> dict[str, Any]:
        problems = self._stream_problems(request)
        key, data = _entry(request, "", problems)
        _raise_validation(problems)
        self._check_stream(request)
        size = len(data) + len(key.encode())
        if size > MAX_BYTES_PER_RECORD:
            raise KinesisError("InvalidArgumentException",
                               f"The record has {size} bytes of data and partition key; a "
                               f"record holds at most {MAX_BYTES_PER_RECORD}")
        with self._lock:
            accepted_at = self._open_window()
            if not self._fits(size):
                self.throttled_entries += 1
                raise KinesisError("ProvisionedThroughputExceededException",
                                   self._rate_exceeded())
            sequence_number = self._accept(key, data, size, accepted_at)
        return {"ShardId": SHARD_ID, "SequenceNumber": sequence_number,
                "EncryptionType": "NONE"}

    def _list_shards(self, request: dict[str, Any]) -> dict[str, Any]:
        if request.get("NextToken") is not None:
            raise KinesisError("InvalidArgumentException",
                               "this endpoint's one shard is always on the first page: "
                               "no NextToken is ever handed out")
        problems = self._stream_problems(request)
        _raise_validation(problems)
        self._check_stream(request)
        after = request.get("ExclusiveStartShardId")
        shards = [] if after is not None and after >= SHARD_ID else [{
            "ShardId": SHARD_ID,
            "HashKeyRange": {"StartingHashKey": "0", "EndingHashKey": str(HASH_KEY_END)},
            "SequenceNumberRange": {"StartingSequenceNumber": str(SEQUENCE_BASE)},
        }]
        return {"Shards": shards}

    def _describe_stream_summary(self, request: dict[str, Any]) -> dict[str, Any]:
        _raise_validation(self._stream_problems(request))
        self._check_stream(request)
        return {"StreamDescriptionSummary": {
            "StreamName": self.stream_name,
            "StreamARN": self.stream_arn,
            "StreamStatus": "ACTIVE",
            "StreamModeDetails": {"StreamMode": "PROVISIONED"},
            "RetentionPeriodHours": 24,
            "StreamCreationTimestamp": self._created,
            "EnhancedMonitoring": [{"ShardLevelMetrics": []}],
            "EncryptionType": "NONE",
            "OpenShardCount": 1,
            "ConsumerCount": 0,
        }}

    # --- the budget (under the lock) ----------------------------------------------------------

    def _open_window(self) -> int:
        """Read the clock for this call; a new whole second refills the budget. Returns the
        call's time in epoch ms."""
        now = self._clock()
        second = math.floor(now)
        if second != self._window:
            self._window, self._window_records, self._window_bytes = second, 0, 0
        return int(now * 1000)

    def _fits(self, size: int) -> bool:
        return (self._window_records < self._limits.records_per_second
                and self._window_bytes + size <= self._limits.bytes_per_second)

    def _accept(self, key: str, data: bytes, size: int, accepted_at: int) -> str:
        self._window_records += 1
        self._window_bytes += size
        self.accepted_records += 1
        self.accepted_bytes += size
        sequence_number = str(SEQUENCE_BASE + self._sequence)
        self._sequence += 1
        if self.keep_records:
            self._records.append(AcceptedRecord(key, data, sequence_number, accepted_at))
        if self.line_stats is not None:
            self.line_stats.add(data, accepted_at)
        return sequence_number

    def _rate_exceeded(self) -> str:
        return (f"Rate exceeded for shard {SHARD_ID} in stream {self.stream_name} "
                f"under account {ACCOUNT}.")

    # --- the stream named ---------------------------------------------------------------------

    @staticmethod
    def _stream_problems(request: dict[str, Any]) -> list[str]:
        if request.get("StreamName") is None and request.get("StreamARN") is None:
            return ["Value null at 'streamName' failed to satisfy constraint: "
                    "Member must not be null"]
        return []

    def _check_stream(self, request: dict[str, Any]) -> None:
        name, arn = request.get("StreamName"), request.get("StreamARN")
        if (name is not None and name != self.stream_name) or (
                arn is not None and arn != self.stream_arn):
            shown = name if name is not None else arn
            raise KinesisError("ResourceNotFoundException",
                               f"Stream {shown} under account {ACCOUNT} not found.")


def _entry(entry: Any, at: str, problems: list[str]) -> tuple[str, bytes]:
    """A record's (partition key, data), its validation problems added to ``problems``."""
    if not isinstance(entry, dict):
        raise KinesisError("SerializationException", f"{at or 'the request'} is not an object")
    key = entry.get("PartitionKey")
    if not isinstance(key, str):
        problems.append(f"Value null at '{at}partitionKey' failed to satisfy constraint: "
                        "Member must not be null")
        key = ""
    elif not 1 <= len(key) <= MAX_PARTITION_KEY_LENGTH:
        bound = ("greater than or equal to 1" if not key
                 else f"less than or equal to {MAX_PARTITION_KEY_LENGTH}")
        problems.append(f"Value at '{at}partitionKey' failed to satisfy constraint: "
                        f"Member must have length {bound}")
    encoded = entry.get("Data")
    if not isinstance(encoded, str):
        problems.append(f"Value null at '{at}data' failed to satisfy constraint: "
                        "Member must not be null")
        return key, b""
    try:
        data = binascii.a2b_base64(encoded, strict_mode=True)
    except binascii.Error as error:
        raise KinesisError("SerializationException",
                           f"{at}data is not valid base64: {error}") from None
    if len(data) > MAX_BYTES_PER_RECORD:
        problems.append(f"Value at '{at}data' failed to satisfy constraint: Member must have "
                        f"length less than or equal to {MAX_BYTES_PER_RECORD}")
    return key, data


def _raise_validation(problems: list[str]) -> None:
    if problems:
        count = len(problems)
        raise KinesisError("ValidationException",
                           f"{count} validation error{'s' if count > 1 else ''} detected: "
                           + "; ".join(problems))


# --- HTTP ---------------------------------------------------------------------------------------


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 shard: KinesisShard) -> None:
        super().__init__(address, handler)
        self.shard = shard


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as boto3's connection pool expects
    disable_nagle_algorithm = True  # headers and body leave together: no delayed-ACK stalls
    server: _HttpServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = urlsplit(self.path).path
        if path == "/limits":
            self._limits(body)
            return
        prefix, _, operation = (self.headers.get("X-Amz-Target") or "").partition(".")
        try:
            if prefix != TARGET_PREFIX:
                raise KinesisError("UnknownOperationException",
                                   f"X-Amz-Target must be {TARGET_PREFIX}.<Operation>")
            try:
                request = json.loads(body or b"{}")
            except ValueError as error:
                raise KinesisError("SerializationException",
                                   f"the request is not JSON: {error}") from None
            if not isinstance(request, dict):
                raise KinesisError("SerializationException", "the request is not an object")
            answer = self.server.shard.call(operation, request)
        except KinesisError as error:
            self._send(error.status, {"__type": error.kind, "message": error.message},
                       CONTENT_TYPE)
            return
        self._send(HTTPStatus.OK, answer, CONTENT_TYPE)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        shard = self.server.shard
        if parts.path == "/stats":
            query = parse_qs(parts.query)
            try:
                window = [int(query[name][0]) if name in query else None
                          for name in ("received_from", "received_to")]
            except ValueError:
                self._send(HTTPStatus.BAD_REQUEST,
                           {"message": "received_from and received_to are epoch ms"})
                return
            self._send(HTTPStatus.OK, shard.stats(*window))
        elif parts.path == "/keys" and shard.line_stats is not None:
            self._send(HTTPStatus.OK, shard.line_keys())
        else:
            self._send(HTTPStatus.NOT_FOUND,
                       {"message": "GET /stats or /keys (with line statistics)"})

    def _limits(self, body: bytes) -> None:
        try:
            document = json.loads(body or b"{}")
            if not isinstance(document, dict) or set(document) - {"records_per_second",
                                                                  "bytes_per_second"}:
                raise ValueError("expected {\"records_per_second\": N, "
                                 "\"bytes_per_second\": N}, either or both")
            limits = self.server.shard.set_limits(**document)
        except (ValueError, TypeError) as error:
            self._send(HTTPStatus.BAD_REQUEST, {"message": str(error)})
            return
        self._send(HTTPStatus.OK, asdict(limits))

    def _send(self, status: int, document: Any,
              content_type: str = "application/json") -> None:
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line a request would drown the benchmark's output


# --- as a process -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local.kinesis_shard",
        description="A loopback Kinesis endpoint for one stream of one shard, with its limits; "
                    "prints its URL on the first line.")
    parser.add_argument("--stream", required=True, help="the stream's name")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port (default)")
    parser.add_argument("--records-per-second", type=int, default=SHARD_RECORDS_PER_SECOND)
    parser.add_argument("--bytes-per-second", type=int, default=SHARD_BYTES_PER_SECOND)
    parser.add_argument("--keep-records", action="store_true",
                        help="also keep every record's data in memory (nothing reads it "
                             "from another process: off by default)")
    args = parser.parse_args(argv)
    try:
        limits = Limits(args.records_per_second, args.bytes_per_second)
    except ValueError as error:
        parser.error(str(error))
    stop = threading.Event()

    def handle(number: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    with KinesisShard(args.stream, limits=limits, keep_records=args.keep_records,
                      line_stats=True, host=args.host, port=args.port) as shard:
        print(shard.url, flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
