// The read API as docs/api.md defines it, and the two places its answers come from: the live
// server (fetch) and a snapshot embedded in the page (window.CRYPTO_LIVE_SNAPSHOT, the local
// run's report). Every decimal stays the API's string; nothing here parses a price.

// The paths and windows, shared with the local run's report (local/report.py).
import requests from "./requests.json";

/** One symbol's newest record in `GET /api/latest`. */
export interface LatestPrice {
  symbol: string;
  event_time: number;
  iso_timestamp: string;
  close_price: string;
  open_price: string;
  high_price: string;
  low_price: string;
  total_traded_volume: string;
  total_traded_quote_volume: string;
  received_at: number;
  change_24h: string;
  change_24h_percent: string | null;
}

export interface LatestResponse {
  server_time: number;
  prices: LatestPrice[];
}

export interface Point {
  event_time: number;
  close_price: string;
}

export interface PointsResponse {
  symbol: string;
  minutes: number;
  resolution: "event";
  truncated: boolean;
  points: Point[];
}

export interface Candle {
  start: number;
  open: string;
  high: string;
  low: string;
  close: string;
  first_event_time: number;
  last_event_time: number;
  events: number;
}

export interface CandlesResponse {
  symbol: string;
  minutes: number;
  resolution: "1m";
  candles: Candle[];
}

/** The window of every-event points: the sparklines and the detail view's fallback line. */
export const POINTS_MINUTES: number = requests.points_minutes;
/** The detail view's candle windows (1 h, 6 h, 24 h). */
export type CandleRange = 60 | 360 | 1440;
export const CANDLE_RANGES = requests.candle_minutes as readonly CandleRange[];

/**
 * The request paths the page builds, relative to the site root (fetched as `/` + path). They are
 * also the keys of a snapshot's `responses`, character for character:
 *   api/latest
 *   api/history?symbol=BTCUSDT&minutes=15      (every symbol: its sparkline, and the fallback line)
 *   api/history?symbol=BTCUSDT&minutes=60      (and 360, 1440: the detail view's candles)
 */
export const LATEST_PATH: string = requests.latest;

export function historyPath(symbol: string, minutes: number): string {
  return `${requests.history}?symbol=${encodeURIComponent(symbol)}&minutes=${minutes}`;
}

/** What a snapshot holds: the answers to the paths above, taken at `taken_at` (epoch ms). */
export interface Snapshot {
  taken_at: number;
  responses: Record<string, unknown>;
}

/** A request that failed. `status` is null when no HTTP answer came (network, timeout, bad JSON). */
export class ApiError extends Error {
  constructor(
    readonly path: string,
    readonly status: number | null,
    readonly reason: string,
  ) {
    super(`${reason} on ${path}`);
    this.name = "ApiError";
  }

  /** A 404 means "no data for this symbol or window", an answer rather than an outage. */
  get isNotFound(): boolean {
    return this.status === 404;
  }
}

export interface ApiSource {
  get(path: string): Promise<unknown>;
}

/** A request that has not answered in this long counts as failed, so polling never hangs. */
const REQUEST_TIMEOUT_MS = 10_000;

export class HttpSource implements ApiSource {
  async get(path: string): Promise<unknown> {
    const controller = new AbortController();
    const timer = window.setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
    let response: Response;
    try {
      // no-cache: revalidate each poll; the API's own max-age lets a CDN answer for everyone.
      response = await fetch(`/${path}`, {
        headers: { Accept: "application/json" },
        cache: "no-cache",
        signal: controller.signal,
      });
    } catch {
      window.clearTimeout(timer);
      const timedOut = controller.signal.aborted;
      throw new ApiError(path, null, timedOut ? "no answer within 10 s" : "network error");
    }
    let text: string;
    try {
      text = await response.text();
    } catch {
      throw new ApiError(path, null, "connection lost while reading the answer");
    } finally {
      window.clearTimeout(timer);
    }
    if (!response.ok) {
      throw new ApiError(path, response.status, `HTTP ${response.status}${errorDetail(text)}`);
    }
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new ApiError(path, response.status, "an answer that is not JSON");
    }
  }
}

/** The API's `{"error": "..."}` body, shortened, for the banner. */
function errorDetail(text: string): string {
  try {
    const body: unknown = JSON.parse(text);
    if (isObject(body) && typeof body.error === "string" && body.error !== "") {
      const message = body.error.length > 120 ? `${body.error.slice(0, 117)}...` : body.error;
      return ` (${message})`;
    }
  } catch {
    // not JSON: the status alone says enough
  }
  return "";
}

export class SnapshotSource implements ApiSource {
  constructor(readonly snapshot: Snapshot) {}

  get(path: string): Promise<unknown> {
    if (Object.prototype.hasOwnProperty.call(this.snapshot.responses, path)) {
      return Promise.resolve(this.snapshot.responses[path]);
    }
    return Promise.reject(new ApiError(path, 404, "not in the snapshot"));
  }
}

/** The snapshot the report writer set before app.js ran, if any; throws when it is malformed. */
export function embeddedSnapshot(): Snapshot | null {
  const value: unknown = (window as unknown as { CRYPTO_LIVE_SNAPSHOT?: unknown }).CRYPTO_LIVE_SNAPSHOT;
  if (value === undefined) {
    return null;
  }
  if (!isObject(value) || !isEpochMs(value.taken_at) || !isObject(value.responses)) {
    throw new Error("window.CRYPTO_LIVE_SNAPSHOT is not {taken_at: <epoch ms>, responses: {...}}");
  }
  return { taken_at: value.taken_at, responses: value.responses };
}

// --- shape checks: an answer the page cannot read counts as a failed request -----------------

const DECIMAL = /^-?\d+(\.\d+)?$/;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isEpochMs(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

function isDecimal(value: unknown): value is string {
  return typeof value === "string" && DECIMAL.test(value);
}

function isLatestPrice(value: unknown): value is LatestPrice {
  return (
    isObject(value) &&
    typeof value.symbol === "string" &&
    /^[A-Z0-9]{1,32}$/.test(value.symbol) &&
    isEpochMs(value.event_time) &&
    isDecimal(value.close_price) &&
    isDecimal(value.open_price) &&
    isDecimal(value.high_price) &&
    isDecimal(value.low_price) &&
    isDecimal(value.total_traded_volume) &&
    isDecimal(value.total_traded_quote_volume) &&
    isDecimal(value.change_24h) &&
    (value.change_24h_percent === null || isDecimal(value.change_24h_percent))
  );
}

function isPoint(value: unknown): value is Point {
  return isObject(value) && isEpochMs(value.event_time) && isDecimal(value.close_price);
}

function isCandle(value: unknown): value is Candle {
  return (
    isObject(value) &&
    isEpochMs(value.start) &&
    isDecimal(value.open) &&
    isDecimal(value.high) &&
    isDecimal(value.low) &&
    isDecimal(value.close) &&
    isEpochMs(value.last_event_time)
  );
}

export function asLatest(path: string, body: unknown): LatestResponse {
  if (isObject(body) && isEpochMs(body.server_time) && Array.isArray(body.prices)) {
    if (body.prices.every(isLatestPrice)) {
      return { server_time: body.server_time, prices: body.prices };
    }
  }
  throw new ApiError(path, null, "an answer not shaped as docs/api.md says");
}

export function asPoints(path: string, body: unknown): PointsResponse {
  if (isObject(body) && body.resolution === "event" && Array.isArray(body.points)) {
    if (body.points.every(isPoint)) {
      return body as unknown as PointsResponse;
    }
  }
  throw new ApiError(path, null, "an answer not shaped as docs/api.md says");
}

export function asCandles(path: string, body: unknown): CandlesResponse {
  if (isObject(body) && body.resolution === "1m" && Array.isArray(body.candles)) {
    if (body.candles.every(isCandle)) {
      return body as unknown as CandlesResponse;
    }
  }
  throw new ApiError(path, null, "an answer not shaped as docs/api.md says");
}
