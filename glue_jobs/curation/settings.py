"""The hourly run's settings, from its command line (Glue passes job arguments the same way)."""

import argparse
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import NamedTuple, Optional

from botocore.config import Config

from miniticker import catalog, layout

from .coverage import DEFAULT_SILENCE_SECONDS

HOUR_FORMAT = layout.HOUR_FORMAT

#: Options both jobs take, with their defaults: where the day locks and states are, and the
#: stack's database.
SHARED_LOCATIONS = {
    "manifest_prefix": layout.MANIFEST_PREFIX,
    "database": catalog.default_database_name(catalog.DEFAULT_ENVIRONMENT),
}
#: The hourly job's inputs and set-aside lines.
HOURLY_LOCATIONS = {
    "raw_prefix": layout.RAW_PREFIX,
    "quarantine_prefix": layout.QUARANTINE_PREFIX,
}


class JobError(Exception):
    """Bad arguments, a missing resource or a lost lock; the message says which."""


class Settings(NamedTuple):
    bucket: str
    hours: tuple[datetime, ...]
    raw_prefix: str
    quarantine_prefix: str
    manifest_prefix: str
    database: str
    register_partitions: bool
    workers: int
    temp_dir: Optional[str]
    silence_threshold_ms: int = DEFAULT_SILENCE_SECONDS * 1000


def client_config(workers: int) -> Config:
    """The boto3 clients' configuration: retries with backoff, a connection per worker."""
    return Config(retries={"mode": "standard", "max_attempts": 5},
                  max_pool_connections=max(10, workers * 2))


def parse_hour(text: str, option: str) -> datetime:
    try:
        return layout.parse_hour(text)
    except ValueError:
        raise JobError(f"{option} {text!r} is not an hour like 2026-11-24T10") from None


def last_complete_hour(now: Optional[datetime] = None) -> datetime:
    now = now or datetime.now(timezone.utc)
    return now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)


def add_common_options(parser: argparse.ArgumentParser,
                       locations: dict[str, str] = SHARED_LOCATIONS) -> None:
    """The options both jobs take: the bucket, ``locations`` (the shared ones by default), the
    catalog and a temporary directory."""
    parser.add_argument("--bucket", required=True)
    for name, value in locations.items():
        parser.add_argument("--" + name.replace("_", "-"), default=value)
    parser.add_argument("--register-partitions", default="true", choices=("true", "false"))
    parser.add_argument("--temp-dir", default=None,
                        help="local disk for spilled rows and parts (default: the system's)")


def check_prefixes(args: argparse.Namespace) -> None:
    for name, value in vars(args).items():
        if name.endswith("_prefix") and not value.endswith("/"):
            raise JobError(f"--{name.replace('_', '-')} {value!r} must end with '/'")


def parse_settings(argv: Sequence[str]) -> Settings:
    parser = argparse.ArgumentParser(description="raw mini-ticker hours into curated Parquet")
    add_common_options(parser, {**HOURLY_LOCATIONS, **SHARED_LOCATIONS})
    parser.add_argument("--hour", help="YYYY-MM-DDTHH (UTC); default the last complete hour")
    parser.add_argument("--hours", type=int, default=1, help="the N hours ending with --hour")
    parser.add_argument("--start", help="first hour of a backfill (with --end)")
    parser.add_argument("--end", help="the hour after the last of a backfill")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--silence-seconds", type=float, default=DEFAULT_SILENCE_SECONDS,
                        help="coverage: a silence is a gap between events longer than this")
    # Glue adds arguments of its own (--JOB_ID, --JOB_RUN_ID, --scriptLocation, ...).
    args, _ = parser.parse_known_args(list(argv))
    if (args.start is None) != (args.end is None):
        raise JobError("--start and --end go together")
    if args.start is not None:
        if args.hour is not None:
            raise JobError("give --hour (with --hours) or --start/--end, not both")
        start, end = parse_hour(args.start, "--start"), parse_hour(args.end, "--end")
        if end <= start:
            raise JobError(f"--end {args.end} is not after --start {args.start}")
        count = int((end - start) / timedelta(hours=1))
        hours = tuple(start + timedelta(hours=i) for i in range(count))
    else:
        last = parse_hour(args.hour, "--hour") if args.hour else last_complete_hour()
        if args.hours < 1:
            raise JobError(f"--hours {args.hours} is below 1")
        hours = tuple(last - timedelta(hours=i) for i in reversed(range(args.hours)))
    if args.workers < 1:
        raise JobError(f"--workers {args.workers} is below 1")
    if args.silence_seconds <= 0:
        raise JobError(f"--silence-seconds {args.silence_seconds} is not above 0")
    check_prefixes(args)
    return Settings(args.bucket, hours, args.raw_prefix, args.quarantine_prefix,
                    args.manifest_prefix, args.database, args.register_partitions == "true",
                    args.workers, args.temp_dir, round(args.silence_seconds * 1000))
