// The JSON result file: everything the run measured, in one object the HTML report and CI
// read back. It is written before the verdict is printed, so a failed run leaves its evidence.

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type MachineInfo, machineInfo } from "../machine.ts";
import type { Check, ScenarioOutcome } from "../scenarios/scenario.ts";
import type { CurvePoint, LatencyStats } from "./histogram.ts";
import { behindIn } from "./live-line.ts";
import type { LoadtestOptions } from "./options.ts";
import type { LoadOutcome, RunEvent } from "./run-load.ts";
import { evaluateSlo, type SloVerdict } from "./slo.ts";
import type { SummaryRow } from "./summary.ts";
import { METRICS, type Metric, type SecondRow } from "./timeline.ts";

export const RESULT_VERSION = 1;

export const EXIT = { ok: 0, error: 1, usage: 2, sloMissed: 3, checkFailed: 4, interrupted: 130 } as const;

export interface LoadtestResult {
  tool: "tierstream loadtest";
  resultVersion: typeof RESULT_VERSION;
  scenario: string;
  summary: string;
  command: string;
  startedAt: string;
  durationS: number;
  /** Seconds into the load when SIGINT/SIGTERM stopped it; null when it ran its course. */
  interruptedAtS: number | null;
  target: { kind: "local" | "deployment"; natsUrl: string; gatewayUrls: string[]; engines: number | null };
  options: Omit<LoadtestOptions, "jwtSecret">;
  settings: Record<string, unknown>;
  machine: MachineInfo;
  totals: {
    requested: number;
    offered: number;
    ackedInWindow: number;
    acked: number;
    errors: number;
    applied: number | null;
    messages: number;
    requestedRate: number;
    offeredRate: number;
    /** Orders acknowledged per second within the load window: what --slo-min-rate checks. */
    achievedRate: number;
    /** Seconds that sent less than 98 % of their asked rate, and why. */
    behindSeconds: number;
    behindCauses: Record<string, number>;
    firstError: string | null;
  };
  latency: Partial<Record<Metric, LatencyStats & { curve: CurvePoint[] }>>;
  timeline: SecondRow[];
  events: RunEvent[];
  probes: LoadOutcome["probes"];
  feed: LoadOutcome["feed"];
  drain: LoadOutcome["drain"];
  slo: SloVerdict;
  checks: Check[];
  notes: string[];
  /** What the timeline's sent / acknowledged count. */
  item: "orders" | "claims";
  /** The scenario's own figures (a drop's counts); null for the order scenarios. */
  figures: Record<string, unknown> | null;
  /** The scenario's own rows of the final table (empty: the order rows). */
  rows: SummaryRow[];
  exitCode: number;
}

export interface ResultInput {
  scenario: string;
  summary: string;
  command: string;
  options: LoadtestOptions;
  target: LoadtestResult["target"];
  outcome: ScenarioOutcome;
  machine?: MachineInfo;
}

export function buildResult(i: ResultInput): LoadtestResult {
  const load = i.outcome.load;
  const t = load.timeline;
  const rows = t.rows();
  const latency: LoadtestResult["latency"] = {};
  for (const m of METRICS) {
    const s = t.stats(m);
    if (s !== null) latency[m] = { ...s, curve: t.curve(m) };
  }
  const achievedRate = load.ackedInWindow / load.durationS;
  const window = rows.slice(0, load.durationS);
  const requested = window.reduce((n, r) => n + r.requested, 0);
  const rate = i.outcome.rate;
  const slo = evaluateSlo({ sloP99Ms: i.options.sloP99Ms, sloMinRate: i.options.sloMinRate, latency, achievedRate: rate?.perSec ?? achievedRate, rateWords: rate });
  const behindCauses: Record<string, number> = {};
  let behindSeconds = 0;
  for (const r of window) {
    const b = behindIn(r);
    if (b === null) continue;
    behindSeconds++;
    behindCauses[b.cause] = (behindCauses[b.cause] ?? 0) + 1;
  }
  const checksPass = i.outcome.checks.every((c) => c.pass);
  const { jwtSecret: _secret, ...options } = i.options;
  const appliedSeen = rows.some((r) => r.applied !== null);
  return {
    tool: "tierstream loadtest",
    resultVersion: RESULT_VERSION,
    scenario: i.scenario,
    summary: i.summary,
    command: i.command,
    startedAt: load.startedAt,
    durationS: load.durationS,
    interruptedAtS: load.interruptedAtS,
    target: i.target,
    options,
    settings: i.outcome.settings,
    machine: i.machine ?? machineInfo(),
    totals: {
      requested,
      offered: load.offered,
      ackedInWindow: load.ackedInWindow,
      acked: t.total("acked"),
      errors: t.total("errors"),
      applied: appliedSeen ? t.total("applied") : null,
      messages: load.messages,
      requestedRate: requested / load.durationS,
      offeredRate: load.offered / load.durationS,
      achievedRate,
      behindSeconds,
      behindCauses,
      firstError: load.firstError,
    },
    latency,
    timeline: rows,
    events: load.events,
    probes: load.probes,
    feed: load.feed,
    drain: load.drain,
    slo,
    checks: i.outcome.checks,
    notes: i.outcome.notes,
    item: i.outcome.item ?? "orders",
    figures: i.outcome.figures ?? null,
    rows: i.outcome.rows ?? [],
    exitCode: load.interruptedAtS !== null ? EXIT.interrupted : !checksPass ? EXIT.checkFailed : !slo.pass ? EXIT.sloMissed : EXIT.ok,
  };
}

export function writeResultFiles(dir: string, result: LoadtestResult, html: string): { json: string; html: string } {
  mkdirSync(dir, { recursive: true });
  const json = join(dir, "result.json");
  const page = join(dir, "report.html");
  // NaN (a percentile of no samples) is not JSON: it is written as null.
  writeFileSync(json, JSON.stringify(result, (_, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v), 2) + "\n");
  writeFileSync(page, html);
  return { json, html: page };
}
