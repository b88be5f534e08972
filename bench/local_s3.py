"""A stand-in for the boto3 S3 client over a local folder, for the benchmarks.

The tests run the Glue jobs over moto's S3 server; a benchmark cannot: moto's pure-Python server
would spend CPU of its own, on the same cores, for every object the job reads or writes. This
class answers the S3 calls the jobs make (one folder a bucket, a file an object) with boto3's
shapes: listing with ``Prefix``/``Delimiter``/continuation, conditional writes (``IfNoneMatch``,
``IfMatch``: HTTP 412 ``PreconditionFailed`` like S3), ``NoSuchKey`` as
``client.exceptions.NoSuchKey``. Writes are atomic (a temporary file renamed over the key), so a
reader never sees half an object.

It also counts what S3 would bill: each request by kind (GET, PUT, LIST, DELETE, HEAD; a failed
conditional write is a PUT all the same, a ``DeleteObjects`` call one DELETE) and the bytes read
and written, by the family of keys they touch (`FAMILIES`): `LocalBucket.stats`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from miniticker import layout

#: Objects up to this size get an MD5 ETag; larger ones one from their size and modification time
#: (hashing every raw object would add CPU to the job being measured).
HASHED_BYTES = 64 * 1024
MAX_KEYS = 1000  # S3's page size

#: Families of keys the counts are split by: (name, key prefix), the first match wins.
FAMILIES: tuple[tuple[str, str], ...] = (
    ("raw", layout.RAW_PREFIX),
    ("events", layout.CURATED_PREFIX),
    ("candles", layout.CANDLES_PREFIX),
    ("coverage", layout.COVERAGE_PREFIX),
    ("quarantine", layout.QUARANTINE_PREFIX),
    ("manifests", layout.MANIFEST_PREFIX),
)
OTHER = "other"  # a key of no family
KINDS = ("GET", "PUT", "LIST", "DELETE", "HEAD")


def _error(code: str, status: int, operation: str, message: str) -> dict[str, Any]:
    return {"Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status}}


class NoSuchKey(ClientError):  # type: ignore[misc]  # botocore ships no types
    """boto3's ``client.exceptions.NoSuchKey``: a ClientError with code NoSuchKey."""


class LocalBucket:
    """The S3 calls the curation jobs make, on a local folder (one folder a bucket)."""

    class exceptions:  # boto3's shape: client.exceptions.NoSuchKey
        NoSuchKey = NoSuchKey
        ClientError = ClientError

    def __init__(self, root: str, families: Sequence[tuple[str, str]] = FAMILIES) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()  # conditional writes: check and write as one step
        self.families = tuple(families)
        self._counted = threading.Lock()  # the job's worker threads call at once
        self._requests: Counter[tuple[str, str]] = Counter()  # (family, kind) -> requests
        self._read: Counter[str] = Counter()  # family -> bytes
        self._written: Counter[str] = Counter()

    # --- counting ---

    def family(self, key: str) -> str:
        return next((name for name, prefix in self.families if key.startswith(prefix)), OTHER)

    def _count(self, kind: str, key: str, read: int = 0, written: int = 0) -> None:
        family = self.family(key)
        with self._counted:
            self._requests[family, kind] += 1
            self._read[family] += read
            self._written[family] += written

    @property
    def stats(self) -> dict[str, dict[str, Any]]:
        """The counts so far, as JSON: ``requests`` {family: {kind: n}}, ``bytes_read`` and
        ``bytes_written`` {family: bytes} (an object's whole size for each GET)."""
        with self._counted:
            requests: dict[str, dict[str, int]] = {}
            for (family, kind), count in sorted(self._requests.items()):
                requests.setdefault(family, {})[kind] = count
            return {"requests": requests, "bytes_read": dict(sorted(self._read.items())),
                    "bytes_written": dict(sorted(self._written.items()))}

    # --- keys and files ---

    def _path(self, bucket: str, key: str) -> Path:
        return self.root / bucket / key

    def _etag(self, path: Path) -> str:
        stat = path.stat()
        if stat.st_size <= HASHED_BYTES:
            return f'"{hashlib.md5(path.read_bytes()).hexdigest()}"'
        return f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"'

    def _keys(self, bucket: str, prefix: str) -> Iterator[str]:
        """Every key starting with ``prefix``, unordered."""
        base = self.root / bucket
        directory = base / prefix if prefix.endswith("/") else (base / prefix).parent
        if not directory.is_dir():
            return
        for folder, _, files in os.walk(directory, followlinks=True):
            relative = Path(folder).relative_to(base).as_posix()
            start = "" if relative == "." else relative + "/"
            for name in files:
                key = start + name
                if key.startswith(prefix) and not name.startswith(".tmp-"):
                    yield key

    # --- the client's calls ---

    def get_paginator(self, operation: str) -> Any:
        assert operation == "list_objects_v2", operation
        return self

    def paginate(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        kwargs.pop("PaginationConfig", None)
        while True:
            page = self.list_objects_v2(**kwargs)
            yield page
            if not page["IsTruncated"]:
                return
            kwargs["ContinuationToken"] = page["NextContinuationToken"]

    def list_objects_v2(self, *, Bucket: str, Prefix: str = "", Delimiter: str = "",
                        ContinuationToken: str = "", StartAfter: str = "",
                        MaxKeys: int = MAX_KEYS, **_: Any) -> dict[str, Any]:
        self._count("LIST", Prefix)  # a page a request
        after = ContinuationToken or StartAfter
        entries: dict[str, bool] = {}  # key or common prefix -> is a common prefix
        for key in self._keys(Bucket, Prefix):
            cut = key.find(Delimiter, len(Prefix)) if Delimiter else -1
            if cut >= 0:
                entries[key[:cut + len(Delimiter)]] = True
            else:
                entries[key] = False
        names = sorted(name for name in entries if name > after)
        page, rest = names[:MaxKeys], names[MaxKeys:]
        contents = []
        for key in (name for name in page if not entries[name]):
            path = self._path(Bucket, key)
            contents.append({"Key": key, "Size": path.stat().st_size, "ETag": self._etag(path)})
        response: dict[str, Any] = {
            "Contents": contents, "KeyCount": len(page), "IsTruncated": bool(rest),
            "CommonPrefixes": [{"Prefix": name} for name in page if entries[name]]}
        if not contents:
            del response["Contents"]  # S3 leaves it out of an empty page
        if rest:
            response["NextContinuationToken"] = page[-1]
        return response

    def get_object(self, *, Bucket: str, Key: str, **_: Any) -> dict[str, Any]:
        path = self._path(Bucket, Key)
        try:
            body = path.open("rb")
        except (FileNotFoundError, IsADirectoryError):
            self._count("GET", Key)
            raise NoSuchKey(_error("NoSuchKey", 404, "GetObject", Key), "GetObject") from None
        size = path.stat().st_size
        self._count("GET", Key, read=size)
        return {"Body": body, "ContentLength": size, "ETag": self._etag(path)}

    def head_object(self, *, Bucket: str, Key: str, **_: Any) -> dict[str, Any]:
        path = self._path(Bucket, Key)
        self._count("HEAD", Key)
        if not path.is_file():
            raise ClientError(_error("404", 404, "HeadObject", Key), "HeadObject")
        return {"ContentLength": path.stat().st_size, "ETag": self._etag(path)}

    def put_object(self, *, Bucket: str, Key: str, Body: Any = b"", IfNoneMatch: str = "",
                   IfMatch: str = "", **_: Any) -> dict[str, Any]:
        path = self._path(Bucket, Key)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.parent / f".tmp-{path.name}-{threading.get_ident()}-{os.getpid()}"
        with temporary.open("wb") as sink:
            if isinstance(Body, (bytes, str)):
                sink.write(Body.encode() if isinstance(Body, str) else Body)
            else:  # a file: streamed, as boto3 does, not read into memory
                shutil.copyfileobj(Body, sink)
        self._count("PUT", Key, written=temporary.stat().st_size)
        if not (IfNoneMatch or IfMatch):
            os.replace(temporary, path)
            return {"ETag": self._etag(path)}
        with self._lock:
            exists = path.is_file()
            if IfMatch and not exists:  # S3 answers a condition on a missing key with 404
                temporary.unlink()
                raise NoSuchKey(_error("NoSuchKey", 404, "PutObject", Key), "PutObject")
            if (IfNoneMatch == "*" and exists) or (IfMatch and self._etag(path) != IfMatch):
                temporary.unlink()
                raise ClientError(_error("PreconditionFailed", 412, "PutObject",
                                         "At least one of the pre-conditions you specified "
                                         "did not hold"), "PutObject")
            os.replace(temporary, path)
            return {"ETag": self._etag(path)}

    def delete_object(self, *, Bucket: str, Key: str, **_: Any) -> dict[str, Any]:
        self._count("DELETE", Key)
        self._path(Bucket, Key).unlink(missing_ok=True)  # S3: deleting nothing succeeds
        return {}

    def delete_objects(self, *, Bucket: str, Delete: dict[str, Any], **_: Any) -> dict[str, Any]:
        keys = [item["Key"] for item in Delete["Objects"]]
        self._count("DELETE", keys[0] if keys else "")  # one request for them all
        for key in keys:
            self._path(Bucket, key).unlink(missing_ok=True)
        return {"Deleted": [{"Key": item["Key"]} for item in Delete["Objects"]]}
