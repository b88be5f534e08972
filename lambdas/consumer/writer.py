"""Items to one DynamoDB table with BatchWriteItem: 25 a call, nothing lost without a word.

BatchWriteItem rejects a call that names one key twice, so items are collapsed by key first (the
last one wins: records come in shard order, so that is the newest event). Items DynamoDB leaves
in ``UnprocessedItems``, and whole calls refused for throttling (after botocore's own retries),
are sent again after a jittered, growing pause, while the invocation has time; what still is not
written is returned by key, so the handler reports exactly those records as failed.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable
from typing import Any

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


class TableWriter:
    def __init__(self, client: Any, table_name: str, *, max_rounds: int = MAX_ROUNDS,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.table_name = table_name
        self.max_rounds = max_rounds
        self.requests = 0  # BatchWriteItem calls made, for metrics and the benchmark
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
        again: dict[Key, Item] = {}
        reason = ""
        entries = list(pending.items())
        for start in range(0, len(entries), MAX_ITEMS_PER_REQUEST):
            chunk = entries[start:start + MAX_ITEMS_PER_REQUEST]
            self.requests += 1
            try:
                response = self._client.batch_write_item(RequestItems={
                    self.table_name: [{"PutRequest": {"Item": item}} for _, item in chunk]})
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code", "")
                message = f"{code}: {error.response.get('Error', {}).get('Message', '')}"
                if code in RETRYABLE_ERRORS:
                    again.update(chunk)
                    reason = message
                else:
                    logger.error("BatchWriteItem refused %d items: %s", len(chunk), message)
                    failed.update((key, message) for key, _ in chunk)
                continue
            except BotoCoreError as error:  # connection lost, timeout: worth another round
                again.update(chunk)
                reason = f"{type(error).__name__}: {error}"
                continue
            unprocessed = response.get("UnprocessedItems", {}).get(self.table_name, [])
            for request in unprocessed:
                key = key_of_item(request["PutRequest"]["Item"])
                again[key] = pending[key]
            if unprocessed:
                reason = f"{len(unprocessed)} items left unprocessed by DynamoDB"
        return again, reason
