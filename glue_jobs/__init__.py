"""Glue jobs (Python 3.9)."""
