// A gateway (gateway/gateway.ts, unchanged) in a process of its own, so its RSS is its own:
//   bun loadtest/stack/gateway-role.ts <natsUrl> <jwtSecret> <readKey>
// The measurement lives here, in the bench's child, not in gateway/ code: `memory` collects
// and reads this process's RSS and heap; `metrics` returns the gateway's Prometheus text;
// `load` the gateway's NATS traffic so far and its event-loop lag since the last `load`.

import { loadConfig } from "../../engine/config.ts";
import type { Logger } from "../../engine/log.ts";
import { GATEWAY_DEFAULTS } from "../../gateway/config.ts";
import { Gateway } from "../../gateway/gateway.ts";
import { LoopLagMonitor } from "./loop-lag.ts";
import { processMemory } from "./process-memory.ts";
import { serveRole } from "./role.ts";

const LOG_LINES_SHOWN_MAX = 5;

async function main(natsUrl: string, jwtSecret: string, readKey: string): Promise<void> {
  let warnings = 0;
  const note = (level: string, msg: string) => {
    if (warnings++ < LOG_LINES_SHOWN_MAX) process.stderr.write(`  gateway ${level}: ${msg}\n`);
  };
  const log: Logger = { info() {}, warn: (m) => note("warn", m), error: (m) => note("error", m), child: () => log };
  const config = loadConfig({});
  const gateway = await Gateway.start(
    {
      ...GATEWAY_DEFAULTS,
      natsUrl,
      port: 0,
      hostname: "127.0.0.1",
      jwtSecret,
      // The bench key reads and claims (the benefits bench claims with it).
      apiKeys: new Map([[readKey, new Set(["read", "claim"] as const)]]),
      partitions: config.partitions,
      lines: config.lineNames,
      name: `bench-gateway-${process.pid}`,
    },
    log,
  );
  const lag = new LoopLagMonitor();
  serveRole(
    { port: gateway.port, url: gateway.url },
    {
      memory: () => ({ ...processMemory(), ...gateway.hub.stats(), warnings }),
      load: () => ({ nats: gateway.nc.stats(), lag: lag.take(), warnings }),
      metrics: async () => gateway.metrics.registry.metrics(),
    },
    () => gateway.stop(),
  );
}

await main(process.argv[2], process.argv[3], process.argv[4]);
