// A claim record, as stored on claims.<p>.<member> in CLAIMS (JSON). Written and acknowledged
// before a claim is answered; a partition's claim state is rebuilt from its records.
//
// outcome "won" takes a unit of inventory; "lost" is a lost draw (it uses one of the member's
// attempts); any other outcome is a refusal, stored only when the client sent an
// Idempotency-Key, so that the key's answer survives a crash too.

import { ELIGIBILITY_REASONS, type EligibilityReason } from "./benefit.ts";
import { TIERS, type Tier } from "./types.ts";

export type ClaimOutcome = "won" | "lost" | Exclude<EligibilityReason, "ok">;

export interface ClaimRecord {
  benefit: string;
  member: number;
  /** The Idempotency-Key (or one the gateway made up); answers are kept per (benefit, member, key). */
  key: string;
  outcome: ClaimOutcome;
  /** 1-based attempt number for won and lost draws; 0 for refusals. */
  attempt: number;
  tier: Tier;
  /** Wall-clock ms when the claim was decided. */
  at: number;
}

const OUTCOMES: ReadonlySet<string> = new Set(["won", "lost", ...ELIGIBILITY_REASONS.filter((r) => r !== "ok")]);
const TIER_NAMES: ReadonlySet<string> = new Set(TIERS);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const encodeClaimRecord = (r: ClaimRecord): Uint8Array => encoder.encode(JSON.stringify(r));

/** The record in a CLAIMS message, or null when the bytes are not one. */
export function parseClaimRecord(data: Uint8Array): ClaimRecord | null {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(decoder.decode(data)) as Record<string, unknown>;
  } catch {
    return null;
  }
  if (typeof v !== "object" || v === null) return null;
  const { benefit, member, key, outcome, attempt, tier, at } = v;
  if (typeof benefit !== "string" || typeof key !== "string" || typeof outcome !== "string" || !OUTCOMES.has(outcome)) return null;
  if (!Number.isSafeInteger(member) || !Number.isSafeInteger(attempt) || !Number.isSafeInteger(at)) return null;
  if (typeof tier !== "string" || !TIER_NAMES.has(tier)) return null;
  return { benefit, member: member as number, key, outcome: outcome as ClaimOutcome, attempt: attempt as number, tier: tier as Tier, at: at as number };
}
