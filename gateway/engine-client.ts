// Requests from a gateway to the engines over the `tierstream` micro service.
// A partition whose owner is momentarily missing (no responders, not_ready) is retried
// briefly; every other error is passed on as it came.

import type { NatsConnection } from "@nats-io/transport-node";
import type { ClaimAnswer, Eligibility } from "../proto/benefit.ts";
import { claimRequestSubject, eligibilityRequestSubject, memberRequestSubject } from "../proto/names.ts";
import { partitionOf } from "../proto/partition.ts";
import { ReplyError, ReplyInbox } from "../proto/reply-inbox.ts";

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

  constructor(
    nc: NatsConnection,
    readonly partitions: number,
    timeoutMs: number,
    private readonly ownerlessRetryMs = OWNERLESS_RETRY_MS_DEFAULT,
  ) {
    this.inbox = new ReplyInbox(nc, timeoutMs);
  }

  close(): void {
    this.inbox.close();
  }

  memberView(member: number): Promise<MemberView> {
    return this.request(memberRequestSubject(partitionOf(member, this.partitions)), { member }) as Promise<MemberView>;
  }

  eligibility(benefit: string, member: number): Promise<Eligibility> {
    return this.request(eligibilityRequestSubject(partitionOf(member, this.partitions)), { benefit, member }) as Promise<Eligibility>;
  }

  /** Eligibility of many members: one request per partition, all partitions in parallel. */
  async eligibilityOfMany(benefit: string, members: readonly number[]): Promise<{ member: number; eligible: boolean; reason: string }[]> {
    const byPartition = new Map<number, number[]>();
    for (const m of members) {
      const p = partitionOf(m, this.partitions);
      const list = byPartition.get(p);
      if (list) list.push(m);
      else byPartition.set(p, [m]);
    }
    const answers = await Promise.all(
      [...byPartition].map(([p, ms]) => this.request(eligibilityRequestSubject(p), { benefit, members: ms }) as Promise<{ results: { member: number; eligible: boolean; reason: string }[] }>),
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
    return this.request(claimRequestSubject(partitionOf(member, this.partitions)), { benefit, member, key, keyFromClient }) as Promise<ClaimAnswer>;
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
        const json = JSON.parse(decoder.decode(reply.data)) as { error?: { code: string; message: string } };
        if (status === 0) return json;
        const err = new EngineError(status, json.error?.code ?? "engine_error", json.error?.message ?? "engine error");
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
