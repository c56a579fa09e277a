// Request bodies of tierstream.elig.<p> and tierstream.claim.<p> (JSON), checked at the door.

import { BENEFIT_ID_PATTERN, ELIGIBILITY_MEMBERS_MAX } from "../../proto/benefit.ts";
import { partitionOf } from "../../proto/partition.ts";
import { isMemberId } from "../../proto/types.ts";
import { hasLineBreak } from "../../proto/wire-headers.ts";
import { RequestError } from "../request-error.ts";
import type { ClaimRequest } from "./claim-desk.ts";

export const IDEMPOTENCY_KEY_LENGTH_MAX = 200;
const decoder = new TextDecoder();
const NOT_AN_OBJECT = "body must be a JSON object";

/** v as a member id, or 400 bad_member. */
export function memberIdOf(v: unknown): number {
  if (!isMemberId(v)) throw new RequestError(400, "bad_member", "member must be an integer 1 … 2^53−1");
  return v;
}

function parseBody(data: Uint8Array): unknown {
  try {
    return JSON.parse(decoder.decode(data));
  } catch {
    throw new RequestError(400, "bad_request", NOT_AN_OBJECT);
  }
}

/** A parsed request body as an object, or 400 bad_request. */
function objectOf(parsed: unknown): Record<string, unknown> {
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new RequestError(400, "bad_request", NOT_AN_OBJECT);
  return parsed as Record<string, unknown>;
}

function benefitOf(body: Record<string, unknown>): string {
  const b = body.benefit;
  if (typeof b !== "string" || !BENEFIT_ID_PATTERN.test(b)) throw new RequestError(400, "bad_benefit", "benefit must be an id of 1–64 of A–Z a–z 0–9 _ -");
  return b;
}

function memberIn(v: unknown, p: number, partitions: number): number {
  const member = memberIdOf(v);
  const owner = partitionOf(member, partitions);
  if (owner !== p) throw new RequestError(400, "wrong_partition", `member ${member} is in partition ${owner}, not ${p}`);
  return member;
}

export interface EligibilityRequest {
  benefit: string;
  members: number[];
  /** Asked as {members: [...]}: answered as {results}. */
  batch: boolean;
}

/** {benefit, member} or {benefit, members: [...]} — every member in partition p. */
export function parseEligibilityRequest(data: Uint8Array, p: number, partitions: number): EligibilityRequest {
  return eligibilityRequestOf(parseBody(data), p, partitions);
}

/** The same, from a body already parsed (the engine's request lane carries many in one message). */
export function eligibilityRequestOf(parsed: unknown, p: number, partitions: number): EligibilityRequest {
  const body = objectOf(parsed);
  const benefit = benefitOf(body);
  if (Array.isArray(body.members)) {
    return { benefit, members: withinBatchMax(body.members).map((m) => memberIn(m, p, partitions)), batch: true };
  }
  return { benefit, members: [memberIn(body.member, p, partitions)], batch: false };
}

/** The lane's batch across partitions: {benefit, members: [1…1000 ids]}; partitions are the lane's to check. */
export function eligibilityBatchOf(parsed: unknown): { benefit: string; members: number[] } {
  const body = objectOf(parsed);
  const benefit = benefitOf(body);
  const members = body.members;
  if (!Array.isArray(members) || members.length === 0) throw new RequestError(400, "bad_members", "members must be a non-empty array of member ids");
  for (const m of withinBatchMax(members)) memberIdOf(m);
  return { benefit, members: members as number[] };
}

/** The members of a batch, or 400 too_many_members past ELIGIBILITY_MEMBERS_MAX. */
function withinBatchMax<T>(members: T[]): T[] {
  if (members.length > ELIGIBILITY_MEMBERS_MAX) throw new RequestError(400, "too_many_members", `at most ${ELIGIBILITY_MEMBERS_MAX} members per request`);
  return members;
}

/** {benefit, member, key, keyFromClient?} */
export function parseClaimRequest(data: Uint8Array, p: number, partitions: number): ClaimRequest {
  return claimRequestOf(parseBody(data), p, partitions);
}

/** The same, from a body already parsed (the engine's request lane). */
export function claimRequestOf(parsed: unknown, p: number, partitions: number): ClaimRequest {
  const body = objectOf(parsed);
  const benefit = benefitOf(body);
  const member = memberIn(body.member, p, partitions);
  const key = body.key;
  // No line break: the key goes into the claim record's Nats-Msg-Id header (wireHeaders refuses one).
  if (typeof key !== "string" || key.length === 0 || key.length > IDEMPOTENCY_KEY_LENGTH_MAX || hasLineBreak(key)) {
    throw new RequestError(400, "bad_key", `key must be a string of 1–${IDEMPOTENCY_KEY_LENGTH_MAX} characters without a line break`);
  }
  return { benefit, member, key, keyFromClient: body.keyFromClient === true };
}
