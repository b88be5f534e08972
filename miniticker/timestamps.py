"""Epoch milliseconds to the record's ISO 8601 text.

Integer arithmetic only: ``datetime.fromtimestamp(ms / 1000)`` goes through a float and can be a
millisecond off. Epoch time has no leap seconds, so ``:60`` never appears.
"""

from datetime import datetime, timedelta

_EPOCH = datetime(1970, 1, 1)  # naive UTC: isoformat then has no offset and we append "Z"

# The last second formatted: events come in time order, many in the same second, so most calls
# only add the milliseconds. One tuple, replaced whole: safe to read from any thread.
_last_second = [(-1, "")]


def iso_from_millis(epoch_millis: int) -> str:
    """``1665778598188`` -> ``"2022-10-14T20:16:38.188Z"`` (always milliseconds, always ``Z``)."""
    second, millis = divmod(epoch_millis, 1000)
    cached_second, prefix = _last_second[0]
    if second != cached_second:
        prefix = (_EPOCH + timedelta(seconds=second)).isoformat(timespec="seconds")
        _last_second[0] = (second, prefix)
    return f"{prefix}.{millis:03d}Z"
