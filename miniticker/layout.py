"""Where the pipeline keeps things in its bucket (docs/architecture.md §2.3): one definition of
every prefix.

Firehose (from the CDK app) writes raw hours, the Glue job reads them and writes curated,
quarantine and manifest objects, the local mode's drain imitates Firehose, and the Glue tables
and Athena workgroup point at the same places.
"""

from datetime import datetime, timezone

RAW_PREFIX = "raw/miniticker/"  # then dt=YYYY-MM-DD/hour=HH/ (arrival time, UTC)
RAW_ERRORS_PREFIX = "raw-errors/"
CURATED_PREFIX = "curated/miniticker/"  # then dt=YYYY-MM-DD/symbol=SYMBOL/
# The tables derived from the curated events, partitioned the same way.
CANDLES_PREFIX = "curated/candles_1m/"
COVERAGE_PREFIX = "curated/coverage/"
QUARANTINE_PREFIX = "quarantine/miniticker/"
MANIFEST_PREFIX = "manifests/raw_to_parquet/"
ATHENA_RESULTS_PREFIX = "athena-results/"

#: Firehose's expressions for the raw hour prefix (its timestamp is the arrival time, UTC).
FIREHOSE_RAW_PREFIX = RAW_PREFIX + "dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/"
FIREHOSE_ERROR_PREFIX = (RAW_ERRORS_PREFIX + "!{firehose:error-output-type}/"
                         "dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/")

#: An hour as the jobs' options and manifests name it (UTC).
HOUR_FORMAT = "%Y-%m-%dT%H"


def parse_hour(text: str) -> datetime:
    """``2026-11-24T10`` as a UTC datetime; ValueError for anything else."""
    return datetime.strptime(text, HOUR_FORMAT).replace(tzinfo=timezone.utc)


def hour_path(hour: datetime) -> str:
    """An hour's part of a raw or quarantine key: ``dt=YYYY-MM-DD/hour=HH/``."""
    return f"dt={hour:%Y-%m-%d}/hour={hour:%H}/"


def raw_hour_prefix(raw_prefix: str, hour: datetime) -> str:
    """Where Firehose puts the objects of an arrival hour (`FIREHOSE_RAW_PREFIX`, resolved)."""
    return raw_prefix + hour_path(hour)


def hour_of_raw_key(key: str, raw_prefix: str = RAW_PREFIX) -> datetime:
    """The arrival hour a raw object belongs to, from its key (the inverse of `raw_hour_prefix`);
    ValueError for a key outside that layout."""
    day, hour = key[len(raw_prefix):].split("/")[:2]
    return parse_hour(f"{day.removeprefix('dt=')}T{hour.removeprefix('hour=')}")
