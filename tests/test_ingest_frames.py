"""Frame classification and the duplicate filter."""

from __future__ import annotations

import json

import pytest

from ingest.frames import DuplicateFilter, FrameKind, parse_frame
from market_sim import MarketDataGenerator, all_market_combined, combined
from miniticker import normalize
from tests.payloads import BTC, payload


def test_a_combined_data_frame():
    frame = parse_frame(json.dumps(combined(BTC)), received_at=7)
    assert frame.kind is FrameKind.DATA
    assert frame.records == [normalize(BTC, received_at=7)]
    assert frame.rejected == []


def test_an_all_market_frame_with_one_bad_element():
    bad = payload(s="ETHUSDT", c="-1")
    frame = parse_frame(json.dumps(all_market_combined([BTC, bad])), received_at=7)
    assert frame.kind is FrameKind.DATA
    assert [r.symbol for r in frame.records] == ["BTCUSDT"]
    assert [e.payload for e in frame.rejected] == [bad]


@pytest.mark.parametrize(
    "text",
    ['{"stream":"!serverShutdown","data":{"e":"serverShutdown","E":1}}',
     '{"e":"serverShutdown","E":1}'],
    ids=["combined", "raw"],
)
def test_server_shutdown_in_both_forms(text: str):
    assert parse_frame(text, received_at=1).kind is FrameKind.SHUTDOWN


RAW = object()  # the expected payload is the frame's text itself


@pytest.mark.parametrize(
    ("text", "kind", "kept"),
    [
        ('{"result":null,"id":1}', FrameKind.ACK, RAW),
        ('{"error":{"code":2,"msg":"Invalid request"},"id":3}', FrameKind.ACK, RAW),
        ("{not json", FrameKind.INVALID_JSON, RAW),
        (b"\xff\xfe", FrameKind.INVALID_JSON, RAW),
        ("", FrameKind.INVALID_JSON, RAW),
        ('{"e":"trade","E":1,"s":"BTCUSDT"}', FrameKind.REJECTED,
         {"e": "trade", "E": 1, "s": "BTCUSDT"}),
        ('"hello"', FrameKind.REJECTED, "hello"),
        ('{"stream":"btcusdt@miniTicker","data":{"e":"24hrMiniTicker"}}', FrameKind.REJECTED,
         {"e": "24hrMiniTicker"}),  # the offending element of the wrapper
    ],
)
def test_frames_that_are_set_aside_keep_what_was_wrong(
    text: str | bytes, kind: FrameKind, kept: object
):
    frame = parse_frame(text, received_at=1)
    assert frame.kind is kind
    assert frame.records == []
    assert len(frame.rejected) == 1
    assert frame.rejected[0].payload == (text if kept is RAW else kept)


def test_the_filter_drops_repeats_and_keeps_order():
    records = [normalize(p, received_at=1)
               for p in MarketDataGenerator(["BTCUSDT", "ETHUSDT"], seed=1).payloads(20)]
    duplicates = DuplicateFilter()
    assert duplicates.fresh(records[:12]) == records[:12]
    assert duplicates.fresh(records[8:]) == records[12:]  # the overlap is dropped
    assert duplicates.fresh(records) == []


def test_the_filter_keys_on_symbol_and_event_time_only():
    duplicates = DuplicateFilter()
    first = normalize(BTC, received_at=1)
    again_later = normalize(BTC, received_at=999)  # the same event read on another connection
    other_symbol = normalize(payload(s="ETHUSDT"), received_at=1)
    assert duplicates.fresh([first, again_later, other_symbol]) == [first, other_symbol]


def test_the_filter_memory_is_bounded_per_symbol():
    duplicates = DuplicateFilter(per_symbol=3)
    records = [normalize(payload(E=1_700_000_000_000 + i), received_at=1) for i in range(10)]
    duplicates.fresh(records)
    assert list(duplicates._recent["BTCUSDT"]) == [r.event_time for r in records[-3:]]
    assert duplicates.fresh(records[-3:]) == []
    assert duplicates.fresh(records[:1]) == records[:1]  # long forgotten: not an overlap


@pytest.mark.parametrize("bad", [b"\xff", b"\xed\xa0\x80", b"\xc3"])  # invalid, surrogate, torn
def test_a_frame_that_is_not_utf8_is_set_aside(bad: bytes):
    # The connection skips websocket-client's (pure Python) UTF-8 check; the parser's is strict.
    good = json.dumps(combined(payload())).encode()
    frame = parse_frame(good.replace(b'"BTCUSDT"', b'"BTC' + bad + b'USDT"', 1), 1)
    assert frame.kind is FrameKind.INVALID_JSON
    assert not frame.records
    assert "utf-8" in frame.rejected[0].reason
    assert parse_frame(good, 1).kind is FrameKind.DATA
