// MemberCache: a short-lived LRU of member views, so a hot member read a thousand times a
// second costs one engine request per TTL. A tier change the gateway sees drops the entry.
// It keeps the view's JSON text: a hit is answered without serialising anything.

import { LRUCache } from "lru-cache";
import type { GatewayMetrics } from "./metrics.ts";

export class MemberCache {
  private readonly lru: LRUCache<number, string>;
  // Bound once: prom-client hashes a label object on every inc() otherwise.
  private readonly hits: { inc(): void };
  private readonly misses: { inc(): void };

  constructor(
    entriesMax: number,
    ttlMs: number,
    metrics: GatewayMetrics,
  ) {
    this.lru = new LRUCache<number, string>({ max: entriesMax, ttl: ttlMs, ttlAutopurge: false });
    this.hits = metrics.memberCache.labels({ result: "hit" });
    this.misses = metrics.memberCache.labels({ result: "miss" });
  }

  /** The cached view's JSON text. */
  get(member: number): string | undefined {
    const v = this.lru.get(member);
    (v === undefined ? this.misses : this.hits).inc();
    return v;
  }

  /** Caches a view's JSON text (as the engine printed it); returns it. */
  set(member: number, json: string): string {
    this.lru.set(member, json);
    return json;
  }

  delete(member: number): void {
    this.lru.delete(member);
  }
}
