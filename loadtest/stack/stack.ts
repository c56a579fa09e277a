// The system under test for the gateway benchmarks: a nats-server, an engine process owning
// every partition, and a gateway process — three processes, so that the gateway's memory and
// CPU are its own. Stopped in reverse order, whatever failed.

import { randomBytes } from "node:crypto";
import { type NatsServerHandle, startNatsServer } from "../../scripts/nats-server.ts";
import type { BenchContext } from "../bench/types.ts";
import { type Child, spawnRole, stopAll } from "./children.ts";

/** Ticks are off: a benchmark's partitions are busy or empty, and ticks would count as events. */
export const BENCH_ENGINE_CONFIG = { tickIntervalMs: 0 } as const;

export interface Stack {
  nats: NatsServerHandle;
  engine: Child;
  gateway: Child;
  jwtSecret: string;
  readKey: string;
  /** ws://…/v1/feed */
  feedUrl: string;
  /** http://127.0.0.1:<port> */
  httpUrl: string;
  stop(): Promise<void>;
}

export async function startStack(ctx: BenchContext): Promise<Stack> {
  const jwtSecret = randomBytes(24).toString("base64url");
  const readKey = `bench-read-${randomBytes(9).toString("base64url")}`;
  const nats = await startNatsServer();
  let engine: Child | null = null;
  let gateway: Child | null = null;
  try {
    ctx.log(`stack: nats-server ${nats.url} (pid ${nats.pid}); starting the engine`);
    engine = await spawnRole("engine-role", [nats.url, JSON.stringify(BENCH_ENGINE_CONFIG)]);
    await engine.request("caughtUp", undefined, 30_000);
    gateway = await spawnRole("gateway-role", [nats.url, jwtSecret, readKey]);
    const port = gateway.info.port as number;
    ctx.log(`stack: engine pid ${engine.pid}, gateway pid ${gateway.pid} on port ${port}`);
    const started = { engine, gateway };
    return {
      nats,
      ...started,
      jwtSecret,
      readKey,
      feedUrl: `ws://127.0.0.1:${port}/v1/feed`,
      httpUrl: `http://127.0.0.1:${port}`,
      async stop() {
        await stopAll([started.gateway, started.engine]);
        await nats.cleanup();
      },
    };
  } catch (err) {
    await stopAll([gateway, engine]);
    await nats.cleanup();
    throw err;
  }
}
