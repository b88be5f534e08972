"""Hand-written Binance payloads, as documented and as seen on the wire."""

from __future__ import annotations

from typing import Any

#: A payload as Binance sends it on btcusdt@miniTicker (decimals as strings, E in ms).
BTC: dict[str, Any] = {
    "e": "24hrMiniTicker",
    "E": 1665778598188,
    "s": "BTCUSDT",
    "c": "19139.30000000",
    "o": "19000.00000000",
    "h": "19500.00000000",
    "l": "18900.10000000",
    "v": "12345.67890000",
    "q": "236269437.12345678",
}

#: Binance's own documentation example: short decimals, kept as sent.
BNBBTC_DOC: dict[str, Any] = {
    "e": "24hrMiniTicker",
    "E": 1672515782136,
    "s": "BNBBTC",
    "c": "0.0025",
    "o": "0.0010",
    "h": "0.0025",
    "l": "0.0010",
    "v": "10000",
    "q": "18",
}

RECEIVED_AT = 1665778598231


def payload(**changes: Any) -> dict[str, Any]:
    """BTC with some keys replaced; a value of ``...`` removes the key."""
    return changed(BTC, **changes)


def changed(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A copy of ``base`` with some keys replaced; a value of ``...`` removes the key."""
    result = dict(base)
    for key, value in changes.items():
        if value is ...:
            del result[key]
        else:
            result[key] = value
    return result
