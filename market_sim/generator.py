"""Seeded, realistic Binance mini-ticker payloads.

Each symbol follows its own random walk of prices on its tick grid, with traded quantities on its
lot grid. The 24 h rolling-window figures Binance reports (open, high, low, base and quote volume)
are kept consistent with that walk: the generator holds the last 24 h as one-minute buckets,
starting from a simulated day of history, so the very first payload already has a full window.

Everything is integer arithmetic in units of 1e-8, so every printed decimal is exact, has eight
fraction digits like Binance's, and ``low <= open, close <= high`` always holds. Output depends
only on the seed, the symbols, and the time settings; each symbol draws from its own random
stream, so adding a symbol does not change the others' data.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

from miniticker import EVENT_TYPE
from miniticker.validate import check_symbol

from .symbols import POPULAR, UNITS, SymbolSpec, spec_for, to_units

#: 2026-01-01T00:00:00Z: a fixed default start keeps generated data reproducible.
DEFAULT_START_MS = 1_767_225_600_000
BUCKET_MS = 60_000
WINDOW_MS = 86_400_000
WINDOW_BUCKETS = WINDOW_MS // BUCKET_MS
_SECONDS_PER_DAY = WINDOW_MS / 1000

Payload = dict[str, Any]


def format_units(units: int) -> str:
    """``1_234_500_000`` -> ``"12.34500000"`` (eight fraction digits, as Binance prints)."""
    whole, fraction = divmod(units, UNITS)
    return f"{whole}.{fraction:08d}"


class _Bucket:
    """One minute of one symbol's trading: prices in ticks, volumes in units."""

    __slots__ = ("high", "index", "low", "open", "quote_volume", "volume")

    def __init__(self, index: int, price: int) -> None:
        self.index = index
        self.open = self.high = self.low = price
        self.volume = self.quote_volume = 0


class _SymbolMarket:
    """One symbol's price walk and its 24 h rolling window."""

    def __init__(self, spec: SymbolSpec, seed: int, start_ms: int, interval_ms: int) -> None:
        self.symbol = spec.symbol
        self.activity = spec.activity
        # A string seed is hashed with SHA-512 by random.Random: stable across runs and versions.
        self.rng = random.Random(f"{seed}:{spec.symbol}")
        self.tick_units = to_units(spec.tick_size)
        self.step_units = to_units(spec.step_size)
        interval_s = interval_ms / 1000
        self.sigma = spec.daily_volatility * math.sqrt(interval_s / _SECONDS_PER_DAY)
        start_price = max(1, to_units(spec.price) // self.tick_units)
        self.mean_lots = self._lots_worth(
            spec.daily_quote_volume * interval_s / _SECONDS_PER_DAY, start_price
        )
        self.buckets: deque[_Bucket] = deque()
        self.volume = self.quote_volume = 0
        self._warm_up(spec, start_ms)
        self._refresh_extremes()

    def _warm_up(self, spec: SymbolSpec, start_ms: int) -> None:
        """Simulate the day before ``start_ms`` minute by minute, ending at the spec's price.

        The hot loop of a large market's start (a day of buckets per symbol): names are bound
        locally and the helpers inlined, with the same draws and arithmetic in the same order.
        """
        gauss, lognormvariate, exp = self.rng.gauss, self.rng.lognormvariate, math.exp
        sigma = spec.daily_volatility / math.sqrt(WINDOW_BUCKETS)
        # Walk backwards from the start price so the day ends where the spec says.
        close = max(1, to_units(spec.price) // self.tick_units)
        closes = [close]
        for _ in range(WINDOW_BUCKETS - 1):
            close = max(1, round(close * exp(-sigma * gauss(0.0, 1.0))))
            closes.append(close)
        closes.reverse()
        minute_volume = spec.daily_quote_volume / WINDOW_BUCKETS
        tick_units, step_units = self.tick_units, self.step_units
        half_sigma = sigma / 2
        index = start_ms // BUCKET_MS - WINDOW_BUCKETS
        buckets = self.buckets
        volume = quote_volume = 0
        previous = closes[0]
        for close in closes:
            bucket = _Bucket(index, previous)
            index += 1
            wiggle = abs(gauss(0.0, half_sigma))
            if previous < close:
                bucket.high = round(close * (1 + wiggle))
                bucket.low = max(1, round(previous * (1 - wiggle)))
            else:
                bucket.high = round(previous * (1 + wiggle))
                bucket.low = max(1, round(close * (1 - wiggle)))
            # _lots_worth, inlined.
            quote = minute_volume * lognormvariate(-0.125, 0.5)
            lots = quote * UNITS / (close * tick_units) * UNITS / step_units
            bucket.volume = max(1, round(lots)) * step_units
            bucket.quote_volume = close * tick_units * bucket.volume // UNITS
            buckets.append(bucket)
            volume += bucket.volume
            quote_volume += bucket.quote_volume
            previous = close
        self.volume += volume
        self.quote_volume += quote_volume
        self.price = previous

    def _lots_worth(self, quote: float, price_ticks: int) -> float:
        """How many lots ``quote`` (in the quote asset) buys at ``price_ticks``."""
        quantity = quote * UNITS / (price_ticks * self.tick_units)
        return quantity * UNITS / self.step_units

    def _add_bucket(self, bucket: _Bucket) -> None:
        self.buckets.append(bucket)
        self.volume += bucket.volume
        self.quote_volume += bucket.quote_volume

    def _refresh_extremes(self) -> None:
        self.high = max(b.high for b in self.buckets)
        self.low = min(b.low for b in self.buckets)

    def trade(self, event_time: int) -> Payload:
        """Advance the walk by one interval's trade at ``event_time`` and report the window."""
        rng = self.rng
        buckets = self.buckets
        index = event_time // BUCKET_MS
        current = buckets[-1]
        if current.index != index:
            current = _Bucket(index, self.price)
            self._add_bucket(current)
        stale = False
        oldest = index - WINDOW_BUCKETS + 1
        while buckets[0].index < oldest:
            gone = buckets.popleft()
            self.volume -= gone.volume
            self.quote_volume -= gone.quote_volume
            stale = stale or gone.high >= self.high or gone.low <= self.low

        price = max(1, self.price + round(self.price * self.sigma * rng.gauss(0.0, 1.0)))
        lots = max(1, int(self.mean_lots * rng.lognormvariate(-0.5, 1.0)))
        volume = lots * self.step_units
        quote_volume = price * self.tick_units * volume // UNITS
        self.price = price
        current.volume += volume
        current.quote_volume += quote_volume
        self.volume += volume
        self.quote_volume += quote_volume
        current.high = max(current.high, price)
        current.low = min(current.low, price)
        if stale:
            self._refresh_extremes()
        else:
            self.high = max(self.high, price)
            self.low = min(self.low, price)
        tick = self.tick_units
        return {
            "e": EVENT_TYPE,
            "E": event_time,
            "s": self.symbol,
            "c": format_units(price * tick),
            "o": format_units(buckets[0].open * tick),
            "h": format_units(self.high * tick),
            "l": format_units(self.low * tick),
            "v": format_units(self.volume),
            "q": format_units(self.quote_volume),
        }


class MarketDataGenerator:
    """Binance ``24hrMiniTicker`` payloads for many symbols, interval by interval.

    Every ``interval_ms`` of event time is one tick: each symbol updates (with its spec's
    ``activity`` probability) at an event time jittered within the tick, so event times rise
    strictly per symbol and payloads come out in event-time order. Iteration never ends by
    itself; pass ``count`` or slice.

    Args:
        symbols: names (catalogue or derived specs) or `SymbolSpec` objects.
        seed: the same seed and arguments always give the same payloads.
        start_ms: event time of the first tick, epoch ms.
        interval_ms: event time between ticks (Binance pushes mini-tickers every 1000 ms).
        jitter_ms: spread of event times within a tick, ``0 <= jitter_ms <= interval_ms``.
    """

    def __init__(
        self,
        symbols: Iterable[str | SymbolSpec] = POPULAR,
        *,
        seed: int = 0,
        start_ms: int = DEFAULT_START_MS,
        interval_ms: int = 1000,
        jitter_ms: int = 100,
    ) -> None:
        specs = [s if isinstance(s, SymbolSpec) else spec_for(s) for s in symbols]
        names = [s.symbol for s in specs]
        for name in names:
            check_symbol(name, name)  # only contract-valid data: faults are injected elsewhere
        if not specs:
            raise ValueError("MarketDataGenerator needs at least one symbol")
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate symbols in {names}")
        if interval_ms < 1:
            raise ValueError(f"interval_ms must be at least 1, got {interval_ms}")
        if not 0 <= jitter_ms <= interval_ms:
            raise ValueError(f"jitter_ms must be within 0..interval_ms, got {jitter_ms}")
        self.symbols: tuple[str, ...] = tuple(names)
        self.interval_ms = interval_ms
        self.jitter_ms = jitter_ms
        self.next_tick_ms = start_ms
        self._markets = [_SymbolMarket(spec, seed, start_ms, interval_ms) for spec in specs]

    def next_tick(self) -> list[Payload]:
        """The payloads of the next interval, ordered by event time (then symbol)."""
        tick_ms = self.next_tick_ms
        self.next_tick_ms += self.interval_ms
        jitter = self.jitter_ms
        updates = []
        for market in self._markets:
            rng = market.rng
            if market.activity < 1.0 and rng.random() >= market.activity:
                continue
            offset = rng.randrange(jitter) if jitter else 0
            updates.append(market.trade(tick_ms + offset))
        updates.sort(key=lambda p: (p["E"], p["s"]))
        return updates

    def ticks(self, count: int | None = None) -> Iterator[list[Payload]]:
        """``count`` ticks (forever if ``None``); a tick may be empty when no symbol traded."""
        produced = 0
        while count is None or produced < count:
            yield self.next_tick()
            produced += 1

    def payloads(self, count: int | None = None) -> Iterator[Payload]:
        """``count`` payloads (forever if ``None``) in event-time order."""
        produced = 0
        for tick in self.ticks():
            for payload in tick:
                if count is not None and produced >= count:
                    return
                yield payload
                produced += 1
