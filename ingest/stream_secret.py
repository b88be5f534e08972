"""The stream-list secret's document, ``{"streams": [...]}``, and Secrets Manager's limit on it.

Standard library only: the ingester reads the document (`ingest.config`), the CDK app's settings
check a stream list against the limit before any resource is defined, the `StreamConfig`
construct writes the document, and the local mode writes it into its stand-in secret.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

#: Secrets Manager's limit on a secret's value.
SECRET_VALUE_BYTES = 65_536


#: The document's one key: the list of stream names.
STREAMS = "streams"


def secret_value(streams: Sequence[str]) -> str:
    """The secret's value for a stream list: ``{"streams": [...]}``, as the ingester reads it."""
    return json.dumps({STREAMS: list(streams)})
