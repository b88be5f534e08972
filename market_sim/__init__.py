"""A stand-in for the Binance market: realistic, seeded mini-ticker data for tests, the local
mode and benchmarks."""

from .generator import DEFAULT_START_MS, MarketDataGenerator, Payload, format_units
from .shapes import Shape, all_market_combined, combined, messages
from .symbols import CATALOGUE, POPULAR, WHOLE_MARKET, SymbolSpec, spec_for

__all__ = [
    "CATALOGUE",
    "DEFAULT_START_MS",
    "POPULAR",
    "WHOLE_MARKET",
    "MarketDataGenerator",
    "Payload",
    "Shape",
    "SymbolSpec",
    "all_market_combined",
    "combined",
    "format_units",
    "messages",
    "spec_for",
]
