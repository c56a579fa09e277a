// A drop's figures (the result's `figures`) and the checks they must pass — any failed one
// makes the run exit 4:
//   units won   201 answers = min(inventory, claims sent = claimants × per-member unless the run
//               was interrupted): never more (an oversell),
//               never fewer (units stranded while members were refused), every claim answered;
//   per member  no member won more than --per-member (answers and CLAIMS), and every claim
//               beyond the limit was refused 409 already_claimed;
//   CLAIMS      the stream holds exactly as many `won` records of the benefit as 201 answers;
//   same key    every repeat with the same Idempotency-Key got the first answer again.

import type { Tier } from "../../proto/types.ts";
import type { Check } from "../scenarios/scenario.ts";
import type { SideClaims } from "./claim-storm.ts";
import type { TierRaise } from "./drop-tiers.ts";

export interface DropFigures {
  benefit: string;
  minTier: Tier;
  inventory: number;
  perMember: number;
  claimants: number;
  /** claimants × perMember. */
  demand: number;
  tiers: TierRaise | null;
  feed: {
    connected: number;
    /** Connected members who may claim (all of them at bronze). */
    eligible: number;
    /** Eligible connected members told by a `benefit` frame, and members told who were not eligible. */
    told: number;
    toldIneligible: number;
    /** ms from the opening until the last eligible member was told; null: not all were. */
    allToldMs: number | null;
    closed: number;
    closedByReason: Record<string, number>;
    /** sold_out when demand reached the inventory; else ended (the run ends the benefit). */
    expectedClose: "sold_out" | "ended";
  };
  claims: {
    sent: number;
    answered: number;
    unanswered: number;
    /** 201 answers to the main claims. */
    won: number;
    byStatus: Record<string, number>;
    transientRetries: number;
    stormMs: number;
    perSec: number;
    firstError: string | null;
    /** Over main claims and those beyond the limit. */
    maxWonByMember: number;
    membersOverLimit: number;
  };
  repeats: { sent: number; same: number; unanswered: number; differing: { member: number; first: string; again: string }[] };
  /** One more claim each, with a new key, by the sample's members who used every attempt. */
  beyond: SideClaims;
  stream: { records: number; won: number; byOutcome: Record<string, number>; maxWonByMember: number; membersOverLimit: number; scanned: number; ms: number } | null;
  streamError: string | null;
}

const n = (v: number) => v.toLocaleString("en-US");
const statuses = (by: Record<string, number>) => Object.entries(by).map(([k, v]) => `${k} ${n(v)}`).join(", ") || "none";

/** Units won by 201 answers, main claims and those beyond the limit. */
export const wonAnswers = (f: DropFigures): number => f.claims.won + (f.beyond.byStatus["201 won"] ?? 0);

export function dropChecks(f: DropFigures): Check[] {
  const won = wonAnswers(f);
  // Every claim sent (all of the demand, unless the run was interrupted) wins while units last.
  const expected = Math.min(f.inventory, f.claims.sent);
  const sent = f.claims.sent === f.demand ? `${n(f.claimants)} claimants × ${f.perMember}` : `${n(f.claims.sent)} of ${n(f.demand)} claims sent`;
  const why =
    f.claims.unanswered > 0
      ? `; ${n(f.claims.unanswered)} claims got no answer (first: ${f.claims.firstError}): cannot tell`
      : won > f.inventory
        ? `: OVERSOLD by ${n(won - f.inventory)}`
        : won < expected
          ? `: ${n(expected - won)} units not sold to members who asked`
          : won > expected
            ? ": more wins than claims asked for"
            : "";
  const beyondRefused = f.beyond.byStatus["409 already_claimed"] ?? 0;
  const s = f.stream;
  return [
    {
      name: "units won",
      pass: f.claims.unanswered === 0 && won === expected,
      detail: `${n(won)} won (201) ${won === expected ? "=" : "≠"} min(inventory ${n(f.inventory)}, ${sent}) = ${n(expected)}${why}`,
    },
    {
      name: "per member",
      pass: f.claims.membersOverLimit === 0 && (s?.membersOverLimit ?? 0) === 0 && beyondRefused === f.beyond.sent,
      detail:
        `most won by one member ${n(f.claims.maxWonByMember)} (answers), ${s === null ? "–" : n(s.maxWonByMember)} (CLAIMS) ≤ ${f.perMember}: ` +
        `${n(f.claims.membersOverLimit)} and ${s === null ? "–" : n(s.membersOverLimit)} members over; ` +
        `${n(beyondRefused)} of ${n(f.beyond.sent)} claims beyond the limit refused 409 (${statuses(f.beyond.byStatus)})`,
    },
    {
      name: "CLAIMS",
      pass: s !== null && s.won === won && s.won <= f.inventory,
      detail:
        s === null
          ? `not read: ${f.streamError}`
          : `${n(s.won)} won records of ${f.benefit} ${s.won === won ? "=" : "≠"} ${n(won)} 201 answers${s.won > f.inventory ? `, OVERSOLD by ${n(s.won - f.inventory)}` : ""} ` +
            `(${n(s.records)} records: ${statuses(s.byOutcome)}; ${n(s.scanned)} messages read in ${(s.ms / 1000).toFixed(1)} s)`,
    },
    {
      name: "same key",
      pass: f.repeats.sent > 0 && f.repeats.same === f.repeats.sent,
      detail:
        `${n(f.repeats.same)} of ${n(f.repeats.sent)} claims repeated with their Idempotency-Key answered as the first time` +
        (f.repeats.unanswered > 0 ? `; ${n(f.repeats.unanswered)} repeats got no answer` : "") +
        f.repeats.differing.map((d) => `; member ${d.member}: "${d.first}" then "${d.again}"`).join(""),
    },
  ];
}

/** Members over `limit` in a member → units map, and the most any member has. */
export function overLimit(wonBy: ReadonlyMap<number, number>, limit: number): { members: number; max: number } {
  let members = 0;
  let max = 0;
  for (const v of wonBy.values()) {
    if (v > limit) members++;
    if (v > max) max = v;
  }
  return { members, max };
}
