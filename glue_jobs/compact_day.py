"""compact_day: the daily Glue job, an event day of the curated tables compacted.

    python glue_jobs/compact_day.py --bucket B [--day 2026-11-24]
    python glue_jobs/compact_day.py --bucket B --start-day 2026-11-01 --end-day 2026-11-25

The work is in the ``curation`` package (``curation/compaction.py``); Glue installs it and the
contract as wheels. Run from the repository, this folder holds the package and the repository
root holds the contract.
"""

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(_HERE), str(_HERE.parent)]

from curation.compaction import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
