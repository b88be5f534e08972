"""MiniTicker records to and from their stored form: one JSON object per line (DESIGN §2.2).

The same line travels as a Kinesis record, sits in the raw S3 archive and is read back by the
Lambda and the Glue job, which validate it here with the same rules the ingester applied.
"""

import json
from collections.abc import Mapping
from typing import Any, Union

from .errors import InvalidMiniTicker
from .record import FIELDS, MiniTicker
from .streams import stream_name_for
from .timestamps import iso_from_millis
from .validate import CHECKS, check_event_type, check_price_range, check_symbol

_CHECKED = tuple((f.name, CHECKS[f.kind]) for f in FIELDS)
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def to_json_line(record: MiniTicker) -> bytes:
    """The record as compact UTF-8 JSON, fields in record order, ending in ``\\n``."""
    return (_ENCODER.encode(record._asdict()) + "\n").encode()


def from_mapping(data: Any) -> MiniTicker:
    """Validate a stored record (a decoded JSON line) and build it.

    Every field must be present with its kind's type; ``stream_type`` and ``iso_timestamp``
    must be the ones derived from ``symbol`` and ``event_time``. Keys the contract does not know
    are ignored, so a reader keeps working when a later version adds a field.

    Raises:
        InvalidMiniTicker: naming the first field at fault and keeping ``data``.
    """
    if not isinstance(data, Mapping):
        raise InvalidMiniTicker(
            None, f"expected a JSON object, got {type(data).__name__}", data
        )
    values: list[Any] = []
    for name, check in _CHECKED:
        try:
            raw = data[name]
        except KeyError:
            raise InvalidMiniTicker(name, "missing", data) from None
        values.append(check(raw, name, data))
    record = MiniTicker(*values)
    check_event_type(record.event_type, data)
    check_symbol(record.symbol, data)
    check_price_range(record.low_price, record.high_price, data)
    if record.stream_type != stream_name_for(record.symbol):
        raise InvalidMiniTicker(
            "stream_type",
            f"{record.stream_type!r} is not the stream of symbol {record.symbol!r}",
            data,
        )
    if record.iso_timestamp != iso_from_millis(record.event_time):
        raise InvalidMiniTicker(
            "iso_timestamp",
            f"{record.iso_timestamp!r} is not event_time {record.event_time} "
            f"({iso_from_millis(record.event_time)})",
            data,
        )
    return record


def parse_json_line(line: Union[bytes, str]) -> MiniTicker:
    """Decode and validate one stored line (trailing newline allowed).

    Raises:
        InvalidMiniTicker: for text that is not UTF-8 JSON, or a record the contract rejects;
            the error keeps the line as given.
    """
    try:
        data = json.loads(line)
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidMiniTicker(None, f"not valid JSON: {error}", line) from None
    try:
        return from_mapping(data)
    except InvalidMiniTicker as error:
        raise InvalidMiniTicker(error.field, error.reason, line) from None
