"""The record layout is defined once and everything else derives from it."""

from __future__ import annotations

import re

from miniticker import (
    BINANCE_FIELDS,
    DECIMAL_FIELDS,
    DECIMAL_PATTERN,
    DECIMAL_PRECISION,
    DECIMAL_SCALE,
    EPOCH_MILLIS_FIELDS,
    FIELD_NAMES,
    FIELDS,
    FieldKind,
    MiniTicker,
    binance_key,
)


def test_fields_in_design_order_with_their_kinds():
    assert [(f.name, f.kind, f.binance_key) for f in FIELDS] == [
        ("event_type", FieldKind.TEXT, "e"),
        ("event_time", FieldKind.EPOCH_MILLIS, "E"),
        ("stream_type", FieldKind.TEXT, None),
        ("symbol", FieldKind.TEXT, "s"),
        ("close_price", FieldKind.DECIMAL, "c"),
        ("open_price", FieldKind.DECIMAL, "o"),
        ("high_price", FieldKind.DECIMAL, "h"),
        ("low_price", FieldKind.DECIMAL, "l"),
        ("total_traded_volume", FieldKind.DECIMAL, "v"),
        ("total_traded_quote_volume", FieldKind.DECIMAL, "q"),
        ("iso_timestamp", FieldKind.TEXT, None),
        ("received_at", FieldKind.EPOCH_MILLIS, None),
    ]
    assert all(f.doc for f in FIELDS)


def test_derived_views_agree_with_the_definition():
    assert FIELD_NAMES == MiniTicker._fields == tuple(f.name for f in FIELDS)
    assert DECIMAL_FIELDS == ("close_price", "open_price", "high_price", "low_price",
                              "total_traded_volume", "total_traded_quote_volume")
    assert EPOCH_MILLIS_FIELDS == ("event_time", "received_at")
    assert dict(BINANCE_FIELDS) == {f.name: f.binance_key for f in FIELDS if f.binance_key}
    assert binance_key("close_price") == "c"
    assert binance_key("iso_timestamp") is None


def test_the_decimal_pattern_fits_the_decimal_type():
    largest = "9" * (DECIMAL_PRECISION - DECIMAL_SCALE) + "." + "9" * DECIMAL_SCALE
    assert re.fullmatch(DECIMAL_PATTERN, largest)
    assert not re.fullmatch(DECIMAL_PATTERN, "1" + largest)
    assert not re.fullmatch(DECIMAL_PATTERN, "0." + "0" * DECIMAL_SCALE + "1")
