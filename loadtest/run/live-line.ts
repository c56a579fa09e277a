// The line printed each second, and the verdict on whether the generator kept up:
//   12/30 s  asked 200,000/s  sent 199,744  acked 198,016  applied 190,220  ack p50 1.9 p99 7.3 ms  e2e p50 4.1 p99 15 ms  err 0  gen 21% 0.45 cpu
// followed, when it fell behind, by why.

import type { LatencyStats } from "./histogram.ts";
import type { SecondRow } from "./timeline.ts";

/** A second counts as behind when it sent less than this share of what it asked for. */
export const BEHIND_SHARE = 0.98;
/** …and the generator is the limit when it was busy this share of that second (wall clock). */
const GENERATOR_BUSY_SHARE = 0.75;

export type BehindCause = "window" | "generator" | "unknown";

export interface Behind {
  /** sent / asked in that second. */
  share: number;
  cause: BehindCause;
}

/** Whether (and why) a second fell behind its asked rate; null when it kept up. */
export function behindIn(row: SecondRow): Behind | null {
  if (row.requested < 1 || row.offered >= row.requested * BEHIND_SHARE) return null;
  const share = row.offered / row.requested;
  if (row.blockedTicks > 0) return { share, cause: "window" };
  if (row.busy >= GENERATOR_BUSY_SHARE) return { share, cause: "generator" };
  return { share, cause: "unknown" };
}

export const CAUSE_WORDS: Record<BehindCause, string> = {
  window: "the publish window was full (PubAcks not coming back as fast as asked): the target is the limit",
  generator: "the generator was busy most of the second: the load-test process is the limit (it shares this machine's CPUs with what it drives — run it elsewhere, or several)",
  unknown: "ticks came late (this process got too little CPU)",
};

/** Counts with separators; rates under 100 with 3 significant digits. */
export function num(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return "–";
  if (Math.abs(v) >= 100) return Math.round(v).toLocaleString("en-US");
  return String(Number(v.toPrecision(3)));
}

export function ms(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return "–";
  return v >= 100 ? Math.round(v).toLocaleString("en-US") : String(Number(v.toPrecision(2 + (v < 1 ? 0 : 1))));
}

export interface LiveLineInput {
  row: SecondRow;
  durationS: number;
  /** "load" during the load, "drain" after it. */
  phase: "load" | "drain";
  ack: LatencyStats | null;
  e2e: LatencyStats | null;
  errorsSoFar: number;
}

export function liveLine(i: LiveLineInput): string[] {
  const r = i.row;
  const second = String(r.t + 1).padStart(String(i.durationS).length);
  const head = i.phase === "load" ? `${second}/${i.durationS} s` : `drain +${r.t + 1 - i.durationS} s`;
  const lat = (name: string, s: LatencyStats | null) => (s === null || s.count === 0 ? "" : `  ${name} p50 ${ms(s.p50Ms)} p99 ${ms(s.p99Ms)} ms`);
  const parts = [
    head,
    i.phase === "load" ? `asked ${num(r.requested)}/s` : "",
    `sent ${num(r.offered)}`,
    `acked ${num(r.acked)}`,
    `applied ${num(r.applied)}`,
  ].filter((p) => p !== "");
  const line = `${parts.join("  ")}${lat("ack", i.ack)}${lat("e2e", i.e2e)}  err ${num(i.errorsSoFar)}  gen ${Math.round(r.busy * 100)}% ${r.cpu.toFixed(2)} cpu`;
  const out = [line];
  const behind = i.phase === "load" ? behindIn(r) : null;
  if (behind !== null) {
    const blocked = behind.cause === "window" ? ` (${r.blockedTicks} of ${r.ticks} ticks blocked)` : "";
    out.push(`  ! BEHIND: sent ${Math.round(behind.share * 100)} % of the asked rate — ${CAUSE_WORDS[behind.cause]}${blocked}`);
  }
  return out;
}
