"""Stored records (JSON lines) to and from MiniTicker, with the contract's validation."""

from __future__ import annotations

import json
from typing import Any

import pytest

from market_sim import MarketDataGenerator
from miniticker import (
    FIELD_NAMES,
    POPULAR_SYMBOLS,
    InvalidMiniTicker,
    from_mapping,
    normalize,
    parse_json_line,
    to_json_line,
)
from tests.payloads import BTC, RECEIVED_AT, changed

RECORD = normalize(BTC, received_at=RECEIVED_AT)


def stored(**changes: Any) -> dict[str, Any]:
    """The stored form of RECORD with some fields replaced (``...`` removes one)."""
    return changed(RECORD._asdict(), **changes)


def test_a_json_line_is_compact_ordered_and_newline_terminated():
    assert to_json_line(RECORD) == (
        b'{"event_type":"24hrMiniTicker","event_time":1665778598188,'
        b'"stream_type":"btcusdt@miniTicker","symbol":"BTCUSDT",'
        b'"close_price":"19139.30000000","open_price":"19000.00000000",'
        b'"high_price":"19500.00000000","low_price":"18900.10000000",'
        b'"total_traded_volume":"12345.67890000",'
        b'"total_traded_quote_volume":"236269437.12345678",'
        b'"iso_timestamp":"2022-10-14T20:16:38.188Z","received_at":1665778598231}\n'
    )


def test_round_trip_is_exact():
    line = to_json_line(RECORD)
    assert parse_json_line(line) == RECORD
    assert parse_json_line(line.decode()) == RECORD
    assert parse_json_line(line.rstrip(b"\n")) == RECORD


def test_decimals_stay_strings_in_the_line():
    data = json.loads(to_json_line(RECORD))
    assert data["close_price"] == "19139.30000000"
    assert isinstance(data["event_time"], int)


def test_a_non_ascii_symbol_is_utf8_in_the_line():
    record = normalize(dict(BTC, s="币安人生USDT"), received_at=RECEIVED_AT)
    line = to_json_line(record)
    assert "币安人生USDT".encode() in line
    assert parse_json_line(line) == record


def test_unknown_keys_are_ignored_for_forward_compatibility():
    assert from_mapping(stored(added_in_v2="x")) == RECORD


@pytest.mark.parametrize("field", FIELD_NAMES)
def test_each_missing_field_is_named(field: str):
    data = stored(**{field: ...})
    with pytest.raises(InvalidMiniTicker) as caught:
        from_mapping(data)
    assert (caught.value.field, caught.value.reason) == (field, "missing")
    assert caught.value.payload is data


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"event_time": "1665778598188"}, "event_time", "got str"),
        ({"received_at": 1.5}, "received_at", "got float"),
        ({"close_price": 19139.3}, "close_price", "got float"),
        ({"open_price": "1e3"}, "open_price", "'1e3'"),
        ({"event_type": "trade"}, "event_type", "unknown event type"),
        ({"symbol": "btcusdt", "stream_type": "btcusdt@miniTicker"}, "symbol", "upper-case"),
        ({"stream_type": "ethusdt@miniTicker"}, "stream_type", "not the stream of symbol"),
        ({"iso_timestamp": "2022-10-14T20:16:38.189Z"}, "iso_timestamp", "is not event_time"),
        ({"iso_timestamp": "2022-10-14T20:16:38.188+00:00"}, "iso_timestamp", "is not"),
        ({"low_price": "20000"}, "low_price", "above high"),
    ],
)
def test_invalid_stored_records(changes: dict[str, Any], field: str, words: str):
    with pytest.raises(InvalidMiniTicker) as caught:
        from_mapping(stored(**changes))
    assert caught.value.field == field
    assert words in caught.value.reason


@pytest.mark.parametrize(
    ("line", "field", "words"),
    [
        (b"{not json", None, "not valid JSON"),
        (b"", None, "not valid JSON"),
        (b'{"event_type": "24hrMiniTicker"', None, "not valid JSON"),
        (b"\xff\xfe garbage", None, "not valid JSON"),
        (b"[1, 2]", None, "got list"),
        (b'"text"', None, "got str"),
        (b"{}", "event_type", "missing"),
    ],
)
def test_bad_lines_keep_the_line(line: bytes, field: str | None, words: str):
    with pytest.raises(InvalidMiniTicker) as caught:
        parse_json_line(line)
    assert caught.value.field == field
    assert words in caught.value.reason
    assert caught.value.payload is line


def test_the_fast_line_is_exactly_the_json_encoders():
    encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
    records = [normalize(p, received_at=p["E"] + 1)
               for p in MarketDataGenerator([*POPULAR_SYMBOLS, "币安人生USDT"], seed=4)
               .payloads(2000)]
    for record in records:
        assert to_json_line(record) == (encoder.encode(record._asdict()) + "\n").encode()


@pytest.mark.parametrize(
    "changes",
    [{"symbol": 'BTC"USDT'}, {"symbol": "BTC\\USDT"}, {"close_price": "1\n"},
     {"event_time": 1.5}, {"received_at": True}, {"close_price": None}],
)
def test_records_built_by_hand_still_give_valid_json(changes: dict[str, Any]):
    # Unvalidated records skip the template: the line is still JSON of exactly their values.
    record = RECORD._replace(**changes)
    assert json.loads(to_json_line(record)) == record._asdict()
