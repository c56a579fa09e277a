// What the HTTP API needs from the gateway process; built once in gateway.ts (or a test).

import type { JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { GatewayBenefits } from "../benefits.ts";
import type { GatewayOptions } from "../config.ts";
import type { EngineClient } from "../engine-client.ts";
import type { MemberCache } from "../member-cache.ts";
import type { GatewayMetrics } from "../metrics.ts";

export interface HttpLogger {
  error(msg: string): void;
}

export interface HttpDeps {
  options: GatewayOptions;
  nc: NatsConnection;
  js: JetStreamClient;
  engines: EngineClient;
  cache: MemberCache;
  benefits: GatewayBenefits;
  metrics: GatewayMetrics;
  feedStats: () => { connections: number; members: number };
  /** NATS connected. */
  ready: () => boolean;
  /** Where 500s are explained; default: one line to stderr. */
  log?: HttpLogger;
  /** Wall clock (ms); default Date.now. Tests inject one. */
  now?: () => number;
}
