"""MiniTicker records to and from their stored form: one JSON object per line (docs/architecture.md
§2.2).

The same line travels as a Kinesis record, sits in the raw S3 archive and is read back by the
Lambda and the Glue job, which validate it here with the same rules the ingester applied.

An optional field (`FieldSpec.optional`: one added after the archive began) whose value is None is
left out of the line, never written as null: a record without it is stored exactly as before the
field existed. A reader takes the key absent, or null, as None; a required field stays required.
"""

import functools
import json
import re
from collections.abc import Mapping
from typing import Any, Callable, NamedTuple, Union

from .errors import InvalidMiniTicker
from .record import FIELDS, FieldKind, FieldSpec, MiniTicker, record_class
from .streams import stream_name_for
from .timestamps import iso_from_millis
from .validate import check_event_type, check_of, check_price_range, check_symbol

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_NEEDS_ESCAPING = re.compile(r'["\\\x00-\x1f\x7f]')


class Codec(NamedTuple):
    """The stored form of one version of the record: its fields and the functions between its
    records and lines. The package's own `to_json_line`, `from_mapping` and `parse_json_line`
    are `CODEC`'s, for `FIELDS`; `codec_for` makes one for another field tuple (a test's newer
    contract with a field added later)."""

    fields: tuple[FieldSpec, ...]
    to_json_line: Callable[[Any], bytes]
    from_mapping: Callable[[Any], Any]
    parse_json_line: Callable[[Union[bytes, str]], Any]


@functools.cache
def codec_for(fields: tuple[FieldSpec, ...]) -> Codec:
    """The codec of ``fields``: its records are `MiniTicker` for `FIELDS`, else a named tuple of
    ``fields`` (`miniticker.record.record_class`). ``fields`` holds every field of `FIELDS`."""
    record_type = MiniTicker if fields == FIELDS else record_class(fields)
    checked = tuple((f.name, check_of(f), f.optional) for f in fields)
    optional_names = tuple(f.name for f in fields if f.optional)
    # The fast path of to_json_line: a template made from the fields, used when its output is
    # exactly the encoder's (epoch fields are ints, text fields strs, so no optional one is None,
    # and no text needs escaping, which holds for every record the contract validated). Every
    # ingested record goes through it, and it is faster than the encoder
    # (bench/bench_contract.py prints its cost per record).
    template = "{" + ",".join(
        f'"{f.name}":' + ("%d" if f.kind is FieldKind.EPOCH_MILLIS else '"%s"') for f in fields
    ) + "}\n"
    int_positions = tuple(i for i, f in enumerate(fields) if f.kind is FieldKind.EPOCH_MILLIS)
    text_positions = tuple(i for i, f in enumerate(fields)
                           if f.kind is not FieldKind.EPOCH_MILLIS)

    def to_json_line(record: Any) -> bytes:
        """The record as compact UTF-8 JSON, fields in record order, ending in ``\\n``; an
        optional field that is None is left out."""
        if all(type(record[i]) is int for i in int_positions):
            texts: list[Any] = [record[i] for i in text_positions]
            if all(type(t) is str for t in texts) and not _NEEDS_ESCAPING.search("".join(texts)):
                line: str = template % record
                return line.encode()
        data: dict[str, Any] = record._asdict()
        for name in optional_names:
            if data[name] is None:
                del data[name]
        return (_ENCODER.encode(data) + "\n").encode()

    def from_mapping(data: Any) -> Any:
        """Validate a stored record (a decoded JSON line) and build it.

        Every required field must be present with its kind's type; an optional field absent or
        null is None, and checked like any other when it holds a value. ``stream_type`` and
        ``iso_timestamp`` must be the ones derived from ``symbol`` and ``event_time``. Keys the
        contract does not know are ignored, so a reader keeps working when a later version adds
        a field.

        Raises:
            InvalidMiniTicker: naming the first field at fault and keeping ``data``.
        """
        if not isinstance(data, Mapping):
            raise InvalidMiniTicker(
                None, f"expected a JSON object, got {type(data).__name__}", data
            )
        values: list[Any] = []
        for name, check, optional in checked:
            try:
                raw = data[name]
            except KeyError:
                if not optional:
                    raise InvalidMiniTicker(name, "missing", data) from None
                raw = None
            values.append(check(raw, name, data))
        record = record_type(*values)
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

    def parse_json_line(line: Union[bytes, str]) -> Any:
        """Decode and validate one stored line (trailing newline allowed).

        Raises:
            InvalidMiniTicker: for text that is not UTF-8 JSON, or a record the contract
                rejects; the error keeps the line as given.
        """
        try:
            data = json.loads(line)
        except (ValueError, UnicodeDecodeError) as error:
            raise InvalidMiniTicker(None, f"not valid JSON: {error}", line) from None
        try:
            return from_mapping(data)
        except InvalidMiniTicker as error:
            raise InvalidMiniTicker(error.field, error.reason, line) from None

    return Codec(fields, to_json_line, from_mapping, parse_json_line)


#: The codec of today's record.
CODEC = codec_for(FIELDS)
to_json_line: Callable[[MiniTicker], bytes] = CODEC.to_json_line
from_mapping: Callable[[Any], MiniTicker] = CODEC.from_mapping
parse_json_line: Callable[[Union[bytes, str]], MiniTicker] = CODEC.parse_json_line
