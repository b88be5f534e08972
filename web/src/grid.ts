// The grid: one card per symbol with its latest price, 24 h change, stale mark and a sparkline
// of the last 15 minutes, seeded from the history API when the card first scrolls into view and
// then fed by every newer latest price.

import { AreaSeries, type IChartApi, type ISeriesApi } from "lightweight-charts";

import {
  ApiError,
  POINTS_MINUTES,
  asPoints,
  historyPath,
  type ApiSource,
  type LatestPrice,
  type Point,
} from "./api";
import { chartTime, createSparkline, pointsToLine, priceFormatFor, themeOptions, type Theme } from "./charts";
import { plotValue, signOf, signed } from "./decimal";
import { formatClock, formatDuration, formatPercent } from "./format";
import { backoffMs, type Health } from "./health";
import { STALE_AFTER_MS, isStale } from "./stale";

const POINTS_WINDOW_MS = POINTS_MINUTES * 60_000;
/** Old points are cut in batches (one setData a minute at most, not one a second). */
const TRIM_SLACK_MS = 60_000;
/** Sparkline seeds in flight at once, so a long grid does not queue the latest poll behind them. */
const MAX_SEEDS_IN_FLIGHT = 3;

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text?: string,
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

/**
 * Sets the text and the attributes every displayed latest price carries (tests read them). No
 * flash or animation: one would keep the page rendering frames all the time, and with thousands
 * of cards every frame re-checks each card's visibility.
 */
export function showPrice(node: HTMLElement, price: LatestPrice): void {
  if (node.dataset.close === price.close_price && node.dataset.symbol === price.symbol) {
    return;
  }
  node.dataset.symbol = price.symbol;
  node.dataset.close = price.close_price;
  node.textContent = price.close_price;
}

/** The 24 h change, coloured by its sign: "+1432.15000000 +2.17%". */
export function showChange(node: HTMLElement, price: LatestPrice): void {
  const sign = signOf(price.change_24h);
  node.classList.toggle("up", sign > 0);
  node.classList.toggle("down", sign < 0);
  const arrow = sign > 0 ? "▲" : sign < 0 ? "▼" : "■";
  const text = `${arrow} ${signed(price.change_24h)} (${formatPercent(price.change_24h_percent)})`;
  if (node.textContent !== text) {
    node.textContent = text;
    node.setAttribute(
      "aria-label",
      `24 hour change ${signed(price.change_24h)}, ${formatPercent(price.change_24h_percent)}`,
    );
  }
}

/** A small limiter: at most `limit` seeds run, the rest wait their turn. */
class Limiter {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) {
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    this.running += 1;
    try {
      return await task();
    } finally {
      this.running -= 1;
      this.waiting.shift()?.();
    }
  }
}

export class SymbolCard {
  readonly element: HTMLElement;
  latest: LatestPrice | null = null;
  /** The page clock (ms) when this symbol's event_time last moved forward. */
  private advancedAt = 0;
  private stale = false;

  private readonly price: HTMLElement;
  private readonly change: HTMLElement;
  private readonly staleLabel: HTMLElement;
  private readonly age: HTMLElement;
  private readonly sparkBox: HTMLElement;

  private chart: IChartApi | null = null;
  private series: ISeriesApi<"Area"> | null = null;
  /** What the sparkline shows, oldest first; only kept once the chart exists. */
  private points: Point[] = [];
  private precision = 0;
  private direction = 0;
  private seed: "none" | "loading" | "done" = "none";
  private seedFailures = 0;
  private seedRetry: number | undefined;
  visible = false;

  constructor(
    readonly symbol: string,
    private readonly grid: Grid,
  ) {
    this.element = element("article", "card");
    this.element.dataset.symbol = symbol;
    this.element.dataset.stale = "false";

    const title = element("h2", "card-title");
    const link = element("a", "card-link", symbol);
    link.href = `#/${symbol}`;
    link.setAttribute("aria-describedby", `price-${symbol}`);
    title.append(link);

    this.price = element("p", "price");
    this.price.id = `price-${symbol}`;
    this.change = element("p", "change");
    const meta = element("p", "meta");
    this.staleLabel = element("span", "stale-label", "stale");
    this.staleLabel.hidden = true;
    this.age = element("span", "age");
    meta.append(this.staleLabel, this.age);
    this.sparkBox = element("div", "spark");

    this.element.append(title, this.price, this.change, meta, this.sparkBox);
  }

  /** A newer (or the same) latest record: text at once, the sparkline if it exists. */
  update(price: LatestPrice, now: number, live: boolean): void {
    const previous = this.latest;
    if (previous !== null && price.event_time < previous.event_time) {
      return; // an older answer (a cache's) never moves the card back in time
    }
    if (previous === null || price.event_time > previous.event_time) {
      this.advancedAt = now;
    }
    this.latest = price;
    showPrice(this.price, price);
    showChange(this.change, price);
    this.age.textContent = `${live ? "as of" : "last event"} ${formatClock(price.event_time)}`;
    this.age.title = price.iso_timestamp;
    this.appendPoint({ event_time: price.event_time, close_price: price.close_price });
  }

  get isStale(): boolean {
    return this.stale;
  }

  /** Stale when no newer event came for 30 s of this page's clock, or the server says it is old. */
  refreshStale(now: number, serverTime: number | null): void {
    if (this.latest === null) {
      return;
    }
    const stale = isStale(this.latest.event_time, this.advancedAt, now, serverTime);
    if (stale !== this.stale) {
      this.stale = stale;
      this.element.classList.toggle("stale", stale);
      this.element.dataset.stale = String(stale);
      this.staleLabel.hidden = !stale;
    }
    if (stale) {
      // The age by the page's clock, since the server's and the exchange's may differ.
      const since = Math.max(now - this.advancedAt, STALE_AFTER_MS);
      const serverAge = serverTime === null ? 0 : serverTime - this.latest.event_time;
      this.staleLabel.textContent = `stale: no update for ${formatDuration(Math.max(since, serverAge))}`;
    }
  }

  /** The card scrolled into view: create the chart and fetch its 15 minutes once. */
  show(): void {
    this.visible = true;
    if (this.chart === null) {
      this.chart = createSparkline(this.sparkBox, this.grid.theme);
      this.series = this.chart.addSeries(AreaSeries, {
        lineWidth: 2,
        priceLineVisible: false,
        lastValueVisible: false,
        crosshairMarkerVisible: false,
      });
      this.recolour();
      if (this.latest !== null) {
        this.appendPoint({ event_time: this.latest.event_time, close_price: this.latest.close_price });
      }
    }
    this.loadSeed();
  }

  hide(): void {
    this.visible = false;
  }

  applyTheme(): void {
    this.chart?.applyOptions(themeOptions(this.grid.theme));
    this.recolour();
  }

  private loadSeed(): void {
    if (this.seed !== "none" || this.seedRetry !== undefined || !this.visible) {
      return;
    }
    this.seed = "loading";
    const path = historyPath(this.symbol, POINTS_MINUTES);
    const channel = `history:${this.symbol}`;
    this.grid.limiter
      .run(() => this.grid.source.get(path))
      .then((body) => {
        const points = asPoints(path, body).points;
        this.grid.health.ok(channel);
        this.seedFailures = 0;
        this.seed = "done";
        this.merge(points);
      })
      .catch((error: unknown) => {
        if (error instanceof ApiError && error.isNotFound) {
          this.seed = "done"; // no history yet: the live points draw the line from now on
          return;
        }
        this.seed = "none";
        this.seedFailures += 1;
        const wait = backoffMs(this.seedFailures);
        this.grid.health.fail(channel, error, wait);
        this.seedRetry = window.setTimeout(() => {
          this.seedRetry = undefined;
          if (this.visible) {
            this.loadSeed();
          } else {
            this.grid.health.drop(channel); // retried when it scrolls back into view
          }
        }, wait);
      });
  }

  /** The seed's points before the first live one, then the live ones. */
  private merge(seed: readonly Point[]): void {
    const firstLive = this.points[0]?.event_time ?? Number.POSITIVE_INFINITY;
    this.points = [...seed.filter((p) => p.event_time < firstLive), ...this.points];
    this.ensurePrecision(seed.map((p) => p.close_price));
    this.trim(true);
  }

  private appendPoint(point: Point): void {
    if (this.series === null) {
      return;
    }
    const last = this.points[this.points.length - 1];
    if (last !== undefined && point.event_time <= last.event_time) {
      return;
    }
    this.points.push(point);
    this.ensurePrecision([point.close_price]);
    if (!this.trim(false)) {
      // One call: replaces the last point when in the same second, else appends a newer one.
      this.series.update({ time: chartTime(point.event_time), value: plotValue(point.close_price) });
      this.chart?.timeScale().fitContent();
    }
    this.recolour();
  }

  /** Drop points older than the window and redraw; false when nothing was old enough. */
  private trim(force: boolean): boolean {
    const newest = this.points[this.points.length - 1]?.event_time;
    const oldest = this.points[0]?.event_time;
    const cut = newest === undefined ? 0 : newest - POINTS_WINDOW_MS;
    if (!force && (oldest === undefined || oldest >= cut - TRIM_SLACK_MS)) {
      return false;
    }
    this.points = this.points.filter((p) => p.event_time >= cut);
    this.series?.setData(pointsToLine(this.points));
    this.chart?.timeScale().fitContent();
    return true;
  }

  /** Widen the axis precision when a price needs more fraction digits than shown so far. */
  private ensurePrecision(prices: readonly string[]): void {
    const format = priceFormatFor(prices);
    if (format.type === "price" && format.precision !== undefined && format.precision > this.precision) {
      this.precision = format.precision;
      this.series?.applyOptions({ priceFormat: format });
    }
  }

  /** Green area when up over 24 h, red when down. */
  private recolour(): void {
    if (this.series === null || this.latest === null) {
      return;
    }
    const direction = signOf(this.latest.change_24h);
    if (direction === this.direction && this.direction !== 0) {
      return;
    }
    this.direction = direction;
    const theme = this.grid.theme;
    const [line, fill] =
      direction > 0 ? [theme.up, theme.upFill] : direction < 0 ? [theme.down, theme.downFill] : [theme.line, theme.lineFill];
    this.series.applyOptions({ lineColor: line, topColor: fill, bottomColor: "rgba(0, 0, 0, 0)" });
  }
}

export class Grid {
  readonly limiter = new Limiter(MAX_SEEDS_IN_FLIGHT);
  private readonly cards = new Map<string, SymbolCard>();
  private readonly observer: IntersectionObserver;
  theme: Theme;

  constructor(
    private readonly container: HTMLElement,
    readonly source: ApiSource,
    readonly health: Health,
    theme: Theme,
  ) {
    this.theme = theme;
    this.observer = new IntersectionObserver(
      (entries) => {
        for (const entry of entries) {
          const symbol = (entry.target as HTMLElement).dataset.symbol;
          const card = symbol === undefined ? undefined : this.cards.get(symbol);
          if (card !== undefined) {
            if (entry.isIntersecting) {
              card.show();
            } else {
              card.hide();
            }
          }
        }
      },
      { rootMargin: "200px 0px" },
    );
  }

  get size(): number {
    return this.cards.size;
  }

  card(symbol: string): SymbolCard | undefined {
    return this.cards.get(symbol);
  }

  /** A latest answer: update every card, adding new symbols in sorted place. */
  update(prices: readonly LatestPrice[], now: number, live: boolean): void {
    for (const price of prices) {
      let card = this.cards.get(price.symbol);
      if (card === undefined) {
        card = new SymbolCard(price.symbol, this);
        this.insertSorted(card);
      }
      card.update(price, now, live);
    }
  }

  refreshStale(now: number, serverTime: number | null): void {
    for (const card of this.cards.values()) {
      card.refreshStale(now, serverTime);
    }
  }

  applyTheme(theme: Theme): void {
    this.theme = theme;
    for (const card of this.cards.values()) {
      card.applyTheme();
    }
  }

  private insertSorted(card: SymbolCard): void {
    let before: SymbolCard | undefined;
    for (const [symbol, other] of this.cards) {
      if (symbol > card.symbol && (before === undefined || symbol < before.symbol)) {
        before = other;
      }
    }
    this.cards.set(card.symbol, card);
    this.container.insertBefore(card.element, before?.element ?? null);
    this.observer.observe(card.element);
  }
}
