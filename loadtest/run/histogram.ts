// Latency histograms (HDR: microseconds, resizing) and what a report reads from them: the
// summary in milliseconds and the percentile curve (the "HDR distribution" chart).

import * as hdr from "hdr-histogram-js";

/** 60 s: a slower sample is recorded as 60 s (and counted in `clamped`). */
const HIGHEST_US = 60_000_000;

export interface LatencyStats {
  count: number;
  minMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  meanMs: number;
}

/** One point of the percentile curve: [percentile 0 … 100, latency ms]. */
export type CurvePoint = [number, number];

export class LatencyHistogram {
  private readonly h: hdr.Histogram;
  /** Samples below 0 (clocks disagreeing by more than the latency): recorded as 1 µs. */
  negative = 0;
  clamped = 0;

  /** `digits`: significant digits kept (3: 0.1 % resolution; 2: 1 %, a tenth of the memory). */
  constructor(digits: 2 | 3 = 3) {
    this.h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: HIGHEST_US, numberOfSignificantValueDigits: digits });
  }

  get count(): number {
    return this.h.totalCount;
  }

  record(ms: number): void {
    if (ms < 0) this.negative++;
    let us = Math.round(ms * 1000);
    if (us > HIGHEST_US) (us = HIGHEST_US), this.clamped++;
    this.h.recordValue(us < 1 ? 1 : us);
  }

  percentileMs(p: number): number {
    return this.h.totalCount === 0 ? Number.NaN : this.h.getValueAtPercentile(p) / 1000;
  }

  stats(): LatencyStats {
    const h = this.h;
    if (h.totalCount === 0) return { count: 0, minMs: NaN, p50Ms: NaN, p90Ms: NaN, p99Ms: NaN, p999Ms: NaN, maxMs: NaN, meanMs: NaN };
    return {
      count: h.totalCount,
      minMs: h.minNonZeroValue / 1000,
      p50Ms: this.percentileMs(50),
      p90Ms: this.percentileMs(90),
      p99Ms: this.percentileMs(99),
      p999Ms: this.percentileMs(99.9),
      maxMs: h.maxValue / 1000,
      meanMs: h.mean / 1000,
    };
  }

  /**
   * The percentile curve at `stepsPerDecade` points per "nine" (0, …, 90, …, 99, …, 99.9 …),
   * up to the last nine the sample count resolves, then the maximum at 100.
   */
  curve(stepsPerDecade = 10): CurvePoint[] {
    const n = this.h.totalCount;
    if (n === 0) return [];
    const decades = Math.max(1, Math.min(6, Math.floor(Math.log10(n))));
    const out: CurvePoint[] = [];
    for (let k = 0; k <= decades * stepsPerDecade; k++) {
      const p = 100 * (1 - 10 ** (-k / stepsPerDecade));
      out.push([round(p, 6), this.percentileMs(p)]);
    }
    out.push([100, this.h.maxValue / 1000]);
    return out;
  }
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
