"""Print generated Binance mini-ticker messages as JSON lines.

    python -m market_sim --symbols BTCUSDT,ETHUSDT --count 5 --shape combined --seed 7
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from .generator import DEFAULT_START_MS, MarketDataGenerator
from .shapes import Shape, messages
from .symbols import POPULAR


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m market_sim", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--symbols", default=",".join(POPULAR),
                        help="comma-separated symbols (default: %(default)s)")
    parser.add_argument("--count", type=int, default=10,
                        help="messages to print (ticks for all-market shapes)")
    parser.add_argument("--shape", choices=[s.value for s in Shape], default=Shape.COMBINED.value)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--start-ms", type=int, default=DEFAULT_START_MS,
                        help="event time of the first tick, epoch ms")
    parser.add_argument("--interval-ms", type=int, default=1000)
    args = parser.parse_args(argv)
    symbols = [s.strip() for s in args.symbols.split(",") if s.strip()]
    try:
        generator = MarketDataGenerator(
            symbols, seed=args.seed, start_ms=args.start_ms, interval_ms=args.interval_ms,
            jitter_ms=min(100, args.interval_ms),
        )
    except ValueError as error:
        parser.error(str(error))
    out = sys.stdout
    for message in messages(generator, Shape(args.shape), args.count):
        out.write(json.dumps(message, separators=(",", ":")) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
