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
    WHOLE_MARKET,
    MarketDataGenerator,
    Payload,
    Shape,
    SymbolSpec,
    messages,
    spec_for,
)
from market_sim.generator import BUCKET_MS, WINDOW_BUCKETS
from market_sim.symbols import QUOTE_DEPTHS, base_assets, whole_market
from miniticker import (
    ALL_MARKET_STREAM,
    BINANCE_FIELDS,
    DECIMAL_FIELDS,
    InvalidMiniTicker,
    normalize_message,
    to_json_line,
)
from miniticker.kinesis_record import EVENT_LINE_BYTES
from miniticker.validate import check_symbol

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


# --- the whole market ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def whole_market_ticks() -> list[list[Payload]]:
    """Five seconds of the whole market (a day of warm-up per symbol first: built once)."""
    return list(MarketDataGenerator(WHOLE_MARKET, seed=1).ticks(5))


def test_the_whole_market_is_binance_sized_valid_and_holds_the_popular_pairs():
    assert 1_300 <= len(WHOLE_MARKET) <= 1_700
    assert len(set(WHOLE_MARKET)) == len(WHOLE_MARKET)
    for symbol in WHOLE_MARKET:
        check_symbol(symbol, symbol)  # raises on a name the contract refuses
    assert set(POPULAR) <= set(WHOLE_MARKET)
    assert set(CATALOGUE) <= set(WHOLE_MARKET)  # their specs are the catalogue's


def test_the_whole_market_is_deterministic_and_pairs_like_binance():
    bases = base_assets()
    assert whole_market(bases, QUOTE_DEPTHS) == WHOLE_MARKET
    usdt = [s for s in WHOLE_MARKET if s.endswith("USDT")]
    # USDT quotes every base (but itself); each other quote asset quotes fewer bases.
    assert {s[: -len("USDT")] for s in usdt} == set(bases) - {"USDT"}
    for quote, _ in QUOTE_DEPTHS:
        if quote != "USDT":
            assert 0 < sum(s.endswith(quote) for s in WHOLE_MARKET) < len(usdt), quote
    # Two quote assets pair one way only, the way Binance lists them.
    assert {"ETHBTC", "BNBBTC", "BNBETH", "USDCUSDT", "EURUSDT", "USDTTRY"} <= set(WHOLE_MARKET)
    assert not {"BTCETH", "USDTUSDC", "USDTEUR", "TRYUSDT", "USDCBTC"} & set(WHOLE_MARKET)


def test_a_base_asset_listed_twice_is_refused(tmp_path: Path):
    listing = tmp_path / "bases.txt"
    listing.write_text("# comment\nBTC ETH\nSOL ETH  # again\n")
    with pytest.raises(ValueError, match="lists ETH more than once"):
        base_assets(listing)
    listing.write_text("BTC ETH # ETH SOL\nSOL\n")
    assert base_assets(listing) == ("BTC", "ETH", "SOL")


def test_whole_market_frames_pass_the_contract_and_lines_fit_the_sizing_figure(
        whole_market_ticks: list[list[Payload]]):
    lines = []
    for tick in whole_market_ticks:
        # Received a moment after the event, as the ingester stamps it: a 13-digit epoch ms.
        result = normalize_message({"stream": ALL_MARKET_STREAM, "data": tick},
                                   received_at=tick[-1]["E"] + 5)
        assert result.rejected == []
        assert len(result.records) == len(tick)
        lines += [to_json_line(record) for record in result.records]
    # Most symbols trade every second, not all (a spec's activity).
    assert 0.5 * len(WHOLE_MARKET) < len(lines) / len(whole_market_ticks) < len(WHOLE_MARKET)
    # The sizing figure the stream is planned by holds for the lines the ingester writes.
    assert sum(map(len, lines)) / len(lines) <= EVENT_LINE_BYTES
