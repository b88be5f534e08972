"""A Lambda context for in-process invocations (moto's Lambda needs Docker; docs/architecture.md
§4)."""

from __future__ import annotations

import time
import uuid


class LocalContext:
    """What the Lambda runtime hands a handler: names, memory, request id and a deadline."""

    def __init__(self, function_name: str, *, timeout_seconds: float = 60.0,
                 memory_limit_in_mb: int = 256, region: str = "us-east-1",
                 account: str = "000000000000") -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = (
            f"arn:aws:lambda:{region}:{account}:function:{function_name}")
        self.memory_limit_in_mb = memory_limit_in_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))
