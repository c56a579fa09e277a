// The contract's member view (GET /v1/members/:id, tierstream.member.<p>), read from state.

import { TIERS, type Tier } from "../proto/types.ts";
import { monthStartMs } from "./calendar.ts";
import type { PartitionState } from "./state/partition-state.ts";

export interface MemberView {
  member: number;
  score: number;
  tier: Tier;
  next: { tier: Tier; pointsNeeded: number } | null;
  lines: Record<string, number>;
  /** What leaves the window at each of the next 3 month starts. */
  expiring: { at: number; points: number }[];
  /** TIER_EVENTS sequence this view is current to: every later change has a higher seq. */
  seq: number;
}

export const EXPIRING_MONTHS = 3;

export function memberView(state: PartitionState, member: number, seq: number): MemberView {
  const { config } = state;
  const i = state.memberIndex(member);
  const score = i < 0 ? 0 : state.score[i];
  const tier = i < 0 ? 0 : state.tier[i];
  const lines: Record<string, number> = {};
  const windowStart = state.clockMonth - config.windowMonths + 1;
  const expiringPoints = new Array<number>(EXPIRING_MONTHS).fill(0);
  for (const cell of state.cellsOf(member)) {
    const name = config.lineNames[cell.line];
    lines[name] = (lines[name] ?? 0) + cell.points;
    // Month windowStart + k leaves the window at the start of month clockMonth + 1 + k.
    const k = cell.month - windowStart;
    if (k < EXPIRING_MONTHS) expiringPoints[k] += cell.points;
  }
  const expiring = expiringPoints.map((points, k) => ({
    at: monthStartMs(state.clockMonth + 1 + k, config.utcOffsetMs),
    points,
  }));
  const next =
    tier + 1 < TIERS.length ? { tier: TIERS[tier + 1], pointsNeeded: Math.max(0, config.ladder[tier + 1] - score) } : null;
  return { member, score, tier: TIERS[tier], next, lines, expiring, seq };
}
