"""What both jobs do around their work: the clients, the catalog's tables, the summary and the
exit status. A job's ``main`` is `main(name, argv, parse, run)`."""

import json
import logging
import resource
import sys
import time
from collections.abc import Sequence
from typing import Any, Callable, NamedTuple, Optional

import boto3
import pyarrow as pa

from .settings import JobError, client_config
from .tables import TABLES

logger = logging.getLogger("curation")


class Clients(NamedTuple):
    s3: Any
    glue: Any
    tables: Optional[dict[str, dict[str, Any]]]  # the curated tables' catalog entries by name


def clients(*, workers: int, register_partitions: bool, database: str, s3: Any = None,
            glue: Any = None) -> Clients:
    """The S3 and Glue clients (those given, or new ones), and the curated tables' catalog
    entries when partitions are registered (a missing table stops the run, naming it)."""
    # The C allocator gives freed buffers back to the system; Arrow's default pool (mimalloc)
    # keeps them for reuse, which raises the peak RSS: a 1/16 DPU Glue worker has 1 GB.
    pa.set_memory_pool(pa.system_memory_pool())
    config = client_config(workers)
    s3 = s3 or boto3.client("s3", config=config)
    if not register_partitions:
        return Clients(s3, glue, None)
    glue = glue or boto3.client("glue", config=config)
    return Clients(s3, glue, catalog_tables(glue, database))


def catalog_tables(glue: Any, database: str) -> dict[str, dict[str, Any]]:
    """The curated tables' catalog entries by name."""
    found = {}
    for table in TABLES:
        try:
            found[table.name] = glue.get_table(DatabaseName=database, Name=table.name)["Table"]
        except glue.exceptions.EntityNotFoundException:
            raise JobError(f"Glue table {database}.{table.name} not found "
                           "(or run with --register-partitions false)") from None
    return found


def summary(job: str, bucket: str, unit: str, parts: list[dict[str, Any]], started: float,
            **extra: Any) -> dict[str, Any]:
    """A run's summary, logged: each part's (an hour's, a day's) under ``unit``, their numeric
    fields summed, ``extra``, the run's seconds since ``started`` (monotonic) and peak memory."""
    totals = {name: sum(part[name] for part in parts) for name, value in parts[0].items()
              if isinstance(value, (int, float))} if parts else {}
    result = {"bucket": bucket, unit: parts, **totals, **extra,
              "seconds": round(time.monotonic() - started, 3),
              "peak_memory_mb": round(peak_memory_mb(), 1)}
    logger.info("%s finished: %s", job, json.dumps(result))
    return result


def peak_memory_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main(name: str, argv: Sequence[str], parse: Callable[[Sequence[str]], Any],
         run: Callable[[Any], dict[str, Any]]) -> int:
    """Run a job from its command line: the summary printed (and logged by the run), exit
    status 0; bad arguments or a missing resource print the reason, exit status 2."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        summary = run(parse(argv))
    except JobError as error:
        print(f"{name}: {error}", file=sys.stderr)
        return 2
    print(json.dumps(summary))
    return 0
