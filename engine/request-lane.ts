// The request lane: many member reads, eligibility checks and claims, for any of this
// engine's partitions, in one NATS message to the engine (README "Request lane").
//
// Why: one request per member costs two NATS messages, a services-library dispatch and a
// reply inbox match per read; at tens of thousands a second those messages cost nats-server
// more CPU than the engine spends answering (measured: nats-server 53 % of a core at 20 k
// eligibility checks/s). A gateway that knows which engine serves a partition gathers what
// its HTTP handlers asked in one event-loop turn into one message to that engine.
//
// The per-partition endpoints (tierstream.member.<p>, .elig.<p>, .claim.<p>) stay the contract
// and the fallback: an item for a partition not served here is answered 503 `not_owner`, and
// the gateway asks the partition's endpoint instead (which retries through a hand-off).
//
//   LANE_DIRECTORY_SUBJECT  every engine answers {engine, lane, partitions}
//   LANE_CHANGED_SUBJECT    every engine publishes the same whenever its served set changes
//   <lane>                  [[op, partition, body], …] → replies [[index, status, answer], …]
//                           (JSON), as many as it takes to answer every item once
//                           op "m": body = member id; op "M": the same, answered as
//                           [view's JSON text, run, seq] (proto/lane.ts); op "e": an elig request body;
//                           op "c": a claim request body (answered once its record is
//                           stored, in whichever reply is next);
//                           op "E" (partition -1): {benefit, members} of any partitions →
//                           {reasons: [reason | null, …]}, null where the member's partition
//                           is not answered here (proto/lane.ts).
//                           status 0: answer is the endpoint's answer; else the error status
//                           and answer {error: {code, message}}.

import { createInbox, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { claimRequestOf, eligibilityBatchOf, eligibilityRequestOf, memberIdOf } from "./benefits/requests.ts";
import type { EligibilityReason } from "../proto/benefit.ts";
import {
  LANE_CHANGED_SUBJECT,
  LANE_DIRECTORY_SUBJECT,
  LANE_ITEMS_MAX,
  LANE_OP_CLAIM,
  LANE_OP_ELIGIBILITY,
  LANE_OP_ELIGIBILITY_BATCH,
  LANE_OP_MEMBER,
  LANE_OP_MEMBER_JSON,
  type LaneEntry,
} from "../proto/lane.ts";
import { partitionOf } from "../proto/partition.ts";
import { asRequestError, claimAnswer, eligibilityAnswer, memberAnswer, memberAnswerStamped, type ServiceDeps } from "./member-service.ts";
import { errorBody, RequestError } from "./request-error.ts";

type Answer = [status: number, answer: unknown];
const decoder = new TextDecoder();

export class RequestLane {
  /** A subject of this engine alone (engine names need not be subject-safe). */
  readonly subject = createInbox("tierstream.lane");
  private readonly subs: Subscription[] = [];
  /** Partitions whose endpoints are open here: what the lane answers for. */
  private readonly served = new Set<number>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly deps: ServiceDeps,
  ) {}

  async start(): Promise<void> {
    this.subs.push(
      this.nc.subscribe(this.subject, {
        callback: (err, msg) => {
          if (!err && msg.reply) this.answer(msg);
        },
      }),
      this.nc.subscribe(LANE_DIRECTORY_SUBJECT, {
        callback: (err, msg) => {
          if (!err) msg.respond(JSON.stringify(this.entry()));
        },
      }),
    );
    await this.nc.flush();
  }

  /** Partition p is answered here from now on (its endpoints are open). */
  serve(p: number): void {
    this.served.add(p);
    this.announce();
  }

  /** Partition p is no longer answered here (hand-off, fence, stop). */
  withdraw(p: number): void {
    if (this.served.delete(p)) this.announce();
  }

  stop(): void {
    this.served.clear();
    this.announce();
    for (const s of this.subs) s.unsubscribe();
  }

  private entry(): LaneEntry {
    return { engine: this.deps.engineId, lane: this.subject, partitions: [...this.served].sort((a, b) => a - b) };
  }

  private announce(): void {
    if (this.nc.isClosed()) return;
    try {
      this.nc.publish(LANE_CHANGED_SUBJECT, JSON.stringify(this.entry()));
    } catch {
      // draining: gateways learn from the lane's no-responders instead
    }
  }

  /**
   * Every item is answered as soon as it is decided: answers that are ready together go out
   * together, as [[index, status, answer], …], one reply per turn of the event loop. A slow
   * item (a claim waiting for an allotment) never holds back the others. One bad item never
   * spoils the others; a message that is not a list of items is answered [[-1, 400, …]].
   */
  private answer(msg: Msg): void {
    let items: unknown;
    try {
      items = JSON.parse(decoder.decode(msg.data));
    } catch {
      items = null;
    }
    if (!Array.isArray(items) || items.length === 0 || items.length > LANE_ITEMS_MAX) {
      const message = `a lane message is a JSON array of 1–${LANE_ITEMS_MAX} [op, partition, body] items`;
      respond(msg, JSON.stringify([[-1, 400, { error: { code: "bad_request", message } }]]));
      return;
    }
    let ready: unknown[][] = [];
    const flush = () => {
      const out = ready;
      ready = [];
      respond(msg, JSON.stringify(out));
    };
    items.forEach((item, i) => {
      void this.answerItem(item).then(([status, answer]) => {
        if (ready.length === 0) setImmediate(flush);
        ready.push([i, status, answer]);
      });
    });
  }

  private async answerItem(item: unknown): Promise<Answer> {
    try {
      if (!Array.isArray(item) || item.length !== 3 || !Number.isInteger(item[1])) {
        throw new RequestError(400, "bad_request", "an item is [op, partition, body]");
      }
      const [op, p, body] = item as [unknown, number, unknown];
      if (op === LANE_OP_ELIGIBILITY_BATCH) return [0, { reasons: this.reasonsOf(eligibilityBatchOf(body)) }];
      const runner = this.deps.runners.get(p);
      if (!this.served.has(p) || !runner) throw new RequestError(503, "not_owner", `partition ${p} is not served by ${this.deps.engineId}`);
      if (op === LANE_OP_MEMBER) {
        return [0, await memberAnswer(p, runner, this.deps.partitions, memberIdOf(body))];
      }
      if (op === LANE_OP_MEMBER_JSON) {
        return [0, await memberAnswerStamped(p, runner, this.deps.partitions, memberIdOf(body))];
      }
      if (op === LANE_OP_ELIGIBILITY) return [0, eligibilityAnswer(this.deps, p, eligibilityRequestOf(body, p, this.deps.partitions))];
      if (op === LANE_OP_CLAIM) return [0, await claimAnswer(this.deps, p, claimRequestOf(body, p, this.deps.partitions))];
      throw new RequestError(400, "bad_request", `unknown lane op ${JSON.stringify(op)}`);
    } catch (err) {
      const e = asRequestError(err);
      return [e.status, errorBody(e)];
    }
  }

  /**
   * One reason per member, in order; null where the member's partition is not answered here.
   * A loop over the desks, no object per member: a batch is up to 1000 members.
   */
  private reasonsOf(req: { benefit: string; members: readonly number[] }): (EligibilityReason | null)[] {
    const reasons = new Array<EligibilityReason | null>(req.members.length);
    for (let i = 0; i < req.members.length; i++) {
      const member = req.members[i];
      const p = partitionOf(member, this.deps.partitions);
      const desk = this.served.has(p) ? this.deps.benefits.desks.get(p) : undefined;
      reasons[i] = desk === undefined ? null : desk.reasonOf(req.benefit, member);
    }
    return reasons;
  }
}

/** A reply that cannot go out (the engine is closing its connection) is the gateway's to time out. */
function respond(msg: Msg, data: string): void {
  try {
    msg.respond(data);
  } catch {
    // closed or draining: the gateway asks the partition's endpoint once its wait runs out
  }
}
