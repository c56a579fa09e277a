// Scale-out with whole engine processes (`tierstream engine --partitions auto`): three split
// 64 partitions evenly; one SIGKILLed under load is replaced within TTL + recovery; one
// SIGTERMed hands off; one frozen (SIGSTOP) past its TTL publishes nothing for what it lost;
// and on a 3-node cluster one NATS node killed under load loses no order and doubles no change.
// Every scenario ends with `verify` at zero differences.

import { describe, expect, test } from "bun:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { loadConfig } from "../engine/config.ts";
import { OrderGenerator } from "../loadtest/population.ts";
import { ensureStreams } from "../proto/index.ts";
import { jetstreamManager } from "@nats-io/jetstream";
import { startNatsServer } from "../scripts/nats-server.ts";
import { verify } from "../scripts/verify.ts";
import { eventually, readTierChanges } from "./harness/engine.ts";
import { join } from "node:path";
import { parentDeathPrefix } from "../loadtest/stack/children.ts";
import { startReplicatedCluster } from "./harness/cluster.ts";
import { allEngineStats, everyPartitionOnce, logOf, publishReliably, servedBy, spawnAutoEngine, spawnEngine } from "./harness/processes.ts";

const TTL_MS = 2000;
const CLI = join(import.meta.dir, "..", "scripts", "cli.ts");
const PARTITIONS = [...Array(64).keys()];

async function verifiedClean(nc: NatsConnection): Promise<void> {
  const config = loadConfig({});
  // Right after a node died, JetStream API requests can time out while the cluster elects.
  const attempt = () => verify(nc, config, PARTITIONS).catch(() => null);
  let report = await attempt();
  for (let i = 0; i < 60 && (report === null || report.differences.length > 0); i++) {
    await Bun.sleep(500);
    report = await attempt();
  }
  if (report === null) throw new Error("verify never got through");
  if (report.differences.length > 0) console.error(report.differences.slice(0, 10));
  expect(report.differences).toEqual([]);
  expect(report.tierChangesStored).toBe(report.tierChangesExpected);
  expect(report.tierChangesExpected).toBeGreaterThan(50);
  const ids = (await readTierChanges(nc)).map((c) => c.msgId);
  expect(new Set(ids).size).toBe(ids.length);
}

/** JetStream API calls time out now and then while a cluster re-elects after a node died. */
async function retried<T>(fn: () => Promise<T>, tries = 10): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= tries) throw err;
      await Bun.sleep(500);
    }
  }
}

/** Publishes `seconds` of load (10 batches a second) while `during(elapsedMs)` acts. */
async function load(nc: NatsConnection, gen: OrderGenerator, tag: string, seconds: number, during: (elapsedMs: number) => Promise<void> = async () => {}) {
  const started = Date.now();
  for (let tick = 0; Date.now() - started < seconds * 1000; tick++) {
    await during(Date.now() - started);
    await publishReliably(nc, Array.from({ length: 100 }, () => gen.next()), `${tag}.${tick}`);
    await Bun.sleep(100);
  }
}

describe("engine processes sharing partitions by lease", () => {
  test("three split 64 evenly; SIGKILL → taken again within TTL + recovery; SIGTERM → hand-off; SIGSTOP → fenced", async () => {
    const server = await startNatsServer();
    const nc = await connect({ servers: server.url, maxReconnectAttempts: -1 });
    const procs = ["a", "b", "c"].map((n) => ({ name: n, proc: spawnAutoEngine([server.url], n, TTL_MS) }));
    try {
      await ensureStreams(await jetstreamManager(nc));
      await eventually(async () => {
        const served = await servedBy(nc);
        return served.size === 3 && everyPartitionOnce(served);
      }, "three engines serving every partition", 20_000);
      const shares = [...(await servedBy(nc)).values()].map((ps) => ps.length).sort();
      expect(shares).toEqual([21, 21, 22]);

      const gen = new OrderGenerator({ seed: 21, members: 3000, startTs: Date.now() - 40 * 86_400_000, ratePerSec: 1 / 400 });
      // SIGKILL b under load: its partitions are served again within TTL + recovery.
      let killedAt = 0;
      await load(nc, gen, "kill", 4, async (t) => {
        if (t > 1500 && killedAt === 0) {
          procs[1].proc.kill("SIGKILL");
          killedAt = Date.now();
        }
      });
      await eventually(async () => everyPartitionOnce(await servedBy(nc)), "b's partitions taken", 20_000);
      const takeoverMs = Date.now() - killedAt;
      expect(takeoverMs).toBeLessThan(TTL_MS + 3000 + 4000); // the load loop itself takes up to 2.5 s of it
      expect([...(await servedBy(nc)).keys()].sort()).toEqual(["a", "c"]);
      await verifiedClean(nc);

      // SIGTERM c under load: a hand-off, no gap — a takes everything.
      let termSent = false;
      await load(nc, gen, "term", 3, async (t) => {
        if (t > 1000 && !termSent) {
          termSent = true; // once: a second SIGTERM is the operator's "now, without the hand-off"
          procs[2].proc.kill("SIGTERM");
        }
      });
      expect(await procs[2].proc.exited).toBe(0);
      await eventually(async () => {
        const served = await servedBy(nc);
        return everyPartitionOnce(served) && served.size === 1;
      }, "a owns all after the hand-off", 20_000);
      await verifiedClean(nc);

      // A newcomer d takes its half; then a is frozen past its TTL and d takes the rest.
      const d = { name: "d", proc: spawnAutoEngine([server.url], "d", TTL_MS) };
      procs.push(d);
      await eventually(async () => {
        const s = await servedBy(nc);
        return everyPartitionOnce(s) && (s.get("d")?.length ?? 0) === 32;
      }, "d takes its share", 20_000);
      procs[0].proc.kill("SIGSTOP");
      await load(nc, gen, "stop", 2 + (2 * TTL_MS) / 1000);
      await eventually(async () => (await servedBy(nc)).get("d")?.length === 64, "d owns all while a is frozen", 20_000);
      procs[0].proc.kill("SIGCONT");
      await load(nc, gen, "cont", 2);
      await verifiedClean(nc);
      // a came back fenced: it serves nothing it lost, and after the balance the two share again.
      await eventually(async () => {
        const s = await servedBy(nc);
        return everyPartitionOnce(s) && s.size === 2;
      }, "a and d share again", 20_000);
      await verifiedClean(nc);
      // a's own log says it fenced what it lost while frozen.
      expect(await Bun.file(logOf("a")).text()).toMatch(/partition \d+ fenced at orders seq \d+: its lease is gone/);
    } finally {
      for (const p of procs) {
        p.proc.kill("SIGCONT");
        p.proc.kill("SIGKILL");
      }
      await nc.close();
      await server.cleanup();
    }
  }, 240_000);

  test("engine --workers 2: two auto engines under one supervisor share every partition; SIGTERM stops both cleanly", async () => {
    const server = await startNatsServer();
    const nc = await connect({ servers: server.url });
    const supervisor = Bun.spawn(
      [...parentDeathPrefix(), process.execPath, CLI, "engine", "--nats", server.url, "--workers", "2", "--lease-ttl-ms", String(TTL_MS)],
      { stdout: "ignore", stderr: Bun.file(logOf("workers")), env: { ...process.env, TIERSTREAM_CONFIG: "" } },
    );
    try {
      await eventually(async () => {
        const served = await servedBy(nc);
        return served.size === 2 && everyPartitionOnce(served);
      }, "two workers serving every partition", 30_000);
      expect([...(await servedBy(nc)).values()].map((ps) => ps.length).sort()).toEqual([32, 32]);
      supervisor.kill("SIGTERM");
      expect(await supervisor.exited).toBe(0);
      expect((await allEngineStats(nc)).length).toBe(0);
    } finally {
      supervisor.kill("SIGKILL");
      await nc.close();
      await server.cleanup();
    }
  }, 60_000);

  test("a 3-node cluster (R3): one NATS node killed under load — no order lost, no tier change doubled", async () => {
    const cluster = await startReplicatedCluster(3);
    const nc = await connect({ servers: cluster.urls, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    // Two engines on fixed halves: what is under test is the loss of a NATS node, not leases.
    const procs = ["0-31", "32-63"].map((set) => spawnEngine(cluster.urls, set, 3));
    try {
      await eventually(async () => everyPartitionOnce(await servedBy(nc)), "two engines serving every partition", 60_000);
      const gen = new OrderGenerator({ seed: 22, members: 3000, startTs: Date.now() - 40 * 86_400_000, ratePerSec: 1 / 400 });
      let killed = false;
      await load(nc, gen, "node", 6, async (t) => {
        if (t > 2000 && !killed) {
          killed = true;
          await cluster.servers[1].kill();
        }
      });
      expect(killed).toBe(true);
      // Both engines applied the whole load with one node down.
      const lastOrderSeq = await retried(async () => (await (await jetstreamManager(nc)).streams.info("ORDERS")).state.last_seq);
      await eventually(async () => {
        const stats = await allEngineStats(nc);
        return stats.length === 2 && stats.every((s) => s.partitions.every((p) => p.caughtUp && p.lastSeq > 0)) && Math.max(...stats.flatMap((s) => s.partitions.map((p) => p.lastSeq))) >= lastOrderSeq - 200;
      }, "engines caught up with a node down", 60_000);
      // nats-server 2.9 keeps placing new consumers on the dead peer a third of the time (each
      // such create times out), so the node is back before verify reads 128 subjects.
      await cluster.servers[1].restart();
      await verifiedClean(nc);
    } finally {
      for (const p of procs) p.kill("SIGKILL");
      await nc.close();
      await cluster.cleanup();
    }
  }, 180_000);
});
