"""The one error type of the contract.

Every runtime sets aside what the contract rejects (the ingester counts and samples it, the Lambda
reports it as a batch item failure, the Glue job quarantines it). They all need the same three
things from the error: which field, why, and the payload itself, so nothing is lost.
"""

from typing import Any, Optional

#: How much of an offending payload `InvalidMiniTicker.excerpt` shows in logs.
EXCERPT_CHARS = 300


class InvalidMiniTicker(ValueError):
    """A payload or record that is not a valid mini-ticker.

    Attributes:
        field: the contract field at fault (``close_price``), or ``None`` when the payload as a
            whole is wrong (not JSON, not an object, an unknown message shape).
        reason: what is wrong, in words that name the offending value.
        payload: the offending payload exactly as it was given, kept for quarantine and DLQs.
    """

    def __init__(self, field: Optional[str], reason: str, payload: Any) -> None:
        self.field = field
        self.reason = reason
        self.payload = payload
        where = f"{field}: " if field else ""
        super().__init__(f"invalid mini-ticker: {where}{reason}")

    def __reduce__(self) -> tuple[type, tuple[Optional[str], str, Any]]:
        # Keep the three attributes across pickling (multiprocessing, pytest-xdist).
        return (type(self), (self.field, self.reason, self.payload))

    def excerpt(self, limit: int = EXCERPT_CHARS) -> str:
        """A bounded text sample of the payload, for rate-limited logs."""
        text = self.payload if isinstance(self.payload, str) else repr(self.payload)
        return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"
