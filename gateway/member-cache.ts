// MemberCache: an LRU of member views, each kept until it changes. It keeps the view's JSON
// text: a hit is answered without serialising anything.
//
// How long a view stays: each partition's runner publishes view notices — which members
// changed in which range of ORDERS seqs — as one chain per run (proto/view-notice.ts). A view
// the engine stamped with the run this cache follows, at a seq no notice has passed yet, stays
// until a notice lists its member after that seq (or maxAgeMs, a backstop). Whenever the chain
// cannot vouch for what it did not say — a notice missing (its `from` is not where the last one
// ended), a new run, a month start, silence past NOTICE_SILENCE_MS, a NATS reconnect — every
// view of the partition goes at once (a generation bump, O(1)). A view without a followed chain
// (no notices heard yet, an endpoint's unstamped answer) stays ttlMs, as a plain TTL cache.
// A tier change the gateway sees drops the entry too.

import { LRUCache } from "lru-cache";
import { NOTICE_SILENCE_MS, type ViewNotice } from "../proto/view-notice.ts";
import type { StampedView } from "../proto/lane.ts";
import type { GatewayMetrics } from "./metrics.ts";

interface Entry {
  json: string;
  partition: number;
  /** The partition's generation when cached: a bump drops every view of it. */
  gen: number;
  /** ORDERS seq the view is current to, in the followed run; −1 when not followed. */
  seq: number;
}

export type ChainBreak = "run" | "gap" | "silence" | "reconnect";

export class MemberCache {
  private readonly lru: LRUCache<number, Entry>;
  private readonly gen: Uint32Array;
  /** Per partition: the run whose notices are followed (NaN: none), where its last notice ended, and when it was heard. */
  private readonly run: Float64Array;
  private readonly coveredTo: Float64Array;
  private readonly heardAtMs: Float64Array;
  private readonly lookups: { hits: number; misses: number };
  private readonly breaks: Record<ChainBreak, { inc(): void }>;
  noticesApplied = 0;

  constructor(
    readonly partitions: number,
    entriesMax: number,
    /** How long a view no followed chain vouches for stays. */
    private readonly ttlMs: number,
    /** How long any view stays at most. */
    private readonly maxAgeMs: number,
    metrics: GatewayMetrics,
    private readonly nowMs: () => number = () => performance.now(),
  ) {
    this.lru = new LRUCache<number, Entry>({ max: entriesMax, ttlAutopurge: false });
    this.gen = new Uint32Array(partitions);
    this.run = new Float64Array(partitions).fill(NaN);
    this.coveredTo = new Float64Array(partitions);
    this.heardAtMs = new Float64Array(partitions);
    this.lookups = metrics.memberCacheLookups;
    const b = (reason: ChainBreak) => metrics.memberCacheDrops.labels({ reason });
    this.breaks = { run: b("run"), gap: b("gap"), silence: b("silence"), reconnect: b("reconnect") };
  }

  /** The cached view's JSON text. */
  get(member: number): string | undefined {
    const e = this.lru.get(member);
    if (e !== undefined && e.gen === this.gen[e.partition]) {
      this.lookups.hits++;
      return e.json;
    }
    if (e !== undefined) this.lru.delete(member);
    this.lookups.misses++;
    return undefined;
  }

  /** Caches a view as the engine stamped it (unless notices have already gone past it); returns its text. */
  set(member: number, partition: number, [json, run, seq]: StampedView): string {
    const followed = run === this.run[partition];
    // The chain has told of changes after this view: whether one was this member's is lost.
    if (followed && seq < this.coveredTo[partition]) return json;
    const entry: Entry = { json, partition, gen: this.gen[partition], seq: followed ? seq : -1 };
    this.lru.set(member, entry, { ttl: followed ? this.maxAgeMs : this.ttlMs });
    return json;
  }

  delete(member: number): void {
    this.lru.delete(member);
  }

  /** A view notice: drops the views it lists (or all of the partition's, when the chain broke). */
  notice(n: ViewNotice): void {
    const p = n.partition;
    if (p >= this.partitions) return;
    if (n.run !== this.run[p]) {
      this.dropPartition(p, "run");
      this.run[p] = n.run;
    } else if (n.from !== this.coveredTo[p]) {
      this.dropPartition(p, "gap");
    } else if (n.all) {
      this.gen[p]++;
    } else {
      for (let i = 0; i < n.count; i++) {
        const member = n.member(i);
        const e = this.lru.peek(member);
        if (e !== undefined && e.seq < n.to) this.lru.delete(member);
      }
    }
    this.coveredTo[p] = n.to;
    this.heardAtMs[p] = this.nowMs();
    this.noticesApplied++;
  }

  /** Partitions whose chain has been silent too long stop being followed (call every second or so). */
  sweep(): void {
    const now = this.nowMs();
    for (let p = 0; p < this.partitions; p++) {
      if (!Number.isNaN(this.run[p]) && now - this.heardAtMs[p] > NOTICE_SILENCE_MS) this.unfollow(p, "silence");
    }
  }

  /** NATS went away: notices may have been missed, for every partition. */
  reset(): void {
    for (let p = 0; p < this.partitions; p++) this.unfollow(p, "reconnect");
  }

  /** The run followed for partition p (NaN: none); for tests and /v1/stats. */
  followedRun(p: number): number {
    return this.run[p];
  }

  /** Drops every view of p and follows no chain there until a notice starts one. */
  private unfollow(p: number, reason: ChainBreak): void {
    this.dropPartition(p, reason);
    this.run[p] = NaN;
  }

  private dropPartition(p: number, reason: ChainBreak): void {
    // The first chain heard for a partition breaks nothing.
    if (!Number.isNaN(this.run[p])) this.breaks[reason].inc();
    this.gen[p]++;
  }
}
