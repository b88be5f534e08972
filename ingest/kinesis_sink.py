"""PutRecords to a Kinesis Data Stream: full batches, and only failed records retried.

Limits are Kinesis's own: 500 records and 5 MiB a request, 1 MiB a record (data plus partition
key). A request that fails as a whole (throttled, endpoint down) leaves every record failed; a
partial failure names the records that failed, and only those are retried (by `Delivery`).

Why this module speaks the PutRecords wire format itself: botocore's generic JSON serializer
and parser walk the service model for every record, a request and its answer, and that walk was
the largest cost on the ingester's path (``bench/bench_ingest.py`` prints both sinks' CPU per
record). Everything else stays botocore's: the endpoint (``AWS_ENDPOINT_URL``, region) and the
API's target come from a boto3 client, credentials from boto3's provider chain (refreshed as they
expire, e.g. an ECS task role), the SigV4 signature from ``SigV4Auth``. The connection is
urllib3's, as under botocore, with botocore's CA bundle and the environment's proxies, but used
directly: botocore's per-request wrapping of it (``URLLib3Session``, prepared requests,
case-insensitive headers) was a large share of a request's CPU in scratch timings. Retries are
`Delivery`'s one loop, with jittered backoff, for a whole request and for single records alike.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Sequence
from typing import Any

import boto3
import pybase64
import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.httpsession import get_cert_path
from botocore.utils import get_environ_proxies

from .spool import Entry

MAX_RECORDS_PER_REQUEST = 500
MAX_BYTES_PER_REQUEST = 5 * 1024 * 1024
MAX_BYTES_PER_RECORD = 1024 * 1024

#: The boto3 client the service uses for everything but PutRecords (the start-up check of the
#: stream), and the source of the sink's endpoint and timeouts. Standard retry mode: throttling
#: and transient errors are retried a few times with backoff.
CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=5,
    read_timeout=10,
)

# The usual answer, found without decoding the 500 results that follow it. Inside a JSON string
# a quote is escaped, so this cannot match a string's text, only the answer's own member.
_NONE_FAILED = re.compile(rb'"FailedRecordCount"\s*:\s*0\s*[,}]')


class MissingCredentials(RuntimeError):
    """boto3's provider chain found no AWS credentials (no variables, profile or task role)."""


def batches(entries: Sequence[Entry]) -> Iterator[list[Entry]]:
    """Consecutive batches within the request limits, in order."""
    if 0 < len(entries) <= MAX_RECORDS_PER_REQUEST and _surely_small(entries):
        yield list(entries)  # the sender's usual batch: sized at C speed, not record by record
        return
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


def _surely_small(entries: Sequence[Entry]) -> bool:
    """Whether the entries come to at most 1 MiB together, so that none can exceed a record's
    limit nor all of them a request's. A UTF-8 key takes at most 4 bytes a character."""
    keys, datas = zip(*entries)
    return 4 * sum(map(len, keys)) + sum(map(len, datas)) <= MAX_BYTES_PER_RECORD


def put_records_body(stream_name: str, batch: Sequence[Entry]) -> bytes:
    """The PutRecords request document (JSON 1.1): each record's data in base64.

    Built with C-level ``map`` and one ``join`` of a list of pieces: a record's head (its
    partition key, cached) and its encoded data, alternately. The sender's CPU goes mostly to
    work done once a record, so none of it is done one Python concatenation at a time.
    """
    parts: list[bytes] = [b""] * (2 * len(batch) + 2)
    parts[0] = b'{"StreamName":%b,"Records":[' % json.dumps(stream_name).encode()
    parts[-1] = b"]}"
    if batch:
        keys, datas = zip(*batch)
        parts[1:-1:2] = map(_HEADS.__getitem__, keys)
        parts[2:-1:2] = map(pybase64.b64encode, datas)
        parts[1] = parts[1][len(_BETWEEN_RECORDS):]  # no record before the first
        parts[-1] = b'"}]}'
    return b"".join(parts)


_BETWEEN_RECORDS = b'"},'  # the end of one record's data and object, before the next


class _RecordHeads(dict[str, bytes]):
    """Each partition key's record head: the end of the record before, then the new record up to
    its data. The keys are symbols, a few thousand at most; the bound only guards against a
    caller with unbounded keys."""

    BOUND = 100_000

    def __missing__(self, key: str) -> bytes:
        if len(self) >= self.BOUND:
            self.clear()
        head = self[key] = b'%b{"PartitionKey":%b,"Data":"' % (_BETWEEN_RECORDS,
                                                                 json.dumps(key).encode())
        return head


_HEADS = _RecordHeads()


class KinesisSink:
    """Sends batches to one stream; reports which records failed and why.

    ``client`` is a boto3 Kinesis client: the sink takes its endpoint, region, API target and
    timeouts, so it reaches whatever the client would (an ``AWS_ENDPOINT_URL`` included).
    """

    def __init__(self, stream_name: str, client: Any, *,
                 credentials: Credentials | None = None) -> None:
        self.stream_name = stream_name
        credentials = credentials or boto3.Session().get_credentials()
        if credentials is None:
            raise MissingCredentials("no AWS credentials: set AWS_ACCESS_KEY_ID and "
                                     "AWS_SECRET_ACCESS_KEY, a profile, or a task role")
        self._credentials = credentials
        meta = client.meta
        self._url = meta.endpoint_url.rstrip("/") + "/"
        self._signer_scope = (meta.service_model.signing_name, meta.region_name)
        metadata = meta.service_model.metadata
        self._headers = {
            "Content-Type": f"application/x-amz-json-{metadata['jsonVersion']}",
            "X-Amz-Target": f"{metadata['targetPrefix']}.PutRecords",
            "User-Agent": "crypto-live-ingest",
        }
        self._http, self._target = connection_pool(self._url, urllib3.Timeout(
            connect=meta.config.connect_timeout, read=meta.config.read_timeout))

    def put(self, batch: list[Entry]) -> tuple[list[Entry], str | None]:
        """Send one batch (see `batches`); returns the failed entries and an error summary."""
        try:
            status, answer = self._send(put_records_body(self.stream_name, batch))
        except Exception as error:  # endpoint down, timeout, ...
            return list(batch), f"{type(error).__name__}: {error}"
        if status != 200:
            return list(batch), _error_summary(status, answer)
        return failed_records(batch, answer)

    def _send(self, body: bytes) -> tuple[int, bytes]:
        request = AWSRequest(method="POST", url=self._url, data=body, headers=self._headers)
        # Frozen per request: refreshable credentials (a task role) renew themselves here.
        SigV4Auth(self._credentials.get_frozen_credentials(), *self._signer_scope) \
            .add_auth(request)
        response = self._http.urlopen("POST", self._target, body=body,
                                      headers=dict(request.headers.items()),
                                      retries=False, assert_same_host=False)
        return response.status, response.data


def connection_pool(url: str,
                    timeout: urllib3.Timeout) -> tuple[urllib3.HTTPConnectionPool, str]:
    """One keep-alive connection to ``url``'s host, and the request target to send it; set up as
    botocore sets up its own: through the proxy the environment names for it (``HTTPS_PROXY``,
    ``NO_PROXY``), and verifying TLS against ``AWS_CA_BUNDLE`` or botocore's bundle."""
    parsed = urllib3.util.parse_url(url)
    scheme = parsed.scheme
    proxy = get_environ_proxies(url).get(scheme)
    settings: dict[str, Any] = {"timeout": timeout, "maxsize": 1}  # one sender thread
    if scheme == "https":
        settings.update(cert_reqs="CERT_REQUIRED",
                        ca_certs=os.environ.get("AWS_CA_BUNDLE") or get_cert_path(True))
    manager = (urllib3.proxy_from_url(proxy, **settings) if proxy
               else urllib3.PoolManager(**settings))
    # HTTPS goes through a proxy in a CONNECT tunnel; plain HTTP names the whole URL to it.
    target = url if proxy and scheme == "http" else parsed.request_uri
    return manager.connection_from_url(url), target


def failed_records(batch: list[Entry], answer: bytes) -> tuple[list[Entry], str | None]:
    """The entries a PutRecords answer (HTTP 200) reports as failed, and a count of why."""
    if _NONE_FAILED.search(answer):
        return [], None
    try:
        response = json.loads(answer)
        if not response["FailedRecordCount"]:
            return [], None
        results = response["Records"]
        if len(results) != len(batch):
            raise ValueError(f"{len(results)} results for {len(batch)} records")
    except (ValueError, KeyError, TypeError) as error:
        # Kinesis may have stored some records: resending them all can duplicate, never lose.
        return list(batch), f"unreadable PutRecords response: {error}"
    failed = []
    codes: dict[str, int] = {}
    for entry, result in zip(batch, results):
        code = result.get("ErrorCode")
        if code:
            failed.append(entry)
            codes[code] = codes.get(code, 0) + 1
    return failed, ", ".join(f"{code} x{count}" for code, count in sorted(codes.items()))


def _error_summary(status: int, answer: bytes) -> str:
    """``ResourceNotFoundException: Stream x not found`` from a JSON error, else the status."""
    try:
        error = json.loads(answer)
        kind = str(error.get("__type", "")).rpartition("#")[2]
        message = error.get("message") or error.get("Message") or ""
        if kind:
            return f"{kind}: {message}" if message else kind
    except (ValueError, AttributeError):
        pass
    return f"HTTP {status}: {answer[:200]!r}"
