// The verdict CI gates on: --slo-p99-ms against the run's p99 (a drop's claim → answer; else
// order → frame where it was measured, else publish → PubAck), --slo-min-rate against the
// orders acknowledged per second over the load window (a drop: claims answered per second).
// Each one given is checked; a missed one makes the exit status 3.

import type { LatencyStats } from "./histogram.ts";
import { ms } from "./live-line.ts";
import { METRIC_NAMES, type Metric } from "./timeline.ts";

export interface SloItem {
  name: "p99" | "min-rate";
  limit: number;
  /** null when nothing was measured (which fails the objective). */
  actual: number | null;
  unit: string;
  pass: boolean;
  detail: string;
}

export interface SloVerdict {
  pass: boolean;
  items: SloItem[];
}

export interface SloInput {
  sloP99Ms: number | null;
  sloMinRate: number | null;
  latency: Partial<Record<Metric, LatencyStats>>;
  /** Orders acknowledged per second over the load window (or what `rateWords` name). */
  achievedRate: number;
  /** What the rate counts; default acknowledged orders. */
  rateWords?: { verb: string; unit: string };
}

/** The metric a p99 objective is judged on: a drop's claims, else what reaches the member when it was measured. */
export function sloMetric(latency: Partial<Record<Metric, LatencyStats>>): Metric {
  if ((latency.claim?.count ?? 0) > 0) return "claim";
  return (latency.e2e?.count ?? 0) > 0 ? "e2e" : "ack";
}

export function evaluateSlo(i: SloInput): SloVerdict {
  const items: SloItem[] = [];
  if (i.sloP99Ms !== null) {
    const metric = sloMetric(i.latency);
    const s = i.latency[metric];
    const actual = s !== undefined && s.count > 0 ? s.p99Ms : null;
    const pass = actual !== null && actual <= i.sloP99Ms;
    items.push({
      name: "p99",
      limit: i.sloP99Ms,
      actual,
      unit: "ms",
      pass,
      detail:
        actual === null
          ? `p99 ≤ ${i.sloP99Ms} ms: MISSED — no latency was measured`
          : `${METRIC_NAMES[metric]} p99 ${ms(actual)} ms ${pass ? "≤" : ">"} ${i.sloP99Ms} ms${pass ? "" : ": MISSED"}`,
    });
  }
  if (i.sloMinRate !== null) {
    const pass = i.achievedRate >= i.sloMinRate;
    const { verb, unit } = i.rateWords ?? { verb: "acknowledged", unit: "orders" };
    items.push({
      name: "min-rate",
      limit: i.sloMinRate,
      actual: i.achievedRate,
      unit: `${unit}/s`,
      pass,
      detail: `${verb} ${Math.round(i.achievedRate).toLocaleString("en-US")} ${unit}/s ${pass ? "≥" : "<"} ${i.sloMinRate.toLocaleString("en-US")}${pass ? "" : ": MISSED"}`,
    });
  }
  return { pass: items.every((x) => x.pass), items };
}
