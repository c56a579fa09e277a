// Gateway metrics, in one prom-client registry per gateway (tests run several in a process).

import { Counter, Gauge, Registry } from "prom-client";
import type { EngineLanes } from "./engine-lanes.ts";
import { HttpStats } from "./http/route-stats.ts";

export class GatewayMetrics {
  readonly registry = new Registry();
  /** Requests and latency by route (counted outside prom-client: gateway/http/route-stats.ts). */
  readonly http = new HttpStats(this.registry);
  readonly wsConnections = new Gauge({
    name: "tierstream_ws_connections",
    help: "open WebSocket feed connections",
    registers: [this.registry],
  });
  readonly wsMembers = new Gauge({
    name: "tierstream_ws_members_watched",
    help: "distinct members with at least one open feed connection",
    registers: [this.registry],
  });
  readonly wsFrames = new Counter({
    name: "tierstream_ws_frames_total",
    help: "frames sent to feed clients by type",
    labelNames: ["type"] as const,
    registers: [this.registry],
  });
  readonly wsClosed = new Counter({
    name: "tierstream_ws_closed_total",
    help: "feed connections closed by the gateway, by reason",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  /**
   * Member cache lookups, counted as plain numbers and read at each scrape: a hit is the API's
   * hottest path, and prom-client's inc() hashes and checks its labels on every call.
   */
  readonly memberCacheLookups = { hits: 0, misses: 0 };
  readonly memberCache: Counter<"result"> = new Counter({
    name: "tierstream_member_cache_total",
    help: "member view cache lookups by result",
    labelNames: ["result"] as const,
    registers: [this.registry],
    collect: () => {
      this.memberCache.reset();
      this.memberCache.inc({ result: "hit" }, this.memberCacheLookups.hits);
      this.memberCache.inc({ result: "miss" }, this.memberCacheLookups.misses);
    },
  });
  readonly memberCacheDrops = new Counter({
    name: "tierstream_member_cache_partition_drops_total",
    help: "times every cached view of a partition was dropped because its view notices could not vouch for them, by reason (run: a new engine run; gap: a notice missed; silence; reconnect)",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  readonly ordersIngested = new Counter({
    name: "tierstream_orders_ingested_total",
    help: "orders accepted by POST /v1/orders",
    registers: [this.registry],
  });

  /** The request lanes' counts, read at each scrape (gateway/engine-lanes.ts). */
  observeLanes(lanes: EngineLanes): void {
    new Counter({
      name: "tierstream_engine_lane_messages_total",
      help: "messages sent on engine request lanes (each carries many reads, checks or claims)",
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(lanes.messagesSent);
      },
    });
    new Counter({
      name: "tierstream_engine_lane_items_total",
      help: "engine requests by how they went: sent on a lane, or asked again at the partition endpoint after a 503 there",
      labelNames: ["outcome"] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc({ outcome: "sent" }, lanes.itemsSent);
        this.inc({ outcome: "fallback" }, lanes.fallbacks);
      },
    });
    new Gauge({
      name: "tierstream_engine_lane_partitions_known",
      help: "partitions whose serving engine the gateway knows (the rest go to the partition endpoints)",
      registers: [this.registry],
      collect() {
        this.set(lanes.known);
      },
    });
  }
}
