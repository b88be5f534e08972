"""Lambda functions, one package each (deployed without this parent package)."""
