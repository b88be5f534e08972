"""A loopback HTTP proxy in front of moto's Kinesis that injects PutRecords faults on demand.

The ingester's boto3 client is pointed at the proxy (``endpoint_url``); the proxy forwards
every request to moto, except that it can fail a PutRecords call as a whole (an outage), hang
it, answer garbage, or throttle a share of its records, forwarding only the others, as Kinesis
does on a partial failure. moto does not check signatures, so the proxy may rewrite a body.
"""

from __future__ import annotations

import base64
import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

THROTTLED = {"ErrorCode": "ProvisionedThroughputExceededException",
             "ErrorMessage": "Rate exceeded for shard shardId-000000000000"}


class KinesisProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream).netloc
        self.down = False  # answer 500 InternalFailure to every PutRecords
        self.garbage = False  # answer 200 with a body that is not PutRecords' answer
        self.fail_every = 0  # throttle every n-th record of a PutRecords call (0: none)
        self.failing_calls = 0  # how many more calls throttle records that way
        self.blocked = threading.Event()  # cleared: PutRecords hangs until set
        self.blocked.set()
        self.requests = 0  # PutRecords requests received, hung ones included
        self.calls = 0  # PutRecords calls answered or forwarded
        self.records_seen: list[list[dict[str, str]]] = []  # each call's records, as sent
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> KinesisProxy:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.blocked.set()
        self._server.shutdown()
        self._server.server_close()

    def forward(self, method: str, path: str, headers: dict[str, str],
                body: bytes) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection(self.upstream, timeout=30)
        try:
            headers = {**headers, "Content-Length": str(len(body))}
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def put_records(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        self.requests += 1
        self.blocked.wait()
        self.calls += 1
        request = json.loads(body)
        records = request["Records"]
        self.records_seen.append(records)
        if self.down:
            return 500, json.dumps({"__type": "InternalFailure",
                                    "message": "injected outage"}).encode()
        if self.garbage:
            return 200, b"<html>a captive portal</html>"
        if self.failing_calls <= 0 or not self.fail_every:
            return self.forward("POST", path, headers, body)
        self.failing_calls -= 1
        failing = set(range(0, len(records), self.fail_every))
        passed = [r for i, r in enumerate(records) if i not in failing]
        results: Any = iter([])
        if passed:
            status, answer = self.forward("POST", path, headers, json.dumps(
                {**request, "Records": passed}).encode())
            assert status == 200, answer
            results = iter(json.loads(answer)["Records"])
        return 200, json.dumps({
            "FailedRecordCount": len(failing),
            "Records": [THROTTLED if i in failing else next(results)
                        for i in range(len(records))]}).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body at once: no 40 ms ACK stalls

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "content-length", "connection")}
                if self.headers.get("X-Amz-Target", "").endswith(".PutRecords"):
                    status, answer = proxy.put_records(self.path, headers, body)
                else:
                    status, answer = proxy.forward("POST", self.path, headers, body)
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


def decoded(records: list[dict[str, str]]) -> list[tuple[str, bytes]]:
    """A PutRecords call's records as (partition key, data) pairs."""
    return [(r["PartitionKey"], base64.b64decode(r["Data"])) for r in records]
