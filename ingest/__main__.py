"""``python -m ingest``: run the ingester until SIGTERM or SIGINT (settings: README, --help)."""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence

from .config import ConfigError, load_from_environment
from .service import IngestService


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config = load_from_environment(argv)
        service = IngestService(config)
        signal.signal(signal.SIGTERM, lambda *_: service.request_stop())
        signal.signal(signal.SIGINT, lambda *_: service.request_stop())
        return service.run()
    except ConfigError as error:
        print(f"ingest: configuration error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
