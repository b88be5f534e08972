"""Per-symbol market parameters for generated data: price level, tick and lot sizes, volatility.

The catalogue holds popular Binance USDT pairs with their spot tick sizes (``PRICE_FILTER``) and
lot step sizes (``LOT_SIZE``); prices and volumes are plausible levels, not quotes. Any other
symbol gets parameters derived from its name, so the same name always behaves the same.
"""

from __future__ import annotations

import hashlib
import math
from decimal import Decimal
from typing import NamedTuple

from miniticker import POPULAR_SYMBOLS

#: Integer units per 1 of a price or quantity: values are carried as ints of 1e-8, the scale
#: Binance quotes with, so that every string the generator prints is exact.
UNITS = 100_000_000


def to_units(value: str) -> int:
    """``"0.01"`` -> ``1_000_000``; rejects values finer than 1e-8."""
    units = Decimal(value) * UNITS
    if units != units.to_integral_value() or units <= 0:
        raise ValueError(f"{value!r} is not a positive multiple of 0.00000001")
    return int(units)


class SymbolSpec(NamedTuple):
    """How one symbol's generated market behaves."""

    symbol: str
    price: str  # starting price (the close of the warm-up day)
    tick_size: str  # price increment
    step_size: str  # quantity increment
    daily_volatility: float  # standard deviation of the daily log return
    daily_quote_volume: float  # mean traded value per 24 h, in the quote asset
    activity: float = 1.0  # probability that the symbol updates in an interval


CATALOGUE: dict[str, SymbolSpec] = {
    spec.symbol: spec
    for spec in (
        SymbolSpec("BTCUSDT", "95000.00", "0.01", "0.00001", 0.03, 1.5e9),
        SymbolSpec("ETHUSDT", "3200.00", "0.01", "0.0001", 0.04, 8e8),
        SymbolSpec("BNBUSDT", "900.00", "0.01", "0.001", 0.03, 1.5e8),
        SymbolSpec("SOLUSDT", "180.00", "0.01", "0.001", 0.05, 4e8),
        SymbolSpec("XRPUSDT", "2.5000", "0.0001", "0.1", 0.05, 3e8),
        SymbolSpec("DOGEUSDT", "0.20000", "0.00001", "1", 0.06, 2e8),
        SymbolSpec("ADAUSDT", "0.7000", "0.0001", "0.1", 0.05, 8e7),
        SymbolSpec("TRXUSDT", "0.3000", "0.0001", "0.1", 0.03, 5e7),
        SymbolSpec("LINKUSDT", "18.00", "0.01", "0.01", 0.05, 6e7),
        SymbolSpec("AVAXUSDT", "25.00", "0.01", "0.01", 0.06, 5e7),
        SymbolSpec("LTCUSDT", "90.00", "0.01", "0.001", 0.04, 4e7),
        SymbolSpec("DOTUSDT", "4.000", "0.001", "0.01", 0.06, 3e7),
        SymbolSpec("SUIUSDT", "3.5000", "0.0001", "0.1", 0.07, 1e8),
        SymbolSpec("SHIBUSDT", "0.00001300", "0.00000001", "1", 0.06, 3e7),
        SymbolSpec("PEPEUSDT", "0.00001000", "0.00000001", "1", 0.08, 8e7),
        SymbolSpec("USDCUSDT", "1.0000", "0.0001", "1", 0.0005, 1e9),
    )
}

POPULAR = POPULAR_SYMBOLS


def spec_for(symbol: str) -> SymbolSpec:
    """The catalogue's spec, or one derived deterministically from the symbol's name."""
    if symbol in CATALOGUE:
        return CATALOGUE[symbol]
    digest = hashlib.sha256(symbol.encode()).digest()

    def uniform(i: int, low: float, high: float) -> float:
        return low + (high - low) * int.from_bytes(digest[4 * i : 4 * i + 4], "big") / 2**32

    magnitude = math.floor(uniform(0, -5, 5))  # price between 1e-5 and 1e5
    # Binance keeps about five significant digits in a price: tick = 10^(magnitude - 4).
    tick_exponent = min(max(magnitude - 4, -8), -2)
    price = Decimal(round(uniform(1, 1.0, 9.99), 4)).scaleb(magnitude).quantize(
        Decimal(1).scaleb(tick_exponent)
    )
    # A lot is worth about a hundredth of the quote asset, never finer than 1e-8 nor above 1.
    step_exponent = min(max(-magnitude - 2, -8), 0)
    return SymbolSpec(
        symbol=symbol,
        price=format(max(price, Decimal(1).scaleb(tick_exponent)), "f"),
        tick_size=format(Decimal(1).scaleb(tick_exponent), "f"),
        step_size=format(Decimal(1).scaleb(step_exponent), "f"),
        daily_volatility=uniform(2, 0.02, 0.10),
        daily_quote_volume=10 ** uniform(3, 5, 8),
        activity=uniform(4, 0.3, 1.0),
    )
