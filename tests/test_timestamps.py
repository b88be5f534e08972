"""iso_timestamp edge cases. Inputs come from calendar.timegm, not from the code under test."""

from __future__ import annotations

import calendar

import pytest

from miniticker import MAX_EPOCH_MILLIS, iso_from_millis, normalize
from tests.payloads import payload


def millis(*date: int, ms: int = 0) -> int:
    """``millis(2024, 2, 29, 12, ms=500)``: year, month, day[, hour, minute, second] UTC."""
    return calendar.timegm(date + (0,) * (6 - len(date))) * 1000 + ms


@pytest.mark.parametrize(
    ("epoch_ms", "expected"),
    [
        (0, "1970-01-01T00:00:00.000Z"),
        (1, "1970-01-01T00:00:00.001Z"),
        (1665778598188, "2022-10-14T20:16:38.188Z"),  # docs/architecture.md §2.1's example
        (millis(2024, 1, 1), "2024-01-01T00:00:00.000Z"),  # midnight, new year
        (millis(2024, 1, 1) - 1, "2023-12-31T23:59:59.999Z"),  # the last ms before it
        (millis(2024, 1, 1, ms=7), "2024-01-01T00:00:00.007Z"),  # ms zero-padded
        (millis(2024, 2, 29, 12, ms=500), "2024-02-29T12:00:00.500Z"),  # leap day
        (millis(2024, 3, 1) - 1, "2024-02-29T23:59:59.999Z"),
        (millis(2000, 2, 29), "2000-02-29T00:00:00.000Z"),  # divisible by 400: leap
        (millis(2100, 3, 1) - 1, "2100-02-28T23:59:59.999Z"),  # divisible by 100: no Feb 29
        (millis(2016, 12, 31, 23, 59, 59, ms=999), "2016-12-31T23:59:59.999Z"),  # a leap-second day
        (millis(2017, 1, 1), "2017-01-01T00:00:00.000Z"),  # epoch time has no :60
        (MAX_EPOCH_MILLIS, "9999-12-31T23:59:59.999Z"),
    ],
)
def test_iso_from_millis(epoch_ms: int, expected: str):
    assert iso_from_millis(epoch_ms) == expected


def test_no_float_rounding_on_large_values():
    # float(1999999999999) / 1000 is not exact; the integer path keeps every millisecond.
    for ms in range(1_999_999_999_990, 2_000_000_000_010):
        assert iso_from_millis(ms).endswith(f".{ms % 1000:03d}Z")


def test_the_record_derives_iso_timestamp_from_event_time():
    event_time = millis(2024, 2, 29, 23, 59, 59, ms=999)
    record = normalize(payload(E=event_time), received_at=event_time + 40)
    assert record.iso_timestamp == "2024-02-29T23:59:59.999Z"
