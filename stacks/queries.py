"""Athena named queries over the derived curated tables (candles_1m, coverage).

Plain SQL with a ``{database}`` placeholder (``str.format``); the tables' names come from
``miniticker.catalog``. Values are Athena execution parameters (``?``, bound in order), so
neither a symbol nor a time is ever pasted into the SQL.
"""

from miniticker import catalog

CANDLES_QUERY = f"""-- 1-minute OHLC of one symbol over a time range, from the candles table;
-- run with five execution parameters: the symbol, the start and the end as
-- 'YYYY-MM-DD HH:MM:SS' (UTC), then the start and the end again (they choose the dt
-- partitions read).
SELECT minute, open, high, low, close, events, first_event_time, last_event_time
FROM "{{database}}"."{catalog.CANDLES_TABLE}"
WHERE symbol = ?
  AND minute >= CAST(? AS timestamp) AND minute < CAST(? AS timestamp)
  AND dt BETWEEN date_format(CAST(? AS timestamp), '%Y-%m-%d')
             AND date_format(CAST(? AS timestamp), '%Y-%m-%d')
ORDER BY minute
"""

GAPS_QUERY = f"""-- Where data is missing: each interval longer than the silence threshold
-- in which a symbol had no event, over the UTC hours of a time range; run with five execution
-- parameters: the symbol, the start and the end as 'YYYY-MM-DD HH:MM:SS' (UTC), then the
-- start and the end again (they choose the dt partitions read). Gaps inside an hour come
-- from its silences; a gap across hours (hours without any event have no row) runs from the
-- last event of one hour with events to the first event of the next; the range's first and
-- last hours add their leading and trailing edges.
WITH hours AS (
  SELECT symbol, hour, first_event_time, last_event_time, silence_threshold_ms, silences,
         lag(last_event_time) OVER (PARTITION BY symbol ORDER BY hour) AS previous_last,
         lead(hour) OVER (PARTITION BY symbol ORDER BY hour) AS next_hour
  FROM "{{database}}"."{catalog.COVERAGE_TABLE}"
  WHERE symbol = ?
    AND hour >= date_trunc('hour', CAST(? AS timestamp)) AND hour < CAST(? AS timestamp)
    AND dt BETWEEN date_format(CAST(? AS timestamp), '%Y-%m-%d')
               AND date_format(CAST(? AS timestamp), '%Y-%m-%d')
),
gaps AS (
  -- between two events of the same hour
  SELECT symbol, s.start AS gap_start, date_add('millisecond', s.length_ms, s.start) AS gap_end,
         silence_threshold_ms
  FROM hours CROSS JOIN UNNEST(silences) AS s(start, length_ms)
  WHERE s.start >= first_event_time AND s.start < last_event_time
  UNION ALL
  -- before the hour's first event: from the previous hour with events (or the hour's start)
  SELECT symbol, coalesce(previous_last, hour), first_event_time, silence_threshold_ms
  FROM hours
  UNION ALL
  -- after the last hour's last event, to that hour's end
  SELECT symbol, last_event_time, date_add('hour', 1, hour), silence_threshold_ms
  FROM hours
  WHERE next_hour IS NULL
)
SELECT symbol, gap_start, gap_end, date_diff('millisecond', gap_start, gap_end) AS length_ms
FROM gaps
WHERE date_diff('millisecond', gap_start, gap_end) > silence_threshold_ms
ORDER BY symbol, gap_start
"""
