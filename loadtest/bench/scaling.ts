// scaling: catch-up orders/s with 1, 2, 4, 8 … engine processes, each owning an even slice of
// the 64 partitions (`tierstream engine --partitions a-b`), over one pre-filled ORDERS stream.
// A first single-process run stores every tier change; each timed run after it is a restart
// replay (nothing to publish again), so the figure is consumption and state work alone.
// Meant for many-core machines: on 2 cores it shows little (the processes share them).

import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { ENGINE_STATS_SUBJECT, ensureStreams } from "../../proto/index.ts";
import { startNatsServer } from "../../scripts/nats-server.ts";
import { interleave } from "../interleave.ts";
import { OrderGenerator } from "../population.ts";
import { publishSchedule } from "../publish.ts";
import { type BenchContext, type BenchModule, compared, type RowDraft } from "./types.ts";

const PARTITIONS = 64;
// More orders on a many-core machine (SCALING_ORDERS), where 8 M last under a second at 16
// processes and the processes' start would weigh in the figure.
const ORDERS = Number(process.env.SCALING_ORDERS ?? 8_000_000);
const MEMBERS = 1_000_000;
const RUN_DEADLINE_MS = Number(process.env.SCALING_RUN_DEADLINE_MS ?? 120_000);
if (!(Number.isInteger(ORDERS) && ORDERS > 0)) throw new RangeError(`SCALING_ORDERS must be a positive integer, got ${process.env.SCALING_ORDERS}`);
const CLI = join(import.meta.dir, "..", "..", "scripts", "cli.ts");

export const scalingBench: BenchModule = {
  name: "scaling",
  description: "catch-up (restart replay) orders/s with 1, 2, 4, 8 … engine processes on one machine, partitions split evenly",
  run,
};

interface EngineStatsReply {
  counters: { eventsApplied: number };
  partitions: { caughtUp: boolean }[];
}

/** Engines answering, orders applied, partitions caught up — summed over every engine. */
async function progress(nc: NatsConnection): Promise<{ engines: number; applied: number; caughtUp: number; each: string[] }> {
  const each: string[] = [];
  let engines = 0;
  let applied = 0;
  let caughtUp = 0;
  try {
    for await (const m of await nc.requestMany(ENGINE_STATS_SUBJECT, "", { maxWait: 300 })) {
      const s = m.json() as EngineStatsReply;
      engines++;
      applied += s.counters.eventsApplied;
      caughtUp += s.partitions.filter((p) => p.caughtUp).length;
      each.push(`${(s as { engine?: string }).engine}: ${s.counters.eventsApplied} applied, ${s.partitions.filter((p) => p.caughtUp).length}/${s.partitions.length} caught up`);
    }
  } catch {
    await Bun.sleep(50); // no engine answers yet
    return { engines: 0, applied: 0, caughtUp: 0, each };
  }
  return { engines, applied, caughtUp, each };
}

/** Starts `n` engine processes over the partitions; resolves with the ms until all applied `orders`. */
async function timeProcesses(ctx: BenchContext, url: string, nc: NatsConnection, n: number, orders: number): Promise<number> {
  const per = PARTITIONS / n;
  const t0 = performance.now();
  const children = Array.from({ length: n }, (_, i) =>
    Bun.spawn([process.execPath, CLI, "engine", "--nats", url, "--partitions", `${i * per}-${(i + 1) * per - 1}`, "--name", `scale-${n}-${i}`], {
      stdout: "ignore",
      stderr: Bun.file(join(tmpdir(), `tierstream-scaling-${n}-${i}.log`)),
      env: { ...process.env, TIERSTREAM_CONFIG: join(import.meta.dir, "scaling.config.json") },
    }),
  );
  try {
    for (;;) {
      const p = await progress(nc);
      if (p.engines === n && p.caughtUp === PARTITIONS && p.applied >= orders) return performance.now() - t0;
      if (performance.now() - t0 > RUN_DEADLINE_MS) {
        ctx.log(`scaling: ${n} processes NOT caught up after ${RUN_DEADLINE_MS} ms (${p.applied} applied; ${p.each.join("; ")})`);
        return Number.NaN;
      }
    }
  } finally {
    for (const c of children) c.kill("SIGTERM");
    await Promise.all(children.map((c) => c.exited));
  }
}

async function run(ctx: BenchContext): Promise<RowDraft[]> {
  const orders = Math.round(ORDERS * ctx.scale);
  const cores = availableParallelism();
  const counts = [1, 2, 4, 8, 16].filter((n) => n === 1 || n <= cores);
  const server = await startNatsServer();
  const rows: RowDraft[] = [];
  try {
    const nc = await connect({ servers: server.url });
    await ensureStreams(await jetstreamManager(nc));
    const gen = new OrderGenerator({ seed: ctx.seed, members: Math.round(MEMBERS * ctx.scale) });
    const pub = await publishSchedule(jetstream(nc), interleave(gen.fillPartitionBatches(orders, PARTITIONS, 256)), `scale.${ctx.seed}`, 256);
    ctx.log(`scaling: published ${orders} orders in ${(pub.ms / 1000).toFixed(1)} s`);
    // First run: one process stores every tier change (not timed as catch-up).
    const firstMs = await timeProcesses(ctx, server.url, nc, 1, orders);
    ctx.log(`scaling: first run (publishing tier changes) ${(firstMs / 1000).toFixed(1)} s`);
    let oneRate = Number.NaN;
    for (const n of counts) {
      const ms = await timeProcesses(ctx, server.url, nc, n, orders);
      const rate = (orders / ms) * 1000;
      if (n === 1) oneRate = rate;
      ctx.log(`scaling: ${n} processes: ${Math.round(rate)} orders/s`);
      rows.push({ metric: `catch-up (restart replay), ${n} engine process${n > 1 ? "es" : ""}`, value: rate, unit: "orders/s" });
      if (n > 1) {
        rows.push(
          compared(
            {
              metric: `scaling efficiency, ${n} processes (rate ÷ (${n} × 1-process rate))`,
              value: rate / (n * oneRate),
              unit: "ratio",
              target: n === 8 ? "≥ 0.7 from 1 to 8 processes" : undefined,
            },
            n === 8 ? { atLeast: 0.7 } : undefined,
          ),
        );
      }
    }
    ctx.note(
      `scaling: ${orders.toLocaleString("en")} orders of the default population in one ORDERS stream; each run starts N ` +
        "`tierstream engine` processes owning 64/N partitions each and stops them once every partition is caught up and every " +
        `order applied (polled through tierstream.engine.stats). ${cores} cores; one nats-server serves every process.`,
    );
    await nc.close();
  } finally {
    await server.cleanup();
  }
  return rows;
}
