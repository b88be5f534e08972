// The price page: polls GET /api/latest every second (backing off while it fails), keeps the grid
// and the open detail view current, marks what went stale, and says how fresh the page is. With
// window.CRYPTO_LIVE_SNAPSHOT set (the local run's report) it renders the snapshot once instead.

import {
  HttpSource,
  LATEST_PATH,
  SnapshotSource,
  asLatest,
  embeddedSnapshot,
  type ApiSource,
  type LatestResponse,
  type Snapshot,
} from "./api";
import { readTheme } from "./charts";
import { DetailView } from "./detail";
import { formatDateTime, formatDuration } from "./format";
import { Grid } from "./grid";
import { Health, backoffMs } from "./health";

const POLL_MS = 1_000;
/** The status line turns to a warning when the last good answer is older than this. */
const LAGGING_MS = 5_000;
const SYMBOL_HASH = /^#\/([A-Z0-9]{1,32})$/;

function byId<T extends HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (node === null) {
    throw new Error(`index.html has no #${id}`);
  }
  return node as T;
}

class App {
  private readonly live: boolean;
  private readonly source: ApiSource;
  private readonly health: Health;
  private readonly grid: Grid;
  private readonly detail: DetailView;
  private readonly gridSection = byId<HTMLElement>("grid-section");
  private readonly empty = byId<HTMLElement>("grid-empty");
  private readonly status = byId<HTMLElement>("updated");

  private lastSuccessAt: number | null = null;
  private serverTime: number | null = null;
  private failures = 0;
  private pollTimer: number | undefined;
  private polling = false;
  /** True when the open detail view was reached from the grid, so Back can pop the history. */
  private cameFromGrid = false;

  constructor(private readonly snapshot: Snapshot | null) {
    this.live = snapshot === null;
    this.source = snapshot === null ? new HttpSource() : new SnapshotSource(snapshot);
    this.health = new Health(byId("api-error"), this.live);
    const theme = readTheme();
    this.grid = new Grid(byId("grid"), this.source, this.health, theme);
    this.detail = new DetailView({ source: this.source, health: this.health, live: this.live, theme });
  }

  start(): void {
    document.body.classList.toggle("snapshot", !this.live);
    byId("detail-back").addEventListener("click", () => this.back());
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.detail.isOpen) {
        event.preventDefault();
        this.back();
      }
    });
    window.addEventListener("hashchange", () => this.route(true));
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
      const theme = readTheme();
      this.grid.applyTheme(theme);
      this.detail.applyTheme(theme);
    });
    this.route(false);

    if (this.snapshot !== null) {
      this.status.textContent = `Snapshot of a local run taken at ${formatDateTime(this.snapshot.taken_at)}`;
      this.status.dataset.takenAt = String(this.snapshot.taken_at);
      void this.poll();
      return;
    }
    // A tab brought back, or a network that returns, should not wait out a long backoff.
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") {
        this.pollNow();
      }
    });
    window.addEventListener("online", () => this.pollNow());
    window.setInterval(() => this.tick(), 1_000);
    this.tick();
    void this.poll();
  }

  private pollNow(): void {
    if (!this.polling) {
      window.clearTimeout(this.pollTimer);
      void this.poll();
    }
  }

  private async poll(): Promise<void> {
    this.polling = true;
    const started = Date.now();
    let wait = POLL_MS;
    try {
      const latest = asLatest(LATEST_PATH, await this.source.get(LATEST_PATH));
      this.health.ok("latest");
      this.failures = 0;
      this.apply(latest);
      wait = Math.max(0, POLL_MS - (Date.now() - started));
    } catch (error) {
      this.failures += 1;
      wait = backoffMs(this.failures);
      this.health.fail("latest", error, wait);
      if (!this.live) {
        this.empty.textContent = "This snapshot holds no prices.";
      } else if (this.grid.size === 0) {
        this.empty.textContent = "Waiting for the price API…";
      }
    } finally {
      this.polling = false;
    }
    if (this.live) {
      this.tick();
      this.pollTimer = window.setTimeout(() => void this.poll(), wait);
    }
  }

  private apply(latest: LatestResponse): void {
    const now = this.live ? Date.now() : (this.snapshot?.taken_at ?? Date.now());
    this.lastSuccessAt = now;
    this.serverTime = latest.server_time;
    this.grid.update(latest.prices, now, this.live);
    this.empty.hidden = this.grid.size > 0;
    if (this.grid.size === 0) {
      this.empty.textContent = this.live
        ? "No symbols in the table yet: waiting for the pipeline's first prices."
        : "This snapshot holds no prices.";
    }
    if (this.live) {
      this.grid.refreshStale(now, latest.server_time);
    }
    const symbol = this.detail.symbol;
    const card = symbol === null ? undefined : this.grid.card(symbol);
    if (card?.latest != null) {
      this.detail.onLatest(card.latest, card.isStale);
    }
  }

  /** Once a second: how old the page's data is, and which symbols went stale meanwhile. */
  private tick(): void {
    const now = Date.now();
    if (this.lastSuccessAt === null) {
      this.status.textContent = this.failures > 0 ? "Live · no answer from the API yet" : "Live · connecting…";
      return;
    }
    const age = now - this.lastSuccessAt;
    this.status.textContent = `Live · updated ${formatDuration(age)} ago · ${this.grid.size} symbol${this.grid.size === 1 ? "" : "s"}`;
    this.status.dataset.updatedAt = String(this.lastSuccessAt);
    this.status.classList.toggle("lagging", age > LAGGING_MS);
    this.grid.refreshStale(now, this.serverTime);
    const symbol = this.detail.symbol;
    const card = symbol === null ? undefined : this.grid.card(symbol);
    if (card !== undefined) {
      this.detail.setStale(card.isStale);
    }
  }

  /** `#/BTCUSDT` opens that symbol's detail view; anything else shows the grid. */
  private route(fromHashChange: boolean): void {
    const match = SYMBOL_HASH.exec(window.location.hash);
    const symbol = match?.[1];
    if (symbol !== undefined) {
      if (symbol === this.detail.symbol) {
        return;
      }
      this.cameFromGrid = fromHashChange && !this.detail.isOpen;
      const card = this.grid.card(symbol);
      this.gridSection.hidden = true;
      this.detail.open(symbol, card?.latest ?? null, card?.isStale ?? false);
      byId("detail-title").focus();
      window.scrollTo(0, 0);
      return;
    }
    const previous = this.detail.symbol;
    if (previous === null) {
      return;
    }
    this.detail.close();
    this.gridSection.hidden = false;
    // Back where the reader was: focus the card they opened.
    const link = this.grid.card(previous)?.element.querySelector<HTMLElement>(".card-link");
    link?.focus();
    link?.scrollIntoView({ block: "nearest" });
  }

  private back(): void {
    if (this.cameFromGrid) {
      window.history.back();
      return;
    }
    window.history.pushState(null, "", window.location.pathname + window.location.search);
    this.route(true);
  }
}

function main(): void {
  let snapshot: Snapshot | null;
  try {
    snapshot = embeddedSnapshot();
  } catch (error) {
    byId("updated").textContent = error instanceof Error ? error.message : String(error);
    return;
  }
  new App(snapshot).start();
}

main();
