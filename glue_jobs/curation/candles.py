"""The ``candles_1m`` table: one-minute OHLC of close_price, derived from a symbol's events.

A row a UTC minute of event time that has events; a minute without events has no row (the
coverage table says where events are missing). Prices stay exact decimals: no float on the way.
Columns: ``miniticker.catalog.CANDLES_COLUMNS``, which a test checks `CANDLES_SCHEMA` against.
"""

import pyarrow as pa
import pyarrow.compute as pc

from .schemas import DECIMAL_TYPE as _DECIMAL
from .schemas import TIMESTAMP_TYPE as _TIMESTAMP

#: The Parquet file's columns (the partition keys dt and symbol are in its path).
CANDLES_SCHEMA = pa.schema([
    ("minute", _TIMESTAMP),
    ("open", _DECIMAL),
    ("high", _DECIMAL),
    ("low", _DECIMAL),
    ("close", _DECIMAL),
    ("first_event_time", _TIMESTAMP),
    ("last_event_time", _TIMESTAMP),
    ("events", pa.int64()),
])


def in_event_order(events: pa.Table) -> pa.Table:
    """The events sorted by event_time: as given when they already are (the usual case, checked
    in one pass), else stably sorted, so first and last never depend on the caller's order."""
    times = events["event_time"]
    if len(times) < 2 or pc.all(pc.less_equal(times[:-1], times[1:])).as_py():
        return events
    return events.take(pc.sort_indices(events, [("event_time", "ascending")]))


def candles(events: pa.Table) -> pa.Table:
    """One row a UTC minute of the events' event_time, sorted by minute.

    ``events``: one symbol's rows with at least ``event_time`` (timestamp ms, UTC) and
    ``close_price`` (decimal128(38, 8)). Open and close are the close_price of the minute's first
    and last event in event-time order; Arrow's hash "first"/"last" take no decimals, so they
    are found as the minute's smallest and largest row number.
    """
    if events.num_rows == 0:
        return CANDLES_SCHEMA.empty_table()
    events = in_event_order(events)
    times = events["event_time"]
    prices = events["close_price"]
    # Floored without a time zone: the values are UTC already, and no time zone database is
    # needed where the job runs.
    naive = pc.cast(times, pa.timestamp("ms"))
    minutes = pc.cast(pc.floor_temporal(naive, unit="minute"), _TIMESTAMP)
    rows = pa.table({"minute": minutes, "row": pa.array(range(events.num_rows), pa.int64()),
                     "close_price": prices, "event_time": times})
    grouped = rows.group_by("minute").aggregate([
        ("row", "min"), ("row", "max"), ("close_price", "max"), ("close_price", "min"),
        ("event_time", "min"), ("event_time", "max"), ("row", "count"),
    ]).sort_by("minute")
    first, last = grouped["row_min"], grouped["row_max"]
    return pa.Table.from_arrays(
        [grouped["minute"], prices.take(first), grouped["close_price_max"],
         grouped["close_price_min"], prices.take(last), grouped["event_time_min"],
         grouped["event_time_max"], grouped["row_count"]],
        schema=CANDLES_SCHEMA)
