"""curation: raw mini-ticker hours into the curated dataset (see the README).

The Glue jobs' code, shipped to Glue as a wheel beside the contract's (``miniticker``); the entry
scripts ``glue_jobs/raw_to_parquet.py`` and ``glue_jobs/compact_day.py`` only call ``main``.
Python 3.9 (Glue's Python shell): write ``Optional``/``Union``, not ``X | Y``
(tests/test_python39.py).
"""
