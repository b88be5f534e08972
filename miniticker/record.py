"""The MiniTicker record: its fields, their types, and the limits values must respect.

This module is the one definition of the record layout (docs/architecture.md §2.1). The ingester
builds records
from Binance payloads, the Lambda turns them into DynamoDB items, the Glue job into Parquet rows,
and the CDK app into Glue table columns: all of them read the layout from ``FIELDS`` rather than
listing field names of their own.

Decimal values are the exact strings Binance sent. They never pass through ``float``; each runtime
converts them to an exact decimal type (``decimal.Decimal``, Arrow ``decimal128``).

The record evolves by appending *optional* fields only: a field typed ``Optional[...]`` with the
default ``None``, after every required one. Lines archived before it existed lack it and still
convert (the field None, a null column); a required field is never added, removed, renamed or
retyped, or the archive written before the change would no longer pass the contract.
"""

import collections
import enum
from typing import Annotated, Any, NamedTuple, Optional, get_args, get_type_hints

#: The Binance event type of a mini-ticker payload (its ``"e"``).
EVENT_TYPE = "24hrMiniTicker"

#: Decimal columns are ``decimal(DECIMAL_PRECISION, DECIMAL_SCALE)`` wherever they are typed.
#: Binance quotes spot prices and volumes with at most 8 fraction digits; 30 integer digits hold
#: any 24 h volume of a low-priced token with room to spare.
DECIMAL_PRECISION = 38
DECIMAL_SCALE = 8
DECIMAL_INTEGER_DIGITS = DECIMAL_PRECISION - DECIMAL_SCALE

#: A decimal value: plain notation, no sign, exponent, spaces or NaN, so that it converts exactly
#: to ``decimal(38, 8)``. ``[0-9]`` rather than ``\\d``: Python's ``\\d`` also matches non-ASCII
#: digits. The pattern is written so that both Python ``re`` and RE2 (Arrow) read it the same.
DECIMAL_PATTERN = (
    rf"^[0-9]{{1,{DECIMAL_INTEGER_DIGITS}}}(\.[0-9]{{1,{DECIMAL_SCALE}}})?$"
)

#: Epoch milliseconds are accepted from the epoch up to 9999-12-31T23:59:59.999Z, the last
#: instant an ISO timestamp with a four-digit year can name. A microsecond timestamp (16 digits,
#: Binance's ``timeUnit=MICROSECOND`` option) falls outside and is rejected, not misread.
MAX_EPOCH_MILLIS = 253_402_300_799_999

#: Longest accepted symbol. Binance spot symbols are far shorter; the bound keeps S3 partition
#: values and DynamoDB keys small whatever arrives.
SYMBOL_MAX_LENGTH = 32


class FieldKind(enum.Enum):
    """How a field's value is typed in each store."""

    TEXT = "text"  # str; Glue/Parquet string; DynamoDB S
    EPOCH_MILLIS = "epoch_millis"  # int milliseconds since the epoch, UTC; bigint; N
    DECIMAL = "decimal"  # exact decimal string; decimal(38, 8); N from the exact string


class FieldSpec(NamedTuple):
    """One field of the record: its name, kind, Binance source key and meaning, and whether a
    record may lack it (a field added after the archive began; None when absent)."""

    name: str
    kind: FieldKind
    binance_key: Optional[str]  # the key in Binance's payload, or None for a derived field
    doc: str
    optional: bool = False


class _Meta(NamedTuple):
    kind: FieldKind
    binance_key: Optional[str]
    doc: str


def _text(key: Optional[str], doc: str) -> _Meta:
    return _Meta(FieldKind.TEXT, key, doc)


def _millis(key: Optional[str], doc: str) -> _Meta:
    return _Meta(FieldKind.EPOCH_MILLIS, key, doc)


def _decimal(key: str, doc: str) -> _Meta:
    return _Meta(FieldKind.DECIMAL, key, doc)


class MiniTicker(NamedTuple):
    """One normalised Binance 24 h rolling-window mini-ticker (docs/architecture.md §2.1).

    Build it with `miniticker.normalize` (from Binance) or `miniticker.from_mapping` (from a stored
    record); both validate. Constructing it directly skips validation.
    """

    event_type: Annotated[str, _text("e", "Binance event type, always 24hrMiniTicker")]
    event_time: Annotated[int, _millis("E", "exchange event time, epoch ms UTC")]
    stream_type: Annotated[str, _text(None, "stream name, e.g. btcusdt@miniTicker")]
    symbol: Annotated[str, _text("s", "trading pair, e.g. BTCUSDT")]
    close_price: Annotated[str, _decimal("c", "last price")]
    open_price: Annotated[str, _decimal("o", "price 24 h ago (rolling window open)")]
    high_price: Annotated[str, _decimal("h", "24 h high")]
    low_price: Annotated[str, _decimal("l", "24 h low")]
    total_traded_volume: Annotated[str, _decimal("v", "24 h volume in the base asset")]
    total_traded_quote_volume: Annotated[str, _decimal("q", "24 h volume in the quote asset")]
    iso_timestamp: Annotated[str, _text(None, "event_time as ISO 8601, ms precision, Z")]
    received_at: Annotated[int, _millis(None, "when the ingester read the frame, epoch ms UTC")]


def field_specs(record_type: Any) -> tuple[FieldSpec, ...]:
    """The fields of a record class written like `MiniTicker`: a field is optional exactly when
    it has a default, which must be None, and its type admits None."""
    hints = get_type_hints(record_type, include_extras=True)
    defaults = record_type._field_defaults
    specs = []
    for name in record_type._fields:
        hint = hints[name]
        (meta,) = (m for m in hint.__metadata__ if isinstance(m, _Meta))
        optional = name in defaults
        admits_none = type(None) in get_args(hint.__origin__)  # Optional[X] is Union[X, None]
        if optional and (defaults[name] is not None or not admits_none):
            raise TypeError(f"optional field {name} must be Optional[...] = None")
        if admits_none and not optional:
            raise TypeError(f"field {name} admits None but has no default None")
        specs.append(FieldSpec(name, meta.kind, meta.binance_key, meta.doc, optional))
    return tuple(specs)


def record_class(fields: tuple[FieldSpec, ...], name: str = "MiniTicker") -> Any:
    """A named tuple class of ``fields`` (optional ones default to None): the record of another
    version of the contract, e.g. the current one plus a field added later, for a test that
    proves what was archived before still converts. Optional fields come after required ones."""
    optional = [f.optional for f in fields]
    if optional != sorted(optional):
        raise ValueError("optional fields must follow every required field")
    return collections.namedtuple(name, [f.name for f in fields],
                                  defaults=[None] * sum(optional))


#: Every field of the record, in record order.
FIELDS: tuple[FieldSpec, ...] = field_specs(MiniTicker)
#: The fields a stored record may lack (added after the archive began), in record order.
OPTIONAL_FIELDS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.optional)
FIELD_NAMES: tuple[str, ...] = MiniTicker._fields
DECIMAL_FIELDS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.kind is FieldKind.DECIMAL)
EPOCH_MILLIS_FIELDS: tuple[str, ...] = tuple(
    f.name for f in FIELDS if f.kind is FieldKind.EPOCH_MILLIS
)
#: Fields copied from a Binance payload, as ``(field name, Binance key)`` pairs.
BINANCE_FIELDS: tuple[tuple[str, str], ...] = tuple(
    (f.name, f.binance_key) for f in FIELDS if f.binance_key is not None
)
