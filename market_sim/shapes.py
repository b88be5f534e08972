"""The three shapes in which Binance delivers mini-tickers, built from generated payloads.

- ``raw``: one ``24hrMiniTicker`` object per message (``/ws/<symbol>@miniTicker``);
- ``combined``: ``{"stream": "<symbol>@miniTicker", "data": {...}}`` (``/stream?streams=``);
- ``all-market``: one JSON array per tick with every symbol that changed (``/ws/!miniTicker@arr``),
  and its combined form ``{"stream": "!miniTicker@arr", "data": [...]}``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from typing import Any

from miniticker import ALL_MARKET_STREAM, stream_name_for

from .generator import MarketDataGenerator, Payload


class Shape(enum.Enum):
    RAW = "raw"
    COMBINED = "combined"
    ALL_MARKET = "all-market"
    ALL_MARKET_COMBINED = "all-market-combined"


def combined(payload: Payload) -> dict[str, Any]:
    """Wrap one payload as its symbol's combined-stream message."""
    return {"stream": stream_name_for(payload["s"]), "data": payload}


def all_market_combined(payloads: list[Payload]) -> dict[str, Any]:
    """Wrap one tick's payloads as a combined ``!miniTicker@arr`` message."""
    return {"stream": ALL_MARKET_STREAM, "data": payloads}


def messages(generator: MarketDataGenerator, shape: Shape, count: int) -> Iterator[Any]:
    """``count`` websocket messages of ``shape``; all-market messages carry one tick each."""
    if shape is Shape.RAW:
        yield from generator.payloads(count)
    elif shape is Shape.COMBINED:
        yield from map(combined, generator.payloads(count))
    elif shape is Shape.ALL_MARKET:
        yield from generator.ticks(count)
    else:
        yield from map(all_market_combined, generator.ticks(count))
