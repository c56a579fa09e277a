// Gateway: one Bun.serve process — the HTTP API (Hono) and the WebSocket feed on one port.
// Any number run side by side behind a load balancer; they share nothing but NATS.

import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { Server } from "bun";
import { consoleLogger, type Logger } from "../engine/log.ts";
import type { GatewayOptions } from "./config.ts";
import { GatewayBenefits } from "./benefits.ts";
import { EngineClient } from "./engine-client.ts";
import { FeedHub, type FeedSocketData } from "./feed/hub.ts";
import { buildHttpApp } from "./http/app.ts";
import { pathOf } from "./http/path.ts";
import { MemberCache } from "./member-cache.ts";
import { ViewNoticeFollower } from "./view-notice-follower.ts";
import { GatewayMetrics } from "./metrics.ts";

export class Gateway {
  private constructor(
    readonly nc: NatsConnection,
    readonly server: Server<FeedSocketData>,
    readonly hub: FeedHub,
    readonly metrics: GatewayMetrics,
    private readonly engines: EngineClient,
    private readonly benefits: GatewayBenefits,
    private readonly notices: ViewNoticeFollower,
    private readonly log: Logger,
  ) {}

  get url(): string {
    return `http://${this.server.hostname}:${this.server.port}`;
  }

  get port(): number {
    return this.server.port!;
  }

  static async start(options: GatewayOptions, log: Logger = consoleLogger("gateway")): Promise<Gateway> {
    const nc = await connect({ servers: options.natsUrl, name: options.name, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    let notices: ViewNoticeFollower | null = null;
    try {
      const js = jetstream(nc);
      const jsm = await jetstreamManager(nc);
      const metrics = new GatewayMetrics();
      const engines = new EngineClient(nc, options.partitions, options.requestTimeoutMs, options.ownerlessRetryMs);
      if (engines.lanes) metrics.observeLanes(engines.lanes);
      const benefits = await GatewayBenefits.start(nc, js, jsm, (m) => log.warn(m), options.replicas);
      const cache = new MemberCache(options.partitions, options.memberCacheEntriesMax, options.memberCacheTtlMs, options.memberCacheMaxAgeMs, metrics);
      notices = new ViewNoticeFollower(nc, cache, log);
      await notices.start();
      const hub = new FeedHub({ options, nc, js, jsm, engines, benefits, metrics, log, onTierChange: (member) => cache.delete(member) });
      await hub.start();
      const api = buildHttpApp({
        options,
        nc,
        js,
        engines,
        cache,
        benefits,
        metrics,
        feedStats: () => hub.stats(),
        ready: () => !nc.isClosed() && nc.info !== undefined,
      });
      const server = Bun.serve<FeedSocketData>({
        port: options.port,
        hostname: options.hostname ?? "127.0.0.1",
        fetch(req, srv) {
          const path = pathOf(req.url);
          if (path === "/v1/feed") return hub.upgrade(req, srv);
          return api.handle(req, path);
        },
        websocket: hub.websocket,
      });
      log.info(`listening on http://${server.hostname}:${server.port} (NATS ${options.natsUrl})`);
      return new Gateway(nc, server, hub, metrics, engines, benefits, notices, log);
    } catch (err) {
      notices?.stop();
      await nc.close().catch(() => {});
      throw err;
    }
  }

  /** Stops accepting, closes feeds (clients resume elsewhere with `since`), drains NATS. */
  async stop(): Promise<void> {
    this.server.stop(false);
    await this.hub.stop();
    this.server.stop(true);
    this.engines.close();
    this.benefits.stop();
    this.notices.stop();
    await this.nc.drain().catch(() => {});
    this.log.info("stopped");
  }
}
