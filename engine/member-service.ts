// The engine's request endpoints on the NATS micro service `tierstream`:
//   tierstream.member.<p>   {"member": id} → the member view (CONTRACT "GET /v1/members/:id")
//   tierstream.engine.stats {}             → this engine's partitions and counters (every engine answers)
//   tierstream.elig.<p>     {"benefit", "member"} or {"benefit", "members": [..]} → eligibility
//   tierstream.claim.<p>    {"benefit", "member", "key", "keyFromClient"} → a claim (engine/benefits)
// Partition endpoints run in the queue group "tierstream", one service instance per partition.

import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { type Service, type ServiceMsg, Svcm } from "@nats-io/services";
import {
  claimRequestSubject,
  eligibilityRequestSubject,
  ENGINE_STATS_SUBJECT,
  memberRequestSubject,
  SERVICE_NAME,
} from "../proto/names.ts";
import type { Benefits } from "./benefits/benefits.ts";
import type { ClaimRequest } from "./benefits/claim-desk.ts";
import { type EligibilityRequest, memberIdOf, parseClaimRequest, parseEligibilityRequest } from "./benefits/requests.ts";
import type { StampedView } from "../proto/lane.ts";
import { TIERS } from "../proto/types.ts";
import { partitionOf } from "../proto/partition.ts";
import type { EngineCounters } from "./counters.ts";
import { errorBody, RequestError } from "./request-error.ts";
import { memberView } from "./member-view.ts";
import type { PartitionRunner } from "./partition-runner.ts";

const QUEUE = "tierstream";
const decoder = new TextDecoder();

function respondError(msg: ServiceMsg, err: RequestError): void {
  msg.respondError(err.status, err.message, JSON.stringify(errorBody(err)));
}

/** Parses {"member": id} (or a bare id) from a request body. */
export function parseMemberRequest(data: Uint8Array): number {
  const text = decoder.decode(data).trim();
  let member: unknown;
  try {
    const parsed: unknown = JSON.parse(text);
    member = typeof parsed === "object" && parsed !== null ? (parsed as { member?: unknown }).member : parsed;
  } catch {
    throw new RequestError(400, "bad_request", 'body must be JSON {"member": id}');
  }
  return memberIdOf(member);
}

export interface ServiceDeps {
  nc: NatsConnection;
  runners: ReadonlyMap<number, PartitionRunner>;
  partitions: number;
  counters: EngineCounters;
  engineId: string;
  /** Events applied per second, over the last second. */
  eventsPerSec: () => number;
  benefits: Benefits;
}

/**
 * One micro-service instance per owned partition, so a partition's endpoints come and go with
 * its ownership (an instance stops as a whole; the services library has no way to remove one
 * endpoint). Every instance is the service `tierstream`; its three endpoints share the
 * queue group, so a request reaches one owner even while a hand-off briefly has two.
 */
export async function startPartitionService(deps: ServiceDeps, p: number, runner: PartitionRunner): Promise<Service> {
  const svc = await new Svcm(deps.nc).add({
    name: SERVICE_NAME,
    version: "0.1.0",
    description: `tierstream engine ${deps.engineId}: member views, eligibility and claims of partition ${p}`,
    queue: QUEUE,
    metadata: { partition: String(p), engine: deps.engineId },
  });
  svc.addEndpoint(`member-${p}`, {
    subject: memberRequestSubject(p),
    handler: (err, msg) => {
      if (err) return;
      void answerMember(msg, p, runner, deps.partitions);
    },
  });
  svc.addEndpoint(`elig-${p}`, {
    subject: eligibilityRequestSubject(p),
    handler: (err, msg) => {
      if (err) return;
      answerEligibility(msg, p, deps);
    },
  });
  svc.addEndpoint(`claim-${p}`, {
    subject: claimRequestSubject(p),
    handler: (err, msg) => {
      if (err) return;
      void answerClaim(msg, p, deps);
    },
  });
  await deps.nc.flush();
  return svc;
}

/**
 * Every engine answers stats, so this is a plain subscription: the services library puts an
 * endpoint without a queue into the service's queue group all the same (`queue || this.queue`).
 */
export async function startStatsResponder(deps: ServiceDeps): Promise<Subscription> {
  const sub = deps.nc.subscribe(ENGINE_STATS_SUBJECT, {
    callback: (err, msg) => {
      if (err) return;
      msg.respond(JSON.stringify(engineStats(deps)));
    },
  });
  await deps.nc.flush();
  return sub;
}

export interface EngineStats {
  engine: string;
  counters: ReturnType<EngineCounters["snapshot"]>;
  eventsPerSec: number;
  membersPerTier: Record<string, number>;
  partitions: { partition: number; members: number; lastSeq: number; caughtUp: boolean; clock: number }[];
}

function engineStats(deps: ServiceDeps): EngineStats {
  const perTier = new Array<number>(TIERS.length).fill(0);
  const partitions = [...deps.runners.entries()].map(([p, r]) => {
    const { state } = r;
    for (let i = 0; i < state.memberCount; i++) perTier[state.tier[i]]++;
    return { partition: p, members: state.memberCount, lastSeq: r.lastSeq, caughtUp: r.caughtUp, clock: state.clock };
  });
  return {
    engine: deps.engineId,
    counters: deps.counters.snapshot(),
    eventsPerSec: deps.eventsPerSec(),
    membersPerTier: Object.fromEntries(TIERS.map((t, i) => [t, perTier[i]])),
    partitions,
  };
}

async function answerMember(msg: ServiceMsg, p: number, runner: PartitionRunner, partitions: number): Promise<void> {
  try {
    msg.respond(JSON.stringify(await memberAnswer(p, runner, partitions, parseMemberRequest(msg.data))));
  } catch (err) {
    answered(msg, err);
  }
}

/** The member view of `member` in partition p (what tierstream.member.<p> answers); throws RequestError. */
export async function memberAnswer(p: number, runner: PartitionRunner, partitions: number, member: number) {
  await readable(p, runner, partitions, member);
  return memberView(runner.state, member, runner.tierSeq);
}

/**
 * The view as JSON text, with the run and ORDERS seq it is current to (lane op "M"): a gateway
 * keeps it until a view notice of that run lists the member past that seq.
 */
export async function memberAnswerStamped(p: number, runner: PartitionRunner, partitions: number, member: number): Promise<StampedView> {
  await readable(p, runner, partitions, member);
  // In one synchronous step: the view, and the seq of the last message applied to that state.
  return [JSON.stringify(memberView(runner.state, member, runner.tierSeq)), runner.notices?.run ?? -1, runner.lastSeq];
}

async function readable(p: number, runner: PartitionRunner, partitions: number, member: number): Promise<void> {
  if (partitionOf(member, partitions) !== p) {
    throw new RequestError(400, "wrong_partition", `member ${member} is in partition ${partitionOf(member, partitions)}, not ${p}`);
  }
  if (!runner.caughtUp) throw new RequestError(503, "not_ready", `partition ${p} is still replaying its log`);
  // Changes produced before this request are stored first, so `seq` covers them: a feed
  // resumed from it neither misses nor repeats a change. The caller reads view and seq together.
  await runner.published();
}

function answered(msg: ServiceMsg, err: unknown): void {
  respondError(msg, asRequestError(err));
}

export function asRequestError(err: unknown): RequestError {
  return err instanceof RequestError ? err : new RequestError(500, "internal", (err as Error).message);
}

function deskOf(deps: ServiceDeps, p: number) {
  const desk = deps.benefits.desks.get(p);
  if (!desk) throw new RequestError(503, "not_ready", `partition ${p} is not served here yet`);
  return desk;
}

function answerEligibility(msg: ServiceMsg, p: number, deps: ServiceDeps): void {
  try {
    msg.respond(JSON.stringify(eligibilityAnswer(deps, p, parseEligibilityRequest(msg.data, p, deps.partitions))));
  } catch (err) {
    answered(msg, err);
  }
}

/** What tierstream.elig.<p> answers to a parsed request; throws RequestError. */
export function eligibilityAnswer(deps: ServiceDeps, p: number, req: EligibilityRequest) {
  const desk = deskOf(deps, p);
  if (!req.batch) {
    const e = desk.eligibility(req.benefit, req.members[0]);
    return { member: e.member, eligible: e.eligible, reason: e.reason, tier: e.tier, benefit: e.benefit, remaining: e.remaining };
  }
  const results = req.members.map((m) => {
    const e = desk.eligibility(req.benefit, m);
    return { member: m, eligible: e.eligible, reason: e.reason };
  });
  return { results };
}

async function answerClaim(msg: ServiceMsg, p: number, deps: ServiceDeps): Promise<void> {
  try {
    msg.respond(JSON.stringify(await claimAnswer(deps, p, parseClaimRequest(msg.data, p, deps.partitions))));
  } catch (err) {
    answered(msg, err);
  }
}

/** What tierstream.claim.<p> answers to a parsed request; throws RequestError. */
export function claimAnswer(deps: ServiceDeps, p: number, req: ClaimRequest) {
  return deskOf(deps, p).claim(req);
}
