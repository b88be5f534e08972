"""The price report of a local run: ``DIR/report.html``, one self-contained page.

Per symbol: the close price over time from the Parquet dataset (inline SVG, no script), 1-minute
OHLC candles where the run spans at least three minutes, and the latest price with its 24 h change
from the DynamoDB items; then the run's figures.
"""

from __future__ import annotations

import html
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds

from miniticker import layout

WIDTH, HEIGHT, PAD = 560, 200, 36
MIN_CANDLES = 3  # a candle chart is worth drawing from three minutes on
MINUTE_MS = 60_000


def write_report(directory: Path, summary: dict[str, Any]) -> Path:
    prices = _closes(directory / layout.CURATED_PREFIX)
    latest = _latest(directory / "dynamodb.jsonl")
    sections = []
    for symbol in sorted(set(prices) | set(latest)):
        points = prices.get(symbol, [])
        candles = _candles(points)
        newest = latest.get(symbol)
        figures = ""
        if newest:
            close, opened = Decimal(newest["close_price"]), Decimal(newest["open_price"])
            change = (close - opened) / opened * 100 if opened else Decimal(0)
            figures = (f'<p class="price"><b>{html.escape(str(close))}</b> '
                       f'<span class="{"up" if change >= 0 else "down"}">'
                       f'{change:+.2f}% in 24 h</span> '
                       f'<small>at {html.escape(newest["iso_timestamp"])}</small></p>')
        charts = [_line_chart(symbol, points)]
        if len(candles) >= MIN_CANDLES:
            charts.append(_candle_chart(symbol, candles))
        sections.append(f'<section class="symbol" data-symbol="{html.escape(symbol)}">'
                        f'<h2>{html.escape(symbol)}</h2>{figures}{"".join(charts)}</section>')
    rows = "".join(f"<tr><th>{html.escape(k.replace('_', ' '))}</th>"
                   f"<td>{html.escape(json.dumps(v) if isinstance(v, (dict, list)) else str(v))}"
                   f"</td></tr>" for k, v in summary.items())
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>crypto-live local run</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #1f2933; }}
section.symbol {{ display: inline-block; vertical-align: top; margin: 0 1.5rem 1.5rem 0; }}
h2 {{ margin: 0.2rem 0; }} .price {{ margin: 0.2rem 0 0.5rem; }}
.up {{ color: #1b7f3b; }} .down {{ color: #b42318; }}
svg {{ background: #f8fafc; border: 1px solid #d9e2ec; display: block; margin-bottom: 0.5rem; }}
table {{ border-collapse: collapse; }} th, td {{ text-align: left; padding: 0.2rem 0.8rem;
border-bottom: 1px solid #e4e7eb; }}
</style></head><body>
<h1>crypto-live: local run</h1>
<p>Close prices from the curated Parquet dataset; latest price and 24 h change from DynamoDB.</p>
{"".join(sections) or "<p>No data reached the dataset.</p>"}
<h2>Run</h2><table>{rows}</table>
</body></html>
"""
    path = directory / "report.html"
    path.write_text(page)
    return path


def _closes(curated: Path) -> dict[str, list[tuple[int, float]]]:
    """(event time in ms, close) per symbol, in time order, from the Parquet files."""
    if not curated.exists():
        return {}
    table = ds.dataset(curated, format="parquet", partitioning="hive").to_table(
        columns=["symbol", "event_time", "close_price"])
    series: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for symbol, millis, close in zip(table["symbol"].cast(pa.string()).to_pylist(),
                                     table["event_time"].cast(pa.int64()).to_pylist(),
                                     table["close_price"].to_pylist()):
        series[symbol].append((millis, float(close)))  # a chart, not a record
    return {symbol: sorted(points) for symbol, points in series.items()}


def _latest(items_file: Path) -> dict[str, dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    if items_file.exists():
        for line in items_file.read_text().splitlines():
            item = json.loads(line)
            seen = latest.get(item["symbol"])
            if seen is None or item["iso_timestamp"] > seen["iso_timestamp"]:
                latest[item["symbol"]] = item
    return latest


def _candles(points: list[tuple[int, float]]) -> list[tuple[int, float, float, float, float]]:
    """1-minute (start, open, high, low, close) from time-ordered points."""
    minutes: dict[int, list[float]] = defaultdict(list)
    for millis, close in points:
        minutes[millis - millis % MINUTE_MS].append(close)
    return [(start, v[0], max(v), min(v), v[-1]) for start, v in sorted(minutes.items())]


def _position(value: float, lo: float, hi: float, start: float, end: float) -> float:
    """``value`` of ``lo..hi`` placed linearly from ``start`` to ``end`` pixels (for y, start
    is the bottom: SVG's y grows downwards)."""
    return start + (value - lo) / ((hi - lo) or 1.0) * (end - start)


def _frame(title: str, body: str, low: float, high: float, kind: str) -> str:
    return (f'<svg class="chart {kind}" width="{WIDTH}" height="{HEIGHT}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{html.escape(title)}">'
            f'<text x="{PAD}" y="16" font-size="12">{html.escape(title)}</text>'
            f'<text x="4" y="{PAD}" font-size="10">{high:g}</text>'
            f'<text x="4" y="{HEIGHT - PAD + 12}" font-size="10">{low:g}</text>'
            f"{body}</svg>")


def _line_chart(symbol: str, points: list[tuple[int, float]]) -> str:
    if len(points) < 2:
        return _frame(f"{symbol} close: not enough data", "", 0, 0, "line")
    first, last = points[0][0], points[-1][0]
    closes = [c for _, c in points]
    low, high = min(closes), max(closes)
    path = " ".join(f"{_position(t, first, last, PAD, WIDTH - PAD):.1f},"
                    f"{_position(c, low, high, HEIGHT - PAD, PAD):.1f}" for t, c in points)
    return _frame(f"{symbol} close ({len(points)} events)",
                  f'<polyline fill="none" stroke="#2563eb" stroke-width="1.5" '
                  f'points="{path}"/>', low, high, "line")


def _candle_chart(symbol: str, candles: list[tuple[int, float, float, float, float]]) -> str:
    lows, highs = [c[3] for c in candles], [c[2] for c in candles]
    low, high = min(lows), max(highs)
    step = (WIDTH - 2 * PAD) / len(candles)

    def y(value: float) -> float:
        return _position(value, low, high, HEIGHT - PAD, PAD)

    shapes = []
    for index, (_, opened, top, bottom, close) in enumerate(candles):
        x = PAD + index * step + step / 2
        color = "#1b7f3b" if close >= opened else "#b42318"
        shapes.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y(top):.1f}" y2="{y(bottom):.1f}" '
                      f'stroke="{color}"/>'
                      f'<rect class="candle" x="{x - step * 0.3:.1f}" '
                      f'y="{min(y(opened), y(close)):.1f}" width="{step * 0.6:.1f}" '
                      f'height="{max(1.0, abs(y(opened) - y(close))):.1f}" fill="{color}"/>')
    return _frame(f"{symbol} 1-minute OHLC ({len(candles)} minutes)", "".join(shapes), low, high,
                  "ohlc")
