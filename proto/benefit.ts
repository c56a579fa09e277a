// Flash benefits (CONTRACT.md "Flash benefits"): the definition stored in the BENEFITS KV
// bucket, its validation, the eligibility reasons, and the draw.
//
// Validation is off the hot path (a PUT, a KV watch), so it is a zod schema with one clear
// message per problem; every process that reads BENEFITS validates again, because anyone
// with NATS access can write the bucket.

import { z } from "zod";
import { fmix32 } from "./partition.ts";
import { type Tier, TIERS } from "./types.ts";

/** KV keys allow [-/_=.a-zA-Z0-9]; ids are a safe subset of that, also usable in URLs and subjects. */
export const BENEFIT_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** Larger inventories are not flash benefits; the bound keeps every count an exact integer. */
export const BENEFIT_INVENTORY_MAX = 1_000_000_000;
export const BENEFIT_PER_MEMBER_MAX = 1000;
/** Members in one eligibility batch at most (CONTRACT: POST /v1/eligibility, members ≤ 1000); the gateway and the engine both hold to it. */
export const ELIGIBILITY_MEMBERS_MAX = 1000;

export interface Benefit {
  id: string;
  title: string;
  /** Lowest tier that may claim. */
  minTier: Tier;
  /** Open from startsAt (inclusive) to endsAt (exclusive), ms since the epoch, wall clock. */
  startsAt: number;
  endsAt: number;
  /** Units in all; null for unlimited. */
  inventory: number | null;
  /** Claims (draw attempts, when `odds` is set) per member. */
  perMember: number;
  /** Probability of winning a claim, per tier; every tier from minTier up must be listed. */
  odds?: Partial<Record<Tier, number>>;
}

/** What a benefit looks like over HTTP: the definition plus what is left of it. */
export interface BenefitState extends Benefit {
  claimed: number;
  remaining: number | null;
}

/** The answer to one member's eligibility (tierstream.elig.<p>, GET /v1/members/:id/eligibility). */
export interface Eligibility {
  member: number;
  benefit: string;
  eligible: boolean;
  reason: EligibilityReason;
  tier: Tier;
  remaining: number | null;
}

/** A claim's answer: a won (201) or lost (200) draw; refusals are errors with the reason as code. */
export interface ClaimAnswer {
  benefit: string;
  member: number;
  won: boolean;
  /** 1-based: the member's draws for this benefit, this one included. */
  attempt: number;
  tier: Tier;
  /** CLAIMS sequence of the record. */
  seq: number;
  /** Wall-clock ms when it was decided. */
  at: number;
  remaining: number | null;
}

export const ELIGIBILITY_REASONS = [
  "ok",
  "tier_too_low",
  "not_started",
  "ended",
  "already_claimed",
  "sold_out",
  "unknown_benefit",
] as const;
export type EligibilityReason = (typeof ELIGIBILITY_REASONS)[number];
const REASON_SET: ReadonlySet<unknown> = new Set(ELIGIBILITY_REASONS);
export const isEligibilityReason = (v: unknown): v is EligibilityReason => REASON_SET.has(v);

/** HTTP status of a claim refused for each reason (CONTRACT "POST /v1/benefits/:id/claims"). */
export const CLAIM_REFUSAL_STATUS: Record<Exclude<EligibilityReason, "ok">, number> = {
  tier_too_low: 403,
  not_started: 403,
  ended: 403,
  already_claimed: 409,
  sold_out: 410,
  unknown_benefit: 404,
};

const tierIndex = (t: Tier): number => TIERS.indexOf(t);
const msTimestamp = z.number().int("must be an integer (ms since the epoch)").min(0).max(Number.MAX_SAFE_INTEGER);

const benefitSchema = z
  .object({
    id: z.string().regex(BENEFIT_ID_PATTERN, "must be 1–64 of A–Z a–z 0–9 _ -"),
    title: z.string().min(1, "must not be empty").max(200, "must be at most 200 characters"),
    minTier: z.enum(TIERS, { error: `must be one of ${TIERS.join(", ")}` }),
    startsAt: msTimestamp,
    endsAt: msTimestamp,
    inventory: z.number().int("must be an integer or null").min(0).max(BENEFIT_INVENTORY_MAX).nullable(),
    perMember: z.number().int("must be an integer").min(1, "must be at least 1").max(BENEFIT_PER_MEMBER_MAX),
    odds: z
      .partialRecord(z.enum(TIERS, { error: `keys must be tiers: ${TIERS.join(", ")}` }), z.number().min(0, "must be 0…1").max(1, "must be 0…1"))
      .optional(),
  })
  .strict()
  .superRefine((b, ctx) => {
    if (b.endsAt <= b.startsAt) ctx.addIssue({ code: "custom", path: ["endsAt"], message: "must be after startsAt" });
    if (b.odds) {
      const missing = TIERS.filter((t) => tierIndex(t) >= tierIndex(b.minTier) && b.odds![t] === undefined);
      if (missing.length > 0) {
        ctx.addIssue({ code: "custom", path: ["odds"], message: `must give a probability for every tier from minTier up (missing: ${missing.join(", ")})` });
      }
    }
  });

export interface BenefitProblem {
  path: string;
  message: string;
}

export type ParsedBenefit = { ok: true; value: Benefit } | { ok: false; problems: BenefitProblem[] };

/**
 * Validates a definition. `id`, when given (the URL's), fills a missing body id and must
 * match a present one.
 */
export function parseBenefit(input: unknown, id?: string): ParsedBenefit {
  let value = input;
  if (id !== undefined && typeof input === "object" && input !== null && !Array.isArray(input)) {
    const body = input as Record<string, unknown>;
    if (body.id !== undefined && body.id !== id) {
      return { ok: false, problems: [{ path: "id", message: `is "${String(body.id)}" but the URL names "${id}"` }] };
    }
    value = { ...body, id };
  }
  const r = benefitSchema.safeParse(value);
  if (r.success) return { ok: true, value: r.data as Benefit };
  return {
    ok: false,
    problems: r.error.issues.map((i) => ({ path: i.path.join(".") || "(body)", message: i.message })),
  };
}

/** Whether the benefit is open at `nowMs` (wall clock; see README "Flash benefits"). */
export function windowReason(b: Benefit, nowMs: number): "ok" | "not_started" | "ended" {
  if (nowMs < b.startsAt) return "not_started";
  if (nowMs >= b.endsAt) return "ended";
  return "ok";
}

export const tierAtLeast = (tier: Tier | number, minTier: Tier): boolean =>
  (typeof tier === "number" ? tier : tierIndex(tier)) >= tierIndex(minTier);

/** The member's odds of winning; 1 without a draw. */
export function oddsFor(b: Benefit, tier: Tier): number {
  if (!b.odds) return 1;
  return b.odds[tier] ?? 0;
}

const utf8 = new TextEncoder();

/**
 * The draw for (benefit, member, attempt): a pure function, so a retry — in this process or
 * in the next owner after a crash — decides the same. FNV-1a over the three, then murmur's
 * finaliser for avalanche; u is uniform in [0, 1) with 2^32 steps.
 */
export function drawValue(benefit: string, member: number, attempt: number): number {
  let h = 0x811c9dc5;
  for (const byte of utf8.encode(`${benefit}\n${member}\n${attempt}`)) {
    h ^= byte;
    h = Math.imul(h, 0x01000193);
  }
  return fmix32(h >>> 0) / 0x1_0000_0000;
}

export function drawWon(benefit: string, member: number, attempt: number, odds: number): boolean {
  if (odds >= 1) return true;
  if (odds <= 0) return false;
  return drawValue(benefit, member, attempt) < odds;
}

export function remainingOf(b: Benefit, claimed: number): number | null {
  return b.inventory === null ? null : Math.max(0, b.inventory - claimed);
}
