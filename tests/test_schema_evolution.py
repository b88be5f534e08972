"""A field added to the record later does not quarantine the archive written before it.

Today's record has no optional field, so these tests build the contract a later version would
have: today's `FIELDS` plus one optional field appended (one of each kind), and run the codec
and the Glue job's validation (both its Arrow fast path and its line-by-line path) on an hour
holding lines written before the field existed and lines written after.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, NamedTuple

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from glue_jobs.curation.reading import Piece
from glue_jobs.curation.schemas import curated_schema, raw_schema, spill_schema
from glue_jobs.curation.validation import (
    _slow_parse,
    curated_rows,
    parse_piece,
    read_json_lines,
)
from miniticker import (
    FIELDS,
    FieldKind,
    FieldSpec,
    InvalidMiniTicker,
    normalize,
    parse_json_line,
    to_json_line,
)
from miniticker.codec import Codec, codec_for
from miniticker.record import _text, field_specs, record_class
from tests.payloads import BTC, RECEIVED_AT, changed

OLD = normalize(BTC, received_at=RECEIVED_AT)
OLD_LINE = to_json_line(OLD)

#: A plausible field of each kind a later version might add, a valid value, and values its
#: kind's check rejects (a bad value of the right JSON type, then one of the wrong JSON type).
NEWER_FIELDS = {
    "ingest_lane": (FieldSpec("ingest_lane", FieldKind.TEXT, None,
                              "which ingester task read the frame", optional=True),
                    "lane-2", ("", 5)),
    "sent_at": (FieldSpec("sent_at", FieldKind.EPOCH_MILLIS, None,
                          "when the ingester put the line on the stream, epoch ms UTC",
                          optional=True),
                RECEIVED_AT + 7, (-1, str(RECEIVED_AT))),
    "weighted_average_price": (FieldSpec("weighted_average_price", FieldKind.DECIMAL, "w",
                                         "24 h weighted average price", optional=True),
                               "19200.50000000", ("1e5", 19200.5)),
}


class Newer(NamedTuple):
    codec: Codec
    name: str
    value: Any  # a valid value of the new field
    invalid: tuple[Any, ...]  # values its kind's check rejects


@pytest.fixture(params=sorted(NEWER_FIELDS))
def newer(request: pytest.FixtureRequest) -> Newer:
    spec, value, invalid = NEWER_FIELDS[request.param]
    return Newer(codec_for((*FIELDS, spec)), spec.name, value, invalid)


def new_line(newer: Newer, **changes: Any) -> bytes:
    """A line written by the newer version: OLD's fields plus the new one, some changed
    (``...`` removes a key)."""
    data = changed({**OLD._asdict(), newer.name: newer.value}, **changes)
    return (json.dumps(data, separators=(",", ":")) + "\n").encode()


# --- the contract ----------------------------------------------------------------------------

def test_an_optional_field_is_one_typed_optional_with_default_none():
    class Record(NamedTuple):
        symbol: Annotated[str, _text("s", "trading pair")]
        lane: Annotated[str | None, _text(None, "added later")] = None

    assert [(f.name, f.optional) for f in field_specs(Record)] == [
        ("symbol", False), ("lane", True)]


def test_an_optional_field_without_default_none_is_refused():
    class NotNone(NamedTuple):
        lane: Annotated[str | None, _text(None, "added later")] = "a"

    class NoDefault(NamedTuple):
        lane: Annotated[str | None, _text(None, "added later")]

    class NotOptional(NamedTuple):
        lane: Annotated[str, _text(None, "added later")] = None  # type: ignore[assignment]

    for record_type in (NotNone, NoDefault, NotOptional):
        with pytest.raises(TypeError, match="lane"):
            field_specs(record_type)


def test_todays_fields_are_all_required_and_a_newer_one_only_appended():
    assert not any(f.optional for f in FIELDS)
    spec = NEWER_FIELDS["ingest_lane"][0]
    with pytest.raises(ValueError, match="follow"):
        record_class((spec, *FIELDS))
    assert record_class((*FIELDS, spec))._field_defaults == {"ingest_lane": None}


def test_a_line_from_before_the_field_parses_with_it_none(newer: Newer):
    record = newer.codec.parse_json_line(OLD_LINE)
    assert getattr(record, newer.name) is None
    assert tuple(record)[:-1] == tuple(OLD)


def test_a_line_with_the_field_parses_with_its_value(newer: Newer):
    record = newer.codec.parse_json_line(new_line(newer))
    assert getattr(record, newer.name) == newer.value
    assert tuple(record)[:-1] == tuple(OLD)


def test_null_reads_as_none_as_the_fast_path_reads_it(newer: Newer):
    assert getattr(newer.codec.parse_json_line(new_line(newer, **{newer.name: None})),
                   newer.name) is None


def test_a_present_optional_field_is_still_checked(newer: Newer):
    for invalid in newer.invalid:
        with pytest.raises(InvalidMiniTicker) as caught:
            newer.codec.parse_json_line(new_line(newer, **{newer.name: invalid}))
        assert caught.value.field == newer.name


@pytest.mark.parametrize("required", [f.name for f in FIELDS])
def test_a_required_field_stays_required(newer: Newer, required: str):
    with pytest.raises(InvalidMiniTicker) as caught:
        newer.codec.parse_json_line(new_line(newer, **{required: ...}))
    assert (caught.value.field, caught.value.reason) == (required, "missing")


def test_a_none_optional_field_is_left_out_of_the_line(newer: Newer):
    record = newer.codec.parse_json_line(OLD_LINE)
    assert newer.codec.to_json_line(record) == OLD_LINE  # as if written before the field
    with_value = record._replace(**{newer.name: newer.value})
    line = newer.codec.to_json_line(with_value)
    assert list(json.loads(line))[-1] == newer.name  # appended, in record order
    assert newer.codec.parse_json_line(line) == with_value


def test_todays_contract_ignores_the_newer_field(newer: Newer):
    assert parse_json_line(new_line(newer)) == OLD


# --- the Glue job: fast (Arrow) and line-by-line paths ---------------------------------------

def piece_of(*lines: bytes) -> Piece:
    return Piece("raw/dt=2022-10-14/hour=20/part-1.gz", 1, b"".join(lines), None)


def column(rows: pa.Table, name: str) -> list[Any]:
    values = rows[name].to_pylist()
    # Arrow's timestamps and decimals back to the contract's epoch ms and decimal strings.
    return [None if v is None else int(v.timestamp() * 1000) if hasattr(v, "timestamp")
            else f"{v:.8f}" if not isinstance(v, str) else v for v in values]


def test_an_hour_of_old_and_new_lines_converts_on_the_fast_path(newer: Newer):
    fields = newer.codec.fields
    parsed = parse_piece(piece_of(OLD_LINE, new_line(newer), OLD_LINE), fields)
    assert (parsed.rejected, parsed.slow) == ([], False)
    assert parsed.rows.schema == spill_schema(fields)
    assert column(parsed.rows, newer.name) == [None, newer.value, None]
    assert parsed.rows["symbol"].to_pylist() == ["BTCUSDT"] * 3


def test_an_hour_of_only_old_lines_converts_on_the_fast_path(newer: Newer):
    parsed = parse_piece(piece_of(OLD_LINE, OLD_LINE), newer.codec.fields)
    assert (parsed.rejected, parsed.slow) == ([], False)
    assert parsed.rows[newer.name].null_count == 2


def test_an_hour_of_old_and_new_lines_converts_line_by_line(newer: Newer):
    # A non-ASCII symbol is valid but beyond the vectorised check: the piece goes line by line.
    other = to_json_line(normalize(changed(BTC, s="币安人生USDT"), received_at=RECEIVED_AT))
    parsed = parse_piece(piece_of(OLD_LINE, new_line(newer), other), newer.codec.fields)
    assert (parsed.rejected, parsed.slow) == ([], True)
    assert column(parsed.rows, newer.name) == [None, newer.value, None]
    assert parsed.rows["symbol"].to_pylist() == ["BTCUSDT", "BTCUSDT", "币安人生USDT"]


def test_both_paths_give_the_same_rows(newer: Newer):
    fields = newer.codec.fields
    piece = piece_of(OLD_LINE, new_line(newer), new_line(newer, **{newer.name: None}))
    fast = parse_piece(piece, fields)
    table, rejected = _slow_parse(piece, piece.data, fields)
    assert (fast.slow, rejected) == (False, [])
    assert curated_rows(table, fields).equals(fast.rows)


def test_a_line_lacking_a_required_field_is_still_quarantined(newer: Newer):
    fields = newer.codec.fields
    piece = piece_of(OLD_LINE, new_line(newer, close_price=...),
                     new_line(newer, symbol=None), new_line(newer))
    parsed = parse_piece(piece, fields)
    assert parsed.slow
    assert [(r.line_number, r.reason.split(":")[0]) for r in parsed.rejected] == [
        (2, "close_price"), (3, "symbol")]
    assert "missing" in parsed.rejected[0].reason
    assert column(parsed.rows, newer.name) == [None, newer.value]


def test_an_invalid_optional_value_is_quarantined_not_let_through(newer: Newer):
    piece = piece_of(OLD_LINE, *(new_line(newer, **{newer.name: v}) for v in newer.invalid))
    parsed = parse_piece(piece, newer.codec.fields)
    assert parsed.slow
    assert [(r.line_number, r.reason.split(":")[0]) for r in parsed.rejected] == [
        (2, newer.name), (3, newer.name)]
    assert parsed.rows.num_rows == 1


def test_the_fast_paths_null_check_is_strict_for_required_fields_only(newer: Newer):
    fields = newer.codec.fields
    assert read_json_lines(OLD_LINE + new_line(newer, **{newer.name: None}), fields) is not None
    for name in (f.name for f in FIELDS):
        assert read_json_lines(OLD_LINE + new_line(newer, **{name: None}), fields) is None
        assert read_json_lines(OLD_LINE + new_line(newer, **{name: ...}), fields) is None


def test_the_newer_schemas_append_the_column(newer: Newer):
    fields = newer.codec.fields
    assert curated_schema(fields).names == [*curated_schema().names, newer.name]
    assert raw_schema(fields).names == [*raw_schema().names, newer.name]
    assert all(field.nullable for field in curated_schema(fields))


def test_a_file_written_before_the_field_reads_with_it_null(newer: Newer):
    # What a merge or compaction reading an existing hourly file with the newer schema gets
    # (Athena resolves Parquet columns by name the same way; see the README).
    sink = pa.BufferOutputStream()
    pq.write_table(parse_piece(piece_of(OLD_LINE)).rows.select(curated_schema().names), sink)
    read = pq.read_table(pa.BufferReader(sink.getvalue()),
                         schema=curated_schema(newer.codec.fields))
    assert read.schema == curated_schema(newer.codec.fields)
    assert read[newer.name].to_pylist() == [None]


def test_a_piece_without_a_complete_line_has_no_row():
    # The empty table's epoch bounds are None, as an all-null optional column's are.
    damaged = Piece("raw/part-1.gz", 1, b'{"event_ty', "truncated gzip stream")
    parsed = parse_piece(damaged)
    assert (parsed.rows.num_rows, len(parsed.rejected)) == (0, 1)
    assert parse_piece(piece_of()).rows.num_rows == 0
