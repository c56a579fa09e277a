// Every engine's own stats (ENGINE_STATS_SUBJECT, answered by each engine, not a queue group),
// gathered with one requestMany and kept for maxAgeMs, so /v1/stats and /readyz together cost
// the engines at most one round per second however often they are called (an engine counts
// members per tier by walking its state: not something to do per HTTP request).
// Strategy "timer": every answer that arrives within maxWaitMs counts. "stall" would answer
// sooner but drops an engine whose event loop is busy (replaying) — readyz would flap.

import { NoRespondersError, type NatsConnection, RequestError } from "@nats-io/transport-node";
import { ENGINE_STATS_SUBJECT } from "../../proto/names.ts";
import { HttpError } from "./errors.ts";

/** What the gateway reads of an engine's answer (engine/member-service.ts EngineStats). */
export interface EngineStatsReply {
  engine: string;
  eventsPerSec: number;
  membersPerTier: Record<string, number>;
  partitions: { partition: number; members: number; lastSeq: number; caughtUp: boolean; clock: number }[];
}

export interface EngineStatsOptions {
  maxWaitMs: number;
  maxAgeMs: number;
}

export const ENGINE_STATS_DEFAULTS: EngineStatsOptions = { maxWaitMs: 300, maxAgeMs: 1000 };

const isReply = (v: unknown): v is EngineStatsReply => {
  const r = v as EngineStatsReply;
  return (
    typeof r === "object" &&
    r !== null &&
    typeof r.engine === "string" &&
    typeof r.eventsPerSec === "number" &&
    typeof r.membersPerTier === "object" &&
    r.membersPerTier !== null &&
    Array.isArray(r.partitions) &&
    r.partitions.every((p) => typeof p?.partition === "number" && typeof p.caughtUp === "boolean")
  );
};

export class EngineStatsSource {
  private last: { at: number; replies: EngineStatsReply[] } | undefined;
  private pending: Promise<EngineStatsReply[]> | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly opts: EngineStatsOptions = ENGINE_STATS_DEFAULTS,
    private readonly now: () => number = Date.now,
  ) {}

  /** The engines' answers, at most maxAgeMs old; one gathering at a time. 503 if NATS fails. */
  get(): Promise<EngineStatsReply[]> {
    if (this.last && this.now() - this.last.at <= this.opts.maxAgeMs) return Promise.resolve(this.last.replies);
    this.pending ??= this.gather().then(
      (replies) => {
        this.pending = undefined;
        this.last = { at: this.now(), replies };
        return replies;
      },
      (err: unknown) => {
        this.pending = undefined;
        throw err;
      },
    );
    return this.pending;
  }

  private async gather(): Promise<EngineStatsReply[]> {
    const replies: EngineStatsReply[] = [];
    try {
      const answers = await this.nc.requestMany(ENGINE_STATS_SUBJECT, "", { strategy: "timer", maxWait: this.opts.maxWaitMs });
      for await (const msg of answers) {
        let reply: unknown;
        try {
          reply = msg.json();
        } catch {
          continue; // not an engine's answer: ignored, as a missing one is
        }
        if (isReply(reply)) replies.push(reply);
      }
    } catch (err) {
      if (err instanceof NoRespondersError || (err instanceof RequestError && err.isNoResponders())) return replies;
      throw new HttpError(503, "unavailable", `engine stats could not be gathered: ${(err as Error).message}`);
    }
    replies.sort((a, b) => (a.engine < b.engine ? -1 : a.engine > b.engine ? 1 : 0));
    return replies;
  }
}

/** Partitions 0 … total−1 that no answer names, and the owner of each named one. */
export function ownership(replies: readonly EngineStatsReply[], total: number) {
  const owners: Record<string, string> = {};
  const replaying: number[] = [];
  for (const r of replies) {
    for (const p of r.partitions) {
      if (!Number.isInteger(p.partition) || p.partition < 0 || p.partition >= total) continue;
      // Two owners only during a hand-over; the caught-up one is the one that answers.
      if (owners[p.partition] === undefined || p.caughtUp) owners[p.partition] = r.engine;
    }
  }
  const unowned: number[] = [];
  for (let p = 0; p < total; p++) if (owners[p] === undefined) unowned.push(p);
  for (const r of replies) {
    for (const p of r.partitions) if (!p.caughtUp && owners[p.partition] === r.engine) replaying.push(p.partition);
  }
  replaying.sort((a, b) => a - b);
  return { owners, unowned, replaying, owned: total - unowned.length };
}

/** `[0,1,2,5,7,8]` → `"0-2,5,7-8"`: a partition list short enough for one message line. */
export function ranges(list: readonly number[]): string {
  const out: string[] = [];
  for (let i = 0; i < list.length; ) {
    let j = i;
    while (j + 1 < list.length && list[j + 1] === list[j] + 1) j++;
    out.push(j === i ? `${list[i]}` : `${list[i]}-${list[j]}`);
    i = j + 1;
  }
  return out.join(",");
}
