"""The ingester's status file (``HEALTH_FILE``): its counts since start, rewritten every few
seconds while it runs and once more, final, as it stops.

Its age is the container's health (`ingest.healthcheck`: a stale file means the process hung);
its content is the ingester's own account for whoever watches it run: the local mode's progress
line and summary, the whole-market benchmark. They read it with `read_status` rather than the
log's text. Standard library only, so none of them loads the ingester's runtime libraries.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class IngestStatus:
    """One write of the status file."""

    #: Connections the stream list is split over (one `ConnectionSupervisor` each).
    connections: int
    #: Of those, the ones connected now.
    connected: int
    #: Events accepted and not yet put; once `stopped`, the events left in the spool.
    backlog: int
    #: Every counter since start, by metric name (`metric_names.COUNTERS`, zeros included).
    totals: dict[str, float]
    #: The last write: the ingester has stopped and ``totals`` are final.
    stopped: bool = False
    written_at: int = field(default_factory=lambda: int(time.time()))  # epoch s

    def count(self, metric: str) -> int:
        """A counter's total as a whole number (0 before the ingester counted anything)."""
        return int(self.totals.get(metric, 0))


def write_status(path: Path, status: IngestStatus) -> None:
    """Replace the file at once: a reader never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(asdict(status)))
    os.replace(temporary, path)


def read_status(path: Path) -> IngestStatus | None:
    """The status last written, or None when there is none yet (or not one of this shape)."""
    try:
        document = json.loads(path.read_text())
        return IngestStatus(**document)
    except (OSError, ValueError, TypeError):
        return None
