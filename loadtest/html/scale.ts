// Axes for the report's charts: linear and log scales with "nice" ticks, and the percentile
// axis of an HDR distribution, where each "nine" (90 %, 99 %, 99.9 % …) is one step.

export interface Tick {
  value: number;
  label: string;
}

export interface Axis {
  min: number;
  max: number;
  log: boolean;
  ticks: Tick[];
  title: string;
}

/** Position 0 … 1 of `v` on the axis (clamped). */
export function position(a: Axis, v: number): number {
  let p: number;
  if (a.log) {
    const lo = Math.log10(a.min);
    const hi = Math.log10(a.max);
    p = hi === lo ? 0.5 : (Math.log10(Math.max(v, a.min)) - lo) / (hi - lo);
  } else {
    p = a.max === a.min ? 0.5 : (v - a.min) / (a.max - a.min);
  }
  return p < 0 ? 0 : p > 1 ? 1 : p;
}

/** A step of 1, 2 or 5 × 10^k giving about `count` intervals over [0, max]. */
function niceStep(span: number, count: number): number {
  const raw = span / count;
  const k = 10 ** Math.floor(Math.log10(raw));
  const f = raw / k;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * k;
}

export function linearAxis(maxValue: number, title: string, format: (v: number) => string, count = 5): Axis {
  const top = maxValue > 0 && Number.isFinite(maxValue) ? maxValue : 1;
  const step = niceStep(top, count);
  const max = Math.ceil(top / step) * step;
  const ticks: Tick[] = [];
  for (let v = 0; v <= max + step / 2; v += step) ticks.push({ value: v, label: format(v) });
  return { min: 0, max, log: false, ticks, title };
}

/** A log axis over [lo, hi] with ticks at 1, 2, 5 × 10^k. */
export function logAxis(lo: number, hi: number, title: string, format: (v: number) => string): Axis {
  let min = lo > 0 && Number.isFinite(lo) ? lo : 0.01;
  let max = hi > 0 && Number.isFinite(hi) ? hi : 1;
  min = 10 ** Math.floor(Math.log10(min));
  max = 10 ** Math.ceil(Math.log10(max * 1.0001));
  if (max <= min) max = min * 10;
  const ticks: Tick[] = [];
  const decades = Math.round(Math.log10(max / min));
  const steps = decades > 4 ? [1] : [1, 2, 5];
  for (let d = min; d <= max * 1.0001; d *= 10) for (const s of steps) if (d * s <= max * 1.0001) ticks.push({ value: d * s, label: format(d * s) });
  return { min, max, log: true, ticks, title };
}

/** x = −log10(1 − p/100): 0 at 0 %, 1 at 90 %, 2 at 99 % …; 100 % is drawn one step past the last nine. */
export function ninesOf(percentile: number, lastNine: number): number {
  return percentile >= 100 ? lastNine + 1 : -Math.log10(1 - percentile / 100);
}

export function percentileAxis(lastNine: number): Axis {
  const ticks: Tick[] = [];
  for (let k = 0; k <= lastNine; k++) ticks.push({ value: k, label: k === 0 ? "0 %" : `${(100 * (1 - 10 ** -k)).toFixed(Math.max(0, k - 2))} %` });
  ticks.push({ value: lastNine + 1, label: "max" });
  return { min: 0, max: lastNine + 1, log: false, ticks, title: "percentile" };
}
