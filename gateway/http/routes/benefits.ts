// Flash benefits over HTTP (CONTRACT.md "HTTP"):
//   PUT  /v1/benefits/:id            admin   define or replace; 201 created / 200 replaced
//   GET  /v1/benefits/:id            read    definition + {claimed, remaining}
//   GET  /v1/benefits                read    every benefit, by id
//   POST /v1/benefits/:id/claims     claim   {member} + Idempotency-Key → 201 won / 200 lost draw,
//                                            or 409 already_claimed / 410 sold_out / 403 reason / 404
//   GET  /v1/members/:id/eligibility read    ?benefit=B → {eligible, reason, tier, benefit, remaining}
//   POST /v1/eligibility             read    {benefit, members: [..≤1000]} → {results}
// Definitions are read straight from the KV bucket (a PUT is visible to the next GET on any
// gateway); claimed counts come from the gateway's CLAIMS tally.

import { authorize } from "../../auth.ts";
import { BENEFIT_ID_PATTERN, type Benefit, ELIGIBILITY_MEMBERS_MAX, type EligibilityReason, parseBenefit } from "../../../proto/benefit.ts";
import { seedPool } from "../../../proto/benefit-pool.ts";
import { isMemberId } from "../../../proto/types.ts";
import type { Authenticator } from "../authenticator.ts";
import { readBody } from "../body.ts";
import type { HttpDeps } from "../deps.ts";
import { HttpError, JSON_HEADERS, jsonResponse } from "../errors.ts";
import type { RouteHandler } from "../observed.ts";
import { idempotencyKeyOf } from "../order-publisher.ts";
import { parseMemberId } from "./members.ts";

const DEFINITION_BYTES_MAX = 16 * 1024;
const SMALL_BODY_BYTES_MAX = 64 * 1024;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

type BenefitDeps = Pick<HttpDeps, "benefits" | "engines">;

function benefitIdOf(raw: string | undefined): string {
  if (raw === undefined || !BENEFIT_ID_PATTERN.test(raw)) throw new HttpError(400, "bad_benefit_id", "a benefit id is 1–64 of A–Z a–z 0–9 _ -");
  return raw;
}

async function jsonBody(req: Request, bytesMax: number): Promise<unknown> {
  const bytes = await readBody(req, bytesMax);
  try {
    return JSON.parse(decoder.decode(bytes));
  } catch {
    throw new HttpError(400, "bad_json", "the body is not JSON");
  }
}

async function readDefinition(deps: BenefitDeps, id: string): Promise<{ benefit: Benefit | null; exists: boolean }> {
  const e = await deps.benefits.kv.get(id);
  if (e === null || e.operation !== "PUT") return { benefit: null, exists: false };
  const parsed = parseBenefit(e.json(), id);
  return { benefit: parsed.ok ? parsed.value : null, exists: true };
}

export function putBenefitHandler(deps: BenefitDeps, auth: Authenticator): RouteHandler {
  return async (c) => {
    authorize(await auth.principal(c.req.header("authorization")), "admin");
    const id = benefitIdOf(c.req.param("id"));
    const parsed = parseBenefit(await jsonBody(c.req.raw, DEFINITION_BYTES_MAX), id);
    if (!parsed.ok) {
      const first = parsed.problems[0];
      throw new HttpError(400, "bad_benefit", `${first.path} ${first.message}`, { problems: parsed.problems });
    }
    const { exists } = await readDefinition(deps, id);
    // The pool first: an engine that sees the definition finds its first allotment waiting.
    await seedPool(deps.benefits.pools, id, parsed.value.inventory, deps.engines.partitions);
    await deps.benefits.kv.put(id, encoder.encode(JSON.stringify(parsed.value)));
    return jsonResponse(exists ? 200 : 201, deps.benefits.stateOf(parsed.value));
  };
}

export function getBenefitHandler(deps: BenefitDeps, auth: Authenticator): RouteHandler {
  return async (c) => {
    authorize(await auth.principal(c.req.header("authorization")), "read");
    const id = benefitIdOf(c.req.param("id"));
    const { benefit } = await readDefinition(deps, id);
    if (benefit === null) throw new HttpError(404, "unknown_benefit", `no benefit "${id}"`);
    return jsonResponse(200, deps.benefits.stateOf(benefit));
  };
}

export function listBenefitsHandler(deps: BenefitDeps, auth: Authenticator): RouteHandler {
  return async (c) => {
    authorize(await auth.principal(c.req.header("authorization")), "read");
    const keys: string[] = [];
    for await (const k of await deps.benefits.kv.keys()) keys.push(k);
    keys.sort();
    const benefits = (await Promise.all(keys.map((k) => readDefinition(deps, k)))).flatMap((d) => (d.benefit ? [deps.benefits.stateOf(d.benefit)] : []));
    return jsonResponse(200, { benefits });
  };
}

export function claimHandler(deps: BenefitDeps, auth: Authenticator): RouteHandler {
  return async (c) => {
    authorize(await auth.principal(c.req.header("authorization")), "claim");
    const id = benefitIdOf(c.req.param("id"));
    const { key, fromClient } = idempotencyKeyOf(c.req.header("idempotency-key"));
    const body = await jsonBody(c.req.raw, SMALL_BODY_BYTES_MAX);
    const member = (body as { member?: unknown } | null)?.member;
    if (!isMemberId(member)) throw new HttpError(400, "bad_member", 'body must be {"member": id} with an integer id 1 … 2^53−1');
    const answer = await deps.engines.claim(id, member, key, fromClient);
    return jsonResponse(answer.won ? 201 : 200, answer);
  };
}

export function memberEligibilityHandler(deps: BenefitDeps, auth: Authenticator): RouteHandler {
  return async (c) => {
    const principal = await auth.principal(c.req.header("authorization"));
    const member = parseMemberId(c.req.param("id"));
    authorize(principal, "read", member);
    const benefit = c.req.query("benefit");
    if (benefit === undefined) throw new HttpError(400, "bad_benefit_id", "?benefit=<id> is required");
    return jsonResponse(200, await deps.engines.eligibility(benefitIdOf(benefit), member));
  };
}

export function eligibilityBatchHandler(deps: BenefitDeps, auth: Authenticator): RouteHandler {
  return async (c) => {
    authorize(await auth.principal(c.req.header("authorization")), "read");
    const body = (await jsonBody(c.req.raw, SMALL_BODY_BYTES_MAX)) as { benefit?: unknown; members?: unknown } | null;
    if (typeof body?.benefit !== "string") throw new HttpError(400, "bad_benefit_id", 'body must be {"benefit": id, "members": [..]}');
    const benefit = benefitIdOf(body.benefit);
    const members = body.members;
    if (!Array.isArray(members) || members.length === 0) throw new HttpError(400, "bad_members", "members must be a non-empty array of member ids");
    if (members.length > ELIGIBILITY_MEMBERS_MAX) throw new HttpError(400, "too_many_members", `at most ${ELIGIBILITY_MEMBERS_MAX} members per request`);
    const bad = members.findIndex((m) => !isMemberId(m));
    if (bad >= 0) throw new HttpError(400, "bad_member", `members[${bad}] is not an integer 1 … 2^53−1`);
    const reasons = await deps.engines.eligibilityReasons(benefit, members as number[]);
    return new Response(eligibilityResultsJson(members as number[], reasons), { status: 200, headers: JSON_HEADERS });
  };
}

/**
 * {"results":[{"member":m,"eligible":b,"reason":"r"},…]} printed by hand: up to 1000 members
 * per request, and an object per member only to stringify it was most of the gateway's
 * allocation in an eligibility run (its collections were the run's p99). Member ids are
 * integers and reasons are ELIGIBILITY_REASONS (eligibilityReasons checks both), so nothing
 * needs escaping; the test compares it with JSON.stringify.
 */
export function eligibilityResultsJson(members: readonly number[], reasons: readonly EligibilityReason[]): string {
  let out = '{"results":[';
  for (let i = 0; i < members.length; i++) {
    const r = reasons[i];
    out += `${i === 0 ? "" : ","}{"member":${members[i]},"eligible":${r === "ok"},"reason":"${r}"}`;
  }
  return out + "]}";
}
