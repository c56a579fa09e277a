// Calendar months at a fixed UTC offset, in integer arithmetic (no Date on the hot path).
// monthIndex = year × 12 + (month − 1). Days ↔ civil dates after Howard Hinnant's
// "chrono-compatible low-level date algorithms" (proleptic Gregorian, any year).

const DAY_MS = 86_400_000;

/** The month index of instant `ts` (ms) at `utcOffsetMs`. */
export function monthIndexOf(ts: number, utcOffsetMs: number): number {
  const z = Math.floor((ts + utcOffsetMs) / DAY_MS) + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const month = mp < 10 ? mp + 3 : mp - 9; // 1 … 12
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  return year * 12 + (month - 1);
}

/** The first instant (ms) of month `monthIndex` at `utcOffsetMs`. */
export function monthStartMs(monthIndex: number, utcOffsetMs: number): number {
  let year = Math.floor(monthIndex / 12);
  const month = monthIndex - year * 12 + 1;
  year -= month <= 2 ? 1 : 0;
  const era = Math.floor(year / 400);
  const yoe = year - era * 400;
  const doy = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5);
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return (era * 146097 + doe - 719468) * DAY_MS - utcOffsetMs;
}
