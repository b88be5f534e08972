"""Delivery: events from the socket readers to Kinesis, never blocking a reader on Kinesis.

Readers `submit` records; each becomes an event: its receipt time (``received_at``, epoch ms)
and its JSON line. Events go to a bounded memory buffer. One sender thread takes everything the
buffer holds (after a short linger while it holds less than a full call), packs the lines into
Kinesis records (`ingest.packing`: one or more whole lines a record, within
`miniticker.kinesis_record.MAX_RECORD_BYTES` with the partition key) and the records into
PutRecords calls within Kinesis's limits, and puts them through a `Sink`, retrying only the
records that failed, with jittered backoff. Aggregation adds no waiting: a record holds what the
sender took at once. When the memory buffer is full (Kinesis slow or down), events go to the disk
`Spool` instead; while the spool holds anything, new events join it, so the order is kept: the
sender drains memory (the oldest events), then the spool, then returns to memory. Nothing is
dropped: every event is put, or is on disk when `stop` returns, and `stop` says how many.

Order. Records are sent in the ingester's order, a call at a time, and a record's lines keep
it. The partition keys rotate, so records land on every shard and one symbol's events are spread
over all of them: read across shards, a symbol's events can come out of order. Within a shard the
records follow the calls' order, except that a record Kinesis refused (throttled) is stored after
those the same call did store, and Kinesis itself does not promise order within a PutRecords call
(its guide points to PutRecord for that). With one shard, the whole stream is in the ingester's
order but for those exceptions. Nothing downstream needs more, because every item and row is
keyed by the event's own time, not by its arrival: the hot table's event items by (stream, event
time); a symbol's latest item is replaced only by a newer ``event_time`` (a condition); a candle
merges its events by event time; the Glue job deduplicates by (symbol, event_time). A retried or
reordered record changes none of them.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Sequence
from operator import attrgetter
from pathlib import Path
from typing import Protocol

from miniticker import MiniTicker, to_json_line
from miniticker.kinesis_record import MAX_BYTES_PER_REQUEST, WHOLE_MARKET_EVENTS_PER_SECOND

from .backoff import full_jitter
from .kinesis_sink import PutOutcome, Sink
from .limits import LINGER_SECONDS
from .packing import PackedRecord, PartitionKeys, call_ends, pack, record_size
from .spool import Events, Spool

logger = logging.getLogger(__name__)

#: Events held in memory (taken by the sender included) before the spool takes the rest: the
#: whole market's events for this many seconds.
MEMORY_SECONDS = 25
MEMORY_EVENTS = MEMORY_SECONDS * WHOLE_MARKET_EVENTS_PER_SECOND
RETRY_BASE = 0.1
RETRY_CAP = 5.0
#: How long `stop` waits past its deadline for a call in flight before it sets the sender's
#: events aside on disk itself (a hung endpoint: botocore's timeouts and retries run longer).
STOP_GRACE_SECONDS = 5.0

_RECEIVED_AT = attrgetter("received_at")


class DeliveryObserver(Protocol):
    def put(self, records: int, events: int, lags: Sequence[int]) -> None:
        """Kinesis stored ``records`` records holding ``events`` events; ``lags`` holds, per
        record, the milliseconds from its oldest event's receipt to now."""

    def put_failed(self, records: int, throttled: int, reason: str) -> None:
        """Kinesis refused ``records`` records (each is retried), ``throttled`` of them for
        the shard's throughput."""

    def spilled(self, events: int) -> None:
        """``events`` events were written to the disk spool."""


class Delivery:
    def __init__(
        self,
        sink: Sink,
        spool: Spool,
        observer: DeliveryObserver,
        *,
        memory_events: int = MEMORY_EVENTS,
        linger: float = LINGER_SECONDS,
        retry_cap: float = RETRY_CAP,
    ) -> None:
        self.memory_events = memory_events
        self.linger = linger
        self.retry_cap = retry_cap
        self._sink = sink
        self._spool = spool
        self._observer = observer
        self._keys = PartitionKeys()
        self._memory = Events()
        self._memory_bytes = 0  # of the lines in memory: a full call's worth ends the linger
        # Events the sender took from memory and has not put yet: counted in the memory bound
        # and the backlog; written to the spool by `stop` if the sender is stuck in a call.
        self._in_flight = Events()
        self._spilling = len(spool) > 0  # a previous run's spool goes first
        # Never re-entered: a plain lock, cheaper than the default RLock, on every submit.
        self._lock = threading.Condition(threading.Lock())
        self._stopping = threading.Event()
        self._stopped = False  # `stop` has returned: the sender, if still running, drops out
        self._deadline = float("inf")
        self._rng = random.Random()
        self._thread = threading.Thread(target=self._run, name="delivery", daemon=True)

    # --- the readers' side --------------------------------------------------------------------

    def submit(self, records: Sequence[MiniTicker]) -> None:
        """Queue records for Kinesis. Never waits for Kinesis (at worst for a disk write)."""
        if not records:
            return
        lines = list(map(to_json_line, records))
        received_at = list(map(_RECEIVED_AT, records))
        size = sum(map(len, lines))
        with self._lock:
            if self._stopped:
                # A reader that outlived the stop: kept for the next run, never dropped.
                self._spool.append(Events(received_at, lines))
                self._spool.close()
                self._observer.spilled(len(lines))
                logger.warning("%d events came after the stop: kept in the spool %s",
                               len(lines), self._spool.directory)
                return
            held = len(self._memory) + len(self._in_flight)
            if self._spilling or held + len(lines) > self.memory_events:
                if not self._spilling:
                    logger.warning("memory buffer full (%d events): spilling to %s",
                                   held, self._spool.directory)
                self._spilling = True
                self._spool.append(Events(received_at, lines))
                self._observer.spilled(len(lines))
            else:
                before = self._memory_bytes
                self._memory.extend(received_at, lines)
                self._memory_bytes = before + size
                # Wake the sender only when it has a reason to: the first events after an
                # empty buffer, or a full call's worth. Between those it lingers for more.
                if not before or before < MAX_BYTES_PER_REQUEST <= before + size:
                    self._lock.notify()

    @property
    def backlog(self) -> int:
        """Events accepted and not yet put (memory, the sender's hands and the spool)."""
        with self._lock:
            return len(self._memory) + len(self._in_flight) + len(self._spool)

    # --- life cycle ---------------------------------------------------------------------------

    def start(self) -> Delivery:
        self._thread.start()
        return self

    def stop(self, timeout: float) -> int:
        """Put everything accepted, for at most ``timeout`` seconds; what is left stays in the
        spool. Returns the number of events left in the spool (0: all delivered)."""
        self._deadline = time.monotonic() + timeout
        self._stopping.set()
        with self._lock:
            self._lock.notify()
        self._thread.join(timeout + STOP_GRACE_SECONDS)
        with self._lock:
            self._stopped = True
            # Whatever the sender did not put: its events in flight if it is stuck in a call
            # (they may still arrive: then twice, never lost), and memory past the deadline.
            left = Events()  # new lists: a stuck sender may still be reading its own
            for events in (self._in_flight, self._memory):
                left.extend(events.received_at, events.lines)
            self._in_flight, self._memory, self._memory_bytes = Events(), Events(), 0
            if left:
                self._spool.append(left)
                self._observer.spilled(len(left))
            self._spool.close()
            return len(self._spool)

    # --- the sender ---------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            work = self._next_work()
            if work is None:
                if self._stopping.is_set():
                    return
                continue
            segment, events = work
            unsent = self._send(events, from_memory=segment is None)
            with self._lock:
                if self._stopped:
                    return  # `stop` gave up waiting and kept everything in flight itself
                if segment is None:  # from memory
                    self._in_flight = Events()
                    if unsent:
                        self._to_spool_at_stop(unsent)
                        return
                elif unsent:
                    return  # stopping: the segment stays on disk, whole
                else:
                    self._spool.acknowledge(*segment)

    def _next_work(self) -> tuple[tuple[Path, int] | None, Events] | None:
        """(None, events) from memory, ((segment, count), events) from the spool, or None."""
        with self._lock:
            if self._stopping.is_set() and time.monotonic() >= self._deadline:
                return None  # out of time: `stop` writes memory to the spool
            if not self._memory and not self._stopping.is_set():
                self._lock.wait(self.linger)
            if self._memory:
                if self._memory_bytes < MAX_BYTES_PER_REQUEST and not self._stopping.is_set():
                    self._lock.wait(self.linger)  # let a call fill up
                taken = self._in_flight = self._memory
                self._memory, self._memory_bytes = Events(), 0
                return None, taken
            if not self._spilling:
                return None
            if len(self._spool) == 0:
                self._spilling = False  # caught up: back to memory
                return None
        oldest = self._spool.oldest()
        if oldest is None:
            return None
        path, events = oldest
        return (path, len(events)), events

    def _send(self, events: Events, *, from_memory: bool) -> Events:
        """Put every event, retrying failures; returns what is still unsent at the deadline."""
        received_at, lines = events.received_at, events.lines
        records = pack(received_at, lines, self._keys)
        start = 0
        for end in call_ends(list(map(record_size, records))):
            if self._stopped:
                return Events()  # `stop` kept what was in flight; the caller drops out
            unsent = self._put_call(records[start:end])
            if unsent:
                left = Events()
                for record in (*unsent, *records[end:]):
                    left.extend(received_at[record.start:record.end],
                                lines[record.start:record.end])
                return left
            if from_memory and end < len(records):
                rest = records[end].start  # what a stuck sender would leave to `stop`
                with self._lock:
                    self._in_flight = Events(received_at[rest:], lines[rest:])
            start = end
        return Events()

    def _put_call(self, records: list[PackedRecord]) -> list[PackedRecord]:
        """Put one call's records, retrying the failed ones; returns those still unsent at the
        deadline (or when `stop` gave up waiting)."""
        pending, attempt = records, 0
        while True:
            outcome = self._put(pending)
            failed = set(outcome.failed)
            stored = ([r for i, r in enumerate(pending) if i not in failed] if failed
                      else pending)
            if stored:
                now = int(time.time() * 1000)
                self._observer.put(len(stored), sum(r.end - r.start for r in stored),
                                   [now - r.oldest for r in stored])
            if not failed:
                return []
            pending = [pending[i] for i in outcome.failed]
            reason = outcome.reason or "unknown"
            self._observer.put_failed(len(pending), outcome.throttled, reason)
            delay = full_jitter(self._rng, RETRY_BASE, self.retry_cap, attempt)
            attempt += 1
            if attempt == 1 or attempt % 20 == 0:
                logger.warning("%d records (%d events) not put (%s); retrying", len(pending),
                               sum(r.end - r.start for r in pending), reason)
            if time.monotonic() + delay > self._deadline or self._stopped:
                return pending
            time.sleep(delay)

    def _put(self, records: list[PackedRecord]) -> PutOutcome:
        try:
            return self._sink.put([record.entry for record in records])
        except Exception as error:  # a sink's bug must not end the sender: the events wait
            logger.exception("the sink failed; retrying the call")
            return PutOutcome(list(range(len(records))), 0, f"{type(error).__name__}: {error}")

    def _to_spool_at_stop(self, unsent: Events) -> None:
        # Kinesis is still failing at the stop deadline: keep the unsent events and all of
        # memory on disk (the caller holds the lock). They are older than what the spool may
        # already hold; only this stop during an outage can reorder events, and none is lost.
        unsent.extend(self._memory.received_at, self._memory.lines)
        self._memory, self._memory_bytes = Events(), 0
        self._spool.append(unsent)
        self._observer.spilled(len(unsent))
