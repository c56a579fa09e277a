// The system under test for the gateway benchmarks: a nats-server, an engine process owning
// every partition (or several, owning the partitions p with p mod N = i each), and a gateway
// process — each its own process, so that the gateway's memory and CPU are its own. Stopped
// in reverse order, whatever failed.

import { randomBytes } from "node:crypto";
import { loadConfig } from "../../engine/config.ts";
import { type NatsServerHandle, startNatsServer } from "../../scripts/nats-server.ts";
import type { BenchContext } from "../bench/types.ts";
import { type Child, spawnRole, stopAll } from "./children.ts";

/** Ticks are off: a benchmark's partitions are busy or empty, and ticks would count as events. */
export const BENCH_ENGINE_CONFIG = { tickIntervalMs: 0 } as const;

export interface StackOptions {
  /** Engine processes, the partitions split among them (p mod engines); 1 by default. */
  engines?: number;
}

export interface Stack {
  nats: NatsServerHandle;
  /** The first engine (the only one unless StackOptions.engines asked for more). */
  engine: Child;
  engines: Child[];
  gateway: Child;
  jwtSecret: string;
  readKey: string;
  /** ws://…/v1/feed */
  feedUrl: string;
  /** http://127.0.0.1:<port> */
  httpUrl: string;
  stop(): Promise<void>;
}

export async function startStack(ctx: BenchContext, options: StackOptions = {}): Promise<Stack> {
  const jwtSecret = randomBytes(24).toString("base64url");
  const readKey = `bench-read-${randomBytes(9).toString("base64url")}`;
  const count = options.engines ?? 1;
  console.assert(Number.isInteger(count) && count >= 1, "at least one engine");
  const nats = await startNatsServer();
  const engines: Child[] = [];
  let gateway: Child | null = null;
  try {
    ctx.log(`stack: nats-server ${nats.url} (pid ${nats.pid}); starting ${count === 1 ? "the engine" : `${count} engines`}`);
    const partitions = loadConfig(BENCH_ENGINE_CONFIG).partitions;
    for (let i = 0; i < count; i++) {
      const owned = count === 1 ? [] : [...Array(partitions).keys()].filter((p) => p % count === i);
      engines.push(await spawnRole("engine-role", [nats.url, JSON.stringify(BENCH_ENGINE_CONFIG), ...(count === 1 ? [] : [JSON.stringify(owned)])]));
    }
    await Promise.all(engines.map((e) => e.request("caughtUp", undefined, 30_000)));
    gateway = await spawnRole("gateway-role", [nats.url, jwtSecret, readKey]);
    const port = gateway.info.port as number;
    ctx.log(`stack: engine pid${count === 1 ? "" : "s"} ${engines.map((e) => e.pid).join(", ")}, gateway pid ${gateway.pid} on port ${port}`);
    const started = { engine: engines[0], engines, gateway };
    return {
      nats,
      ...started,
      jwtSecret,
      readKey,
      feedUrl: `ws://127.0.0.1:${port}/v1/feed`,
      httpUrl: `http://127.0.0.1:${port}`,
      async stop() {
        await stopAll([started.gateway, ...started.engines]);
        await nats.cleanup();
      },
    };
  } catch (err) {
    await stopAll([gateway, ...engines]);
    await nats.cleanup();
    throw err;
  }
}
