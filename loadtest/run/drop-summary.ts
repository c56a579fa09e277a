// What a drop prints: a line a second while it runs, and its rows of the final table (from
// its figures alone, so the report says the same).

import type { BenefitFrames } from "./benefit-frames.ts";
import type { ClaimStorm } from "./claim-storm.ts";
import { type DropFigures, wonAnswers } from "./drop-checks.ts";
import { ms, num } from "./live-line.ts";
import type { SummaryRow } from "./summary.ts";
import type { Timeline } from "./timeline.ts";

export interface DropProgress {
  /** Seconds since the benefit was defined. */
  second: number;
  phase: string;
  eligible: number;
  frames: BenefitFrames | null;
  storm: ClaimStorm | null;
  timeline: Timeline;
}

//   7 s  claims  told 5,000/5,000 (p99 85 ms)  sent 19,267  answered 19,012 (+6,197/s)  won 10,000  claim p50 39 p99 293 ms  err 0  closed 5,000  0.71 cpu
// (cpu: cores this process used in the last second — the claims' sender shares the machine)
export function dropLine(p: DropProgress): string {
  const open = p.timeline.stats("open");
  const claim = p.timeline.stats("claim");
  const parts = [`${String(p.second).padStart(3)} s  ${p.phase}`];
  if (p.frames !== null) parts.push(`told ${num(p.frames.told.size)}/${num(p.eligible)}${open !== null ? ` (p99 ${ms(open.p99Ms)} ms)` : ""}`);
  const s = p.storm;
  if (s !== null) {
    const row = p.timeline.row(Math.max(0, p.second - 1));
    parts.push(`sent ${num(s.sent)}`, `answered ${num(s.answered)} (+${num(row.acked)}/s)`, `won ${num(s.won)}`);
    if (claim !== null) parts.push(`claim p50 ${ms(claim.p50Ms)} p99 ${ms(claim.p99Ms)} ms`);
    parts.push(`err ${num(s.unanswered)}`);
  }
  if (p.frames !== null && p.frames.closed.size > 0) parts.push(`closed ${num(p.frames.closed.size)}`);
  parts.push(`${p.timeline.row(Math.max(0, p.second - 1)).cpu.toFixed(2)} cpu`);
  return parts.join("  ");
}

const statuses = (by: Record<string, number>) =>
  Object.entries(by)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k} ${num(v)}`)
    .join(", ") || "none";

export function dropRows(f: DropFigures): SummaryRow[] {
  const c = f.claims;
  const fe = f.feed;
  const rows: SummaryRow[] = [
    ["benefit", `${f.benefit}: inventory ${num(f.inventory)}, ${f.perMember} per member, from ${f.minTier}`],
    ["members", `${num(f.claimants)} claimants, ${num(fe.connected)} connected to the feed (${num(fe.eligible)} of them eligible)`],
  ];
  if (f.tiers !== null) rows.push(["tiers", `${num(f.tiers.members)} claimants below ${f.minTier}: ${num(f.tiers.orders)} orders, all applied in ${(f.tiers.ms / 1000).toFixed(1)} s`]);
  rows.push(
    [
      "told",
      `${num(fe.told)} of ${num(fe.eligible)} eligible connected members got the benefit frame` +
        (fe.allToldMs !== null ? `, the last ${ms(fe.allToldMs)} ms after the opening` : ": NOT all") +
        (fe.toldIneligible > 0 ? `; ${num(fe.toldIneligible)} members told who were not eligible` : ""),
    ],
    [
      "claims",
      `${num(c.sent)} sent (${num(f.claimants)} × ${f.perMember}), ${num(c.answered)} answered in ${(c.stormMs / 1000).toFixed(2)} s = ${num(c.perSec)} claims/s` +
        `${c.unanswered > 0 ? `, ${num(c.unanswered)} NOT answered (first: ${c.firstError})` : ""}; ${statuses(c.byStatus)}` +
        (c.transientRetries > 0 ? `; ${num(c.transientRetries)} retried with the same key after a 503 or a lost connection` : ""),
    ],
    ["won", `${num(wonAnswers(f))} units (201) of ${num(f.inventory)}; in CLAIMS ${f.stream === null ? "– (not read)" : `${num(f.stream.won)} won records`}`],
    ["closed", `${num(fe.closed)} of ${num(fe.told)} told got benefit_closed (${statuses(fe.closedByReason)}; expected ${fe.expectedClose})`],
  );
  return rows;
}
