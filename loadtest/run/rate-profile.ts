// Rate profiles: how many orders a second a load test asks for at each moment. A profile is a
// piecewise-linear rate r(t); `ordersBy(t)` is its integral ∫₀ᵗ r, the number of orders that
// should have been published by t — the pacer publishes the difference to what it has, so a
// profile's shape is met exactly however the ticks fall.

export interface RateProfile {
  readonly durationMs: number;
  /** The highest rate anywhere in the profile (orders/s). */
  readonly peakRate: number;
  /** Orders/s asked for at `ms` since the start. */
  rateAt(ms: number): number;
  /** Orders asked for from the start up to `ms` (fractional; the pacer floors it). */
  ordersBy(ms: number): number;
}

/** A rate profile through the points (ms, orders/s), linear between them, flat after the last. */
export class PiecewiseProfile implements RateProfile {
  readonly peakRate: number;
  /** Orders asked for up to each point. */
  private readonly cumulative: Float64Array;

  constructor(
    private readonly points: readonly (readonly [number, number])[],
    readonly durationMs: number,
  ) {
    if (points.length === 0 || points[0][0] !== 0) throw new RangeError("a profile starts at 0 ms");
    for (let i = 0; i < points.length; i++) {
      const [t, r] = points[i];
      if (!(r >= 0) || !Number.isFinite(r)) throw new RangeError(`rate at ${t} ms must be ≥ 0, got ${r}`);
      if (i > 0 && !(t >= points[i - 1][0])) throw new RangeError("profile points must be in time order");
    }
    if (!(durationMs > 0)) throw new RangeError("a profile lasts > 0 ms");
    this.peakRate = Math.max(...points.map(([, r]) => r));
    this.cumulative = new Float64Array(points.length);
    for (let i = 1; i < points.length; i++) {
      const [t0, r0] = points[i - 1];
      const [t1, r1] = points[i];
      this.cumulative[i] = this.cumulative[i - 1] + ((t1 - t0) * (r0 + r1)) / 2 / 1000;
    }
  }

  rateAt(ms: number): number {
    const i = this.segment(ms);
    if (i === this.points.length - 1) return this.points[i][1];
    const [t0, r0] = this.points[i];
    const [t1, r1] = this.points[i + 1];
    return t1 === t0 ? r1 : r0 + ((r1 - r0) * (ms - t0)) / (t1 - t0);
  }

  ordersBy(ms: number): number {
    const t = Math.min(Math.max(ms, 0), this.durationMs);
    const i = this.segment(t);
    const [t0, r0] = this.points[i];
    return this.cumulative[i] + ((t - t0) * (r0 + this.rateAt(t))) / 2 / 1000;
  }

  /** The last point at or before `ms`. */
  private segment(ms: number): number {
    let i = 0;
    while (i + 1 < this.points.length && this.points[i + 1][0] <= ms) i++;
    return i;
  }
}

/** `rate` orders/s for `durationS` seconds. */
export function steadyProfile(rate: number, durationS: number): RateProfile {
  return new PiecewiseProfile([[0, rate]], durationS * 1000);
}

export interface SpikeShape {
  baseRate: number;
  /** The peak is factor × baseRate. */
  factor: number;
  /** Seconds of the ramp up, and again of the ramp down. */
  rampS: number;
  /** Seconds held at the peak. */
  holdS: number;
  durationS: number;
}

/**
 * The festival midnight: the base rate, a ramp to factor × base in rampS, held holdS, a ramp
 * back down in rampS, and the base rate again; the spike sits in the middle of the run.
 */
export function spikeProfile(s: SpikeShape): RateProfile {
  if (!(s.factor >= 1)) throw new RangeError("the spike factor must be ≥ 1");
  const spikeS = 2 * s.rampS + s.holdS;
  if (spikeS > s.durationS) throw new RangeError(`the spike (2 × ramp ${s.rampS} s + hold ${s.holdS} s) does not fit in ${s.durationS} s`);
  const startMs = ((s.durationS - spikeS) / 2) * 1000;
  const peak = s.baseRate * s.factor;
  const rampMs = s.rampS * 1000;
  const holdMs = s.holdS * 1000;
  return new PiecewiseProfile(
    [
      [0, s.baseRate],
      [startMs, s.baseRate],
      [startMs + rampMs, peak],
      [startMs + rampMs + holdMs, peak],
      [startMs + 2 * rampMs + holdMs, s.baseRate],
    ],
    s.durationS * 1000,
  );
}
