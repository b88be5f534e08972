// Times as a person reads them: the reader's own zone and locale, 24-hour clock.

export function formatClock(epochMs: number, seconds = true): string {
  return new Date(epochMs).toLocaleTimeString(undefined, {
    hour: "2-digit",
    minute: "2-digit",
    ...(seconds ? { second: "2-digit" } : {}),
    hourCycle: "h23",
  });
}

export function formatDateTime(epochMs: number): string {
  return new Date(epochMs).toLocaleString(undefined, {
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hourCycle: "h23",
  });
}

/** "4 s", "3 min 5 s", "2 h 10 min": how long ago, or how long until, for status lines. */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.round(ms / 1000));
  if (total < 60) {
    return `${total} s`;
  }
  const minutes = Math.floor(total / 60);
  if (minutes < 60) {
    const seconds = total % 60;
    return seconds === 0 ? `${minutes} min` : `${minutes} min ${seconds} s`;
  }
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  return rest === 0 ? `${hours} h` : `${hours} h ${rest} min`;
}

/** "+2.17%", "-0.40%", "0.00%"; the API's string, only the sign and the unit added. */
export function formatPercent(percent: string | null): string {
  if (percent === null) {
    return "n/a";
  }
  return /^[-+]/.test(percent) || /^[0.]+$/.test(percent) ? `${percent}%` : `+${percent}%`;
}
