"""Connection management: Binance websockets kept alive, replaced in time, reconnected forever.

A `ConnectionSupervisor` keeps one subscription (a set of streams) alive across connections,
from a thread of its own:

- each `Connection` reads in its own thread; websocket-client answers every ping with the
  ping's payload, and a data watchdog closes a connection that delivers no data frame for
  ``data_timeout`` seconds (pings alone do not prove the feed is alive);
- a lost connection is replaced after a `ReconnectPolicy` delay, each attempt drawn from the
  service-wide `AttemptBudget`; refusals (429/418 and ``Retry-After``) are honoured;
- before a connection reaches ``rotate_after`` seconds, or at once when Binance announces
  ``serverShutdown``, a new connection is opened first. Once it delivers data, the old one is
  retired: it keeps reading until it has caught up with the first event time the new one
  delivered (a lagging reader may still hold older frames in its socket, which the new
  connection never received), then closes. The rotation leaves no gap, and the overlap's
  duplicates are dropped downstream by ``(symbol, event_time)``;
- every gap, from the last data frame before a loss to the first after it, is logged and
  reported with its length.

Parsing and delivery are not done here: each frame goes to the connection's `FrameHandler` (a
new one for each connection, from the supervisor's ``handler_factory``), which returns the
parsed `Frame`, so the supervisor knows when data flows, how far in event time it got, and when
to rotate. A handler may hold records briefly; the connection tells it to hand them on
(``flush``) whenever no frame is waiting, and before it ends.
"""

from __future__ import annotations

import enum
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import websocket

from miniticker import MAX_STREAMS_PER_CONNECTION

from .backoff import AttemptBudget, ReconnectPolicy
from .frames import Frame, FrameKind

logger = logging.getLogger(__name__)

#: Longest URL a connection asks for: common front ends refuse request lines over 8 KiB (414),
#: so long stream lists are split over connections well before that.
MAX_URL_LENGTH = 4000
CONNECT_TIMEOUT = 10.0

#: How long a read waits for a frame before the connection checks its watchdog and close
#: requests and flushes its handler: the longest a record waits there when the feed is quiet.
IDLE_SECONDS = 0.05


class FrameHandler(Protocol):
    """One connection's frames (its reader thread is the only caller)."""

    def __call__(self, data: bytes, received_at: int) -> Frame:
        """Take a data frame's bytes (UTF-8 JSON, as sent) read at ``received_at`` (epoch
        ms); return what it means."""
        ...

    def flush(self) -> None:
        """Hand on whatever is held: no frame is waiting, or the connection ends."""
        ...


def stream_url(base_url: str, streams: Sequence[str]) -> str:
    """``wss://host`` + streams -> ``wss://host/stream?streams=a@miniTicker/b@miniTicker``."""
    return f"{base_url}/stream?streams={'/'.join(streams)}"


def split_streams(
    base_url: str,
    streams: Sequence[str],
    *,
    max_streams: int = MAX_STREAMS_PER_CONNECTION,
    max_url_length: int = MAX_URL_LENGTH,
) -> list[tuple[str, ...]]:
    """Group streams into connections of at most ``max_streams`` and ``max_url_length``."""
    groups: list[list[str]] = [[]]
    for name in streams:
        group = groups[-1]
        if group and (len(group) >= max_streams
                      or len(stream_url(base_url, [*group, name])) > max_url_length):
            groups.append([])
        groups[-1].append(name)
        if len(stream_url(base_url, groups[-1])) > max_url_length:
            raise ValueError(f"stream name {name!r} alone makes the URL too long")
    return [tuple(g) for g in groups if g]


class ConnectionObserver(Protocol):
    """What a supervisor reports, named by its ``supervisor`` name, for logs and metrics (the
    service's `IngestMetrics` implements it)."""

    def connection_failed(self, supervisor: str, reason: str, status: int | None) -> None: ...
    def reconnected(self, supervisor: str, gap_seconds: float) -> None: ...
    def rotated(self, supervisor: str, reason: str) -> None: ...


class _Closed(enum.Enum):
    """Why a connection ended."""

    FAILED = "failed"  # the handshake or the socket failed
    REMOTE = "remote"  # the server closed it
    WATCHDOG = "watchdog"  # no data frame for data_timeout
    REQUESTED = "requested"  # the supervisor closed it (replaced, or stopping)


@dataclass
class _Event:
    connection: Connection
    kind: str  # "data" (first data frame), "shutdown" (wakes the supervisor), "closed"
    how: _Closed | None = None
    reason: str = ""
    status: int | None = None
    retry_after: float | None = None


class Connection:
    """One websocket to Binance, read in its own thread until it ends, then reported."""

    _ids = itertools.count(1)

    def __init__(
        self,
        url: str,
        *,
        data_timeout: float,
        on_frame: FrameHandler,
        events: queue.Queue[_Event],
    ) -> None:
        self.id = next(self._ids)
        self.url = url
        self.data_timeout = data_timeout
        self.opened_at: float | None = None  # monotonic, once the handshake succeeded
        self.first_data_at: float | None = None  # wall clock (time.time) of the first data frame
        self.last_data_at: float | None = None  # wall clock of the latest data frame
        self.first_event_time: int | None = None  # of the first data frame (epoch ms)
        self.newest_event_time = -1  # the latest event time read so far (epoch ms)
        self.shutdown_announced = False  # Binance said it will close this connection
        self._retire_after: int | None = None  # close once this event time has been read
        self._on_frame = on_frame
        self._events = events
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"ws-{self.id}", daemon=True)

    def start(self) -> Connection:
        self._thread.start()
        return self

    def close(self) -> None:
        """Ask the reader to close; it does within its poll interval."""
        self._closing.set()

    def retire(self, *, caught_up_with: int | None) -> None:
        """Close once an event time ``caught_up_with`` or later has been read (at once without
        one). A retiring connection that stalls is closed by the data watchdog as any other."""
        if caught_up_with is None:
            self.close()
        else:
            self._retire_after = caught_up_with

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _report(
        self,
        kind: str,
        *,
        how: _Closed | None = None,
        reason: str = "",
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self._events.put(_Event(self, kind, how, reason, status, retry_after))

    def _run(self) -> None:
        try:
            # Text frames are checked for UTF-8 by the parser (`frames.parse_frame`, in C).
            ws = websocket.create_connection(self.url, timeout=CONNECT_TIMEOUT,
                                             skip_utf8_validation=True)
        except websocket.WebSocketBadStatusException as error:
            self._report("closed", how=_Closed.FAILED, status=error.status_code,
                          retry_after=_retry_after(error.resp_headers),
                          reason=f"handshake refused: HTTP {error.status_code}")
            return
        except Exception as error:  # DNS, TCP, TLS, timeouts: all mean "try again later"
            self._report("closed", how=_Closed.FAILED, reason=f"cannot connect: {error!r}")
            return
        self.opened_at = time.monotonic()
        try:
            how, reason = self._read(ws)
        finally:
            self._on_frame.flush()  # what was read is delivered, however the connection ends
        try:
            if how in (_Closed.WATCHDOG, _Closed.REQUESTED):
                ws.close(timeout=1.0)
            else:
                ws.shutdown()  # type: ignore[no-untyped-call]  # untyped in websocket-client
        except Exception:  # closing a broken socket may fail again; it is closed either way
            logger.debug("error while closing connection %s", self.id, exc_info=True)
        self._report("closed", how=how, reason=reason)

    def _read(self, ws: websocket.WebSocket) -> tuple[_Closed, str]:
        # Short reads, and control frames returned too (after the automatic pong), so that the
        # watchdog and close requests are checked after every frame: a server that keeps
        # pinging but sends no data must not keep the reader waiting inside recv.
        ws.settimeout(min(IDLE_SECONDS, self.data_timeout / 4))
        last_data = time.monotonic()
        seen_data = False
        control = (websocket.ABNF.OPCODE_PING, websocket.ABNF.OPCODE_PONG)
        while not self._closing.is_set():
            try:
                opcode, frame = ws.recv_data_frame(control_frame=True)
            except websocket.WebSocketTimeoutException:
                opcode, frame = None, None
            except Exception as error:
                return _Closed.REMOTE, f"connection lost: {error!r}"
            if opcode is None or opcode in control:
                self._on_frame.flush()
                idle = time.monotonic() - last_data
                if idle > self.data_timeout:
                    return _Closed.WATCHDOG, f"no data frame for {idle:.1f} s"
                if self._retired():
                    return _Closed.REQUESTED, "replaced, caught up"
                continue
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                return _Closed.REMOTE, f"server closed: {_close_reason(frame.data)}"
            received_at = int(time.time() * 1000)
            parsed = self._on_frame(frame.data, received_at)
            if parsed.kind is FrameKind.DATA:
                last_data = time.monotonic()
                self.last_data_at = received_at / 1000
                newest = parsed.newest_event_time
                if newest is not None and newest > self.newest_event_time:
                    self.newest_event_time = newest
                if not seen_data:
                    seen_data = True
                    self.first_data_at = self.last_data_at
                    self.first_event_time = newest
                    self._report("data")
            elif parsed.kind is FrameKind.SHUTDOWN:
                # Kept on the connection: the notice may come before the supervisor
                # promotes it.
                self.shutdown_announced = True
                self._report("shutdown")
            if self._retired():  # only after the frame in hand is delivered
                return _Closed.REQUESTED, "replaced, caught up"
        return _Closed.REQUESTED, "closed by the supervisor"

    def _retired(self) -> bool:
        retire_after = self._retire_after
        return retire_after is not None and self.newest_event_time >= retire_after


def _retry_after(headers: dict[str, str] | None) -> float | None:
    value = (headers or {}).get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:  # an HTTP date: rare from Binance; the status-based wait applies
        return None


def _close_reason(data: bytes) -> str:
    if len(data) < 2:
        return "no status"
    code = int.from_bytes(data[:2], "big")
    return f"{code} {data[2:].decode('utf-8', 'replace')}".strip()


class ConnectionSupervisor:
    """One subscription kept alive: connects, replaces and reconnects until `stop`.

    ``handler_factory`` makes each new connection's `FrameHandler`; ``observer`` hears of
    failures, gaps and rotations; every attempt draws from the service-wide ``budget``.
    """

    def __init__(
        self,
        name: str,
        url: str,
        *,
        handler_factory: Callable[[], FrameHandler],
        observer: ConnectionObserver,
        budget: AttemptBudget,
        data_timeout: float = 10.0,
        rotate_after: float = 23 * 3600.0,
        policy: ReconnectPolicy | None = None,
    ) -> None:
        self.name = name
        self.url = url
        self.data_timeout = data_timeout
        self.rotate_after = rotate_after
        self.connections_opened = 0
        self._handler_factory = handler_factory
        self._observer = observer
        self._budget = budget
        self._policy = policy or ReconnectPolicy()
        self._events: queue.Queue[_Event] = queue.Queue()
        self._stopping = threading.Event()
        self._current: Connection | None = None
        self._pending: Connection | None = None
        self._retiring: list[Connection] = []  # replaced, still reading until caught up
        self._rotate_reason: str | None = None
        self._next_attempt = time.monotonic()  # backoff: no attempt before this
        self._budget_ready_at: float | None = None  # the budget's slot for the next attempt
        self._gap_since: float | None = None  # wall time of the last data before a loss
        self._thread = threading.Thread(target=self._run, name=f"supervisor-{name}",
                                        daemon=True)

    def start(self) -> ConnectionSupervisor:
        self._thread.start()
        return self

    def request_stop(self) -> None:
        """Stop reading soon: the supervisor's thread closes every connection and ends."""
        self._stopping.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop reading: close every connection and wait for the readers to end."""
        self.request_stop()
        self._thread.join(timeout)

    @property
    def connected(self) -> bool:
        return self._current is not None

    # --- the supervisor loop ------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                event: _Event | None = self._events.get(timeout=self._wait_time())
            except queue.Empty:
                event = None
            if event is not None:
                self._handle(event)
            self._maybe_connect()
        connections = [c for c in (self._pending, self._current, *self._retiring) if c]
        for connection in connections:
            connection.close()
        for connection in connections:
            connection.join(2.0)

    def _wait_time(self) -> float:
        now = time.monotonic()
        waits = [0.5]  # notice `stop` promptly
        if self._pending is None:
            if self._budget_ready_at is not None:
                waits.append(self._budget_ready_at - now)
            elif self._current is None or self._rotate_reason is not None:
                waits.append(self._next_attempt - now)
            elif self._current.opened_at is not None:
                waits.append(self._current.opened_at + self.rotate_after - now)
        return max(0.0, min(waits))

    def _handle(self, event: _Event) -> None:
        connection = event.connection
        if event.kind == "data" and connection is self._pending:
            self._promote(connection)
        elif event.kind == "closed":
            if connection in self._retiring:
                self._retiring.remove(connection)
            self._closed(event)

    def _promote(self, connection: Connection) -> None:
        old, self._current, self._pending = self._current, connection, None
        self._policy.connected(time.monotonic())
        if old is not None:
            old.retire(caught_up_with=connection.first_event_time)
            self._retiring.append(old)
            self._observer.rotated(self.name, self._rotate_reason or "rotation")
            logger.info("supervisor %s: connection %s replaced by %s (%s)", self.name, old.id,
                        connection.id, self._rotate_reason)
        elif self._gap_since is not None:
            gap = max(0.0, (connection.first_data_at or time.time()) - self._gap_since)
            self._observer.reconnected(self.name, gap)
            logger.warning("supervisor %s: data again after a gap of %.3f s", self.name, gap)
        self._gap_since = None
        self._rotate_reason = None  # whatever was due is done: a fresh connection serves now

    def _closed(self, event: _Event) -> None:
        connection = event.connection
        if connection is self._current:
            self._current = None
            self._policy.disconnected(time.monotonic())
            self._gap_since = connection.last_data_at or time.time()
            logger.warning("supervisor %s: connection %s ended (%s): %s", self.name, connection.id,
                           event.how.value if event.how else "?", event.reason)
            if self._pending is None:
                self._schedule_retry(event)
        elif connection is self._pending:
            self._pending = None
            self._observer.connection_failed(self.name, event.reason, event.status)
            logger.warning("supervisor %s: connection %s did not deliver (%s)", self.name,
                           connection.id, event.reason)
            self._schedule_retry(event)

    def _schedule_retry(self, event: _Event) -> None:
        delay = self._policy.next_delay(status=event.status, retry_after=event.retry_after)
        self._next_attempt = time.monotonic() + delay

    def _maybe_connect(self) -> None:
        """Open a connection when one is missing or due for replacement, and allowed."""
        if self._stopping.is_set() or self._pending is not None:
            return
        now = time.monotonic()
        current = self._current
        if current is not None:
            if current.shutdown_announced:
                self._rotate_reason = self._rotate_reason or "serverShutdown"
            elif current.opened_at is not None and now - current.opened_at >= self.rotate_after:
                self._rotate_reason = self._rotate_reason or "maximum connection age"
            if self._rotate_reason is None:
                return
        # A replacement skips the backoff of a healthy connection, but not a refusal's wait.
        if now < self._next_attempt:
            return
        if self._budget_ready_at is None:
            self._budget_ready_at = now + self._budget.reserve()
        if now < self._budget_ready_at:
            return
        self._budget_ready_at = None
        self.connections_opened += 1
        self._pending = Connection(self.url, data_timeout=self.data_timeout,
                                   on_frame=self._handler_factory(), events=self._events).start()
