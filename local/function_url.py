"""A Lambda function URL in process: an HTTP request in, the function's answer as HTTP out.

The local web server and the report call the read API through `FunctionUrl.invoke`, so both see
what a browser would get from the function URL in AWS: the request becomes a payload-format-2.0
event (`lambda_events.function_url_event`), the handler runs with a local Lambda context, and its
result is read as Lambda reads it (``statusCode``, ``headers``, ``multiValueHeaders``,
``cookies``, ``body``, ``isBase64Encoded``; a result without ``statusCode`` is a 200 JSON body).
A handler that raises, or answers something Lambda could not read, becomes a 502 with a JSON
error, as the function URL answers then; the exception is logged, and the caller goes on.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple, TextIO

from .lambda_context import LocalContext
from .lambda_events import function_url_event
from .output import to

Handler = Callable[[dict[str, Any], Any], Any]
log = logging.getLogger(__name__)


class HttpResponse(NamedTuple):
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case), or None."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)


class FunctionUrl:
    def __init__(self, handler: Handler, function_name: str, *,
                 output: TextIO | None = None) -> None:
        self.handler = handler
        self.function_name = function_name
        self.output = output  # where the function's standard output goes (logs, EMF)
        self.invocations = 0
        self.failures = 0  # invocations answered 502
        self._count = threading.Lock()

    def invoke(self, method: str, target: str, headers: Iterable[tuple[str, str]] = (), *,
               body: bytes = b"", source_ip: str = "127.0.0.1",
               domain: str = "localhost") -> HttpResponse:
        """Call the function for the request ``method target`` (``GET /api/latest?x=1``)."""
        event = function_url_event(method, target, headers, body=body, source_ip=source_ip,
                                   domain=domain)
        context = LocalContext(self.function_name)
        with self._count:
            self.invocations += 1
        try:
            with to(self.output):
                result = self.handler(event, context)
            return http_response(result)
        except Exception as error:
            with self._count:
                self.failures += 1
            log.exception("%s failed on %s %s (request %s)", self.function_name, method,
                          target, context.aws_request_id)
            return _bad_gateway(f"the function failed: {type(error).__name__}")


class UnreadableResponse(ValueError):
    """The function answered something a function URL cannot turn into HTTP."""


def http_response(result: Any) -> HttpResponse:
    """A function's result as the function URL turns it into HTTP."""
    if not isinstance(result, dict) or "statusCode" not in result:
        return HttpResponse(200, [("Content-Type", "application/json")],
                            json.dumps(result).encode())
    status = result["statusCode"]
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise UnreadableResponse(f"statusCode {status!r} is not an HTTP status")
    headers: list[tuple[str, str]] = []
    for name, value in (result.get("headers") or {}).items():
        headers.append((str(name), str(value)))
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers += [(str(name), str(v)) for v in values]
    headers += [("Set-Cookie", str(c)) for c in result.get("cookies") or ()]
    body = result.get("body")
    if body is None:
        data = b""
    elif not isinstance(body, str):
        raise UnreadableResponse(f"body is a {type(body).__name__}, not a string")
    elif result.get("isBase64Encoded"):
        data = base64.b64decode(body, validate=True)
    else:
        data = body.encode()
    return HttpResponse(status, headers, data)


def _bad_gateway(reason: str) -> HttpResponse:
    return HttpResponse(502, [("Content-Type", "application/json"),
                              ("Cache-Control", "no-store")],
                        json.dumps({"error": reason}).encode())
