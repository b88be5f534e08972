"""Per-symbol market parameters for generated data: price level, tick and lot sizes, volatility.

The catalogue holds popular Binance USDT pairs with their spot tick sizes (``PRICE_FILTER``) and
lot step sizes (``LOT_SIZE``); prices and volumes are plausible levels, not quotes. Any other
symbol gets parameters derived from its name, so the same name always behaves the same.

`WHOLE_MARKET` is a market of Binance's size: real base-asset tickers (``base_assets.txt``)
crossed with the quote assets, USDT for every base and the others for fewer, as Binance lists
its spot pairs.
"""

from __future__ import annotations

import hashlib
import math
from decimal import Decimal
from pathlib import Path
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

#: Base assets, most traded first: one whitespace-separated ticker list, ``#`` comments.
BASE_ASSETS_FILE = Path(__file__).with_name("base_assets.txt")

#: The quote assets, each with how many of the first base assets it quotes (None: all of them),
#: in the order that also decides a pair of two of them: the earlier one quotes the later, as
#: on Binance (USDTTRY, EURUSDT, USDCUSDT, ETHBTC, BNBETH).
QUOTE_DEPTHS: tuple[tuple[str, int | None], ...] = (
    ("TRY", 200), ("BRL", 25), ("JPY", 15), ("ARS", 10), ("MXN", 6), ("PLN", 8), ("ZAR", 6),
    ("UAH", 6), ("COP", 4), ("CZK", 4), ("RON", 4),
    ("USDT", None), ("USDC", 220), ("FDUSD", 150), ("EUR", 40),
    ("BTC", 260), ("ETH", 70), ("BNB", 60),
)


def base_assets(path: Path = BASE_ASSETS_FILE) -> tuple[str, ...]:
    """The tickers of ``path`` in order; a ticker listed twice is an error, not a silent pair
    fewer."""
    tickers: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        tickers += line.split("#", 1)[0].split()
    repeated = sorted({t for t in tickers if tickers.count(t) > 1})
    if repeated:
        raise ValueError(f"{path.name} lists {', '.join(repeated)} more than once")
    return tuple(tickers)


def whole_market(bases: tuple[str, ...], quotes: tuple[tuple[str, int | None], ...]
                 ) -> tuple[str, ...]:
    """Every pair of ``bases`` (most traded first) and ``quotes`` (`QUOTE_DEPTHS`), base by base,
    each base's quotes in their order."""
    order = {quote: position for position, (quote, _) in enumerate(quotes)}
    symbols: list[str] = []
    for rank, base in enumerate(bases):
        for quote, depth in quotes:
            if depth is not None and rank >= depth:
                continue
            if base == quote or order.get(base, len(order)) < order[quote]:
                continue  # two quote assets pair one way only: the earlier quotes the later
            symbols.append(base + quote)
    if len(set(symbols)) != len(symbols):  # two splits of one name: a base is mistyped
        raise ValueError("whole market: a symbol is made twice")
    return tuple(symbols)


#: A market of Binance's size (the default ``!miniTicker@arr`` market of the local mode and the
#: whole-market benchmarks): deterministic, every name a valid symbol, POPULAR among them.
WHOLE_MARKET: tuple[str, ...] = whole_market(base_assets(), QUOTE_DEPTHS)


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
