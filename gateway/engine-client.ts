// Requests from a gateway to the engines over the `tierstream` micro service.
// A partition whose owner is momentarily missing (no responders, not_ready) is retried
// briefly; every other error is passed on as it came.

import type { NatsConnection } from "@nats-io/transport-node";
import { memberRequestSubject } from "../proto/names.ts";
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

const RETRY_DELAYS_MS = [25, 50, 100, 200, 400] as const;
const decoder = new TextDecoder();

export class EngineClient {
  /** Engine requests through one inbox, not nc.request's timer and mapping per request. */
  private readonly inbox: ReplyInbox;

  constructor(
    nc: NatsConnection,
    readonly partitions: number,
    timeoutMs: number,
  ) {
    this.inbox = new ReplyInbox(nc, timeoutMs);
  }

  close(): void {
    this.inbox.close();
  }

  memberView(member: number): Promise<MemberView> {
    return this.request(memberRequestSubject(partitionOf(member, this.partitions)), { member }) as Promise<MemberView>;
  }

  /** A JSON request to a partition endpoint; error answers become EngineError. */
  async request(subject: string, body: unknown): Promise<unknown> {
    const payload = JSON.stringify(body);
    for (let attempt = 0; ; attempt++) {
      try {
        const reply = await this.inbox.request(subject, payload);
        const status = Number(reply.headers?.get("Nats-Service-Error-Code") || 0);
        const json = JSON.parse(decoder.decode(reply.data)) as { error?: { code: string; message: string } };
        if (status === 0) return json;
        const err = new EngineError(status, json.error?.code ?? "engine_error", json.error?.message ?? "engine error");
        if (status !== 503 || attempt >= RETRY_DELAYS_MS.length) throw err;
      } catch (err) {
        if (err instanceof EngineError) throw err;
        const noOwner = err instanceof ReplyError && err.code !== "closed";
        if (!noOwner || attempt >= RETRY_DELAYS_MS.length) {
          throw new EngineError(503, "unavailable", `no engine answered ${subject}: ${(err as Error).message}`);
        }
      }
      await Bun.sleep(RETRY_DELAYS_MS[attempt]);
    }
  }
}
