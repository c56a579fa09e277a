// Requests from a gateway to the engines: batched on the serving engine's request lane when
// the gateway knows it (engine-lanes.ts), else to the `tierstream` micro service's partition
// endpoint. A partition whose owner is momentarily missing (no responders, not_ready) is
// retried briefly; every other error is passed on as it came.

import type { NatsConnection } from "@nats-io/transport-node";
import { type ClaimAnswer, type Eligibility, type EligibilityReason, isEligibilityReason } from "../proto/benefit.ts";
import {
  isStampedView,
  LANE_OP_CLAIM,
  LANE_OP_ELIGIBILITY,
  LANE_OP_ELIGIBILITY_BATCH,
  LANE_OP_MEMBER,
  LANE_OP_MEMBER_JSON,
  type StampedView,
} from "../proto/lane.ts";
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

/** An engine answered something that is not the answer's shape (a version mismatch, a bug). */
function badAnswer(what: string): EngineError {
  return new EngineError(502, "bad_engine_answer", `${what} answered in an unexpected shape`);
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

  /**
   * The member view as the engine's JSON text, never parsed here: the HTTP read caches and
   * answers it as is (a parse and a stringify per read were the gateway's largest cost on a
   * cache miss). Stamped with the run and ORDERS seq it is current to when a lane answered;
   * the partition's endpoint (the fallback) answers the contract's view alone: run and seq −1.
   */
  async memberViewStamped(member: number): Promise<StampedView> {
    const p = partitionOf(member, this.partitions);
    const answer = await this.viaLane(p, LANE_OP_MEMBER_JSON, member, memberRequestSubject(p), { member }, (subject, body) =>
      this.requestText(subject, body).then((json): StampedView => [json, -1, -1]),
    );
    if (!isStampedView(answer)) throw badAnswer("a lane's member view");
    return answer;
  }

  eligibility(benefit: string, member: number): Promise<Eligibility> {
    const p = partitionOf(member, this.partitions);
    const body = { benefit, member };
    return this.viaLane(p, LANE_OP_ELIGIBILITY, body, eligibilityRequestSubject(p), body) as Promise<Eligibility>;
  }

  /**
   * The eligibility reason of each member, in the caller's order (a member asked twice is
   * answered twice). One lane item per engine carries every member that engine is known to
   * serve; members it does not answer (a hand-off, a replay, no engine known) are asked at
   * their partition's endpoint, one request per partition.
   */
  async eligibilityReasons(benefit: string, members: readonly number[]): Promise<EligibilityReason[]> {
    const reasons = new Array<EligibilityReason | null>(members.length).fill(null);
    /** 1 where the member went through a lane (one not answered there is a fallback). */
    const laned = new Uint8Array(members.length);
    if (this.lanes) {
      const byLane = new Map<string, number[]>();
      for (let i = 0; i < members.length; i++) {
        const lane = this.lanes.laneFor(partitionOf(members[i], this.partitions));
        if (lane === undefined) continue;
        laned[i] = 1;
        addIndex(byLane, lane, i);
      }
      await Promise.all(
        [...byLane].map(async ([lane, at]) => {
          const [status, answer] = await this.lanes!.askOn(lane, LANE_OP_ELIGIBILITY_BATCH, -1, { benefit, members: at.map((i) => members[i]) });
          if (status === 503) return; // the lane or its engine failed: every member to its endpoint
          if (status !== 0) throw engineErrorOf(status, answer);
          const got = (answer as { reasons?: unknown } | null)?.reasons;
          if (!Array.isArray(got) || got.length !== at.length) throw badAnswer("a lane's eligibility batch");
          for (let k = 0; k < at.length; k++) {
            const r: unknown = got[k];
            if (r !== null && !isEligibilityReason(r)) throw badAnswer("a lane's eligibility batch");
            reasons[at[k]] = r;
          }
        }),
      );
    }
    const left = new Map<number, number[]>();
    const fellBack = new Set<number>();
    for (let i = 0; i < members.length; i++) {
      if (reasons[i] !== null) continue;
      const p = partitionOf(members[i], this.partitions);
      if (laned[i] === 1) fellBack.add(p);
      addIndex(left, p, i);
    }
    if (left.size > 0) {
      if (this.lanes) this.lanes.fallbacks += fellBack.size;
      await Promise.all(
        [...left].map(async ([p, at]) => {
          const answer = (await this.request(eligibilityRequestSubject(p), { benefit, members: at.map((i) => members[i]) })) as { results?: unknown };
          const results = answer?.results;
          if (!Array.isArray(results) || results.length !== at.length) throw badAnswer(`tierstream.elig.${p}`);
          for (let k = 0; k < at.length; k++) {
            const r: unknown = (results[k] as { reason?: unknown } | null)?.reason;
            if (!isEligibilityReason(r)) throw badAnswer(`tierstream.elig.${p}`);
            reasons[at[k]] = r;
          }
        }),
      );
    }
    return reasons as EligibilityReason[];
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
   * goes to the partition's endpoint, which retries until an owner answers (`endpoint`: its
   * answer parsed, or as text).
   */
  private async viaLane(
    p: number,
    op: string,
    laneBody: unknown,
    subject: string,
    body: unknown,
    endpoint: (subject: string, body: unknown) => Promise<unknown> = (s, b) => this.request(s, b),
  ): Promise<unknown> {
    const viaLane = this.lanes?.ask(p, op, laneBody);
    if (viaLane) {
      const [status, answer] = await viaLane;
      if (status === 0) return answer;
      if (status !== 503) throw engineErrorOf(status, answer);
      this.lanes!.fallbacks++;
    }
    return endpoint(subject, body);
  }

  /** A JSON request to a partition endpoint; error answers become EngineError. */
  async request(subject: string, body: unknown): Promise<unknown> {
    const text = await this.requestText(subject, body);
    try {
      return JSON.parse(text);
    } catch {
      throw badAnswer(subject);
    }
  }

  /** The same, answered as the reply's text (JSON, unparsed). */
  async requestText(subject: string, body: unknown): Promise<string> {
    const payload = JSON.stringify(body);
    const giveUpAt = performance.now() + this.ownerlessRetryMs;
    for (let attempt = 0; ; attempt++) {
      const last = performance.now() >= giveUpAt;
      try {
        const reply = await this.inbox.request(subject, payload);
        const status = Number(reply.headers?.get("Nats-Service-Error-Code") || 0);
        const text = decoder.decode(reply.data);
        if (status === 0) return text;
        const err = engineErrorOf(status, jsonOrNull(text));
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

function jsonOrNull(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** Adds index i to its key's group. */
function addIndex<K>(groups: Map<K, number[]>, key: K, i: number): void {
  const at = groups.get(key);
  if (at) at.push(i);
  else groups.set(key, [i]);
}
