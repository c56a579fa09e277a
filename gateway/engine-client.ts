// Requests from a gateway to the engines: batched on the serving engine's request lane when
// the gateway knows it (engine-lanes.ts), else to the `tierstream` micro service's partition
// endpoint. A partition whose owner is momentarily missing (no responders, not_ready) is
// retried briefly; every other error is passed on as it came.

import type { NatsConnection } from "@nats-io/transport-node";
import type { ClaimAnswer, Eligibility } from "../proto/benefit.ts";
import { LANE_OP_CLAIM, LANE_OP_ELIGIBILITY, LANE_OP_MEMBER } from "../proto/lane.ts";
import { claimRequestSubject, eligibilityRequestSubject, memberRequestSubject } from "../proto/names.ts";
import { partitionOf } from "../proto/partition.ts";
import { ReplyError, ReplyInbox } from "../proto/reply-inbox.ts";
import { EngineLanes } from "./engine-lanes.ts";

export interface MemberView {
  member: number;
  score: number;
  tier: string;
  next: { tier: string; pointsNeeded: number } | null;
  lines: Record<string, number>;
  expiring: { at: number; points: number }[];
  seq: number;
}

export class EngineError extends Error {
  override readonly name = "EngineError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** An engine's error answer ({error: {code, message}}, from an endpoint or a lane) as an EngineError. */
function engineErrorOf(status: number, answer: unknown): EngineError {
  const e = (answer as { error?: { code?: string; message?: string } } | null)?.error;
  return new EngineError(status, e?.code ?? "engine_error", e?.message ?? "engine error");
}

/** Backoff between tries while a partition has no owner answering (a hand-off, a restart). */
const RETRY_DELAYS_MS = [25, 50, 100, 200, 400] as const;
/**
 * How long a request keeps trying a partition nobody answers for: a hand-off (drain, snapshot,
 * lease, load, replay) or a takeover after a lease expired takes seconds, and every request is
 * safe to repeat (reads; claims carry their idempotency key).
 */
export const OWNERLESS_RETRY_MS_DEFAULT = 8000;
const decoder = new TextDecoder();

export class EngineClient {
  /** Engine requests through one inbox, not nc.request's timer and mapping per request. */
  private readonly inbox: ReplyInbox;
  /** Reads, eligibility checks and claims batched per engine (null: every request to its partition's endpoint). */
  readonly lanes: EngineLanes | null;

  constructor(
    nc: NatsConnection,
    readonly partitions: number,
    timeoutMs: number,
    private readonly ownerlessRetryMs = OWNERLESS_RETRY_MS_DEFAULT,
    useLanes = true,
  ) {
    this.inbox = new ReplyInbox(nc, timeoutMs);
    this.lanes = useLanes ? new EngineLanes(nc, partitions, this.inbox) : null;
    this.lanes?.start();
  }

  close(): void {
    this.lanes?.close();
    this.inbox.close();
  }

  memberView(member: number): Promise<MemberView> {
    const p = partitionOf(member, this.partitions);
    return this.viaLane(p, LANE_OP_MEMBER, member, memberRequestSubject(p), { member }) as Promise<MemberView>;
  }

  eligibility(benefit: string, member: number): Promise<Eligibility> {
    const p = partitionOf(member, this.partitions);
    const body = { benefit, member };
    return this.viaLane(p, LANE_OP_ELIGIBILITY, body, eligibilityRequestSubject(p), body) as Promise<Eligibility>;
  }

  /** Eligibility of many members: one item per partition, all in parallel (one lane message per engine). */
  async eligibilityOfMany(benefit: string, members: readonly number[]): Promise<{ member: number; eligible: boolean; reason: string }[]> {
    const byPartition = new Map<number, number[]>();
    for (const m of members) {
      const p = partitionOf(m, this.partitions);
      const list = byPartition.get(p);
      if (list) list.push(m);
      else byPartition.set(p, [m]);
    }
    const answers = await Promise.all(
      [...byPartition].map(([p, ms]) => {
        const body = { benefit, members: ms };
        return this.viaLane(p, LANE_OP_ELIGIBILITY, body, eligibilityRequestSubject(p), body) as Promise<{ results: { member: number; eligible: boolean; reason: string }[] }>;
      }),
    );
    const byMember = new Map<number, { member: number; eligible: boolean; reason: string }>();
    for (const a of answers) for (const r of a.results) byMember.set(r.member, r);
    // In the caller's order (a member asked for twice is answered twice).
    return members.map((m) => byMember.get(m)!);
  }

  /**
   * A claim. Retries after a lost reply are safe: the engine answers a (benefit, member, key)
   * it has seen with the stored answer.
   */
  claim(benefit: string, member: number, key: string, keyFromClient: boolean): Promise<ClaimAnswer> {
    const p = partitionOf(member, this.partitions);
    const body = { benefit, member, key, keyFromClient };
    return this.viaLane(p, LANE_OP_CLAIM, body, claimRequestSubject(p), body) as Promise<ClaimAnswer>;
  }

  /**
   * Through the engine lane when p's engine is known; a 503 there (moved, replaying, gone)
   * goes to the partition's endpoint, which retries until an owner answers.
   */
  private async viaLane(p: number, op: string, laneBody: unknown, subject: string, body: unknown): Promise<unknown> {
    const viaLane = this.lanes?.ask(p, op, laneBody);
    if (viaLane) {
      const [status, answer] = await viaLane;
      if (status === 0) return answer;
      if (status !== 503) throw engineErrorOf(status, answer);
      this.lanes!.fallbacks++;
    }
    return this.request(subject, body);
  }

  /** A JSON request to a partition endpoint; error answers become EngineError. */
  async request(subject: string, body: unknown): Promise<unknown> {
    const payload = JSON.stringify(body);
    const giveUpAt = performance.now() + this.ownerlessRetryMs;
    for (let attempt = 0; ; attempt++) {
      const last = performance.now() >= giveUpAt;
      try {
        const reply = await this.inbox.request(subject, payload);
        const status = Number(reply.headers?.get("Nats-Service-Error-Code") || 0);
        const json: unknown = JSON.parse(decoder.decode(reply.data));
        if (status === 0) return json;
        const err = engineErrorOf(status, json);
        if (status !== 503 || last) throw err;
      } catch (err) {
        if (err instanceof EngineError) throw err;
        const noOwner = err instanceof ReplyError && err.code !== "closed";
        if (!noOwner || last) {
          throw new EngineError(503, "unavailable", `no engine answered ${subject}: ${(err as Error).message}`);
        }
      }
      await Bun.sleep(RETRY_DELAYS_MS[Math.min(attempt, RETRY_DELAYS_MS.length - 1)]);
    }
  }
}
