// What the engines say about themselves (tierstream.engine.stats, answered by every engine):
// orders applied — the load test's "applied" line — and whether every partition is owned and
// caught up. Works the same against a local stack and a real deployment.

import type { NatsConnection } from "@nats-io/transport-node";
import type { EngineStats } from "../../engine/member-service.ts";
import { ENGINE_STATS_SUBJECT } from "../../proto/names.ts";

/** How long a gathering waits for engines to answer. */
const GATHER_WAIT_MS = 300;
const READY_POLL_MS = 250;

/** Every engine's stats; with `expected`, stops waiting once that many answered. */
export async function gatherEngineStats(nc: NatsConnection, expected?: number): Promise<EngineStats[]> {
  const opts = expected === undefined ? { strategy: "timer" as const, maxWait: GATHER_WAIT_MS } : { strategy: "count" as const, maxMessages: expected, maxWait: GATHER_WAIT_MS };
  const replies = await nc.requestMany(ENGINE_STATS_SUBJECT, "", opts).catch(() => null);
  const out: EngineStats[] = [];
  if (replies === null) return out;
  try {
    for await (const m of replies) {
      if (m.data.length === 0) continue; // a no-responders status
      try {
        out.push(m.json() as EngineStats);
      } catch {
        // not an engine's answer
      }
    }
  } catch {
    // no responders (no engine up yet), or the connection closing: what came is what we have
  }
  return out;
}

/**
 * Events applied by the engines since the baseline, summed over every engine seen: an engine
 * first seen after the baseline, or whose count went back (it restarted under the same name),
 * counts from 0 — so the sum never goes back. A restarted engine's replay counts as applied.
 */
export class AppliedCounter {
  private readonly lastByEngine = new Map<string, number>();
  private total = 0;

  /** What each engine had applied before the load: not counted. */
  baseline(stats: readonly EngineStats[]): void {
    for (const s of stats) this.lastByEngine.set(s.engine, s.counters.eventsApplied);
  }

  /** The total after this gathering; null when no engine answered. */
  update(stats: readonly EngineStats[]): number | null {
    if (stats.length === 0) return null;
    for (const s of stats) {
      const before = this.lastByEngine.get(s.engine);
      const now = s.counters.eventsApplied;
      this.total += before === undefined || now < before ? now : now - before;
      this.lastByEngine.set(s.engine, now);
    }
    return this.total;
  }
}

/** Partitions of 0 … partitions−1 that no answering engine has caught up. */
export function partitionsNotReady(stats: readonly EngineStats[], partitions: number): number[] {
  const ready = new Set<number>();
  for (const s of stats) for (const p of s.partitions) if (p.caughtUp) ready.add(p.partition);
  return Array.from({ length: partitions }, (_, p) => p).filter((p) => !ready.has(p));
}

/** Waits until every partition is owned and caught up; throws with what is missing at the deadline. */
export async function waitEnginesReady(nc: NatsConnection, partitions: number, deadlineMs: number): Promise<void> {
  const until = performance.now() + deadlineMs;
  let missing: number[] = [];
  while (performance.now() < until) {
    missing = partitionsNotReady(await gatherEngineStats(nc), partitions);
    if (missing.length === 0) return;
    await Bun.sleep(READY_POLL_MS);
  }
  throw new Error(`engines not ready after ${Math.round(deadlineMs / 1000)} s: ${missing.length} of ${partitions} partitions not owned or not caught up`);
}
