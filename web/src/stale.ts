// When a symbol's price stops being news: one rule for the cards and the detail view.

/** No newer event for this long (by either clock) marks a symbol stale. */
export const STALE_AFTER_MS = 30_000;

/**
 * Stale when this page has seen no newer event_time for STALE_AFTER_MS of its own clock
 * (`advancedAt` is when it last moved), or when the latest answer's server_time is more than
 * STALE_AFTER_MS past the event: the first catches a feed that stopped while the page watched,
 * the second one that had stopped before the page opened.
 */
export function isStale(eventTime: number, advancedAt: number, now: number, serverTime: number | null): boolean {
  return now - advancedAt > STALE_AFTER_MS || (serverTime !== null && serverTime - eventTime > STALE_AFTER_MS);
}
