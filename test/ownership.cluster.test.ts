// A 3-node NATS cluster with the streams at replicas 3 (test/harness/cluster.ts): an
// acknowledged order survives the loss of the ORDERS leader; coordinators on an R3 lease
// bucket keep their partitions through the loss of a node that does not lead the bucket, and
// through the loss of the one that does — a leader election (~5 s on 2.9) outlasts a short
// TTL, so the leases lapse, and each coordinator then takes its own partitions back in place
// (resumable), none moves, and there are never two holders.

import { afterAll, describe, expect, test } from "bun:test";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { type AcquireInfo, Coordinator } from "../engine/ownership/coordinator.ts";
import type { LostReason } from "../engine/ownership/lease-table.ts";
import { STREAM_ORDERS } from "../proto/names.ts";
import { connectCluster, useNatsCluster } from "./harness/cluster.ts";
import { eventually, memoryLog } from "./harness/ownership.ts";

const connections: NatsConnection[] = [];
afterAll(async () => {
  await Promise.all(connections.map((nc) => nc.close()));
});
async function open(urls: string[]): Promise<NatsConnection> {
  const nc = await connectCluster(urls);
  connections.push(nc);
  return nc;
}

describe("R3 ORDERS", () => {
  const cluster = useNatsCluster();

  test("keeps every acknowledged order when its leader is killed, and takes more after", async () => {
    const nc = await open(cluster.urls);
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    expect((await jsm.streams.info(STREAM_ORDERS)).config.num_replicas).toBe(3);
    for (let i = 0; i < 100; i++) await js.publish("orders.3", `o${i}`, { msgID: `o${i}` });

    const leader = await cluster.leaderOf(jsm, STREAM_ORDERS);
    const t0 = performance.now();
    await cluster.servers[leader].kill();
    // Publishes fail until a new leader is elected; a retry with the same msgID stores once.
    for (let i = 100; i < 200; i++) {
      for (;;) {
        try {
          await js.publish("orders.3", `o${i}`, { msgID: `o${i}`, timeout: 500 });
          break;
        } catch {
          await Bun.sleep(50);
        }
      }
    }
    const electionMs = performance.now() - t0;
    const info = await jsm.streams.info(STREAM_ORDERS);
    expect(info.state.messages).toBe(200);
    const first = await jsm.streams.getMessage(STREAM_ORDERS, { seq: 1 });
    const last = await jsm.streams.getMessage(STREAM_ORDERS, { seq: 200 });
    expect([first?.string(), last?.string()]).toEqual(["o0", "o199"]);
    expect(await cluster.leaderOf(jsm, STREAM_ORDERS)).not.toBe(leader);
    console.log(`R3 ORDERS: writable again ${electionMs.toFixed(0)} ms after its leader was killed`);
  }, 30_000);
});

describe("coordinators on an R3 lease bucket", () => {
  const cluster = useNatsCluster();
  const TTL_MS = 2_000;
  const PARTITIONS = 16;

  test("keep their partitions through a follower's death, and take them back in place after the leader's", async () => {
    const bucket = "LEASES_R3";
    const violations: string[] = [];
    const engines: { name: string; c?: Coordinator; serving: Set<number>; acquired: AcquireInfo[]; lost: LostReason[] }[] = [];
    for (const name of ["a", "b"]) {
      const e = { name, serving: new Set<number>(), acquired: [] as AcquireInfo[], lost: [] as LostReason[] } as (typeof engines)[number];
      engines.push(e);
      const nc = await open(cluster.urls);
      e.c = await Coordinator.start({
        js: jetstream(nc),
        bucket,
        replicas: 3,
        id: name,
        partitions: PARTITIONS,
        ttlMs: TTL_MS,
        log: memoryLog(),
        handlers: {
          acquire: async (p, info) => {
            for (const o of engines) if (o !== e && o.c?.holds(p)) violations.push(`${name} got ${p} while ${o.name} held it`);
            e.acquired.push(info);
            e.serving.add(p);
          },
          release: async (p) => void e.serving.delete(p),
          lost: (p, reason) => {
            e.serving.delete(p);
            e.lost.push(reason);
          },
        },
      });
    }
    const [a, b] = engines;
    const balanced = () => a.serving.size === 8 && b.serving.size === 8;
    // Each one's watch shows the other's leases: their views stay live through it all.
    const viewsAgree = () =>
      engines.every((e) => e.c!.owners().every((owner, p) => owner === (a.serving.has(p) ? "a" : b.serving.has(p) ? "b" : null)));
    await eventually(balanced, "8/8");
    const before = { a: [...a.serving].sort(), b: [...b.serving].sort() };
    const jsm = await jetstreamManager(await open(cluster.urls));
    const bucketStream = `KV_${bucket}`;
    expect((await jsm.streams.info(bucketStream)).config.num_replicas).toBe(3);

    // A node that does not lead the bucket dies: nothing is lost.
    const leader = await cluster.leaderOf(jsm, bucketStream);
    const follower = [0, 1, 2].find((i) => i !== leader)!;
    await cluster.servers[follower].kill();
    await Bun.sleep(2 * TTL_MS);
    expect([...a.lost, ...b.lost]).toEqual([]);
    expect(balanced()).toBe(true);
    await eventually(viewsAgree, "both views to show the leases");
    await cluster.servers[follower].restart();
    await eventually(async () => ((await jsm.streams.info(bucketStream)).cluster?.replicas ?? []).every((r) => r.current), "the follower to catch up", 20_000);

    // The leader dies: no renewal gets through until a new one is elected, longer than the TTL.
    const acquiredBefore = [a.acquired.length, b.acquired.length];
    const t0 = performance.now();
    await cluster.servers[leader].kill();
    await eventually(() => a.lost.length + b.lost.length === PARTITIONS, "every lease to lapse", 3 * TTL_MS);
    await eventually(balanced, "everything served again", 20_000);
    const outageMs = performance.now() - t0;
    expect({ a: [...a.serving].sort(), b: [...b.serving].sort() }).toEqual(before);
    const again = [...a.acquired.slice(acquiredBefore[0]), ...b.acquired.slice(acquiredBefore[1])];
    expect(again.length).toBe(PARTITIONS);
    expect(again.every((info) => info.resumable)).toBe(true);
    expect(violations).toEqual([]);
    await eventually(viewsAgree, "both views to show the leases");
    console.log(`R3 lease bucket: leader killed, every partition served again by its owner after ${outageMs.toFixed(0)} ms (ttl ${TTL_MS} ms)`);
    await Promise.all(engines.map((e) => e.c!.stop({ handoff: true })));
  }, 60_000);
});
