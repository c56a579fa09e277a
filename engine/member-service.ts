// The engine's request endpoints on the NATS micro service `tierstream`:
//   tierstream.member.<p>   {"member": id} → the member view (CONTRACT "GET /v1/members/:id")
//   tierstream.engine.stats {}             → this engine's partitions and counters (every engine answers)
// Partition endpoints run in the queue group "tierstream", so exactly one owner answers.

import type { NatsConnection } from "@nats-io/transport-node";
import { type Service, type ServiceMsg, Svcm } from "@nats-io/services";
import { ENGINE_STATS_SUBJECT, memberRequestSubject, SERVICE_NAME } from "../proto/names.ts";
import { TIERS } from "../proto/types.ts";
import { partitionOf } from "../proto/partition.ts";
import { MEMBER_MAX } from "../proto/types.ts";
import type { EngineCounters } from "./counters.ts";
import { memberView } from "./member-view.ts";
import type { PartitionRunner } from "./partition-runner.ts";

const QUEUE = "tierstream";
const decoder = new TextDecoder();

export class RequestError extends Error {
  override readonly name = "RequestError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function respondError(msg: ServiceMsg, err: RequestError): void {
  msg.respondError(err.status, err.message, JSON.stringify({ error: { code: err.code, message: err.message } }));
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
  if (typeof member !== "number" || !Number.isInteger(member) || member < 1 || member > MEMBER_MAX) {
    throw new RequestError(400, "bad_member", "member must be an integer 1 … 2^53−1");
  }
  return member;
}

export interface ServiceDeps {
  nc: NatsConnection;
  runners: ReadonlyMap<number, PartitionRunner>;
  partitions: number;
  counters: EngineCounters;
  engineId: string;
  /** Events applied per second, over the last second. */
  eventsPerSec: () => number;
}

export async function startMemberService(deps: ServiceDeps): Promise<Service> {
  const svc = await new Svcm(deps.nc).add({
    name: SERVICE_NAME,
    version: "0.1.0",
    description: "tierstream engine: member views, eligibility and claims of owned partitions",
    queue: QUEUE,
  });
  for (const [p, runner] of deps.runners) {
    svc.addEndpoint(`member-${p}`, {
      subject: memberRequestSubject(p),
      handler: (err, msg) => {
        if (err) return;
        void answerMember(msg, p, runner, deps.partitions);
      },
    });
  }
  // Every engine answers stats, so this is a plain subscription: the services library puts
  // an endpoint without a queue into the service's queue group all the same (`queue || this.queue`).
  deps.nc.subscribe(ENGINE_STATS_SUBJECT, {
    callback: (err, msg) => {
      if (err) return;
      msg.respond(JSON.stringify(engineStats(deps)));
    },
  });
  await deps.nc.flush();
  return svc;
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
    const member = parseMemberRequest(msg.data);
    if (partitionOf(member, partitions) !== p) {
      throw new RequestError(400, "wrong_partition", `member ${member} is in partition ${partitionOf(member, partitions)}, not ${p}`);
    }
    if (!runner.caughtUp) throw new RequestError(503, "not_ready", `partition ${p} is still replaying its log`);
    // Changes produced before this request are stored first, so `seq` covers them: a feed
    // resumed from it neither misses nor repeats a change. View and seq are read together.
    await runner.published();
    msg.respond(JSON.stringify(memberView(runner.state, member, runner.tierSeq)));
  } catch (err) {
    if (err instanceof RequestError) respondError(msg, err);
    else respondError(msg, new RequestError(500, "internal", (err as Error).message));
  }
}
