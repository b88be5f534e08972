"""Connection management against the local Binance server: every fault, exact delivery.

"Exact" means: every event the server handed to the ingester's connections is delivered once,
byte-identical, and nothing else is; only events lost in flight when a connection is reset, or
never sent during a stall, may be missing, and then a gap is reported.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from ingest.backoff import AttemptBudget, ReconnectPolicy
from ingest.connection import ConnectionSupervisor, split_streams, stream_url
from ingest.frames import DuplicateFilter, Frame, FrameKind, parse_frame
from market_sim import MarketDataGenerator
from market_sim.server import BinanceServer
from miniticker import InvalidMiniTicker, MiniTicker
from tests.exact import assert_exactly_what_was_sent
from tests.waiting import wait_for

TICK = 0.02
STREAMS = ["btcusdt@miniTicker", "ethusdt@miniTicker"]


@dataclass
class Collector:
    """Parses like the service does and keeps what it delivers and what it sets aside.

    Records are held until the connection flushes, as the service's batchers may hold them: a
    record only counts as delivered once a connection said so.
    """

    records: list[MiniTicker] = field(default_factory=list)
    held: list[MiniTicker] = field(default_factory=list)
    set_aside: list[tuple[FrameKind, InvalidMiniTicker]] = field(default_factory=list)
    duplicates: DuplicateFilter = field(default_factory=DuplicateFilter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, data: bytes, received_at: int) -> Frame:
        frame = parse_frame(data, received_at)
        with self.lock:
            self.held.extend(self.duplicates.fresh(frame.records))
            self.set_aside.extend((frame.kind, error) for error in frame.rejected)
        return frame

    def flush(self) -> None:
        with self.lock:
            self.records.extend(self.held)
            self.held.clear()

    def handler(self) -> Collector:
        return self


@dataclass
class Observer:
    failures: list[tuple[str, int | None]] = field(default_factory=list)
    gaps: list[float] = field(default_factory=list)
    rotations: list[str] = field(default_factory=list)

    def connection_failed(self, supervisor: str, reason: str, status: int | None) -> None:
        self.failures.append((reason, status))

    def reconnected(self, supervisor: str, gap_seconds: float) -> None:
        self.gaps.append(gap_seconds)

    def rotated(self, supervisor: str, reason: str) -> None:
        self.rotations.append(reason)


@pytest.fixture
def server() -> Iterator[BinanceServer]:
    generator = MarketDataGenerator(["BTCUSDT", "ETHUSDT", "SOLUSDT"], seed=1)
    with BinanceServer(generator, tick_seconds=TICK, ping_interval=0.2,
                       ping_timeout=0.5) as srv:
        yield srv


def run_supervisor(server: BinanceServer,
                   **options: Any) -> tuple[ConnectionSupervisor, Collector, Observer]:
    collector, observer = Collector(), Observer()
    settings: dict[str, Any] = {
        "budget": AttemptBudget(limit=300, window=300.0, burst=100),
        "data_timeout": 1.0,
        "policy": ReconnectPolicy(base=0.05, cap=0.2),
        **options,
    }
    supervisor = ConnectionSupervisor("test", stream_url(server.url, STREAMS),
                                      handler_factory=collector.handler, observer=observer,
                                      **settings).start()
    return supervisor, collector, observer


def settle(supervisor: ConnectionSupervisor, server: BinanceServer, collector: Collector) -> None:
    """Stop the market, read what is in flight, then stop the supervisor.

    Events the server sends after the supervisor stops reading are outside the connected period,
    as with Binance, so the comparison ends where the market stopped.
    """
    server.halt()
    count = -1
    while count != len(collector.records):
        count = len(collector.records)
        time.sleep(0.3)
    supervisor.stop()
    wait_for(lambda: server.open_connections == 0)


def test_streams_are_split_by_count_and_url_length():
    base = "wss://data-stream.binance.vision"
    many = [f"s{i}usdt@miniTicker" for i in range(3000)]
    groups = split_streams(base, many)
    assert [s for g in groups for s in g] == many
    assert all(len(g) <= 1024 for g in groups)
    assert all(len(stream_url(base, g)) <= 4000 for g in groups)
    assert split_streams(base, many, max_url_length=10**6) == [
        tuple(many[:1024]), tuple(many[1024:2048]), tuple(many[2048:])]


def test_a_healthy_feed_delivers_every_event_once(server: BinanceServer):
    supervisor, collector, observer = run_supervisor(server)
    wait_for(lambda: len(collector.records) >= 100)
    time.sleep(1.0)  # several ping intervals: pongs keep the connection
    settle(supervisor, server, collector)
    assert supervisor.connections_opened == 1
    assert observer.gaps == []
    assert observer.failures == []
    assert_exactly_what_was_sent(collector.records, server)


def test_a_dropped_connection_is_replaced_and_the_gap_reported(server: BinanceServer):
    supervisor, collector, observer = run_supervisor(server)
    for _ in range(3):
        wait_for(lambda: len(collector.records) >= 20 + len(server.sent) // 2)
        server.drop()
        wait_for(lambda: server.open_connections == 1 and supervisor.connected)
    wait_for(lambda: len(observer.gaps) == 3)
    settle(supervisor, server, collector)
    assert supervisor.connections_opened == 4
    assert all(0 <= gap < 2.0 for gap in observer.gaps)
    assert_exactly_what_was_sent(collector.records, server)


def test_a_reset_connection_loses_at_most_what_was_in_flight(server: BinanceServer):
    supervisor, collector, observer = run_supervisor(server)
    wait_for(lambda: len(collector.records) >= 20)
    server.drop(reset=True)
    wait_for(lambda: len(observer.gaps) == 1)
    wait_for(lambda: len(collector.records) >= len(server.sent) - 40 and
             len(collector.records) > 60)
    settle(supervisor, server, collector)
    sent = {(e.symbol, e.event_time) for e in server.sent}
    delivered = [(r.symbol, r.event_time) for r in collector.records]
    assert len(delivered) == len(set(delivered))
    assert set(delivered) <= sent
    after = {(e.symbol, e.event_time) for e in server.sent if e.connection == 2}
    assert after <= set(delivered)  # the new connection's events are all there


def test_a_stalled_connection_is_detected_by_the_data_watchdog(server: BinanceServer):
    supervisor, collector, observer = run_supervisor(server, data_timeout=0.5)
    wait_for(lambda: len(collector.records) >= 20)
    server.stall(30.0)  # pings go on; only data stops
    started = time.monotonic()
    wait_for(lambda: len(observer.gaps) == 1)
    assert time.monotonic() - started < 3.0
    wait_for(lambda: len(collector.records) >= 60)
    # Counted before settling: settling stops the market, and with a watchdog this short the
    # supervisor may replace its connection once more before it stops (the new one gets no data).
    assert supervisor.connections_opened == 2
    settle(supervisor, server, collector)
    assert_exactly_what_was_sent(collector.records, server)


def test_server_shutdown_rotates_without_a_gap(server: BinanceServer):
    supervisor, collector, observer = run_supervisor(server)
    wait_for(lambda: len(collector.records) >= 20)
    server.announce_shutdown(close_after=0.5)
    wait_for(lambda: observer.rotations == ["serverShutdown"])
    wait_for(lambda: len(collector.records) >= 80)
    settle(supervisor, server, collector)
    assert observer.gaps == []
    assert supervisor.connections_opened == 2
    # Both connections received the overlap; each event is delivered once all the same.
    overlap = ({(e.symbol, e.event_time) for e in server.sent if e.connection == 1} &
               {(e.symbol, e.event_time) for e in server.sent if e.connection == 2})
    assert overlap
    assert_exactly_what_was_sent(collector.records, server)


def test_connections_are_replaced_before_the_servers_maximum_age():
    generator = MarketDataGenerator(["BTCUSDT", "ETHUSDT"], seed=4)
    with BinanceServer(generator, tick_seconds=TICK, max_connection_age=1.5) as server:
        supervisor, collector, observer = run_supervisor(server, rotate_after=0.8)
        wait_for(lambda: len(observer.rotations) >= 3, timeout=15)
        settle(supervisor, server, collector)
    assert set(observer.rotations) == {"maximum connection age"}
    assert observer.gaps == []  # the server never had to cut a connection
    assert_exactly_what_was_sent(collector.records, server)


def test_refusals_are_waited_out(server: BinanceServer):
    server.refuse_handshakes(3, status=429, retry_after=0.4)
    started = time.monotonic()
    supervisor, collector, observer = run_supervisor(server)
    wait_for(lambda: len(collector.records) >= 10)
    assert time.monotonic() - started >= 3 * 0.4
    settle(supervisor, server, collector)
    assert [status for _, status in observer.failures] == [429, 429, 429]
    assert server.handshakes_refused == 3
    assert_exactly_what_was_sent(collector.records, server)


def test_a_refusal_storm_stays_within_the_attempt_budget(server: BinanceServer):
    server.refuse_handshakes(1000, status=429)
    budget = AttemptBudget(limit=6, window=300.0, burst=3)
    supervisor, collector, _observer = run_supervisor(
        server, budget=budget, policy=ReconnectPolicy(base=0.01, cap=0.02))
    time.sleep(2.0)
    supervisor.stop()
    # 429 without Retry-After waits a minute: one attempt, however short the backoff.
    assert server.handshakes_refused == 1
    assert collector.records == []


def test_malformed_frames_are_set_aside_and_the_feed_goes_on(server: BinanceServer):
    supervisor, collector, _observer = run_supervisor(server)
    wait_for(lambda: len(collector.records) >= 10)
    for frame in ("{not json", '{"result":null,"id":1}', '{"e":"trade"}',
                  '{"stream":"btcusdt@miniTicker","data":{"e":"24hrMiniTicker","s":"BTCUSDT"}}'):
        server.inject(frame)
    wait_for(lambda: len(collector.set_aside) == 4)
    wait_for(lambda: len(collector.records) >= 60)
    settle(supervisor, server, collector)
    assert [kind for kind, _ in collector.set_aside] == [
        FrameKind.INVALID_JSON, FrameKind.ACK, FrameKind.REJECTED, FrameKind.REJECTED]
    assert supervisor.connections_opened == 1
    assert_exactly_what_was_sent(collector.records, server)


def test_frequent_pings_do_not_hide_a_stall_or_delay_a_stop():
    """Pings more often than the reader's poll interval: the watchdog and stop still work.

    (Reading with recv_data() answered the pings inside the call and never returned, so a
    stalled-but-pinging connection was never noticed and stop() hung.)
    """
    generator = MarketDataGenerator(["BTCUSDT", "ETHUSDT"], seed=5)
    with BinanceServer(generator, tick_seconds=TICK, ping_interval=0.05,
                       ping_timeout=1.0) as server:
        supervisor, collector, observer = run_supervisor(server, data_timeout=2.0)
        wait_for(lambda: len(collector.records) >= 10)
        server.stall(60.0)
        started = time.monotonic()
        wait_for(lambda: len(observer.gaps) == 1, timeout=6)
        assert time.monotonic() - started < 3.5
        server.stall(60.0)  # the new connection too
        time.sleep(0.3)
        started = time.monotonic()
        supervisor.stop()
        assert time.monotonic() - started < 1.5


class SlowCollector(Collector):
    """A reader slower than the market: every connection falls behind its socket."""

    def __call__(self, text: bytes, received_at: int) -> Frame:
        time.sleep(0.02)  # 50 frames/s: the local market sends about 100
        return super().__call__(text, received_at)


def test_a_lagging_connection_is_read_to_the_end_before_it_is_replaced():
    """The old connection still holds frames the new one never received: they are delivered.

    (Closing the old connection as soon as the new one delivered lost them.)
    """
    generator = MarketDataGenerator(["BTCUSDT", "ETHUSDT"], seed=6)
    # A long ping timeout: a reader this far behind answers pings late.
    with BinanceServer(generator, tick_seconds=TICK, ping_interval=1.0,
                       ping_timeout=30.0) as server:
        collector, observer = SlowCollector(), Observer()
        supervisor = ConnectionSupervisor(
            "slow", stream_url(server.url, STREAMS), handler_factory=collector.handler,
            observer=observer, budget=AttemptBudget(limit=300, window=300.0, burst=100),
            data_timeout=5.0, policy=ReconnectPolicy(base=0.05, cap=0.2)).start()
        wait_for(lambda: len(server.sent) > len(collector.records) + 30)  # the reader is behind
        server.announce_shutdown(close_after=60.0)  # Binance closes late: the supervisor decides
        wait_for(lambda: observer.rotations == ["serverShutdown"])
        settle(supervisor, server, collector)
    assert observer.gaps == []
    assert_exactly_what_was_sent(collector.records, server)


def test_a_shutdown_notice_before_the_first_data_frame_still_rotates():
    """Binance may announce serverShutdown on a connection the supervisor has not promoted yet
    (no data so far): the supervisor rotates as soon as it does, before Binance cuts it.

    (The notice used to count only on the current connection, and this one was lost.)
    """
    generator = MarketDataGenerator(["BTCUSDT", "ETHUSDT"], seed=7)
    with BinanceServer(generator, tick_seconds=0.5) as server:  # slow: no data for a while
        collector, observer = Collector(), Observer()
        supervisor = ConnectionSupervisor(
            "early", stream_url(server.url, STREAMS), handler_factory=collector.handler,
            observer=observer, budget=AttemptBudget(limit=300, window=300.0, burst=100),
            data_timeout=5.0, policy=ReconnectPolicy(base=0.05, cap=0.2)).start()
        wait_for(lambda: server.open_connections == 1)
        server.announce_shutdown(close_after=2.0)  # before the connection's first data frame
        wait_for(lambda: observer.rotations == ["serverShutdown"])
        wait_for(lambda: len(collector.records) >= 10)
        settle(supervisor, server, collector)
    assert observer.gaps == []
    assert supervisor.connections_opened == 2
    assert_exactly_what_was_sent(collector.records, server)
