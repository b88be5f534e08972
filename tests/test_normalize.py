"""Binance payloads to records: every field, every shape, exact decimals, every malformed case."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import pytest

import miniticker
from miniticker import (
    ALL_MARKET_STREAM,
    BINANCE_FIELDS,
    InvalidMiniTicker,
    MiniTicker,
    normalize,
    normalize_message,
    split_message,
)
from tests.payloads import BNBBTC_DOC, BTC, RECEIVED_AT, payload


def test_every_field_of_a_binance_payload():
    record = normalize(BTC, received_at=RECEIVED_AT)

    assert record == MiniTicker(
        event_type="24hrMiniTicker",
        event_time=1665778598188,
        stream_type="btcusdt@miniTicker",
        symbol="BTCUSDT",
        close_price="19139.30000000",
        open_price="19000.00000000",
        high_price="19500.00000000",
        low_price="18900.10000000",
        total_traded_volume="12345.67890000",
        total_traded_quote_volume="236269437.12345678",
        iso_timestamp="2022-10-14T20:16:38.188Z",
        received_at=RECEIVED_AT,
    )


def test_the_quote_volume_keeps_its_right_name():
    # The prototype called "q" total_traded_base_asset_volume; the contract does not.
    record = normalize(BTC, received_at=RECEIVED_AT)
    assert record.total_traded_quote_volume == BTC["q"]
    assert "total_traded_base_asset_volume" not in record._asdict()


def test_decimals_are_the_exact_strings_binance_sent():
    record = normalize(BNBBTC_DOC, received_at=RECEIVED_AT)
    assert (record.close_price, record.open_price, record.high_price, record.low_price) == (
        "0.0025", "0.0010", "0.0025", "0.0010"
    )
    assert (record.total_traded_volume, record.total_traded_quote_volume) == ("10000", "18")


@pytest.mark.parametrize(
    "value",
    ["0.00000001", "99999999999999999999.99999999", "123456789012345678901234567890.12345678",
     "0", "7", "0.1"],
)
def test_decimal_edge_values_are_accepted_unchanged(value: str):
    record = normalize(payload(c=value, h="999999999999999999999999999999", l="0"),
                       received_at=RECEIVED_AT)
    assert record.close_price is value


def test_extra_binance_keys_are_ignored():
    record = normalize(payload(x="new field", w="1.0"), received_at=RECEIVED_AT)
    assert record == normalize(BTC, received_at=RECEIVED_AT)


def test_the_payload_is_not_modified():
    original = copy.deepcopy(BTC)
    normalize(BTC, received_at=RECEIVED_AT, stream="btcusdt@miniTicker")
    assert original == BTC


def test_received_at_comes_from_the_caller():
    assert normalize(BTC, received_at=5).received_at == 5


# --- shapes -------------------------------------------------------------------------------------


def test_raw_object_shape():
    result = normalize_message(BTC, received_at=RECEIVED_AT)
    assert result.records == [normalize(BTC, received_at=RECEIVED_AT)]
    assert result.rejected == []


def test_combined_stream_shape():
    message = {"stream": "btcusdt@miniTicker", "data": BTC}
    result = normalize_message(message, received_at=RECEIVED_AT)
    assert [r.stream_type for r in result.records] == ["btcusdt@miniTicker"]
    assert result.records[0] == normalize(BTC, received_at=RECEIVED_AT)


@pytest.mark.parametrize("wrapped", [False, True], ids=["raw-array", "combined-array"])
def test_all_market_array_each_element_is_its_own_symbols_stream(wrapped: bool):
    elements = [BTC, BNBBTC_DOC, payload(s="ETHUSDT")]
    message: Any = {"stream": ALL_MARKET_STREAM, "data": elements} if wrapped else elements
    result = normalize_message(message, received_at=RECEIVED_AT)
    assert result.rejected == []
    assert [r.stream_type for r in result.records] == [
        "btcusdt@miniTicker", "bnbbtc@miniTicker", "ethusdt@miniTicker",
    ]
    assert [r.symbol for r in result.records] == ["BTCUSDT", "BNBBTC", "ETHUSDT"]


def test_one_bad_element_of_an_array_is_set_aside_alone():
    bad = payload(s="ETHUSDT", c="not-a-price")
    result = normalize_message([BTC, bad, BNBBTC_DOC], received_at=RECEIVED_AT)
    assert [r.symbol for r in result.records] == ["BTCUSDT", "BNBBTC"]
    (error,) = result.rejected
    assert (error.field, error.payload) == ("close_price", bad)


def test_an_empty_all_market_array_yields_nothing():
    assert normalize_message([], received_at=RECEIVED_AT) == ([], [])


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("just text", "got str"),
        (42, "got int"),
        (None, "got NoneType"),
        ({"stream": ALL_MARKET_STREAM, "data": BTC}, "not an array"),
        ({"stream": 7, "data": BTC}, "is not a string"),
    ],
)
def test_unknown_message_shapes_are_rejected_whole(message: Any, reason: str):
    result = normalize_message(message, received_at=RECEIVED_AT)
    assert result.records == []
    (error,) = result.rejected
    assert reason in error.reason
    assert error.payload is message


def test_split_message_pairs_streams_with_payloads():
    assert split_message({"stream": "btcusdt@miniTicker", "data": BTC}) == [
        ("btcusdt@miniTicker", BTC)
    ]
    assert split_message([BTC, BTC]) == [(None, BTC), (None, BTC)]
    assert split_message(BTC) == [(None, BTC)]


def test_control_messages_are_not_mini_tickers():
    # The ingester handles these before normalising; if one slips through it is rejected.
    shutdown = {"stream": "!serverShutdown", "data": {"e": "serverShutdown", "E": 1}}
    ack = {"result": None, "id": 1}
    for message in (shutdown, ack):
        result = normalize_message(message, received_at=RECEIVED_AT)
        assert result.records == []
        assert len(result.rejected) == 1


# --- malformed payloads -------------------------------------------------------------------------


@pytest.mark.parametrize(("field", "key"), BINANCE_FIELDS)
def test_each_missing_key_is_named(field: str, key: str):
    bad = payload(**{key: ...})
    with pytest.raises(InvalidMiniTicker) as caught:
        normalize(bad, received_at=RECEIVED_AT)
    assert caught.value.field == field
    assert f"'{key}'" in caught.value.reason
    assert caught.value.payload is bad
    assert field in str(caught.value)


MALFORMED = [
    # key, value, field, words in the reason
    ("E", "1665778598188", "event_time", "got str"),
    ("E", 1665778598188.0, "event_time", "got float"),
    ("E", True, "event_time", "got bool"),
    ("E", None, "event_time", "got null"),
    ("E", -1, "event_time", "outside"),
    ("E", 1665778598188000, "event_time", "outside"),  # microseconds
    ("c", 19139.3, "close_price", "got float"),
    ("c", 19139, "close_price", "got int"),
    ("c", None, "close_price", "got null"),
    ("c", "abc", "close_price", "'abc'"),
    ("c", "", "close_price", "''"),
    ("c", "-1.5", "close_price", "non-negative"),
    ("c", "+1.5", "close_price", "'+1.5'"),
    ("c", "1e5", "close_price", "'1e5'"),
    ("c", "NaN", "close_price", "'NaN'"),
    ("c", "Infinity", "close_price", "'Infinity'"),
    ("c", " 1.5", "close_price", "' 1.5'"),
    ("c", "1.5\n", "close_price", "'1.5\\n'"),
    ("c", "1.", "close_price", "'1.'"),
    ("c", ".5", "close_price", "'.5'"),
    ("c", "1,5", "close_price", "'1,5'"),
    ("c", "1.123456789", "close_price", "8 fraction digits"),
    ("c", "1" * 31, "close_price", "30 integer"),
    ("c", "١٢٣", "close_price", "'١٢٣'"),  # Arabic-Indic digits: Decimal() would accept them
    ("o", "x", "open_price", "'x'"),
    ("h", "x", "high_price", "'x'"),
    ("l", "x", "low_price", "'x'"),
    ("v", "x", "total_traded_volume", "'x'"),
    ("q", "x", "total_traded_quote_volume", "'x'"),
    ("e", "24hrTicker", "event_type", "unknown event type '24hrTicker'"),
    ("e", "", "event_type", "non-empty string"),
    ("e", 5, "event_type", "got int"),
    ("s", "btcusdt", "symbol", "upper-case"),
    ("s", "BTC/USDT", "symbol", "letters and digits"),
    ("s", "BTC USDT", "symbol", "letters and digits"),
    ("s", "A" * 33, "symbol", "at most 32"),
    ("s", "", "symbol", "non-empty"),
    ("s", ["BTCUSDT"], "symbol", "got list"),
    ("l", "19600.00000000", "low_price", "above high"),
]


@pytest.mark.parametrize(("key", "value", "field", "words"), MALFORMED)
def test_malformed_values_are_named_with_the_payload(key: str, value: Any, field: str, words: str):
    bad = payload(**{key: value})
    with pytest.raises(InvalidMiniTicker) as caught:
        normalize(bad, received_at=RECEIVED_AT)
    error = caught.value
    assert error.field == field
    assert words in error.reason
    assert error.payload is bad
    assert str(error) == f"invalid mini-ticker: {field}: {error.reason}"


def test_a_unicode_symbol_is_accepted():
    # Binance has listed pairs whose base asset is not ASCII; they are letters all the same.
    record = normalize(payload(s="币安人生USDT"), received_at=RECEIVED_AT)
    assert record.stream_type == "币安人生usdt@miniTicker"


@pytest.mark.parametrize("received_at", [-1, 1.5, "1", None, True])
def test_a_bad_received_at_is_a_caller_error_named_as_such(received_at: Any):
    with pytest.raises(InvalidMiniTicker) as caught:
        normalize(BTC, received_at=received_at)
    assert caught.value.field == "received_at"


@pytest.mark.parametrize("not_an_object", [[BTC], "BTCUSDT", 1, None])
def test_a_payload_that_is_not_an_object(not_an_object: Any):
    with pytest.raises(InvalidMiniTicker) as caught:
        normalize(not_an_object, received_at=RECEIVED_AT)
    assert caught.value.field is None
    assert caught.value.payload is not_an_object


def test_a_stream_that_does_not_carry_the_symbol():
    with pytest.raises(InvalidMiniTicker) as caught:
        normalize(BTC, received_at=RECEIVED_AT, stream="ethusdt@miniTicker")
    assert caught.value.field == "stream_type"
    assert "ethusdt@miniTicker" in caught.value.reason


def test_the_error_survives_pickling_and_gives_a_bounded_excerpt():
    huge = payload(c="x" * 5000)
    with pytest.raises(InvalidMiniTicker) as caught:
        normalize(huge, received_at=RECEIVED_AT)
    clone = pickle.loads(pickle.dumps(caught.value))
    assert (clone.field, clone.reason, clone.payload) == ("close_price", caught.value.reason, huge)
    excerpt = clone.excerpt()
    assert len(excerpt) < 400
    assert excerpt.endswith("chars)")


def test_the_error_is_a_value_error():
    assert issubclass(miniticker.InvalidMiniTicker, ValueError)
