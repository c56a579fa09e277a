// An engine in a process of its own, owning every partition or the ones listed:
//   bun loadtest/stack/engine-role.ts <natsUrl> [configJson] [partitionsJson]
// Commands: counters (what it applied and produced, its event-loop lag since the last
// counters), caughtUp (waits for the replay).

import { loadConfig } from "../../engine/config.ts";
import { Engine } from "../../engine/engine.ts";
import type { Logger } from "../../engine/log.ts";
import { type LoopLag, LoopLagMonitor } from "./loop-lag.ts";
import { serveRole } from "./role.ts";

/** Warnings and errors echoed to stderr; the rest are only counted. */
const LOG_LINES_SHOWN_MAX = 5;

export interface EngineCountersReply {
  eventsApplied: number;
  tierChanges: number;
  deadLetters: number;
  duplicates: number;
  messages: number;
  warnings: number;
  ready: boolean;
  lag: LoopLag;
}

async function main(natsUrl: string, configJson: string | undefined, partitionsJson: string | undefined): Promise<void> {
  let warnings = 0;
  const note = (level: string, msg: string) => {
    if (warnings++ < LOG_LINES_SHOWN_MAX) process.stderr.write(`  engine ${level}: ${msg}\n`);
  };
  // TIERSTREAM_BENCH_ENGINE_INFO=1: the info lines too (consumer resets, partitions started and
  // stopped), stamped with this process's clock in seconds.
  const info = process.env.TIERSTREAM_BENCH_ENGINE_INFO ? (m: string) => void process.stderr.write(`  engine info ${(performance.now() / 1000).toFixed(2)} s: ${m}\n`) : () => {};
  const log: Logger = { info, warn: (m) => note("warn", m), error: (m) => note("error", m), child: () => log };
  const config = loadConfig(configJson ? JSON.parse(configJson) : {});
  const partitions = partitionsJson ? (JSON.parse(partitionsJson) as number[]) : undefined;
  const name = partitions ? `bench-engine-${partitions[0]}` : "bench-engine";
  const engine = await Engine.start({ natsUrl, config, log, name, partitions });
  const lag = new LoopLagMonitor();
  serveRole(
    { pid: process.pid },
    {
      counters: (): EngineCountersReply => {
        const c = engine.counters;
        return {
          eventsApplied: c.eventsApplied,
          tierChanges: c.tierChanges,
          deadLetters: c.deadLetters,
          duplicates: c.duplicates,
          messages: c.messages,
          warnings,
          ready: engine.ready,
          lag: lag.take(),
        };
      },
      caughtUp: () => engine.whenCaughtUp(),
    },
    () => engine.stop(),
  );
}

await main(process.argv[2], process.argv[3], process.argv[4]);
