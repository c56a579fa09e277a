// One timed engine catch-up: Engine.start over what ORDERS holds, until every partition has
// caught up and every order is applied — or a deadline, after which the run is reported as it
// stands (a stalled engine is a figure too, not a hung benchmark).

import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Config } from "../engine/config.ts";
import { Engine } from "../engine/engine.ts";
import { recoveryCounts } from "../engine/tier-marks.ts";
import type { Logger } from "../engine/log.ts";
import type { NatsServerHandle } from "../scripts/nats-server.ts";
import type { BenchContext } from "./bench/types.ts";
import { type CpuSpan, cpuSpan } from "./cpu-time.ts";
import { withDeadline } from "./deadline.ts";

const POLL_MS = 5;
const STOP_DEADLINE_MS = 30_000;

export interface EngineRun {
  caughtUp: boolean;
  /** Orders applied when it caught up, or at the deadline. */
  applied: number;
  /** From Engine.start to caught up (or to the deadline). */
  ms: number;
  startedMs: number;
  cpu: CpuSpan;
  tierChanges: number;
  /** Warnings the engine logged (failed publishes it retries, mostly). */
  warnings: number;
  /** The longest stretch with no order applied before it caught up. */
  longestStallMs: number;
  /** What the server's log says about slow consumers. */
  serverLogSummary: string;
}

export interface EngineRunOptions {
  ctx: BenchContext;
  server: NatsServerHandle;
  config: Config;
  orders: number;
  label: string;
  deadlineMs: number;
}

export async function timeEngine(o: EngineRunOptions): Promise<EngineRun> {
  o.ctx.log(`catchup: engine, ${o.label}`);
  let warnings = 0;
  const log: Logger = { info() {}, warn: () => void warnings++, error: () => void warnings++, child: () => log };
  Bun.gc(true); // what the phases before left behind is not this run's to collect
  const span = cpuSpan(o.server.pid);
  const t0 = performance.now();
  const engine = await withDeadline(
    Engine.start({ natsUrl: o.server.url, config: o.config, log, name: "bench-engine" }),
    o.deadlineMs,
    `${o.label}: Engine.start`,
  );
  const startedMs = performance.now() - t0;
  try {
    let caughtUp = false;
    void engine.whenCaughtUp().then(() => (caughtUp = true));
    const deadline = t0 + o.deadlineMs;
    // The longest time no order was applied: a stalled consumer shows as a gap, not as a rate.
    let lastApplied = -1;
    let lastProgressMs = performance.now();
    let longestStallMs = 0;
    while (!(caughtUp && engine.counters.eventsApplied >= o.orders) && performance.now() < deadline) {
      await Bun.sleep(POLL_MS);
      const now = performance.now();
      if (engine.counters.eventsApplied !== lastApplied) {
        lastApplied = engine.counters.eventsApplied;
        lastProgressMs = now;
      } else if (now - lastProgressMs > longestStallMs) {
        longestStallMs = now - lastProgressMs;
      }
    }
    const ms = performance.now() - t0;
    const cpu = span();
    const c = engine.counters;
    const done = caughtUp && c.eventsApplied >= o.orders;
    o.ctx.log(
      `catchup: engine, ${o.label}: ${done ? "caught up" : "NOT caught up"} in ${(ms / 1000).toFixed(2)} s, ` +
        `${c.eventsApplied} applied, bun ${cpu.selfS.toFixed(2)} s CPU, nats-server ${cpu.otherS.toFixed(2)} s CPU; ` +
        `last tier changes found by ${recoveryCounts([...engine.runners.values()].map((r) => r.tierRecoveredBy))}`,
    );
    if (c.eventsApplied > o.orders || c.deadLetters !== 0 || c.duplicates !== 0) {
      throw new Error(`${o.label}: applied ${c.eventsApplied} of ${o.orders} (${c.deadLetters} dead letters, ${c.duplicates} duplicates)`);
    }
    return {
      caughtUp: done,
      applied: c.eventsApplied,
      ms,
      startedMs,
      cpu,
      tierChanges: c.tierChanges,
      warnings,
      longestStallMs,
      serverLogSummary: slowConsumerSummary(o.server),
    };
  } finally {
    await withDeadline(engine.stop(), STOP_DEADLINE_MS, `${o.label}: engine stop`).catch((err: unknown) => {
      o.ctx.log(`catchup: ${String(err)}; going on`);
    });
  }
}

/** The server writes its log beside its store (scripts/nats-server.ts: <workDir>/nats.log). */
function slowConsumerSummary(server: NatsServerHandle): string {
  try {
    const text = readFileSync(join(dirname(server.storeDir), "nats.log"), "utf8");
    const n = text.split("\n").filter((l) => l.includes("Slow Consumer")).length;
    return n === 0 ? "no slow consumer" : `${n} "Slow Consumer Detected" line${n === 1 ? "" : "s"}`;
  } catch {
    return "unreadable";
  }
}
