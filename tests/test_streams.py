"""Stream names: derived from symbols, validated for configuration."""

from __future__ import annotations

import pytest

from miniticker import ALL_MARKET_STREAM, check_stream_name, stream_name_for


def test_stream_name_for_a_symbol():
    assert stream_name_for("BTCUSDT") == "btcusdt@miniTicker"


@pytest.mark.parametrize("name", ["btcusdt@miniTicker", "1000satsusdt@miniTicker",
                                  ALL_MARKET_STREAM])
def test_valid_stream_names(name: str):
    assert check_stream_name(name) == name


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("", "is not '<symbol>@miniTicker'"),
        ("btcusdt", "is not '<symbol>@miniTicker'"),
        ("@miniTicker", "is not '<symbol>@miniTicker'"),
        ("btcusdt@ticker", "is not '<symbol>@miniTicker'"),
        ("btcusdt@miniticker", "is not '<symbol>@miniTicker'"),
        ("BTCUSDT@miniTicker", "lower-case"),
        ("btc/usdt@miniTicker", "lower-case letters and digits"),
        ("btc usdt@miniTicker", "lower-case letters and digits"),
        ("!miniTicker@arr@1s", "is not '<symbol>@miniTicker'"),
    ],
)
def test_invalid_stream_names_say_why(name: str, words: str):
    with pytest.raises(ValueError, match="stream name") as caught:
        check_stream_name(name)
    assert words in str(caught.value)
    assert repr(name) in str(caught.value)
