// The detail view of one symbol (#/BTCUSDT): 1-minute candles over 1 h, 6 h or 24 h with the
// hovered candle's values, refreshed every 10 s and its last candle moved by every latest price.
// While the window has fewer than 2 candles (a fresh run) every event of the last 15 minutes is
// drawn as a line below, so a person sees something at once.

import {
  CandlestickSeries,
  LineSeries,
  type CandlestickData,
  type IChartApi,
  type ISeriesApi,
  type MouseEventParams,
  type Time,
  type UTCTimestamp,
} from "lightweight-charts";

import {
  ApiError,
  CANDLE_RANGES,
  POINTS_MINUTES,
  asCandles,
  asPoints,
  historyPath,
  type ApiSource,
  type Candle,
  type CandleRange,
  type LatestPrice,
  type Point,
} from "./api";
import {
  chartTime,
  createDetailChart,
  pointsToLine,
  priceFormatFor,
  themeOptions,
  type Theme,
} from "./charts";
import { compareDecimal, maxDecimal, minDecimal, plotValue } from "./decimal";
import { formatDateTime, formatDuration } from "./format";
import { showChange, showPrice } from "./grid";
import { backoffMs, type Health } from "./health";

/** How often the open view re-reads its window (closed candles never change; the API caches 10 s). */
const REFRESH_MS = 10_000;
const CHANNEL = "detail";
const RANGE_LABELS: Record<CandleRange, string> = { 60: "1 h", 360: "6 h", 1440: "24 h" };

function byId<T extends HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (node === null) {
    throw new Error(`index.html has no #${id}`);
  }
  return node as T;
}

function bar(candle: Candle): CandlestickData<UTCTimestamp> {
  return {
    time: chartTime(candle.start),
    open: plotValue(candle.open),
    high: plotValue(candle.high),
    low: plotValue(candle.low),
    close: plotValue(candle.close),
  };
}

export interface DetailContext {
  source: ApiSource;
  health: Health;
  live: boolean;
  theme: Theme;
}

export class DetailView {
  symbol: string | null = null;
  private range: CandleRange = 60;

  private readonly section = byId<HTMLElement>("detail");
  private readonly title = byId<HTMLElement>("detail-title");
  private readonly price = byId<HTMLElement>("detail-price");
  private readonly change = byId<HTMLElement>("detail-change");
  private readonly staleLabel = byId<HTMLElement>("detail-stale");
  private readonly stats = byId<HTMLElement>("detail-stats");
  private readonly legend = byId<HTMLElement>("detail-legend");
  private readonly note = byId<HTMLElement>("detail-note");
  private readonly chartBox = byId<HTMLElement>("detail-chart");
  private readonly pointsSection = byId<HTMLElement>("detail-points-section");
  private readonly pointsBox = byId<HTMLElement>("detail-points");
  private readonly rangeButtons: HTMLButtonElement[];

  private chart: IChartApi | null = null;
  private candleSeries: ISeriesApi<"Candlestick"> | null = null;
  private pointsChart: IChartApi | null = null;
  private lineSeries: ISeriesApi<"Line"> | null = null;

  /** The window's candles as the API's strings, oldest first, and by chart time for the legend. */
  private candles: Candle[] = [];
  private readonly byTime = new Map<number, Candle>();
  private points: Point[] | null = null;
  private loaded = false;
  private hovered: Candle | null = null;
  /** Bumped on every open, close and range change: answers to an older request are dropped. */
  private generation = 0;
  private timer: number | undefined;
  private failures = 0;

  constructor(private readonly context: DetailContext) {
    this.rangeButtons = [...this.section.querySelectorAll<HTMLButtonElement>("button[data-minutes]")];
    for (const button of this.rangeButtons) {
      button.addEventListener("click", () => {
        const minutes = Number(button.dataset.minutes);
        const range = CANDLE_RANGES.find((r) => r === minutes);
        if (range !== undefined && range !== this.range) {
          this.range = range;
          this.pressRange();
          this.reload();
        }
      });
    }
    this.pressRange();
  }

  get isOpen(): boolean {
    return this.symbol !== null;
  }

  open(symbol: string, latest: LatestPrice | null, stale: boolean): void {
    this.symbol = symbol;
    this.section.hidden = false;
    this.section.dataset.symbol = symbol;
    this.title.textContent = symbol;
    document.title = `${symbol} · crypto-live`;
    this.price.textContent = "…";
    delete this.price.dataset.close;
    this.price.dataset.symbol = symbol;
    this.change.textContent = "";
    this.stats.replaceChildren();
    this.ensureCharts();
    if (latest !== null) {
      this.onLatest(latest, stale);
    }
    this.reload();
  }

  close(): void {
    this.symbol = null;
    this.generation += 1;
    window.clearTimeout(this.timer);
    this.context.health.drop(CHANNEL);
    this.section.hidden = true;
    delete this.section.dataset.symbol;
    document.title = "crypto-live · live prices";
  }

  applyTheme(theme: Theme): void {
    this.context.theme = theme;
    this.chart?.applyOptions(themeOptions(theme));
    this.pointsChart?.applyOptions(themeOptions(theme));
    this.colourSeries();
  }

  /** Every latest answer for the open symbol: header, stats, the last candle and the line. */
  onLatest(price: LatestPrice, stale: boolean): void {
    if (price.symbol !== this.symbol) {
      return;
    }
    showPrice(this.price, price);
    showChange(this.change, price);
    this.setStale(stale);
    this.showStats(price);
    if (!this.loaded) {
      return;
    }
    this.moveLastCandle(price);
    this.appendPoint({ event_time: price.event_time, close_price: price.close_price });
  }

  setStale(stale: boolean): void {
    this.section.classList.toggle("stale", stale);
    this.section.dataset.stale = String(stale);
    this.staleLabel.hidden = !stale;
  }

  private pressRange(): void {
    for (const button of this.rangeButtons) {
      button.setAttribute("aria-pressed", String(Number(button.dataset.minutes) === this.range));
    }
  }

  private showStats(price: LatestPrice): void {
    const rows: [string, string][] = [
      ["24 h open", price.open_price],
      ["24 h high", price.high_price],
      ["24 h low", price.low_price],
      ["24 h volume", price.total_traded_volume],
      ["24 h quote volume", price.total_traded_quote_volume],
      ["last event", formatDateTime(price.event_time)],
    ];
    const nodes = rows.flatMap(([label, value]) => {
      const wrap = document.createElement("div");
      const dt = document.createElement("dt");
      const dd = document.createElement("dd");
      dt.textContent = label;
      dd.textContent = value;
      wrap.append(dt, dd);
      return [wrap];
    });
    this.stats.replaceChildren(...nodes);
  }

  private ensureCharts(): void {
    if (this.chart !== null) {
      return;
    }
    const theme = this.context.theme;
    this.chart = createDetailChart(this.chartBox, theme);
    this.candleSeries = this.chart.addSeries(CandlestickSeries, { priceLineVisible: true });
    this.chart.subscribeCrosshairMove((param: MouseEventParams<Time>) => {
      const time = param.time;
      this.hovered = typeof time === "number" ? (this.byTime.get(time) ?? null) : null;
      this.showLegend();
    });
    this.pointsChart = createDetailChart(this.pointsBox, theme);
    this.pointsChart.applyOptions({ timeScale: { secondsVisible: true } });
    this.lineSeries = this.pointsChart.addSeries(LineSeries, { lineWidth: 2 });
    this.colourSeries();
  }

  private colourSeries(): void {
    const theme = this.context.theme;
    this.candleSeries?.applyOptions({
      upColor: theme.up,
      downColor: theme.down,
      wickUpColor: theme.up,
      wickDownColor: theme.down,
      borderVisible: false,
    });
    this.lineSeries?.applyOptions({ color: theme.line });
  }

  /** Load the window from scratch (open, range change) and then every REFRESH_MS. */
  private reload(): void {
    this.generation += 1;
    this.loaded = false;
    this.failures = 0;
    this.candles = [];
    this.byTime.clear();
    this.points = null;
    this.hovered = null;
    this.candleSeries?.setData([]);
    this.lineSeries?.setData([]);
    this.pointsSection.hidden = true;
    this.legend.textContent = "";
    this.note.textContent = `Loading the last ${RANGE_LABELS[this.range]} of candles…`;
    void this.refresh();
  }

  private async refresh(): Promise<void> {
    window.clearTimeout(this.timer);
    const symbol = this.symbol;
    if (symbol === null) {
      return;
    }
    const generation = this.generation;
    const candlesPath = historyPath(symbol, this.range);
    const pointsPath = historyPath(symbol, POINTS_MINUTES);
    try {
      const candles = await this.getOrEmpty(candlesPath, (body) => asCandles(candlesPath, body).candles);
      // The line only matters while there are too few candles to look at.
      const points =
        candles.length < 2
          ? await this.getOrEmpty(pointsPath, (body) => asPoints(pointsPath, body).points)
          : null;
      if (generation !== this.generation) {
        return;
      }
      this.context.health.ok(CHANNEL);
      this.failures = 0;
      this.draw(candles, points);
      this.schedule(REFRESH_MS);
    } catch (error) {
      if (generation !== this.generation) {
        return;
      }
      this.failures += 1;
      const wait = backoffMs(this.failures);
      this.context.health.fail(CHANNEL, error, wait);
      if (!this.loaded) {
        this.note.textContent = `Could not load the candles; trying again in ${formatDuration(wait)}.`;
      }
      this.schedule(wait);
    }
  }

  private schedule(ms: number): void {
    if (this.context.live && this.symbol !== null) {
      this.timer = window.setTimeout(() => void this.refresh(), ms);
    }
  }

  /** A 404 is "no data for this symbol or window yet": an empty answer, not an outage. */
  private async getOrEmpty<T>(path: string, read: (body: unknown) => T[]): Promise<T[]> {
    try {
      return read(await this.context.source.get(path));
    } catch (error) {
      if (error instanceof ApiError && error.isNotFound) {
        return [];
      }
      throw error;
    }
  }

  private draw(candles: Candle[], points: Point[] | null): void {
    // The first draw of a window shows all of it; later refreshes keep the reader's zoom.
    const first = !this.loaded;
    this.loaded = true;
    this.candles = candles;
    this.byTime.clear();
    for (const candle of candles) {
      this.byTime.set(chartTime(candle.start), candle);
    }
    const format = priceFormatFor(candles.flatMap((c) => [c.open, c.high, c.low, c.close]));
    this.candleSeries?.applyOptions({ priceFormat: format });
    this.candleSeries?.setData(candles.map(bar));
    if (first) {
      this.chart?.timeScale().fitContent();
    }
    this.points = points;
    if (points !== null) {
      this.lineSeries?.applyOptions({ priceFormat: priceFormatFor(points.map((p) => p.close_price)) });
      this.lineSeries?.setData(pointsToLine(points));
      this.pointsChart?.timeScale().fitContent();
    }
    this.showFallback();
    this.showLegend();
  }

  private showFallback(): void {
    const few = this.candles.length < 2;
    this.pointsSection.hidden = !few || this.points === null;
    const label = RANGE_LABELS[this.range];
    if (this.candles.length === 0) {
      this.note.textContent =
        this.points !== null && this.points.length > 0
          ? `No complete candle in the last ${label} yet; every event of the last ${POINTS_MINUTES} minutes is drawn below.`
          : `No data for ${this.symbol ?? ""} in the last ${label}.`;
    } else if (few) {
      this.note.textContent = `Only one candle in the last ${label} so far; every event of the last ${POINTS_MINUTES} minutes is drawn below.`;
    } else {
      this.note.textContent = `${this.candles.length} one-minute candles over the last ${label}.`;
    }
  }

  /** The hovered candle's values, or the newest candle's when the pointer is elsewhere. */
  private showLegend(): void {
    const candle = this.hovered ?? this.candles[this.candles.length - 1];
    if (candle === undefined) {
      this.legend.textContent = "";
      return;
    }
    const parts: [string, string][] = [
      ["O", candle.open],
      ["H", candle.high],
      ["L", candle.low],
      ["C", candle.close],
    ];
    const time = document.createElement("time");
    time.dateTime = new Date(candle.start).toISOString();
    time.textContent = formatDateTime(candle.start).replace(/:00$/, "");
    const nodes: Node[] = [time];
    for (const [label, value] of parts) {
      const item = document.createElement("span");
      item.className = "ohlc";
      const name = document.createElement("abbr");
      name.title = { O: "open", H: "high", L: "low", C: "close" }[label] ?? label;
      name.textContent = label;
      item.append(name, ` ${value}`);
      nodes.push(item);
    }
    const count = document.createElement("span");
    count.className = "events";
    count.textContent = `${candle.events} event${candle.events === 1 ? "" : "s"}`;
    nodes.push(count);
    this.legend.dataset.start = String(candle.start);
    this.legend.replaceChildren(...nodes);
  }

  /** The newest event moves the open candle (or opens the next minute's) between refreshes. */
  private moveLastCandle(price: LatestPrice): void {
    const last = this.candles[this.candles.length - 1];
    if (last !== undefined && price.event_time <= last.last_event_time) {
      return;
    }
    const minute = Math.floor(price.event_time / 60_000) * 60_000;
    const close = price.close_price;
    let candle: Candle;
    if (last === undefined || minute > last.start) {
      candle = {
        start: minute,
        open: close,
        high: close,
        low: close,
        close,
        first_event_time: price.event_time,
        last_event_time: price.event_time,
        events: 1,
      };
      this.candles.push(candle);
      this.byTime.set(chartTime(minute), candle);
    } else if (minute === last.start) {
      candle = {
        ...last,
        high: maxDecimal(last.high, close),
        low: minDecimal(last.low, close),
        close,
        last_event_time: price.event_time,
        events: last.events + 1,
      };
      this.candles[this.candles.length - 1] = candle;
      this.byTime.set(chartTime(minute), candle);
    } else {
      return; // an event of an earlier minute: the next refresh has it
    }
    if (compareDecimal(candle.high, candle.low) < 0) {
      return; // cannot happen with valid strings; never hand the chart an inverted bar
    }
    this.candleSeries?.update(bar(candle));
    if (this.hovered === null || this.hovered.start === candle.start) {
      this.hovered = null;
      this.showLegend();
    }
    this.showFallback();
  }

  private appendPoint(point: Point): void {
    if (this.points === null) {
      return;
    }
    const last = this.points[this.points.length - 1];
    if (last !== undefined && point.event_time <= last.event_time) {
      return;
    }
    this.points.push(point);
    this.lineSeries?.update({ time: chartTime(point.event_time), value: plotValue(point.close_price) });
    if (!this.pointsSection.hidden) {
      this.pointsChart?.timeScale().fitContent();
    }
  }
}

