// Chaos: a steady order load while the engine process is SIGKILLed at random moments and the
// NATS server restarts once; afterwards `verify` finds zero differences — every order counted
// once, every tier change in TIER_EVENTS exactly once.

import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { loadConfig } from "../engine/config.ts";
import { OrderGenerator } from "../loadtest/population.ts";
import { ensureStreams } from "../proto/index.ts";
import { startNatsServer } from "../scripts/nats-server.ts";
import { verify } from "../scripts/verify.ts";
import { mulberry32 } from "./harness/prng.ts";
import { publishReliably } from "./harness/processes.ts";

const CLI = join(import.meta.dir, "..", "scripts", "cli.ts");
const ORDERS_PER_SEC = 1500;
const LOAD_MS = 12_000;
const KILLS = 3;

function spawnEngine(url: string, snapshots: string) {
  return Bun.spawn([process.execPath, CLI, "engine", "--nats", url, "--snapshots", snapshots, "--name", "chaos-engine"], {
    stdout: "ignore",
    stderr: "pipe",
    env: { ...process.env, TIERSTREAM_CONFIG: "" },
  });
}

describe("chaos", () => {
  test("SIGKILLed engines and a NATS restart under load: verify finds zero differences", async () => {
    const server = await startNatsServer();
    const snapshots = mkdtempSync(join(tmpdir(), "tierstream-chaos-"));
    const rnd = mulberry32(2026);
    const nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    let engine: ReturnType<typeof spawnEngine> | null = null;
    try {
      await ensureStreams(await jetstreamManager(nc));
      engine = spawnEngine(server.url, snapshots);
      const gen = new OrderGenerator({ seed: 11, members: 2000, startTs: Date.now() - 40 * 86_400_000, ratePerSec: 1 / 400 });
      // Kill moments (ms into the load), and the NATS restart in the middle.
      const kills = Array.from({ length: KILLS }, () => 1000 + Math.floor(rnd() * (LOAD_MS - 2000))).sort((a, b) => a - b);
      const natsRestartAt = LOAD_MS / 2;
      let natsRestarted = false;
      const started = Date.now();
      let tick = 0;
      while (Date.now() - started < LOAD_MS) {
        const elapsed = Date.now() - started;
        if (kills.length > 0 && elapsed >= kills[0]) {
          kills.shift();
          engine.kill("SIGKILL");
          await engine.exited;
          engine = spawnEngine(server.url, snapshots);
        }
        if (!natsRestarted && elapsed >= natsRestartAt) {
          natsRestarted = true;
          await server.restart();
        }
        const batch = Array.from({ length: ORDERS_PER_SEC / 10 }, () => gen.next());
        await publishReliably(nc, batch, `chaos.${tick++}`);
        await Bun.sleep(100);
      }
      expect(kills).toEqual([]);
      expect(natsRestarted).toBe(true);

      // Once the engine has caught up, the log and the engine agree to the member.
      const config = loadConfig({});
      const partitions = [...Array(64).keys()];
      let report = await verify(nc, config, partitions);
      for (let i = 0; i < 40 && report.differences.length > 0; i++) {
        await Bun.sleep(500);
        report = await verify(nc, config, partitions);
      }
      if (report.differences.length > 0) console.error(report.differences.slice(0, 10));
      expect(report.differences).toEqual([]);
      expect(report.members).toBeGreaterThan(500);
      expect(report.tierChangesStored).toBe(report.tierChangesExpected);
      expect(report.tierChangesExpected).toBeGreaterThan(100);
      engine.kill("SIGTERM");
      expect(await engine.exited).toBe(0);
    } finally {
      // A failed run must not leave its engine behind, reconnecting to a server that is gone.
      if (engine !== null && engine.exitCode === null) engine.kill("SIGKILL");
      await nc.close();
      await server.cleanup();
      rmSync(snapshots, { recursive: true, force: true });
    }
  }, 180_000);
});
