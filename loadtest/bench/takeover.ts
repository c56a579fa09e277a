// takeover: how long the partitions of an engine process that dies stay unserved.
//
// 1. nats-server; ORDERS gets TAKEOVER_ORDERS orders over a MEMBERS population (the default
//    population; about 1 M distinct members end up with orders).
// 2. Engine A (`tierstream engine --partitions auto --lease-ttl-ms TTL_MS`) alone owns all 64
//    partitions, applies everything and writes its snapshots into the TIERSTREAM_SNAPSHOTS
//    object store (snapshotIntervalMs 1 s in this run's config).
// 3. A is SIGKILLed; B (same flags) starts at once. Measured: from the kill until B serves
//    all 64 partitions caught up — the lease expiring (TTL + margin as B judges it), the
//    snapshots loaded from NATS, the log after them replayed.
// Target (issue 7): ≤ lease TTL + 3 s for a 1 M-member partition set.

import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
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
const MEMBERS = 1_300_000;
const TAKEOVER_ORDERS = 4_000_000;
const TTL_MS = 5000;
const DEADLINE_MS = 120_000;
const CLI = join(import.meta.dir, "..", "..", "scripts", "cli.ts");

export const takeoverBench: BenchModule = {
  name: "takeover",
  description: `time from SIGKILL of an auto engine owning ${MEMBERS.toLocaleString("en")} members until another serves every partition again (lease TTL ${TTL_MS} ms)`,
  run,
};

interface Stats {
  engine: string;
  partitions: { caughtUp: boolean }[];
  counters: { eventsApplied: number };
  membersPerTier: Record<string, number>;
}

async function stats(nc: NatsConnection): Promise<Stats[]> {
  const out: Stats[] = [];
  try {
    for await (const m of await nc.requestMany(ENGINE_STATS_SUBJECT, "", { maxWait: 250 })) if (m.data.length > 0) out.push(m.json() as Stats);
  } catch {
    await Bun.sleep(50);
  }
  return out;
}

const servedBy = (s: Stats[], engine: string) => s.find((x) => x.engine === engine)?.partitions.filter((p) => p.caughtUp).length ?? 0;
const members = (s: Stats[], engine: string) => Object.values(s.find((x) => x.engine === engine)?.membersPerTier ?? {}).reduce((a, b) => a + b, 0);

async function run(ctx: BenchContext): Promise<RowDraft[]> {
  const memberCount = Math.max(10_000, Math.round(MEMBERS * ctx.scale));
  const orders = Math.max(30_000, Math.round(TAKEOVER_ORDERS * ctx.scale));
  const configPath = join(tmpdir(), `tierstream-takeover-${process.pid}.json`);
  writeFileSync(configPath, JSON.stringify({ tickIntervalMs: 0, snapshotIntervalMs: 1000 }));
  const server = await startNatsServer();
  const spawn = (name: string) =>
    Bun.spawn([process.execPath, CLI, "engine", "--nats", server.url, "--partitions", "auto", "--name", name, "--lease-ttl-ms", String(TTL_MS)], {
      stdout: "ignore",
      stderr: Bun.file(join(tmpdir(), `tierstream-takeover-${name}.log`)),
      env: { ...process.env, TIERSTREAM_CONFIG: configPath },
    });
  const procs: ReturnType<typeof spawn>[] = [];
  try {
    const nc = await connect({ servers: server.url });
    await ensureStreams(await jetstreamManager(nc));
    const gen = new OrderGenerator({ seed: ctx.seed, members: memberCount });
    await publishSchedule(jetstream(nc), interleave(gen.fillPartitionBatches(orders, PARTITIONS, 256)), `takeover.${ctx.seed}`, 256);
    ctx.log(`takeover: ${orders} orders published; engine A takes every partition`);
    const a = spawn("takeover-a");
    procs.push(a);
    const t0 = performance.now();
    let s: Stats[] = [];
    while (performance.now() - t0 < DEADLINE_MS) {
      s = await stats(nc);
      if (servedBy(s, "takeover-a") === PARTITIONS && s[0].counters.eventsApplied >= orders) break;
    }
    const aMembers = members(s, "takeover-a");
    ctx.log(`takeover: A serves ${PARTITIONS} partitions, ${aMembers} members; waiting for its snapshots`);
    await Bun.sleep(3000); // two snapshot rounds after the last order (snapshotIntervalMs 1 s)

    a.kill("SIGKILL");
    const killedAt = performance.now();
    const b = spawn("takeover-b");
    procs.push(b);
    let servedAt = Number.NaN;
    while (performance.now() - killedAt < DEADLINE_MS) {
      s = await stats(nc);
      if (servedBy(s, "takeover-b") === PARTITIONS) {
        servedAt = performance.now();
        break;
      }
    }
    const takeoverS = (servedAt - killedAt) / 1000;
    const bMembers = members(s, "takeover-b");
    ctx.log(`takeover: B serves every partition ${takeoverS.toFixed(2)} s after the kill (${bMembers} members)`);
    ctx.note(
      `takeover: ${orders.toLocaleString("en")} orders over ${aMembers.toLocaleString("en")} members, all in engine A (auto, lease TTL ${TTL_MS} ms, snapshots every 1 s into ` +
        `the TIERSTREAM_SNAPSHOTS object store). A SIGKILLed; B started at once. Time until B served all ${PARTITIONS} partitions caught up ` +
        `(stats polled every ~250 ms): lease expiry as B judges it (TTL + 1 s margin, counted from when B first saw the lease), snapshot load from NATS, replay of the tail. ` +
        `B then held ${bMembers.toLocaleString("en")} members.`,
    );
    return [
      compared({ metric: `takeover of ${aMembers.toLocaleString("en")} members (SIGKILL → all partitions served)`, value: takeoverS, unit: "s", target: `≤ lease TTL + 3 s = ${TTL_MS / 1000 + 3} s` }, { atMost: TTL_MS / 1000 + 3 }),
      { metric: "takeover beyond the lease TTL", value: takeoverS - TTL_MS / 1000, unit: "s" },
    ];
  } finally {
    for (const p of procs) p.kill("SIGKILL");
    await server.cleanup();
  }
}
