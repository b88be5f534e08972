"""Items to one DynamoDB table with BatchWriteItem: 25 a call, nothing lost without a word.

BatchWriteItem rejects a call that names one key twice, so items are collapsed by key first (the
last one wins: records come in shard order, so that is the newest event). Items DynamoDB leaves
in ``UnprocessedItems``, and whole calls refused for throttling (after botocore's own retries),
are sent again after a jittered, growing pause, while the invocation has time; what still is not
written is returned by key, so the handler reports exactly those records as failed.

A round's calls are independent, so with a thread pool they go out together: an invocation of
the whole market holds hundreds of calls, and one after the other their round trips would add
up to more than the batch's own span of market time (`bench/bench_consumer.py` measures both).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from .items import Item, Key, key_of_item

logger = logging.getLogger(__name__)

MAX_ITEMS_PER_REQUEST = 25  # DynamoDB's BatchWriteItem limit
RETRY_BASE_SECONDS = 0.05
RETRY_CAP_SECONDS = 2.0
MAX_ROUNDS = 10

#: Whole-call errors worth another round; any other error fails the call's items at once.
RETRYABLE_ERRORS = frozenset({
    "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
    "InternalServerError", "ServiceUnavailable",
})

Argument = TypeVar("Argument")
Result = TypeVar("Result")


def call_all(pool: Executor | None, call: Callable[[Argument], Result],
             arguments: Iterable[Argument]) -> Iterator[Result]:
    """``call`` on every argument, concurrently on ``pool`` (in order of the arguments), or one
    after the other without one. An exception a call raises is raised here."""
    if pool is None:
        return iter([call(argument) for argument in arguments])
    return pool.map(call, arguments)


class TableWriter:
    """``pool`` (shared with the summaries, bounded) runs a round's calls concurrently; None
    sends them one after the other. Counters are only changed on the caller's thread."""

    def __init__(self, client: Any, table_name: str, *, pool: Executor | None = None,
                 max_rounds: int = MAX_ROUNDS,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.table_name = table_name
        self.max_rounds = max_rounds
        self.requests = 0  # BatchWriteItem calls made, for metrics and the benchmark
        self.pool = pool
        self._client = client
        self._sleep = sleep
        self._random = random.Random()

    def write(self, items: Iterable[tuple[Key, Item]],
              seconds_left: Callable[[], float]) -> dict[Key, str]:
        """Write every item; returns the keys not written, each with the reason.

        ``seconds_left`` says how long the caller may still wait (the invocation's remaining
        time, less a margin); no pause is started that would end after it.
        """
        pending: dict[Key, Item] = {}
        for key, item in items:
            pending.pop(key, None)  # re-inserted: a repeated key takes its latest position
            pending[key] = item
        failed: dict[Key, str] = {}
        reason = ""
        for attempt in range(self.max_rounds):
            if attempt:
                pause = self._random.uniform(
                    0, min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2 ** attempt))
                if pause >= seconds_left():
                    break
                self._sleep(pause)
            pending, reason = self._round(pending, failed)
            if not pending:
                return failed
        for key in pending:
            failed[key] = reason or "not written before the invocation's deadline"
        return failed

    def _round(self, pending: dict[Key, Item],
               failed: dict[Key, str]) -> tuple[dict[Key, Item], str]:
        """One call per 25 items; returns what is to be sent again, and why."""
        entries = list(pending.items())
        chunks = [entries[start:start + MAX_ITEMS_PER_REQUEST]
                  for start in range(0, len(entries), MAX_ITEMS_PER_REQUEST)]
        self.requests += len(chunks)
        again: dict[Key, Item] = {}
        reason = ""
        for chunk, (retry, refused, why) in zip(chunks, call_all(self.pool, self._send, chunks)):
            if refused:
                logger.error("BatchWriteItem refused %d items: %s", len(chunk), why)
                failed.update((key, why) for key, _ in chunk)
            elif retry:
                again.update((key, pending[key]) for key in retry)
                reason = why
        return again, reason

    def _send(self, chunk: list[tuple[Key, Item]]) -> tuple[list[Key], bool, str]:
        """One BatchWriteItem call (on a pool thread): the keys to send again, whether the call
        was refused for good, and why."""
        try:
            response = self._client.batch_write_item(RequestItems={
                self.table_name: [{"PutRequest": {"Item": item}} for _, item in chunk]})
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            message = f"{code}: {error.response.get('Error', {}).get('Message', '')}"
            if code in RETRYABLE_ERRORS:
                return [key for key, _ in chunk], False, message
            return [], True, message
        except BotoCoreError as error:  # connection lost, timeout: worth another round
            return [key for key, _ in chunk], False, f"{type(error).__name__}: {error}"
        unprocessed = response.get("UnprocessedItems", {}).get(self.table_name, [])
        keys = [key_of_item(request["PutRequest"]["Item"]) for request in unprocessed]
        return keys, False, f"{len(keys)} items left unprocessed by DynamoDB" if keys else ""
