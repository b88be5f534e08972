// The error banner and the retry schedule. Each kind of request ("latest", a symbol's sparkline,
// the detail view) is a channel: a failure puts it in the banner with its next try, its next
// success takes it out, and the banner goes when no channel is failing.

import { ApiError } from "./api";
import { formatClock, formatDuration } from "./format";

const BACKOFF_FIRST_MS = 1_000;
const BACKOFF_MAX_MS = 30_000;

/**
 * The pause before the next try after `failures` failures in a row: 1 s doubling to 30 s, with
 * ±20 % jitter so that many open pages do not retry in step after an outage.
 */
export function backoffMs(failures: number, random: () => number = Math.random): number {
  const nominal = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** Math.max(0, failures - 1));
  return Math.round(Math.min(BACKOFF_MAX_MS, nominal * (0.8 + 0.4 * random())));
}

interface Failure {
  reason: string;
  retryAt: number;
}

export class Health {
  private readonly failing = new Map<string, Failure>();

  /** `enabled` is false for a snapshot, whose page has no outage to report. */
  constructor(
    private readonly banner: HTMLElement,
    private readonly enabled: boolean,
  ) {}

  fail(channel: string, error: unknown, retryInMs: number): void {
    if (!this.enabled) {
      return;
    }
    const reason =
      error instanceof ApiError ? error.message : error instanceof Error ? error.message : String(error);
    this.failing.set(channel, { reason, retryAt: Date.now() + retryInMs });
    this.render();
  }

  ok(channel: string): void {
    if (this.failing.delete(channel)) {
      this.render();
    }
  }

  /** Forget a channel nobody retries any more (a closed detail view). */
  drop(channel: string): void {
    this.ok(channel);
  }

  get isFailing(): boolean {
    return this.failing.size > 0;
  }

  private render(): void {
    // The latest poll is what a reader cares about most; show it first when it is failing.
    const entries = [...this.failing.entries()].sort(([a], [b]) =>
      a === "latest" ? -1 : b === "latest" ? 1 : 0,
    );
    const first = entries[0];
    if (first === undefined) {
      this.banner.hidden = true;
      this.banner.textContent = "";
      return;
    }
    const [, failure] = first;
    const others = entries.length - 1;
    const wait = formatDuration(failure.retryAt - Date.now());
    // Rendered once per failed try (not every second) so screen readers announce it once.
    this.banner.textContent =
      `The price API failed: ${failure.reason}.` +
      (others > 0 ? ` ${others} other request${others > 1 ? "s" : ""} also failed.` : "") +
      ` Retrying in ${wait} (at ${formatClock(failure.retryAt)}); prices shown may be out of date.`;
    this.banner.hidden = false;
  }
}
