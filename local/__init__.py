"""The local mode (DESIGN §4): runners that stand in for what moto does not do."""
