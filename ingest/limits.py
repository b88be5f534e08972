"""The ingester's timing limits that the CDK app plans capacity with.

Standard library only: `stacks.capacity` counts the ingester's PutRecords sends a second from
`LINGER_SECONDS` without loading the ingester's runtime libraries; `ingest.delivery` lingers by it.
"""

from __future__ import annotations

#: The longest the sender waits for a fuller PutRecords call while memory holds less than one.
LINGER_SECONDS = 0.1
