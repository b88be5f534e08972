"""Reading raw objects: gzip JSON lines from S3, decompressed in pieces of whole lines.

Memory stays bounded whatever an object's size: at most ``PIECE_BYTES`` of text is cut at once.
"""

import zlib
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, NamedTuple, Optional

PIECE_BYTES = 32 * 1024 * 1024  # decompressed text parsed at once (whole lines)
READ_BYTES = 1024 * 1024  # compressed bytes read from S3 at once


class Piece(NamedTuple):
    source: str  # the raw object's key
    first_line: int  # 1-based number of the piece's first line in the object
    data: bytes  # whole lines
    damage: Optional[str]  # set on the object's last piece when its gzip stream is broken


def pieces(body: Any, source: str, piece_bytes: int = PIECE_BYTES) -> Iterator[Piece]:
    """Decompress a gzip object (one or more members) and cut it into pieces of whole lines.

    A truncated or corrupt stream ends the object: what was decompressed before the damage is
    kept, and the last piece carries the damage (its incomplete last line is quarantined).
    """
    decompressor = zlib.decompressobj(wbits=31)
    # Decompressed output not yet cut, joined only to cut a piece: an object below
    # ``piece_bytes`` (Firehose's usual ~1 MB of gzip) becomes its one piece with no copy.
    pending: list[bytes] = []
    size = 0
    line = 1
    damage = None
    read_any = False
    while damage is None:
        data = body.read(READ_BYTES)
        if not data:
            rest = decompressor.flush()
            if rest:
                pending.append(rest)
            if read_any and not decompressor.eof:
                damage = "truncated gzip stream"
            break
        read_any = True
        while data:
            try:  # at most piece_bytes of output a call: a well-compressed object stays bounded
                output = decompressor.decompress(data, piece_bytes)
            except zlib.error as error:
                damage = f"corrupt gzip stream: {error}"
                break
            if decompressor.eof:  # what follows is another member (or nothing)
                data = decompressor.unused_data
                if data:
                    decompressor = zlib.decompressobj(wbits=31)
            else:
                data = decompressor.unconsumed_tail
            pending.append(output)
            size += len(output)
            if size >= piece_bytes:
                text = _joined(pending)
                cut = text.rfind(b"\n") + 1
                pending = [text]
                if cut:
                    yield Piece(source, line, text[:cut] if cut < len(text) else text, None)
                    line += text.count(b"\n", 0, cut)
                    pending = [text[cut:]]
                    size = len(text) - cut
    text = _joined(pending)
    if text or damage:
        yield Piece(source, line, text, damage)


def _joined(parts: list[bytes]) -> bytes:
    return parts[0] if len(parts) == 1 else b"".join(parts)


def list_keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    """Every object key under ``prefix``, sorted."""
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(item["Key"] for item in page.get("Contents", []))
    return sorted(keys)


def in_order(executor: ThreadPoolExecutor, keys: Sequence[str], work: Any,
             ahead: int) -> Iterator[tuple[str, Any]]:
    """``work(key)`` for every key on the pool, results in key order, ``ahead`` in flight."""
    running: deque[tuple[str, Future[Any]]] = deque()
    for key in keys:
        running.append((key, executor.submit(work, key)))
        if len(running) >= ahead:
            done_key, future = running.popleft()
            yield done_key, future.result()
    while running:
        done_key, future = running.popleft()
        yield done_key, future.result()
