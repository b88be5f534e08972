"""The ``coverage`` table: for a symbol and UTC hour of event time, how many events and where
none arrived for longer than a threshold (the hour's silences).

A silence is an interval inside the hour with no event, strictly longer than the threshold:
from the hour's start to the first event, between two consecutive events (its start is the
earlier event), or from the last event to the hour's end. An hour without events has no row;
its neighbours' edge silences show where the hole starts and ends.
Columns: ``miniticker.catalog.COVERAGE_COLUMNS``, which a test checks `COVERAGE_SCHEMA` against.
"""

import pyarrow as pa
import pyarrow.compute as pc

from .schemas import MILLIS_PER_HOUR
from .schemas import TIMESTAMP_TYPE as _TIMESTAMP

DEFAULT_SILENCE_SECONDS = 10  # the job's --silence-seconds default

SILENCE_TYPE = pa.struct([("start", _TIMESTAMP), ("length_ms", pa.int64())])

#: The Parquet file's columns (the partition keys dt and symbol are in its path).
COVERAGE_SCHEMA = pa.schema([
    ("hour", _TIMESTAMP),
    ("events", pa.int64()),
    ("first_event_time", _TIMESTAMP),
    ("last_event_time", _TIMESTAMP),
    ("silence_threshold_ms", pa.int64()),
    ("silences", pa.list_(SILENCE_TYPE)),
])


def coverage(events: pa.Table, hour_start_ms: int, threshold_ms: int) -> pa.Table:
    """The one coverage row of one symbol's events in the UTC hour starting at ``hour_start_ms``
    (epoch ms). ValueError for no events or an event outside the hour (the caller grouped the
    rows wrongly), an hour start that is not on the hour, or a negative threshold."""
    if hour_start_ms % MILLIS_PER_HOUR:
        raise ValueError(f"hour start {hour_start_ms} ms is not at the start of a UTC hour")
    if threshold_ms < 0:
        raise ValueError(f"silence threshold {threshold_ms} ms is negative")
    if events.num_rows == 0:
        raise ValueError("no events: an hour without events has no coverage row")
    column = events["event_time"]
    if column.null_count:
        raise ValueError("an event without event_time")
    # Integers from here on: the milliseconds are UTC already.
    unsorted = column.combine_chunks().cast(pa.int64())
    times = unsorted.take(pc.array_sort_indices(unsorted))
    first, last = times[0].as_py(), times[-1].as_py()
    hour_end_ms = hour_start_ms + MILLIS_PER_HOUR
    if first < hour_start_ms or last >= hour_end_ms:
        outside = first if first < hour_start_ms else last
        raise ValueError(f"event at {outside} ms is outside the hour "
                         f"[{hour_start_ms}, {hour_end_ms}) ms")
    # Every interval without events: the hour's start and each event open one, each event and
    # the hour's end close one.
    starts = pa.concat_arrays([pa.array([hour_start_ms], pa.int64()), times])
    ends = pa.concat_arrays([times, pa.array([hour_end_ms], pa.int64())])
    lengths = pc.subtract(ends, starts)
    silent = pc.greater(lengths, threshold_ms)
    silences = pa.StructArray.from_arrays(
        [starts.filter(silent).cast(_TIMESTAMP), lengths.filter(silent)],
        fields=list(SILENCE_TYPE))
    return pa.Table.from_arrays(
        [pa.array([hour_start_ms], pa.int64()).cast(_TIMESTAMP),
         pa.array([len(times)], pa.int64()),
         pa.array([first], pa.int64()).cast(_TIMESTAMP),
         pa.array([last], pa.int64()).cast(_TIMESTAMP),
         pa.array([threshold_ms], pa.int64()),
         pa.ListArray.from_arrays(pa.array([0, len(silences)], pa.int32()), silences,
                                  type=COVERAGE_SCHEMA.field("silences").type)],
        schema=COVERAGE_SCHEMA)
