// MemberCache: a short-lived LRU of member views, so a hot member read a thousand times a
// second costs one engine request per TTL. A tier change the gateway sees drops the entry.

import { LRUCache } from "lru-cache";
import type { MemberView } from "./engine-client.ts";
import type { GatewayMetrics } from "./metrics.ts";

export class MemberCache {
  private readonly lru: LRUCache<number, MemberView>;

  constructor(
    entriesMax: number,
    ttlMs: number,
    private readonly metrics: GatewayMetrics,
  ) {
    this.lru = new LRUCache<number, MemberView>({ max: entriesMax, ttl: ttlMs, ttlAutopurge: false });
  }

  get(member: number): MemberView | undefined {
    const v = this.lru.get(member);
    this.metrics.memberCache.inc({ result: v ? "hit" : "miss" });
    return v;
  }

  set(member: number, view: MemberView): void {
    this.lru.set(member, view);
  }

  delete(member: number): void {
    this.lru.delete(member);
  }
}
