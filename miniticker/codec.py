"""MiniTicker records to and from their stored form: one JSON object per line (DESIGN §2.2).

The same line travels as a Kinesis record, sits in the raw S3 archive and is read back by the
Lambda and the Glue job, which validate it here with the same rules the ingester applied.
"""

import json
import re
from collections.abc import Mapping
from typing import Any, Union

from .errors import InvalidMiniTicker
from .record import FIELDS, FieldKind, MiniTicker
from .streams import stream_name_for
from .timestamps import iso_from_millis
from .validate import CHECKS, check_event_type, check_price_range, check_symbol

_CHECKED = tuple((f.name, CHECKS[f.kind]) for f in FIELDS)
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))

# The fast path of to_json_line: a template made from FIELDS, used when its output is exactly
# the encoder's (epoch fields are ints, and no text needs escaping, which holds for every record
# the contract validated). Every ingested record goes through it, and it is faster than the
# encoder (bench/bench_contract.py prints its cost per record).
_TEMPLATE = "{" + ",".join(
    f'"{f.name}":' + ("%d" if f.kind is FieldKind.EPOCH_MILLIS else '"%s"') for f in FIELDS
) + "}\n"
_INT_POSITIONS = tuple(i for i, f in enumerate(FIELDS) if f.kind is FieldKind.EPOCH_MILLIS)
_TEXT_POSITIONS = tuple(i for i, f in enumerate(FIELDS) if f.kind is not FieldKind.EPOCH_MILLIS)
_NEEDS_ESCAPING = re.compile(r'["\\\x00-\x1f\x7f]')


def to_json_line(record: MiniTicker) -> bytes:
    """The record as compact UTF-8 JSON, fields in record order, ending in ``\\n``."""
    if all(type(record[i]) is int for i in _INT_POSITIONS):
        texts: list[Any] = [record[i] for i in _TEXT_POSITIONS]
        if all(type(t) is str for t in texts) and not _NEEDS_ESCAPING.search("".join(texts)):
            return (_TEMPLATE % record).encode()
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
