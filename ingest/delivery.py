"""Delivery: records from the socket readers to Kinesis, never blocking a reader on Kinesis.

Readers `submit` records into a bounded memory buffer. One sender thread takes batches from it
and puts them with `KinesisSink`, retrying only the records that failed, with jittered backoff.
When the memory buffer is full (Kinesis slow or down), records go to the disk `Spool` instead;
while the spool holds anything, new records join it, so the order is kept: the sender drains
memory (the oldest records), then the spool, then returns to memory. Nothing is dropped: every
record is put, or is on disk when `stop` returns, and `stop` says how many.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from miniticker import MiniTicker, to_json_line

from .backoff import full_jitter
from .kinesis_sink import MAX_RECORDS_PER_REQUEST, KinesisSink, batches
from .spool import Entry, Spool

logger = logging.getLogger(__name__)

MEMORY_RECORDS = 50_000  # about 25 MB of records: minutes of the whole market at full rate
LINGER_SECONDS = 0.1  # wait this long for a fuller batch
RETRY_BASE = 0.1
RETRY_CAP = 5.0


class DeliveryObserver(Protocol):
    def put(self, count: int) -> None: ...
    def put_failed(self, count: int, reason: str) -> None: ...
    def spilled(self, count: int) -> None: ...


class Delivery:
    def __init__(
        self,
        sink: KinesisSink,
        spool: Spool,
        observer: DeliveryObserver,
        *,
        memory_records: int = MEMORY_RECORDS,
        linger: float = LINGER_SECONDS,
        retry_cap: float = RETRY_CAP,
    ) -> None:
        self.memory_records = memory_records
        self.linger = linger
        self.retry_cap = retry_cap
        self._sink = sink
        self._spool = spool
        self._observer = observer
        self._memory: deque[Entry] = deque()
        self._spilling = len(spool) > 0  # a previous run's spool goes first
        # Never re-entered: a plain lock, cheaper than the default RLock, on every submit.
        self._lock = threading.Condition(threading.Lock())
        self._stopping = threading.Event()
        self._stopped = False  # the sender is gone: a late submit goes straight to disk
        self._deadline = float("inf")
        self._rng = random.Random()
        self._thread = threading.Thread(target=self._run, name="delivery", daemon=True)

    # --- the readers' side --------------------------------------------------------------------

    def submit(self, records: Sequence[MiniTicker]) -> None:
        """Queue records for Kinesis. Never waits for Kinesis (at worst for a disk write)."""
        if not records:
            return
        entries = [(record.symbol, to_json_line(record)) for record in records]
        with self._lock:
            if self._stopped:
                # A reader that outlived the stop: kept for the next run, never dropped.
                self._spool.append(entries)
                self._spool.close()
                self._observer.spilled(len(entries))
                logger.warning("%d records came after the stop: kept in the spool %s",
                               len(entries), self._spool.directory)
                return
            if self._spilling or len(self._memory) + len(entries) > self.memory_records:
                if not self._spilling:
                    logger.warning("memory buffer full (%d records): spilling to %s",
                                   len(self._memory), self._spool.directory)
                self._spilling = True
                self._spool.append(entries)
                self._observer.spilled(len(entries))
            else:
                before = len(self._memory)
                self._memory.extend(entries)
                # Wake the sender only when it has a reason to: the first records after an
                # empty buffer, or a full batch. Between those it lingers for a fuller batch.
                if not before or before < MAX_RECORDS_PER_REQUEST <= before + len(entries):
                    self._lock.notify()

    @property
    def backlog(self) -> int:
        """Records accepted and not yet put (memory and spool)."""
        with self._lock:
            return len(self._memory) + len(self._spool)

    # --- life cycle ---------------------------------------------------------------------------

    def start(self) -> Delivery:
        self._thread.start()
        return self

    def stop(self, timeout: float) -> int:
        """Put everything accepted, for at most ``timeout`` seconds; what is left stays in the
        spool. Returns the number of records left in the spool (0: all delivered)."""
        self._deadline = time.monotonic() + timeout
        self._stopping.set()
        with self._lock:
            self._lock.notify()
        self._thread.join(timeout + 5.0)
        with self._lock:
            self._stopped = True
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
            source, entries = work
            unsent = self._send(entries)
            if source is None:  # from memory
                if unsent:
                    self._to_spool_at_stop(unsent)
                    return
            elif unsent:
                return  # stopping: the segment stays on disk, whole
            else:
                self._spool.acknowledge(source[0], source[1])

    def _next_work(self) -> tuple[tuple[Path, int] | None, list[Entry]] | None:
        """(None, entries) from memory, ((segment, count), entries) from the spool, or None."""
        with self._lock:
            if not self._memory and not self._stopping.is_set():
                self._lock.wait(self.linger)
            if self._memory:
                if len(self._memory) < MAX_RECORDS_PER_REQUEST and not self._stopping.is_set():
                    self._lock.wait(self.linger)  # let a batch fill up
                take = min(len(self._memory), MAX_RECORDS_PER_REQUEST)
                return None, [self._memory.popleft() for _ in range(take)]
            if not self._spilling:
                return None
            if len(self._spool) == 0:
                self._spilling = False  # caught up: back to memory
                return None
        segment = self._spool.oldest()
        if segment is None:
            return None
        path, entries = segment
        return (path, len(entries)), entries

    def _send(self, entries: list[Entry]) -> list[Entry]:
        """Put every entry, retrying failures; returns what is still unsent at the deadline."""
        unsent: list[Entry] = []
        for batch in batches(entries):
            if unsent:
                unsent.extend(batch)
                continue
            pending, attempt = batch, 0
            while pending:
                failed, reason = self._sink.put(pending)
                if len(failed) < len(pending):
                    self._observer.put(len(pending) - len(failed))
                if not failed:
                    break
                self._observer.put_failed(len(failed), reason or "unknown")
                delay = full_jitter(self._rng, RETRY_BASE, self.retry_cap, attempt)
                attempt += 1
                if attempt == 1 or attempt % 20 == 0:
                    logger.warning("%d records not put (%s); retrying", len(failed), reason)
                if time.monotonic() + delay > self._deadline:
                    unsent.extend(failed)
                    break
                time.sleep(delay)
                pending = failed
        return unsent

    def _to_spool_at_stop(self, unsent: list[Entry]) -> None:
        # Kinesis is still failing at the stop deadline: keep the in-flight batch and all of
        # memory on disk. They are older than what the spool may already hold; only this stop
        # during an outage can reorder records, and none is lost.
        with self._lock:
            rest = [*unsent, *self._memory]
            self._memory.clear()
            self._spool.append(rest)
            self._observer.spilled(len(rest))
