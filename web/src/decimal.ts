// Exact work on the API's decimal strings. Prices are compared and shown as strings; Number() is
// used only to hand a value to a chart for plotting (see `plotValue`).

interface Parts {
  negative: boolean;
  integer: string; // no leading zeros, "" for zero
  fraction: string; // no trailing zeros
}

function parts(value: string): Parts {
  const negative = value.startsWith("-");
  const unsigned = negative ? value.slice(1) : value;
  const [integer = "", fraction = ""] = unsigned.split(".");
  return {
    negative,
    integer: integer.replace(/^0+/, ""),
    fraction: fraction.replace(/0+$/, ""),
  };
}

function isZeroParts(p: Parts): boolean {
  return p.integer === "" && p.fraction === "";
}

function compareMagnitude(a: Parts, b: Parts): number {
  if (a.integer.length !== b.integer.length) {
    return a.integer.length < b.integer.length ? -1 : 1;
  }
  if (a.integer !== b.integer) {
    return a.integer < b.integer ? -1 : 1;
  }
  const width = Math.max(a.fraction.length, b.fraction.length);
  const fa = a.fraction.padEnd(width, "0");
  const fb = b.fraction.padEnd(width, "0");
  return fa === fb ? 0 : fa < fb ? -1 : 1;
}

/** -1, 0 or 1 as `a` is below, equal to or above `b`, exactly ("1.50" equals "1.5"). */
export function compareDecimal(a: string, b: string): number {
  const pa = parts(a);
  const pb = parts(b);
  const signA = isZeroParts(pa) ? 0 : pa.negative ? -1 : 1;
  const signB = isZeroParts(pb) ? 0 : pb.negative ? -1 : 1;
  if (signA !== signB) {
    return signA < signB ? -1 : 1;
  }
  const magnitude = compareMagnitude(pa, pb);
  return signA < 0 ? -magnitude : magnitude;
}

/** -1, 0 or 1: the sign of a decimal string. */
export function signOf(value: string): number {
  return compareDecimal(value, "0");
}

export function maxDecimal(a: string, b: string): string {
  return compareDecimal(a, b) >= 0 ? a : b;
}

export function minDecimal(a: string, b: string): string {
  return compareDecimal(a, b) <= 0 ? a : b;
}

/** Fraction digits the value needs (trailing zeros aside): the charts' axis precision. */
export function significantFractionDigits(value: string): number {
  return parts(value).fraction.length;
}

/** The string with an explicit "+" when positive, for a change; otherwise unchanged. */
export function signed(value: string): string {
  return signOf(value) > 0 && !value.startsWith("+") ? `+${value}` : value;
}

/** For plotting only: a chart needs a number. Never used for what the page shows as text. */
export function plotValue(value: string): number {
  return Number(value);
}
