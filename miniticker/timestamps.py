"""Epoch milliseconds to the record's ISO 8601 text.

Integer arithmetic only: ``datetime.fromtimestamp(ms / 1000)`` goes through a float and can be a
millisecond off. Epoch time has no leap seconds, so ``:60`` never appears.
"""

from datetime import datetime, timedelta

_EPOCH = datetime(1970, 1, 1)  # naive UTC: isoformat then has no offset and we append "Z"


def iso_from_millis(epoch_millis: int) -> str:
    """``1665778598188`` -> ``"2022-10-14T20:16:38.188Z"`` (always milliseconds, always ``Z``)."""
    moment = _EPOCH + timedelta(milliseconds=epoch_millis)
    return moment.isoformat(timespec="milliseconds") + "Z"
