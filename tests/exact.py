"""The exactness check of the ingest tests: what the local server sent, delivered once each."""

from __future__ import annotations

from collections.abc import Sequence

from market_sim.server import BinanceServer
from miniticker import MiniTicker, binance_key


def assert_exactly_what_was_sent(records: Sequence[MiniTicker], server: BinanceServer) -> None:
    """Every event the server handed over is in ``records`` once, byte-identical, and nothing
    else is."""
    sent = {(e.symbol, e.event_time): e.payload for e in server.sent}
    keys = [(r.symbol, r.event_time) for r in records]
    assert len(keys) == len(set(keys)), "a record was delivered twice"
    assert set(keys) == set(sent), (
        f"missing {len(set(sent) - set(keys))}, extra {len(set(keys) - set(sent))}")
    for record in records:  # byte-identical to the strings the server sent
        payload = sent[(record.symbol, record.event_time)]
        for name, value in record._asdict().items():
            key = binance_key(name)
            if key is not None:
                assert value == payload[key]
