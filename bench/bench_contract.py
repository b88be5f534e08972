"""How fast the market-data generator and the record contract are, against plain JSON.

    .venv/bin/python bench/bench_contract.py [--events N]

Figures are measured on one core in this process; references are measured in the same run on the
same data, so the ratios hold whatever the machine is doing:

- generator: payloads/s, against ``json.dumps`` of the same payloads (the least work any replay
  of the feed does per event). Target: a million events in under 10 s (>= 100,000/s).
- normalize, to_json_line, parse_json_line: microseconds per record, against ``json.loads`` of the
  same line, i.e. what the contract's validation costs over decoding alone. The Lambda's budget is
  50 us per record for all its work (issue 4: >= 20,000 records/s).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from market_sim import MarketDataGenerator
from miniticker import normalize, parse_json_line, to_json_line

GENERATOR_TARGET_PER_S = 100_000
Item = TypeVar("Item")


def per_item_seconds(function: Callable[[Item], object], items: Sequence[Item]) -> float:
    """Best of three passes over ``items``, in seconds per item."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for item in items:
            function(item)
        best = min(best, time.perf_counter() - start)
    return best / len(items)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000,
                        help="payloads the generator produces (default: %(default)s)")
    args = parser.parse_args()

    generator = MarketDataGenerator(seed=1)
    start = time.perf_counter()
    payloads = list(generator.payloads(args.events))
    generated_per_s = args.events / (time.perf_counter() - start)
    dumps_per_s = 1 / per_item_seconds(json.dumps, payloads[:200_000])
    print(f"generator        {generated_per_s:>12,.0f} payloads/s  "
          f"({args.events:,} payloads, {len(generator.symbols)} symbols)")
    print(f"json.dumps (ref) {dumps_per_s:>12,.0f} payloads/s")
    print(f"ratio generator/json.dumps: {generated_per_s / dumps_per_s:.2f}")
    verdict = "met" if generated_per_s >= GENERATOR_TARGET_PER_S else "NOT met"
    print(f"target >= {GENERATOR_TARGET_PER_S:,} payloads/s: {verdict}")

    sample = payloads[:100_000]
    records = [normalize(p, received_at=p["E"] + 35) for p in sample]
    lines = [to_json_line(r) for r in records]
    loads = per_item_seconds(json.loads, lines)
    rows = [
        ("normalize", per_item_seconds(lambda p: normalize(p, received_at=0), sample)),
        ("to_json_line", per_item_seconds(to_json_line, records)),
        ("parse_json_line", per_item_seconds(parse_json_line, lines)),
    ]
    print(f"\n{'per record':<18}{'us':>8}{'x json.loads':>14}")
    print(f"{'json.loads (ref)':<18}{loads * 1e6:>8.2f}{1:>14.2f}")
    for name, seconds in rows:
        print(f"{name:<18}{seconds * 1e6:>8.2f}{seconds / loads:>14.2f}")


if __name__ == "__main__":
    main()
