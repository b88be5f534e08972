"""What one websocket text frame means: mini-tickers, a shutdown notice, or something set aside.

Parsing is kept apart from connection management (which only moves frames) and from delivery
(which only moves records); it never raises on bad input, it classifies it.
"""

from __future__ import annotations

import enum
import json
from threading import Lock
from typing import Any

from miniticker import InvalidMiniTicker, MiniTicker, normalize_message

SHUTDOWN_EVENT = "serverShutdown"


class FrameKind(enum.Enum):
    DATA = "data"  # mini-tickers (some may still be rejected one by one)
    SHUTDOWN = "shutdown"  # Binance will close this connection soon: rotate now
    ACK = "ack"  # a response to a request ({"result": ..., "id": ...}); we send none
    INVALID_JSON = "invalid_json"
    REJECTED = "rejected"  # JSON, but no mini-ticker in it passed the contract


class Frame:
    """One frame's meaning. A plain slotted class: one is built for every frame read."""

    __slots__ = ("kind", "records", "rejected")

    def __init__(self, kind: FrameKind, records: list[MiniTicker] | None = None,
                 rejected: list[InvalidMiniTicker] | None = None) -> None:
        self.kind = kind
        self.records = records if records is not None else []
        self.rejected = rejected if rejected is not None else []

    @property
    def newest_event_time(self) -> int | None:
        """The latest event time among the frame's records (None without records)."""
        records = self.records
        if len(records) == 1:  # a combined stream's frame: the usual case
            return records[0].event_time
        return max((r.event_time for r in records), default=None)


def parse_frame(text: str | bytes, received_at: int) -> Frame:
    """Classify and normalise one frame read at ``received_at`` (epoch ms)."""
    try:
        # Strict UTF-8, in C: the websocket library's own check of text frames is pure Python,
        # byte by byte, so the connection skips it and the check is made here (a lone
        # surrogate is refused too, as RFC 6455 requires).
        message = json.loads(text.decode("utf-8") if isinstance(text, bytes) else text)
    except (ValueError, UnicodeDecodeError) as error:
        return Frame(FrameKind.INVALID_JSON,
                     rejected=[InvalidMiniTicker(None, f"not valid JSON: {error}", text)])
    records, rejected = normalize_message(message, received_at=received_at)
    if records:
        return Frame(FrameKind.DATA, records, rejected)
    # Nothing passed the contract: only now is it worth asking what else the frame is (market
    # data is nearly every frame; the contract already rejects these messages).
    if type(message) is dict:
        if _is_shutdown(message):
            return Frame(FrameKind.SHUTDOWN)
        if "id" in message and ("result" in message or "error" in message):
            return Frame(FrameKind.ACK, rejected=[
                InvalidMiniTicker(None, "a request response, not market data", text)])
    if rejected:
        return Frame(FrameKind.REJECTED, rejected=rejected)
    return Frame(FrameKind.DATA)  # an empty all-market array: nothing to deliver


def _is_shutdown(message: dict[str, Any]) -> bool:
    data = message.get("data") if "stream" in message else message
    return isinstance(data, dict) and data.get("e") == SHUTDOWN_EVENT


class DuplicateFilter:
    """Drops records already seen, by ``(symbol, event_time)``.

    Duplicates come from two connections that overlap while one replaces the other, and from a
    symbol that is subscribed both alone and through ``!miniTicker@arr``. Both repeat recent
    events only, so the filter remembers the last ``per_symbol`` event times of each symbol:
    bounded memory whatever the run's length. Safe to call from every reader thread.
    """

    def __init__(self, per_symbol: int = 64) -> None:
        self.per_symbol = per_symbol
        # symbol -> its recent event times, oldest first (a dict is an insertion-ordered set)
        self._recent: dict[str, dict[int, None]] = {}
        self._lock = Lock()

    def fresh(self, records: list[MiniTicker]) -> list[MiniTicker]:
        """The records not seen before, in their order; remembers them."""
        kept = []
        recent, limit = self._recent, self.per_symbol
        with self._lock:
            for record in records:
                seen = recent.get(record.symbol)
                if seen is None:
                    seen = recent[record.symbol] = {}
                event_time = record.event_time
                if event_time in seen:
                    continue
                seen[event_time] = None
                if len(seen) > limit:
                    del seen[next(iter(seen))]
                kept.append(record)
        return kept
