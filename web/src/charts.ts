// Everything the page asks of lightweight-charts: the shared look (read from the CSS custom
// properties, so one stylesheet decides the colours), time conversion and per-second points.

import {
  ColorType,
  CrosshairMode,
  TickMarkType,
  createChart,
  isUTCTimestamp,
  type ChartOptions,
  type DeepPartial,
  type IChartApi,
  type LineData,
  type PriceFormat,
  type Time,
  type UTCTimestamp,
} from "lightweight-charts";

import type { Point } from "./api";
import { plotValue, significantFractionDigits } from "./decimal";
import { formatClock, formatDateTime } from "./format";

export interface Theme {
  text: string;
  muted: string;
  grid: string;
  border: string;
  up: string;
  down: string;
  line: string;
  upFill: string;
  downFill: string;
  lineFill: string;
  font: string;
}

function cssVar(style: CSSStyleDeclaration, name: string): string {
  return style.getPropertyValue(name).trim();
}

/** The colours of the current colour scheme, as app.css defines them. */
export function readTheme(): Theme {
  const root = getComputedStyle(document.documentElement);
  return {
    text: cssVar(root, "--text"),
    muted: cssVar(root, "--muted"),
    grid: cssVar(root, "--grid"),
    border: cssVar(root, "--border"),
    up: cssVar(root, "--up"),
    down: cssVar(root, "--down"),
    line: cssVar(root, "--accent"),
    upFill: cssVar(root, "--up-fill"),
    downFill: cssVar(root, "--down-fill"),
    lineFill: cssVar(root, "--accent-fill"),
    font: getComputedStyle(document.body).fontFamily,
  };
}

/** Seconds since the epoch, the chart's time unit: several events in one second share a time. */
export function chartTime(epochMs: number): UTCTimestamp {
  return Math.floor(epochMs / 1000) as UTCTimestamp;
}

function timeMs(time: Time): number {
  return isUTCTimestamp(time) ? time * 1000 : NaN;
}

/** Points as a line, keeping the last event of each second (times must strictly increase). */
export function pointsToLine(points: readonly Point[]): LineData<UTCTimestamp>[] {
  const bySecond = new Map<number, Point>();
  for (const point of points) {
    const second = chartTime(point.event_time);
    const kept = bySecond.get(second);
    if (kept === undefined || point.event_time >= kept.event_time) {
      bySecond.set(second, point);
    }
  }
  return [...bySecond.entries()]
    .sort(([a], [b]) => a - b)
    .map(([second, point]) => ({ time: second as UTCTimestamp, value: plotValue(point.close_price) }));
}

/**
 * The axis precision a symbol's prices need: 2 for BTC's cents, up to the contract's 8 for a
 * coin priced in millionths, so the axis never rounds a small price to 0.00.
 */
export function priceFormatFor(prices: Iterable<string>): PriceFormat {
  let precision = 2;
  for (const price of prices) {
    precision = Math.max(precision, Math.min(8, significantFractionDigits(price)));
  }
  return { type: "price", precision, minMove: 10 ** -precision };
}

function baseOptions(theme: Theme): DeepPartial<ChartOptions> {
  return {
    autoSize: true,
    layout: {
      background: { type: ColorType.Solid, color: "transparent" },
      textColor: theme.text,
      fontFamily: theme.font,
      // The licence asks for a link to TradingView: the logo on the detail chart (the default)
      // and the footer's notice and link on every view.
      attributionLogo: true,
    },
    localization: {
      // Times in the reader's own zone; the API's times are UTC epoch milliseconds.
      timeFormatter: (time: Time) => formatDateTime(timeMs(time)),
    },
  };
}

/** A card's sparkline: no axes, no crosshair, no scrolling; the card itself is the link. */
export function createSparkline(container: HTMLElement, theme: Theme): IChartApi {
  const base = baseOptions(theme);
  return createChart(container, {
    ...base,
    // A logo over every card's small chart would hide part of the line; the page's footer
    // carries the attribution for the sparklines.
    layout: { ...base.layout, attributionLogo: false },
    grid: { vertLines: { visible: false }, horzLines: { visible: false } },
    rightPriceScale: { visible: false },
    leftPriceScale: { visible: false },
    timeScale: { visible: false, borderVisible: false },
    crosshair: {
      mode: CrosshairMode.Hidden,
      vertLine: { visible: false, labelVisible: false },
      horzLine: { visible: false, labelVisible: false },
    },
    handleScroll: false,
    handleScale: false,
  });
}

/** The detail view's charts: price axis, local-time axis, crosshair. */
export function createDetailChart(container: HTMLElement, theme: Theme): IChartApi {
  const base = baseOptions(theme);
  return createChart(container, {
    ...base,
    grid: { vertLines: { color: theme.grid }, horzLines: { color: theme.grid } },
    rightPriceScale: { borderColor: theme.border },
    timeScale: {
      borderColor: theme.border,
      timeVisible: true,
      secondsVisible: false,
      // A fresh run's one or two candles stay candle-shaped instead of filling the chart.
      maxBarSpacing: 40,
      tickMarkFormatter: (time: Time, type: TickMarkType) => {
        const ms = timeMs(time);
        return type === TickMarkType.Time || type === TickMarkType.TimeWithSeconds
          ? formatClock(ms, type === TickMarkType.TimeWithSeconds)
          : new Date(ms).toLocaleDateString(undefined, { month: "short", day: "numeric" });
      },
    },
    crosshair: { mode: CrosshairMode.Normal },
  });
}

/** Re-colour charts when the reader switches between light and dark. */
export function themeOptions(theme: Theme): DeepPartial<ChartOptions> {
  return {
    layout: { textColor: theme.text, fontFamily: theme.font },
    grid: { vertLines: { color: theme.grid }, horzLines: { color: theme.grid } },
    rightPriceScale: { borderColor: theme.border },
    timeScale: { borderColor: theme.border },
  };
}
