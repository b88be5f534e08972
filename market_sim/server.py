"""A local Binance-compatible market-data websocket server, with faults on demand.

It speaks the protocol of ``wss://data-stream.binance.vision`` closely enough that the real
ingester runs against it unchanged:

- ``/stream?streams=a@miniTicker/b@miniTicker`` sends combined-stream wrappers, and
  ``/ws/<stream>[/<stream>...]`` raw payloads; ``!miniTicker@arr`` sends one array per tick;
- at most 1024 streams a connection; a bad path or stream name is refused with HTTP 400;
- keepalive pings every ``ping_interval`` seconds with a random payload, and the connection is
  closed when the pong does not come within ``ping_timeout`` (what Binance does);
- one market clock: every connection subscribed to a stream receives the same events, so two
  overlapping connections see duplicates exactly as with Binance.

Faults, callable from any thread while it runs: `drop` (close without a close frame, FIN or
RST), `stall` (keep the TCP connection and the pings, send no data), `announce_shutdown`
(``serverShutdown`` event, then close), ``max_connection_age`` (the "24 h" forced close after N
seconds), `inject` (send any frame, e.g. malformed JSON), `refuse_handshakes` (HTTP 429 or 418
with ``Retry-After``).

Every event the server hands to a connection is logged in `sent` (connection id, symbol, event
time, payload), so tests can check exactly what a client should have received.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from miniticker import (
    ALL_MARKET_STREAM,
    MAX_STREAMS_PER_CONNECTION,
    check_stream_name,
    stream_name_for,
)

from .generator import Payload

SHUTDOWN_STREAM = "!serverShutdown"


class TickSource(Protocol):
    """Where events come from: one list of payloads per tick (a generator or a replay)."""

    def next_tick(self) -> list[Payload]: ...


class ReplaySource:
    """Replays a JSON-lines file of raw ``24hrMiniTicker`` payloads, one tick per second of
    event time; `next_tick` raises ``StopIteration`` at the end of the file."""

    def __init__(self, path: Path) -> None:
        self._ticks = self._read(path)

    @staticmethod
    def _read(path: Path) -> Iterator[list[Payload]]:
        with path.open(encoding="utf-8") as lines:
            tick: list[Payload] = []
            second = None
            for line in lines:
                if not line.strip():
                    continue
                payload = json.loads(line)
                if tick and payload["E"] // 1000 != second:
                    yield tick
                    tick = []
                second = payload["E"] // 1000
                tick.append(payload)
            if tick:
                yield tick

    def next_tick(self) -> list[Payload]:
        return next(self._ticks)


@dataclass(frozen=True)
class SentEvent:
    connection: int
    symbol: str
    event_time: int
    payload: Payload


@dataclass
class _Client:
    id: int
    connection: ServerConnection
    streams: frozenset[str]
    combined: bool
    opened: float = field(default_factory=time.monotonic)
    stalled_until: float = 0.0
    closing: bool = False


@dataclass
class _Refusal:
    remaining: int
    status: HTTPStatus
    headers: dict[str, str]


class Subscription:
    """The streams a request path asks for, or the reason it is refused."""

    def __init__(self, path: str) -> None:
        parts = urlsplit(path)
        if parts.path == "/stream":
            self.combined = True
            names = "/".join(parse_qs(parts.query).get("streams", [])).split("/")
        elif parts.path.startswith("/ws/"):
            self.combined = False
            names = parts.path[len("/ws/"):].split("/")
        else:
            raise ValueError(f"unknown path {parts.path!r}: use /stream?streams= or /ws/<stream>")
        names = [n for n in names if n]
        if not names:
            raise ValueError("no streams requested")
        if len(names) > MAX_STREAMS_PER_CONNECTION:
            raise ValueError(f"{len(names)} streams; at most {MAX_STREAMS_PER_CONNECTION}")
        self.streams = frozenset(check_stream_name(n) for n in names)


class BinanceServer:
    """Run with ``with BinanceServer(source) as server:`` and connect to ``server.url``.

    Args:
        source: a `TickSource`, e.g. a `MarketDataGenerator` or a `ReplaySource`.
        tick_seconds: wall-clock seconds between ticks (1.0 is Binance's pace; less to speed up).
        ping_interval, ping_timeout: keepalive, in seconds (Binance: 20 s, and about a minute).
        max_connection_age: seconds after which a connection is closed, as Binance does at 24 h.
        wait_for_client: start the market clock at the first connection, so that a replay or a
            test sees its data from the first tick on (Binance itself never waits).
    """

    def __init__(
        self,
        source: TickSource,
        *,
        tick_seconds: float = 1.0,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        max_connection_age: float | None = None,
        wait_for_client: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.source = source
        self.tick_seconds = tick_seconds
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.max_connection_age = max_connection_age
        self.wait_for_client = wait_for_client
        self.host = host
        self.port = port
        self.sent: list[SentEvent] = []
        self.connections_opened = 0
        self.handshakes_refused = 0
        self.exhausted = threading.Event()  # set when a replay has no more ticks
        self._clients: dict[int, _Client] = {}
        self._halted = False  # the market stopped: no data to anyone, connected now or later
        self._ids = itertools.count(1)
        self._refusals: list[_Refusal] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._stop: asyncio.Event | None = None
        self._first_client: asyncio.Event | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._error: BaseException | None = None

    # --- life cycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def start(self) -> BinanceServer:
        self._thread = threading.Thread(target=self._run, name="binance-server", daemon=True)
        self._thread.start()
        self._started.wait(10)
        if self._error is not None:
            raise RuntimeError(f"local Binance server failed to start: {self._error}")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> BinanceServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as error:  # reported to start() or kept for the test to see
            self._error = error
            self._started.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._first_client = asyncio.Event()
        server: Server
        async with serve(
            self._handle,
            self.host,
            self.port,
            process_request=self._process_request,
            ping_interval=self.ping_interval,
            ping_timeout=self.ping_timeout,
            # A peer that stopped answering is dropped quickly, as Binance does, instead of
            # waiting the default 10 s for its half of the close handshake.
            close_timeout=1.0,
            compression=None,
        ) as server:
            self.port = server.sockets[0].getsockname()[1]
            self._started.set()
            clock = asyncio.create_task(self._clock())
            await self._stop.wait()
            clock.cancel()

    # --- handshake and connections ------------------------------------------------------------

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if self._refusals:
            refusal = self._refusals[0]
            response = connection.respond(refusal.status, f"{refusal.status.phrase}\n")
            for name, value in refusal.headers.items():
                response.headers[name] = value
            refusal.remaining -= 1
            if refusal.remaining <= 0:
                self._refusals.pop(0)
            self.handshakes_refused += 1
            return response
        try:
            Subscription(request.path)
        except ValueError as error:
            return connection.respond(HTTPStatus.BAD_REQUEST, f"{error}\n")
        return None

    async def _handle(self, connection: ServerConnection) -> None:
        subscription = Subscription(connection.request.path if connection.request else "")
        client = _Client(next(self._ids), connection, subscription.streams,
                         subscription.combined)
        self._clients[client.id] = client
        self.connections_opened += 1
        assert self._first_client is not None
        self._first_client.set()
        try:
            # Binance ignores what clients send (subscribe requests aside); read to see closes.
            async for _ in connection:
                pass
        except ConnectionClosed:
            pass
        finally:
            self._clients.pop(client.id, None)

    # --- the market clock ---------------------------------------------------------------------

    async def _clock(self) -> None:
        if self.wait_for_client:
            assert self._first_client is not None
            await self._first_client.wait()
        next_at = time.monotonic()
        while True:
            try:
                tick = self.source.next_tick()
            except StopIteration:
                self.exhausted.set()
                return
            rendered: dict[tuple[str, bool], str] = {}  # each frame encoded once a tick
            for client in list(self._clients.values()):
                await self._deliver(client, tick, rendered)
            await self._close_aged()
            next_at += self.tick_seconds
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def _deliver(self, client: _Client, tick: list[Payload],
                       rendered: dict[tuple[str, bool], str]) -> None:
        if self._halted or client.stalled_until > time.monotonic():
            return

        def frame(stream: str, data: Any) -> str:
            key = (stream, client.combined)
            if key not in rendered:
                body = {"stream": stream, "data": data} if client.combined else data
                rendered[key] = json.dumps(body, separators=(",", ":"))
            return rendered[key]

        frames: list[tuple[str, list[Payload]]] = []
        if ALL_MARKET_STREAM in client.streams and tick:
            frames.append((frame(ALL_MARKET_STREAM, tick), tick))
        for payload in tick:
            stream = stream_name_for(payload["s"])
            if stream in client.streams:
                frames.append((frame(stream, payload), [payload]))
        for text, payloads in frames:
            try:
                await client.connection.send(text)
            except ConnectionClosed:
                return
            self.sent.extend(SentEvent(client.id, p["s"], p["E"], p) for p in payloads)

    async def _close_aged(self) -> None:
        if self.max_connection_age is None:
            return
        now = time.monotonic()
        for client in list(self._clients.values()):
            if not client.closing and now - client.opened >= self.max_connection_age:
                client.closing = True
                # In the background: the close handshake must not hold up the market clock.
                self._spawn(client.connection.close(1000, "connection reached its maximum age"))

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        # asyncio keeps only weak references to tasks: hold one until the task is done.
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --- faults, callable from any thread -----------------------------------------------------

    def _call(self, coroutine: Any) -> Any:
        if self._loop is None:
            raise RuntimeError("the server is not running")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    def drop(self, *, reset: bool = False) -> int:
        """Close every open connection without a close frame; returns how many.

        ``reset=False`` sends FIN after what was already written (nothing in flight is lost);
        ``reset=True`` aborts with RST, as a crashed peer or middlebox would.
        """

        async def drop() -> int:
            clients = list(self._clients.values())
            for client in clients:
                transport = client.connection.transport
                if reset:
                    transport.abort()
                else:
                    transport.close()
            return len(clients)

        count: int = self._call(drop())
        return count

    def halt(self) -> None:
        """Stop the market for good: connections, open or opened later, get pings, no data.

        Unlike `stall`, a client that reconnects finds no data either: a test can then wait
        for what is in flight knowing the server sends nothing more.
        """

        async def halt() -> None:
            self._halted = True

        self._call(halt())

    def stall(self, seconds: float) -> None:
        """Open connections keep answering pings but get no data for ``seconds``."""

        async def stall() -> None:
            until = time.monotonic() + seconds
            for client in self._clients.values():
                client.stalled_until = until

        self._call(stall())

    def announce_shutdown(self, *, close_after: float = 1.0, combined: bool | None = None) -> None:
        """Send ``serverShutdown`` to every connection, then close them after ``close_after`` s.

        ``combined`` forces the wrapper form (``{"stream":"!serverShutdown","data":{...}}``) or
        the raw form; by default each connection gets the form its path speaks.
        """

        async def announce() -> None:
            event = {"e": "serverShutdown", "E": int(time.time() * 1000)}
            clients = list(self._clients.values())
            for client in clients:
                wrapped = client.combined if combined is None else combined
                body = {"stream": SHUTDOWN_STREAM, "data": event} if wrapped else event
                try:
                    await client.connection.send(json.dumps(body))
                except ConnectionClosed:
                    continue
            for client in clients:
                self._spawn(close_later(client))

        async def close_later(client: _Client) -> None:
            await asyncio.sleep(close_after)
            await client.connection.close(1001, "server shutting down")

        self._call(announce())

    def inject(self, frame: str | bytes) -> int:
        """Send ``frame`` as it is to every open connection (malformed data, acks, ...)."""

        async def inject() -> int:
            clients = list(self._clients.values())
            for client in clients:
                try:
                    await client.connection.send(frame)
                except ConnectionClosed:
                    continue
            return len(clients)

        count: int = self._call(inject())
        return count

    def refuse_handshakes(self, count: int, *, status: int = 429,
                          retry_after: float | None = None) -> None:
        """Answer the next ``count`` handshakes with HTTP ``status`` (and ``Retry-After``)."""
        headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}

        async def refuse() -> None:
            self._refusals.append(_Refusal(count, HTTPStatus(status), headers))

        self._call(refuse())

    @property
    def open_connections(self) -> int:
        """Connections that are open (not closing) now."""
        return sum(c.connection.state is State.OPEN for c in list(self._clients.values()))
