"""Lambda events in the shape AWS builds them: event source mappings and function URLs.

A Kinesis event source mapping reads a shard with GetRecords and invokes the function with
``{"Records": [...]}``: each record's data base64-encoded, its sequence number, partition key and
arrival time (epoch seconds, a float), and an ``eventID`` of ``<shard id>:<sequence number>``.
A function URL turns an HTTP request into a payload-format-2.0 event. The local mode's poller,
its web server and the tests build events here, so a handler sees what it would see in AWS.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl

#: Request bodies a function URL passes as text; any other body arrives base64-encoded.
TEXT_MEDIA_TYPES = frozenset({"application/json", "application/javascript", "application/xml",
                              "application/x-www-form-urlencoded"})


def kinesis_event(records: Iterable[Mapping[str, Any]], *, stream_arn: str, shard_id: str,
                  function_role_arn: str) -> dict[str, Any]:
    """The event for ``records`` (GetRecords entries: Data, PartitionKey, SequenceNumber,
    ApproximateArrivalTimestamp) read from shard ``shard_id`` of stream ``stream_arn``."""
    region = stream_arn.split(":")[3]
    return {"Records": [{
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": record["PartitionKey"],
            "sequenceNumber": record["SequenceNumber"],
            "data": base64.b64encode(record["Data"]).decode("ascii"),
            "approximateArrivalTimestamp": _epoch_seconds(record["ApproximateArrivalTimestamp"]),
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard_id}:{record['SequenceNumber']}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": function_role_arn,
        "awsRegion": region,
        "eventSourceARN": stream_arn,
    } for record in records]}


def _epoch_seconds(value: datetime | float) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


def function_url_event(method: str, target: str, headers: Iterable[tuple[str, str]], *,
                       body: bytes = b"", source_ip: str = "127.0.0.1",
                       domain: str = "localhost", protocol: str = "HTTP/1.1",
                       now_ms: int | None = None) -> dict[str, Any]:
    """The event a Lambda function URL (payload format 2.0, auth type NONE) builds for an HTTP
    request: ``target`` is the request line's path and query (``/api/history?symbol=X``).

    As Lambda does: header names in lower case, repeated headers joined with commas, the
    ``cookie`` header moved to ``cookies``; ``rawQueryString`` as sent and
    ``queryStringParameters`` decoded (repeated names joined with commas, absent without a
    query); ``rawPath`` as sent (still percent-encoded); a body whose content type is not text
    is base64-encoded, and no body means no ``body`` key."""
    path, _, query = target.partition("?")
    path = path or "/"
    joined: dict[str, str] = {}
    cookies: list[str] = []
    for given, value in headers:
        name = given.lower()
        if name == "cookie":
            cookies += [c.strip() for c in value.split(";") if c.strip()]
        else:
            joined[name] = f"{joined[name]},{value}" if name in joined else value
    joined.setdefault("x-forwarded-for", source_ip)
    joined.setdefault("x-forwarded-proto", "http")
    host = joined.get("host", domain)
    millis = int(time.time() * 1000) if now_ms is None else now_ms
    request_id = str(uuid.uuid4())
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": joined,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": host.split(".", 1)[0],
            "domainName": host,
            "domainPrefix": host.split(".", 1)[0],
            "http": {"method": method.upper(), "path": path, "protocol": protocol,
                     "sourceIp": source_ip, "userAgent": joined.get("user-agent", "")},
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": datetime.fromtimestamp(millis / 1000, timezone.utc).strftime(
                "%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": millis,
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        parameters: dict[str, str] = {}
        for name, value in parse_qsl(query, keep_blank_values=True):
            parameters[name] = f"{parameters[name]},{value}" if name in parameters else value
        event["queryStringParameters"] = parameters
    if body:
        text = _is_text(joined.get("content-type", ""))
        try:
            event["body"] = body.decode("utf-8") if text else None
        except UnicodeDecodeError:
            event["body"] = None
        if event["body"] is None:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
    return event


def _is_text(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return (media.startswith("text/") or media.endswith(("+json", "+xml"))
            or media in TEXT_MEDIA_TYPES)
