"""raw_to_parquet: the hourly Glue job, raw mini-ticker hours into the curated tables.

    python glue_jobs/raw_to_parquet.py --bucket B [--hour 2026-11-24T10] [--hours N]
    python glue_jobs/raw_to_parquet.py --bucket B --start 2026-11-24T00 --end 2026-11-24T06

The work is in the ``curation`` package (``curation/hourly.py``); Glue installs it and the
contract as wheels. Run from the repository, this folder holds the package and the repository
root holds the contract.
"""

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(_HERE), str(_HERE.parent)]

from curation.hourly import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
