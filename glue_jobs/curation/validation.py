"""Validating a piece of raw lines against the record contract, fast where it surely passes.

Each piece is parsed as one Arrow table (C++) and checked with the contract's rules vectorised;
a piece with anything unusual is checked line by line by the contract's own parser, which decides.
What fails is set aside with its reason, source object and line number, never dropped.

Everything here is a function of the contract's field tuple (`FIELDS` by default), so a test can
run it on the record plus a field added later: lines lacking an optional field convert with it
null on both paths, while a line lacking a required one is still set aside.
"""

import io
import json
from typing import Any, NamedTuple, Optional

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from miniticker import (
    DECIMAL_PATTERN,
    EVENT_TYPE,
    FIELDS,
    MAX_EPOCH_MILLIS,
    MINI_TICKER_SUFFIX,
    SYMBOL_MAX_LENGTH,
    FieldKind,
    InvalidMiniTicker,
)
from miniticker.codec import codec_for

from .reading import Piece
from .schemas import (
    ARROW_TYPES,
    MILLIS_PER_DAY,
    TIMESTAMP_TYPE,
    Fields,
    all_true,
    raw_schema,
    spill_schema,
)

# Stricter than the contract where the vectorised check is simpler (ASCII symbols only): a row
# it refuses is not quarantined for it, its piece is checked line by line by the contract.
_FAST_SYMBOL = f"^[A-Z0-9]{{1,{SYMBOL_MAX_LENGTH}}}$"
_ISO_SHAPE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$"


class Rejected(NamedTuple):
    source: str
    line_number: int
    reason: str
    line: str


class Parsed(NamedTuple):
    rows: pa.Table  # SPILL_SCHEMA (spill_schema(fields))
    rejected: list[Rejected]
    slow: bool  # checked line by line
    damaged: bool  # the object's gzip stream broke in (or after) this piece


def parse_piece(piece: Piece, fields: Fields = FIELDS) -> Parsed:
    data = piece.data
    complete = data
    tail = b""
    if piece.damage is not None and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        complete, tail = data[:cut], data[cut:]
    rows = _fast_parse(complete, fields)
    rejected: list[Rejected] = []
    slow = rows is None
    if rows is None:
        table, rejected = _slow_parse(piece, complete, fields)
        rows = curated_rows(table, fields)
    if tail or piece.damage is not None:
        number = piece.first_line + complete.count(b"\n")
        rejected.append(Rejected(piece.source, number, f"{piece.damage}: incomplete last line"
                                 if tail else f"{piece.damage} after the last line",
                                 tail.decode("utf-8", "replace")))
    return Parsed(rows, rejected, slow, piece.damage is not None)


def _fast_parse(data: bytes, fields: Fields) -> Optional[pa.Table]:
    """The piece's curated rows when every line surely passes the contract, else None."""
    table = read_json_lines(data, fields)
    if table is None:
        return None
    try:
        rows = curated_rows(table, fields)
    except pa.ArrowInvalid:  # a decimal Arrow cannot read: the contract will say why
        return None
    return rows if surely_valid(table, rows, fields) else None


def read_json_lines(data: bytes, fields: Fields = FIELDS) -> Optional[pa.Table]:
    """Whole JSON lines as a `raw_schema` table, one row a line with every required field
    present, or None (a line Arrow cannot read, a required field missing or null, an empty
    line). An optional field absent or null is null: the contract reads both as None."""
    schema = raw_schema(fields)
    if not data:
        return schema.empty_table()
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    try:
        table = pj.read_json(
            io.BytesIO(data), read_options=pj.ReadOptions(use_threads=False),
            parse_options=pj.ParseOptions(explicit_schema=schema,
                                          unexpected_field_behavior="ignore"))
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return None
    if table.num_rows != lines or any(table[f.name].null_count for f in fields
                                      if not f.optional):
        return None
    return table


def surely_valid(table: pa.Table, rows: pa.Table, fields: Fields = FIELDS) -> bool:
    """The contract's rules, vectorised, on a piece's raw columns and its `curated_rows` (whose
    casts are reused, not repeated); never laxer than `miniticker.from_mapping`. Nulls (only
    an optional field's, `read_json_lines` saw to that) pass, as None passes the contract."""
    for spec in fields:
        column = table[spec.name]
        if spec.kind is FieldKind.EPOCH_MILLIS:
            bounds = pc.min_max(column).as_py()  # None, None: no row, or only nulls
            ok = bounds["min"] is None or (
                bounds["min"] >= 0 and bounds["max"] <= MAX_EPOCH_MILLIS)
        elif spec.kind is FieldKind.DECIMAL:
            ok = all_true(pc.match_substring_regex(column, DECIMAL_PATTERN))
        else:  # text: the required fields meet their own rules below; an optional one non-empty
            ok = not spec.optional or all_true(pc.greater(pc.utf8_length(column), 0))
        if not ok:
            return False
    symbol = table["symbol"]
    iso = table["iso_timestamp"]
    if not all_true(pc.match_substring_regex(iso, _ISO_SHAPE)):
        return False
    try:  # the canonical shape, naming the event's instant: then it is iso_from_millis's text
        instants = pc.cast(iso, TIMESTAMP_TYPE)
    except pa.ArrowInvalid:  # no such date or time (Arrow checks both)
        return False
    return (all_true(pc.equal(table["event_type"], EVENT_TYPE))
            and all_true(pc.match_substring_regex(symbol, _FAST_SYMBOL))
            and all_true(pc.equal(table["stream_type"], pc.binary_join_element_wise(
                pc.utf8_lower(symbol), MINI_TICKER_SUFFIX, "")))
            and all_true(pc.equal(instants, rows["event_time"]))
            and all_true(pc.less_equal(rows["low_price"], rows["high_price"])))


def _slow_parse(piece: Piece, data: bytes, fields: Fields = FIELDS
                ) -> tuple[pa.Table, list[Rejected]]:
    """Every line through the contract's own parser; the rejected ones with their reasons."""
    parse_json_line = codec_for(fields).parse_json_line
    columns: dict[str, list[Any]] = {f.name: [] for f in fields}
    rejected = []
    for offset, line in enumerate(data.split(b"\n")[:-1] if data.endswith(b"\n")
                                  else data.split(b"\n")):
        try:
            record = parse_json_line(line)
        except InvalidMiniTicker as error:
            field = f"{error.field}: " if error.field else ""
            rejected.append(Rejected(piece.source, piece.first_line + offset,
                                     field + error.reason, line.decode("utf-8", "replace")))
            continue
        for name, value in zip(record._fields, record):
            columns[name].append(value)
    return pa.table(columns, schema=raw_schema(fields)), rejected


def curated_rows(table: pa.Table, fields: Fields = FIELDS) -> pa.Table:
    """Raw columns to the curated types, plus the event's day (``dt``)."""
    arrays = []
    for spec in fields:
        column = table[spec.name]
        if spec.kind is not FieldKind.TEXT:
            column = pc.cast(column, ARROW_TYPES[spec.kind])
        arrays.append(column)
    # The event's UTC day as text, by date arithmetic rather than formatting each instant.
    days = pc.cast(pc.divide(table["event_time"], MILLIS_PER_DAY), pa.int32())
    day = pc.cast(pc.cast(days, pa.date32()), pa.string())
    return pa.Table.from_arrays([*arrays, day], schema=spill_schema(fields))


def quarantine_document(rejected: list[Rejected]) -> bytes:
    """The rejected lines of one raw object as JSON lines: source, line number, reason, line."""
    return "".join(json.dumps(r._asdict(), ensure_ascii=False) + "\n"
                   for r in rejected).encode()
