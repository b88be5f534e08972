"""The market-data generator: reproducible, contract-valid, and consistent like Binance data."""

from __future__ import annotations

import bisect
import json
import subprocess
import sys
from decimal import Decimal
from itertools import islice
from pathlib import Path

import pytest

from market_sim import (
    CATALOGUE,
    POPULAR,
    MarketDataGenerator,
    Shape,
    SymbolSpec,
    messages,
    spec_for,
)
from market_sim.generator import BUCKET_MS, WINDOW_BUCKETS
from miniticker import BINANCE_FIELDS, DECIMAL_FIELDS, InvalidMiniTicker, normalize_message

REPO = Path(__file__).resolve().parents[1]
DECIMAL_KEYS = [dict(BINANCE_FIELDS)[f] for f in DECIMAL_FIELDS]


def test_same_seed_same_payloads():
    first = list(MarketDataGenerator(seed=7).payloads(2000))
    second = list(MarketDataGenerator(seed=7).payloads(2000))
    assert first == second


def test_another_seed_other_payloads():
    first = list(MarketDataGenerator(seed=7).payloads(200))
    other = list(MarketDataGenerator(seed=8).payloads(200))
    assert [p["c"] for p in first] != [p["c"] for p in other]


def test_a_symbols_data_does_not_depend_on_the_others():
    alone = [p for p in MarketDataGenerator(["BTCUSDT"], seed=3).payloads(300)]
    together = [p for p in MarketDataGenerator(["ETHUSDT", "BTCUSDT", "FOOUSDT"], seed=3)
                .payloads(3000) if p["s"] == "BTCUSDT"][:300]
    assert alone == together


@pytest.mark.parametrize("shape", list(Shape))
def test_every_shape_passes_the_contract(shape: Shape):
    generator = MarketDataGenerator([*POPULAR, "SHIBUSDT", "PEPEUSDT", "NEWCOINUSDT"], seed=1)
    records = []
    for message in messages(generator, shape, 300):
        result = normalize_message(message, received_at=1)
        assert result.rejected == []
        records.extend(result.records)
    assert len(records) >= 300
    assert {r.symbol for r in records} >= set(POPULAR)


def test_payloads_look_like_binance():
    for payload in MarketDataGenerator([*CATALOGUE, "ZZZUSDT"], seed=2).payloads(20_000):
        assert list(payload) == ["e", "E", "s", "c", "o", "h", "l", "v", "q"]
        assert payload["e"] == "24hrMiniTicker"
        spec = spec_for(payload["s"])
        tick = Decimal(spec.tick_size)
        values = {key: Decimal(payload[key]) for key in DECIMAL_KEYS}
        for key in DECIMAL_KEYS:
            _, fraction = payload[key].split(".")
            assert len(fraction) == 8, payload  # Binance prints eight fraction digits
        for key in "cohl":
            assert values[key] > 0
            assert values[key] % tick == 0, (key, payload)  # on the tick grid
        assert values["l"] <= values["o"] <= values["h"]
        assert values["l"] <= values["c"] <= values["h"]
        assert values["v"] % Decimal(spec.step_size) == 0  # on the lot grid
        # The 24 h average price (quote / base volume) lies within the 24 h range.
        vwap = values["q"] / values["v"]
        assert values["l"] * Decimal("0.999999") <= vwap <= values["h"]


def test_event_times_rise_strictly_per_symbol_and_the_stream_is_ordered():
    last: dict[str, int] = {}
    previous = 0
    generator = MarketDataGenerator(seed=4, interval_ms=1000, jitter_ms=1000)
    for payload in generator.payloads(20_000):
        assert payload["E"] > last.get(payload["s"], 0)
        assert payload["E"] >= previous
        last[payload["s"]] = previous = payload["E"]


def test_ticks_are_one_interval_apart():
    generator = MarketDataGenerator(["BTCUSDT"], seed=0, start_ms=1_000_000, interval_ms=250,
                                    jitter_ms=0)
    assert [tick[0]["E"] for tick in generator.ticks(4)] == [1_000_000, 1_000_250, 1_000_500,
                                                             1_000_750]


def test_activity_below_one_leaves_some_ticks_out():
    quiet = SymbolSpec("QUIETUSDT", "1.0000", "0.0001", "1", 0.05, 1e6, activity=0.25)
    ticks = list(MarketDataGenerator([quiet, "BTCUSDT"], seed=5).ticks(2000))
    appearances = sum(any(p["s"] == "QUIETUSDT" for p in tick) for tick in ticks)
    assert 400 < appearances < 600
    assert all(any(p["s"] == "BTCUSDT" for p in tick) for tick in ticks)


def test_the_24h_window_matches_a_brute_force_recomputation():
    """Open, high and low equal the window definition over the payloads' own close prices.

    The window is the last 1440 one-minute buckets; a bucket opens at the previous close. Once
    the simulated warm-up day has left the window, everything in it was emitted, so it can be
    recomputed from the payloads alone.
    """
    generator = MarketDataGenerator(["ETHUSDT"], seed=11, interval_ms=15_000, jitter_ms=0)
    payloads = list(generator.payloads(2 * WINDOW_BUCKETS * 4 + 500))  # ~2 days
    times = [p["E"] for p in payloads]
    closes = [Decimal(p["c"]) for p in payloads]
    checked = 0
    for i in range(WINDOW_BUCKETS * 4 + 10, len(payloads), 37):
        window_start = (times[i] // BUCKET_MS - WINDOW_BUCKETS + 1) * BUCKET_MS
        first = bisect.bisect_left(times, window_start)
        in_window = [closes[first - 1], *closes[first : i + 1]]  # the bucket open, then trades
        payload = payloads[i]
        assert Decimal(payload["o"]) == closes[first - 1]
        assert Decimal(payload["h"]) == max(in_window)
        assert Decimal(payload["l"]) == min(in_window)
        checked += 1
    assert checked > 50


def test_volumes_track_the_spec_over_a_day():
    spec = CATALOGUE["BTCUSDT"]
    payload = list(MarketDataGenerator(["BTCUSDT"], seed=6).payloads(86_400))[-1]
    assert 0.5 * spec.daily_quote_volume < float(payload["q"]) < 2 * spec.daily_quote_volume


def test_derived_specs_are_deterministic_and_on_grid():
    for name in ("FOOUSDT", "ABCBTC", "X1", "LONGNAMEUSDT"):
        spec = spec_for(name)
        assert spec == spec_for(name)
        assert Decimal(spec.price) % Decimal(spec.tick_size) == 0
        assert Decimal("0.00000001") <= Decimal(spec.tick_size) <= Decimal("0.01")
        assert Decimal(spec.price) >= Decimal(spec.tick_size)
        assert "E" not in spec.tick_size + spec.step_size + spec.price


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"symbols": []}, ValueError, "at least one symbol"),
        ({"symbols": ["BTCUSDT", "BTCUSDT"]}, ValueError, "duplicate"),
        ({"symbols": ["btcusdt"]}, InvalidMiniTicker, "upper-case"),
        ({"interval_ms": 0}, ValueError, "interval_ms"),
        ({"interval_ms": 100, "jitter_ms": 101}, ValueError, "jitter_ms"),
    ],
)
def test_bad_arguments_say_what_is_wrong(kwargs, error, words):
    with pytest.raises(error, match=words):
        MarketDataGenerator(**kwargs)


def test_payloads_count_and_laziness():
    generator = MarketDataGenerator(seed=0)
    assert len(list(generator.payloads(25))) == 25
    assert len(list(islice(generator.payloads(), 7))) == 7


def test_command_line_prints_json_lines():
    result = subprocess.run(
        [sys.executable, "-m", "market_sim", "--symbols", "BTCUSDT,ETHUSDT", "--count", "3",
         "--shape", "all-market-combined", "--seed", "9"],
        cwd=REPO, capture_output=True, text=True, check=True,
    )
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 3
    assert all(m["stream"] == "!miniTicker@arr" and len(m["data"]) == 2 for m in lines)
    generator = MarketDataGenerator(["BTCUSDT", "ETHUSDT"], seed=9)
    assert [m["data"] for m in lines] == list(generator.ticks(3))


def test_command_line_rejects_bad_arguments():
    result = subprocess.run([sys.executable, "-m", "market_sim", "--symbols", "btc"],
                            cwd=REPO, capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert "upper-case" in result.stderr
