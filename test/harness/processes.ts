// Engine processes for scale-out suites: `tierstream engine --partitions auto` children, their
// stats (every engine answers tierstream.engine.stats), and a producer that rides out outages.

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { createInbox, type NatsConnection } from "@nats-io/transport-node";
import type { EngineStats } from "../../engine/member-service.ts";
import { parentDeathPrefix } from "../../loadtest/stack/children.ts";
import { encodeOrders, ENGINE_STATS_SUBJECT, type Order, ordersSubject, partitionOf } from "../../proto/index.ts";

const CLI = join(import.meta.dir, "..", "..", "scripts", "cli.ts");

// Children die with the test process, however it ends (a timed-out test never runs its finally).
/** Logs go to a file (a pipe nobody reads would fill and block the engine): `logOf(name)`. */
export function spawnAutoEngine(urls: string[], name: string, leaseTtlMs: number, replicas = 1) {
  return Bun.spawn(
    [...parentDeathPrefix(), process.execPath, CLI, "engine", "--nats", urls.join(","), "--partitions", "auto", "--name", name, "--lease-ttl-ms", String(leaseTtlMs), "--replicas", String(replicas)],
    { stdout: "ignore", stderr: Bun.file(logOf(name)), env: { ...process.env, TIERSTREAM_CONFIG: "" } },
  );
}

/** An engine owning a fixed partition set (logs in logOf("engine-<set>")). */
export function spawnEngine(urls: string[], partitions: string, replicas = 1) {
  return Bun.spawn([...parentDeathPrefix(), process.execPath, CLI, "engine", "--nats", urls.join(","), "--partitions", partitions, "--name", `engine-${partitions}`, "--replicas", String(replicas)], {
    stdout: "ignore",
    stderr: Bun.file(logOf(`engine-${partitions}`)),
    env: { ...process.env, TIERSTREAM_CONFIG: "" },
  });
}

const LOG_DIR = mkdtempSync(join(tmpdir(), "tierstream-engines-"));
export const logOf = (name: string): string => join(LOG_DIR, `${name}.log`);

/** Every engine's stats, collected for `waitMs`. */
export async function allEngineStats(nc: NatsConnection, waitMs = 300): Promise<EngineStats[]> {
  const inbox = createInbox();
  const out: EngineStats[] = [];
  const sub = nc.subscribe(inbox, {
    callback: (_err, m) => {
      // A "no responders" status (no engine up yet) arrives here too, with no body.
      if (m.data.length > 0) out.push(m.json() as EngineStats);
    },
  });
  nc.publish(ENGINE_STATS_SUBJECT, "", { reply: inbox });
  await Bun.sleep(waitMs);
  sub.unsubscribe();
  return out;
}

/** Partitions served (caught up) per engine name. */
export async function servedBy(nc: NatsConnection): Promise<Map<string, number[]>> {
  const m = new Map<string, number[]>();
  for (const s of await allEngineStats(nc)) m.set(s.engine, s.partitions.filter((p) => p.caughtUp).map((p) => p.partition).sort((a, b) => a - b));
  return m;
}

/** True when the 64 partitions are each served by exactly one engine. */
export function everyPartitionOnce(served: Map<string, number[]>, partitions = 64): boolean {
  const all = [...served.values()].flat();
  return all.length === partitions && new Set(all).size === partitions;
}

/** One batch per partition with stable message ids, retried through outages. */
export async function publishReliably(nc: NatsConnection, batch: Order[], tag: string, partitions = 64): Promise<void> {
  const js = jetstream(nc);
  const byPartition = new Map<number, Order[]>();
  for (const o of batch) {
    const p = partitionOf(o.member, partitions);
    byPartition.set(p, [...(byPartition.get(p) ?? []), o]);
  }
  await Promise.all(
    [...byPartition].map(async ([p, orders]) => {
      for (let attempt = 0; ; attempt++) {
        try {
          await js.publish(ordersSubject(p), encodeOrders(orders), { msgID: `${tag}.${p}`, timeout: 2000 });
          return;
        } catch (err) {
          if (attempt > 150) throw err;
          await Bun.sleep(100);
        }
      }
    }),
  );
}
