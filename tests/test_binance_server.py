"""The local Binance-compatible server: protocol, shapes, keepalive and every fault on demand.

The client here is websocket-client, the library the ingester uses.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websocket

from market_sim import MarketDataGenerator
from market_sim.server import (
    BinanceServer,
    ReplaySource,
    Subscription,
)
from miniticker import MAX_STREAMS_PER_CONNECTION, normalize_message
from tests.waiting import wait_for

TICK = 0.02


@pytest.fixture
def server() -> Iterator[BinanceServer]:
    generator = MarketDataGenerator(["BTCUSDT", "ETHUSDT", "SOLUSDT"], seed=1)
    with BinanceServer(generator, tick_seconds=TICK, ping_interval=0.2, ping_timeout=0.5) as srv:
        yield srv


def connect(server: BinanceServer, path: str, **options: Any) -> websocket.WebSocket:
    return websocket.create_connection(server.url + path, timeout=2, **options)


def receive(ws: websocket.WebSocket, count: int) -> list[Any]:
    return [json.loads(ws.recv()) for _ in range(count)]



def drain_until_closed(ws: websocket.WebSocket) -> list[str]:
    """Every frame until the server closes; a timeout (no close) fails the test."""
    frames: list[str] = []
    while True:
        try:
            frame = ws.recv()
        except (websocket.WebSocketConnectionClosedException, ConnectionError):
            return frames
        if not frame:  # websocket-client returns "" once the peer's close frame arrives
            return frames
        frames.append(frame if isinstance(frame, str) else frame.decode())


def test_combined_streams_carry_only_the_subscribed_symbols(server: BinanceServer):
    ws = connect(server, "/stream?streams=btcusdt@miniTicker/solusdt@miniTicker")
    messages = receive(ws, 20)
    assert {m["stream"] for m in messages} == {"btcusdt@miniTicker", "solusdt@miniTicker"}
    assert all(m["data"]["s"] == m["stream"].split("@")[0].upper() for m in messages)
    for message in messages:
        assert normalize_message(message, received_at=1).rejected == []


def test_raw_paths_carry_bare_payloads(server: BinanceServer):
    ws = connect(server, "/ws/ethusdt@miniTicker/btcusdt@miniTicker")
    messages = receive(ws, 10)
    assert {m["s"] for m in messages} == {"ETHUSDT", "BTCUSDT"}
    assert all(m["e"] == "24hrMiniTicker" for m in messages)


@pytest.mark.parametrize(("path", "wrapped"), [("/ws/!miniTicker@arr", False),
                                               ("/stream?streams=!miniTicker@arr", True)])
def test_the_all_market_array(server: BinanceServer, path: str, wrapped: bool):
    ws = connect(server, path)
    for message in receive(ws, 5):
        array = message["data"] if wrapped else message
        if wrapped:
            assert message["stream"] == "!miniTicker@arr"
        assert sorted(p["s"] for p in array) == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]


def test_the_sent_log_is_exactly_what_the_client_received(server: BinanceServer):
    ws = connect(server, "/stream?streams=btcusdt@miniTicker/!miniTicker@arr")
    received = []
    for message in receive(ws, 30):
        received.extend(message["data"] if isinstance(message["data"], list) else
                        [message["data"]])
    ws.close()
    wait_for(lambda: server.open_connections == 0)
    sent = [event.payload for event in server.sent]
    assert sent[: len(received)] == received


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/", "unknown path"),
        ("/stream", "no streams"),
        ("/stream?streams=BTCUSDT@miniTicker", "lower-case"),
        ("/ws/btcusdt@trade", "is not '<symbol>@miniTicker'"),
    ],
)
def test_bad_requests_are_refused_with_400(server: BinanceServer, path: str, words: str):
    with pytest.raises(websocket.WebSocketBadStatusException) as caught:
        connect(server, path)
    assert caught.value.status_code == 400
    assert words in (caught.value.resp_body or b"").decode()


def test_at_most_1024_streams_a_connection():
    names = [f"s{i}usdt@miniTicker" for i in range(MAX_STREAMS_PER_CONNECTION + 1)]
    assert len(Subscription("/ws/" + "/".join(names[:-1])).streams) == 1024
    with pytest.raises(ValueError, match="1025 streams; at most 1024"):
        Subscription("/stream?streams=" + "/".join(names))


def test_an_overlong_request_line_is_refused_with_414(server: BinanceServer):
    # 8 KiB request lines, like most HTTP front ends: about 450 stream names fit in one URL,
    # far fewer than 1024, so a client must bound its URLs by length as well as by count.
    names = [f"s{i}usdt@miniTicker" for i in range(600)]
    with pytest.raises(websocket.WebSocketBadStatusException) as caught:
        connect(server, "/stream?streams=" + "/".join(names))
    assert caught.value.status_code == 414


def test_pings_carry_random_payloads_and_a_pong_keeps_the_connection(server: BinanceServer):
    ws = connect(server, "/ws/btcusdt@miniTicker")
    pings = []
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        # recv_data_frame answers pings with a pong carrying the same payload.
        opcode, frame = ws.recv_data_frame(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_PING:
            pings.append(frame.data)
    assert len(pings) >= 4
    assert all(pings)
    assert len(set(pings)) == len(pings)
    assert ws.connected
    assert server.open_connections == 1


def test_a_missing_pong_gets_the_connection_closed(server: BinanceServer):
    ws = connect(server, "/ws/btcusdt@miniTicker")
    wait_for(lambda: server.connections_opened == 1)
    time.sleep(1.0)  # read nothing: no pong goes out
    wait_for(lambda: server.open_connections == 0)
    ws.close()


def test_drop_delivers_what_was_sent_then_closes_without_a_close_frame(server: BinanceServer):
    ws = connect(server, "/ws/btcusdt@miniTicker")
    receive(ws, 3)
    assert server.drop() == 1
    frames = drain_until_closed(ws)
    received = 3 + len(frames)
    assert received == sum(1 for e in server.sent if e.connection == 1)


def test_drop_with_reset(server: BinanceServer):
    ws = connect(server, "/ws/btcusdt@miniTicker")
    receive(ws, 2)
    assert server.drop(reset=True) == 1
    drain_until_closed(ws)
    wait_for(lambda: server.open_connections == 0)


def test_stall_keeps_pinging_but_sends_no_data(server: BinanceServer):
    ws = connect(server, "/ws/btcusdt@miniTicker")
    receive(ws, 2)
    server.stall(1.0)
    time.sleep(0.1)  # frames already in flight
    stalled_at = len(server.sent)
    opcodes = []
    deadline = time.monotonic() + 0.7
    while time.monotonic() < deadline:
        opcode, _ = ws.recv_data_frame(control_frame=True)
        opcodes.append(opcode)
    assert len(server.sent) == stalled_at
    assert websocket.ABNF.OPCODE_PING in opcodes
    wait_for(lambda: len(server.sent) > stalled_at, timeout=2)  # data resumes after the stall


@pytest.mark.parametrize(("path", "combined"), [("/stream?streams=btcusdt@miniTicker", True),
                                                ("/ws/btcusdt@miniTicker", False)])
def test_server_shutdown_is_announced_then_the_connection_closes(
    server: BinanceServer, path: str, combined: bool
):
    ws = connect(server, path)
    receive(ws, 1)
    server.announce_shutdown(close_after=0.3)
    notices = [json.loads(f) for f in drain_until_closed(ws) if "serverShutdown" in f]
    assert len(notices) == 1
    if combined:
        assert notices[0]["stream"] == "!serverShutdown"
        assert notices[0]["data"]["e"] == "serverShutdown"
    else:
        assert notices[0]["e"] == "serverShutdown"


def test_connections_are_closed_at_their_maximum_age():
    generator = MarketDataGenerator(["BTCUSDT"], seed=2)
    with BinanceServer(generator, tick_seconds=TICK, max_connection_age=0.5) as server:
        ws = connect(server, "/ws/btcusdt@miniTicker")
        opened = time.monotonic()
        drain_until_closed(ws)
        assert 0.4 < time.monotonic() - opened < 2.0


def test_injected_frames_arrive_as_sent(server: BinanceServer):
    ws = connect(server, "/ws/btcusdt@miniTicker")
    receive(ws, 1)
    assert server.inject('{"result":null,"id":1}') == 1
    assert server.inject("{not json") == 1
    frames = [ws.recv() for _ in range(10)]
    assert '{"result":null,"id":1}' in frames
    assert "{not json" in frames


@pytest.mark.parametrize(("status", "retry_after"), [(429, 2), (418, 30), (429, None)])
def test_refused_handshakes_carry_status_and_retry_after(
    server: BinanceServer, status: int, retry_after: int | None
):
    server.refuse_handshakes(2, status=status, retry_after=retry_after)
    for _ in range(2):
        with pytest.raises(websocket.WebSocketBadStatusException) as caught:
            connect(server, "/ws/btcusdt@miniTicker")
        assert caught.value.status_code == status
        header = (caught.value.resp_headers or {}).get("retry-after")
        assert header == (None if retry_after is None else str(retry_after))
    connect(server, "/ws/btcusdt@miniTicker").close()
    assert server.handshakes_refused == 2


def test_replay_from_a_file(tmp_path: Path):
    payloads = list(MarketDataGenerator(["BTCUSDT", "ETHUSDT"], seed=3).payloads(40))
    recording = tmp_path / "feed.jsonl"
    recording.write_text("".join(json.dumps(p) + "\n" for p in payloads))
    with BinanceServer(ReplaySource(recording), tick_seconds=0.01, wait_for_client=True) as server:
        ws = connect(server, "/ws/!miniTicker@arr")
        received = [p for message in receive(ws, 20) for p in message]
        assert server.exhausted.wait(5)
    assert received == payloads


def test_halt_stops_the_market_for_new_connections_too(server: BinanceServer):
    ws = connect(server, "/ws/btcusdt@miniTicker")
    receive(ws, 2)
    server.halt()
    time.sleep(0.1)  # frames already in flight
    halted_at = len(server.sent)
    later = connect(server, "/ws/ethusdt@miniTicker")
    opcodes = []
    deadline = time.monotonic() + 0.7
    while time.monotonic() < deadline:
        opcode, _ = later.recv_data_frame(control_frame=True)
        opcodes.append(opcode)
    assert websocket.ABNF.OPCODE_PING in opcodes
    assert websocket.ABNF.OPCODE_TEXT not in opcodes
    assert len(server.sent) == halted_at
    later.close()
    ws.close()
