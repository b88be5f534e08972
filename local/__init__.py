"""The local mode (docs/architecture.md §4): runners that stand in for what moto does not do."""
