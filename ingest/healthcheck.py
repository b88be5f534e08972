"""Container health check: healthy while the heartbeat (the status file) is fresh.

    python -m ingest.healthcheck [--max-age 30]

The service rewrites its status file (`ingest.status`) every few seconds from its main loop; a
stale or missing file means the process hung or died, and ECS replaces the task. Only the
file's age counts. Standard library only: the check starts quickly every few seconds.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .environment import HEALTH_FILE, default_health_file


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ingest.healthcheck")
    parser.add_argument("--max-age", type=float, default=30.0, help="seconds (default 30)")
    args = parser.parse_args(argv)
    value = os.environ.get(HEALTH_FILE)
    path = Path(value) if value else default_health_file()
    try:
        age = time.time() - path.stat().st_mtime
    except OSError as error:
        print(f"unhealthy: no heartbeat at {path}: {error.strerror}", file=sys.stderr)
        return 1
    if age > args.max_age:
        print(f"unhealthy: heartbeat {age:.0f} s old (limit {args.max_age:g} s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
