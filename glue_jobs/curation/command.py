"""What both jobs do around their work: the clients, the catalog's tables, the summary and the
exit status. A job's ``main`` is `main(name, argv, parse, run)`."""

import json
import logging
import resource
import sys
from collections.abc import Sequence
from typing import Any, Callable, NamedTuple, Optional

import boto3
import pyarrow as pa

from .settings import JobError, client_config
from .tables import TABLES


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
