"""Reading a curated table the way Athena does: through the Glue catalog's partitions only.

Each partition's ``Location`` names the one directory its files are in (hourly or a compacted
generation); files elsewhere (retired generations, stray objects) are never read. pyarrow reads
the files from moto's S3 (``AWS_ENDPOINT_URL``); ``dt`` and ``symbol`` come from the partition's
values, as Athena gives them.
"""

from __future__ import annotations

import os
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq


def filesystem() -> pafs.S3FileSystem:
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    scheme, _, host = endpoint.partition("://")
    return pafs.S3FileSystem(endpoint_override=host, scheme=scheme, access_key="testing",
                             secret_key="testing", region="us-east-1")


def partitions(glue: Any, database: str, table: str) -> list[dict[str, Any]]:
    """Every partition of the table, sorted by its values."""
    found: list[dict[str, Any]] = []
    for page in glue.get_paginator("get_partitions").paginate(DatabaseName=database,
                                                              TableName=table):
        found.extend(page["Partitions"])
    return sorted(found, key=lambda p: p["Values"])


def locations(glue: Any, database: str, table: str) -> dict[tuple[str, str], str]:
    """Each (dt, symbol) partition's location, ``s3://bucket/prefix/``."""
    return {(p["Values"][0], p["Values"][1]): p["StorageDescriptor"]["Location"]
            for p in partitions(glue, database, table)}


def files_at(location: str, fs: pafs.S3FileSystem | None = None) -> list[str]:
    """The files directly at a location (``bucket/key`` paths, sorted)."""
    fs = fs or filesystem()
    path = location.removeprefix("s3://").rstrip("/")
    infos = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True, recursive=False))
    return sorted(i.path for i in infos if i.type == pafs.FileType.File)


def read_table(glue: Any, database: str, table: str) -> pa.Table:
    """Every row of the table through its partitions, with ``dt`` and ``symbol`` appended."""
    fs = filesystem()
    parts = []
    for (day, symbol), location in sorted(locations(glue, database, table).items()):
        for path in files_at(location, fs):
            rows = pq.read_table(path, filesystem=fs)
            rows = rows.append_column("dt", pa.array([day] * rows.num_rows, pa.string()))
            parts.append(rows.append_column("symbol",
                                            pa.array([symbol] * rows.num_rows, pa.string())))
    return pa.concat_tables(parts) if parts else pa.table({})


def read_rows(glue: Any, database: str, table: str) -> list[dict[str, Any]]:
    """`read_table`'s rows as dicts, in partition and file order."""
    rows: list[dict[str, Any]] = read_table(glue, database, table).to_pylist()
    return rows
