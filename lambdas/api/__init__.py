"""The read API over the hot table: ``GET /api/latest`` and ``GET /api/history`` (docs/api.md)."""
