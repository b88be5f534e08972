"""Lambda events in the shape the event source mappings build them.

A Kinesis event source mapping reads a shard with GetRecords and invokes the function with
``{"Records": [...]}``: each record's data base64-encoded, its sequence number, partition key and
arrival time (epoch seconds, a float), and an ``eventID`` of ``<shard id>:<sequence number>``.
The local mode's poller and the tests build events here from GetRecords output, so the handler
sees what it would see in AWS.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any


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
