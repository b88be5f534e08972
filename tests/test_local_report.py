"""The local run's price report, from a curated dataset and DynamoDB items written by the real
job code: a line per symbol, OHLC candles once the data spans three minutes, the 24 h change."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from glue_jobs import raw_to_parquet as job
from local.report import write_report
from market_sim import MarketDataGenerator
from miniticker import MiniTicker, normalize, to_json_line

START_MS = 1_795_514_400_000  # 2026-11-24T10:00:00Z


def dataset(directory: Path, seconds: int) -> list[MiniTicker]:
    records = [normalize(p, received_at=p["E"] + 30) for p in MarketDataGenerator(
        ["BTCUSDT", "ETHUSDT"], seed=3, start_ms=START_MS).payloads(2 * seconds)]
    rows = job.parse_piece(job.Piece("k", 1, b"".join(map(to_json_line, records)), None)).rows
    for day, symbol, part in job.groups(job.deduplicate(rows)[0]):
        path = directory / "curated" / "miniticker" / f"dt={day}" / f"symbol={symbol}" / "x.parquet"
        path.parent.mkdir(parents=True)
        path.write_bytes(job.parquet_bytes(part))
    with (directory / "dynamodb.jsonl").open("w") as items:
        for record in records:
            items.write(json.dumps(record._asdict()) + "\n")
    return records


def test_a_short_run_draws_a_line_per_symbol_and_no_candles(tmp_path: Path):
    dataset(tmp_path, seconds=90)
    page = write_report(tmp_path, {"events_generated": 180}).read_text()
    assert page.count('class="chart line"') == 2
    assert 'class="chart ohlc"' not in page
    assert "events generated" in page


def test_a_longer_run_adds_candles_and_the_latest_24h_change(tmp_path: Path):
    records = dataset(tmp_path, seconds=300)
    page = write_report(tmp_path, {}).read_text()
    assert page.count('class="chart ohlc"') == 2
    assert page.count('class="candle"') == 2 * 5  # five minutes each
    newest = max((r for r in records if r.symbol == "BTCUSDT"), key=lambda r: r.event_time)
    change = (Decimal(newest.close_price) - Decimal(newest.open_price)) / Decimal(
        newest.open_price) * 100
    assert f"<b>{newest.close_price}</b>" in page
    assert f"{change:+.2f}% in 24 h" in page
