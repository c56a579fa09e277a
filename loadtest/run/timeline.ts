// The run's per-second record: counters in one bucket per second of the run, and latencies in
// a histogram per second and metric plus one for the whole run. Everything a live line, the
// final table, the JSON result and the HTML report say comes from here.
//
// Bucketing: counters go to the second in which they happened (an order is "offered" in the
// second it was published, "acked" in the second its PubAck came back); a latency sample goes
// to the second its order was sent, so a slow second shows as itself, however late its acks.

import { type CurvePoint, LatencyHistogram, type LatencyStats } from "./histogram.ts";
import type { RateProfile } from "./rate-profile.ts";

export const COUNTERS = ["requested", "offered", "acked", "errors", "applied", "ticks", "blockedTicks", "busyMs", "cpuMs"] as const;
export type Counter = (typeof COUNTERS)[number];

/**
 * publish → PubAck of each message; order → tier frame at the client for each probe; a flash
 * drop's claim → its HTTP answer, and the benefit's opening → its `benefit` frame at a client.
 */
export const METRICS = ["ack", "e2e", "claim", "open"] as const;
export type Metric = (typeof METRICS)[number];

export const METRIC_NAMES: Record<Metric, string> = {
  ack: "publish → PubAck",
  e2e: "order → tier frame",
  claim: "claim → answer",
  open: "benefit open → frame",
};

/** A run longer than this is refused (a bucket per second; two histograms each). */
export const SECONDS_MAX = 24 * 3600;

interface Bucket {
  counters: Record<Counter, number>;
  latency: Partial<Record<Metric, LatencyHistogram>>;
}

/** One second of the run, as the JSON result holds it. */
export interface SecondRow {
  /** Seconds since the start of the load (the row covers [t, t + 1)). */
  t: number;
  requested: number;
  offered: number;
  acked: number;
  errors: number;
  /** Orders and ticks the engines applied (null: no engine answered). */
  applied: number | null;
  /** Pacer ticks, and those that sent nothing because the publish window was full. */
  ticks: number;
  blockedTicks: number;
  /** Share of the second the generator spent generating and publishing (wall clock), 0 … 1. */
  busy: number;
  /** CPU the load-test process used, in cores. */
  cpu: number;
  latency: Partial<Record<Metric, { count: number; p50Ms: number; p99Ms: number; p999Ms: number; maxMs: number }>>;
}

const emptyCounters = (): Record<Counter, number> => Object.fromEntries(COUNTERS.map((c) => [c, 0])) as Record<Counter, number>;

export class Timeline {
  private readonly buckets: Bucket[] = [];
  private readonly totals: Partial<Record<Metric, LatencyHistogram>> = {};
  private readonly sums = emptyCounters();
  /** Seconds for which some engine reported its counters. */
  private readonly appliedSeen = new Set<number>();

  /** The bucket of `ms` since the start (negative times go to the first). */
  private bucket(ms: number): Bucket {
    const i = Math.max(0, Math.floor(ms / 1000));
    if (i >= SECONDS_MAX) throw new RangeError(`a run of more than ${SECONDS_MAX} s`);
    while (this.buckets.length <= i) this.buckets.push({ counters: emptyCounters(), latency: {} });
    return this.buckets[i];
  }

  count(counter: Counter, ms: number, n = 1): void {
    this.bucket(ms).counters[counter] += n;
    this.sums[counter] += n;
    if (counter === "applied") this.appliedSeen.add(Math.max(0, Math.floor(ms / 1000)));
  }

  /** A latency sample of an order sent at `sentMs` (since the start). */
  latency(metric: Metric, sentMs: number, ms: number): void {
    const b = this.bucket(sentMs);
    (b.latency[metric] ??= new LatencyHistogram(2)).record(ms);
    (this.totals[metric] ??= new LatencyHistogram(3)).record(ms);
  }

  /** Fills `requested` of every second of the profile from its integral. */
  requestFrom(profile: RateProfile): void {
    const seconds = Math.ceil(profile.durationMs / 1000);
    for (let s = 0; s < seconds; s++) {
      this.count("requested", s * 1000, profile.ordersBy(Math.min(profile.durationMs, (s + 1) * 1000)) - profile.ordersBy(s * 1000));
    }
  }

  get seconds(): number {
    return this.buckets.length;
  }

  total(counter: Counter): number {
    return this.sums[counter];
  }

  counter(counter: Counter, second: number): number {
    return this.buckets[second]?.counters[counter] ?? 0;
  }

  /** Latency of the whole run so far. */
  stats(metric: Metric): LatencyStats | null {
    return this.totals[metric]?.stats() ?? null;
  }

  histogram(metric: Metric): LatencyHistogram | null {
    return this.totals[metric] ?? null;
  }

  curve(metric: Metric): CurvePoint[] {
    return this.totals[metric]?.curve() ?? [];
  }

  metrics(): Metric[] {
    return METRICS.filter((m) => this.totals[m] !== undefined);
  }

  row(second: number): SecondRow {
    const b = this.buckets[second] ?? { counters: emptyCounters(), latency: {} };
    const c = b.counters;
    const latency: SecondRow["latency"] = {};
    for (const m of METRICS) {
      const h = b.latency[m];
      if (h === undefined) continue;
      const s = h.stats();
      latency[m] = { count: s.count, p50Ms: s.p50Ms, p99Ms: s.p99Ms, p999Ms: s.p999Ms, maxMs: s.maxMs };
    }
    return {
      t: second,
      requested: Math.round(c.requested),
      offered: c.offered,
      acked: c.acked,
      errors: c.errors,
      applied: this.appliedSeen.has(second) ? c.applied : null,
      ticks: c.ticks,
      blockedTicks: c.blockedTicks,
      busy: Math.min(1, c.busyMs / 1000),
      cpu: c.cpuMs / 1000,
      latency,
    };
  }

  rows(): SecondRow[] {
    return Array.from({ length: this.buckets.length }, (_, s) => this.row(s));
  }
}
