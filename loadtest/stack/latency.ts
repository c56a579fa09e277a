// Latency samples in an HDR histogram (microseconds, 3 significant digits, resizing), and the
// summary a benchmark reports, in milliseconds.

import * as hdr from "hdr-histogram-js";

export interface LatencySummary {
  count: number;
  minMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  meanMs: number;
}

export class LatencyRecorder {
  private readonly histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
  /** Samples whose end came before their start (clocks disagreeing by more than the latency). */
  negative = 0;

  record(ms: number): void {
    if (ms < 0) this.negative++;
    this.histogram.recordValue(Math.max(1, Math.round(ms * 1000)));
  }

  summary(): LatencySummary {
    const h = this.histogram;
    const ms = (us: number) => us / 1000;
    if (h.totalCount === 0) return { count: 0, minMs: NaN, p50Ms: NaN, p90Ms: NaN, p99Ms: NaN, p999Ms: NaN, maxMs: NaN, meanMs: NaN };
    return {
      count: h.totalCount,
      minMs: ms(h.minNonZeroValue),
      p50Ms: ms(h.getValueAtPercentile(50)),
      p90Ms: ms(h.getValueAtPercentile(90)),
      p99Ms: ms(h.getValueAtPercentile(99)),
      p999Ms: ms(h.getValueAtPercentile(99.9)),
      maxMs: ms(h.maxValue),
      meanMs: ms(h.mean),
    };
  }
}
