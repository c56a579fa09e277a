// The building blocks wired to real engines the way `--partitions auto` would: engines that
// own nothing at start, each with a Coordinator whose handlers are addPartition /
// removePartition / fencePartition, snapshots in the object store. A hand-off continues from
// the snapshots the first engine left in NATS; a dead engine's partitions are taken after the
// TTL and replayed from its last periodic snapshot. Either way every member then reads as in an
// engine that replayed the whole log, and no tier change is stored twice.

import { afterAll, describe, expect, test } from "bun:test";
import { jetstream } from "@nats-io/jetstream";
import type { Engine } from "../engine/engine.ts";
import { memberView } from "../engine/member-view.ts";
import { Coordinator } from "../engine/ownership/coordinator.ts";
import { ObjectSnapshotStore } from "../engine/snapshot/object-store.ts";
import { OrderGenerator } from "../loadtest/population.ts";
import { ordersSubject, partitionOf, STREAM_ORDERS } from "../proto/index.ts";
import { type Client, client, eventually, publishOrders, readTierChanges, startEngine } from "./harness/engine.ts";
import { memoryLog } from "./harness/ownership.ts";
import { useNatsServer } from "./harness/nats.ts";

const PARTITIONS = 8;
const TTL_MS = 1_000;
const engines: Engine[] = [];
const clients: Client[] = [];
afterAll(async () => {
  for (const e of engines) await e.stop();
  for (const c of clients) await c.close();
});

interface AutoEngine {
  engine: Engine;
  coordinator: Coordinator;
  log: ReturnType<typeof memoryLog>;
}

/** An engine that owns nothing at start and takes its share through a coordinator. */
async function autoEngine(c: Client, url: string, name: string): Promise<AutoEngine> {
  const log = memoryLog();
  const snapshotStore = await ObjectSnapshotStore.open(c.js, { log });
  const engine = await startEngine(url, { partitions: PARTITIONS, snapshotIntervalMs: 1_000 }, [], { name, snapshotStore, log });
  engines.push(engine);
  const coordinator: Coordinator = await Coordinator.start({
    js: jetstream(engine.nc),
    id: `${name}-${process.pid}`,
    partitions: PARTITIONS,
    ttlMs: TTL_MS,
    log,
    handlers: {
      acquire: (p, { epoch }) => engine.addPartition(p, coordinator.fence(p, epoch)),
      release: (p) => engine.removePartition(p),
      lost: (p) => engine.fencePartition(p),
    },
  });
  return { engine, coordinator, log };
}

/** Every partition of e has applied the last order in its subject, and its changes are stored. */
async function caughtUpToLog(c: Client, e: Engine): Promise<boolean> {
  const jsm = await c.js.jetstreamManager();
  for (const [p, r] of e.runners) {
    const last = await jsm.streams.getMessage(STREAM_ORDERS, { last_by_subj: ordersSubject(p) }).catch(() => null);
    if (last != null && r.lastSeq < last.seq) return false;
  }
  await Promise.all([...e.runners.values()].map((r) => r.published()));
  return true;
}

const applied = (es: Engine[]) => es.reduce((sum, e) => sum + e.counters.eventsApplied, 0);
const viewIn = (e: Engine, m: number) => memberView(e.runners.get(partitionOf(m, PARTITIONS))!.state, m, 0);
const fromObjectStore = (a: AutoEngine) => a.log.lines.filter((l) => /snapshot at orders seq \d+ .* from nats:TIERSTREAM_SNAPSHOTS\//.test(l)).length;

/** a's members equal a full replay's, and TIER_EVENTS holds every change once. */
async function expectExact(url: string, c: Client, a: Engine, gen: OrderGenerator): Promise<void> {
  const replay = await startEngine(url, { partitions: PARTITIONS }, undefined, { name: "replay-all" });
  engines.push(replay);
  const members = [...new Set(Array.from({ length: 100 }, (_, i) => gen.memberOfRank(i + 1)))];
  for (const m of members) expect(viewIn(a, m)).toEqual(viewIn(replay, m));
  expect(members.filter((m) => viewIn(a, m).tier !== "bronze").length).toBeGreaterThan(10);
  const ids = (await readTierChanges(c.nc)).map((x) => x.msgId);
  expect(new Set(ids).size).toBe(ids.length);
  expect(ids.length).toBeGreaterThan(50);
  await replay.stop();
}

/** Two auto engines sharing the partitions 4/4, after 3000 orders of a seeded population. */
async function twoEnginesWithOrders(url: string, seed: number) {
  const c = await client(url);
  clients.push(c);
  const gen = new OrderGenerator({ seed, members: 300, ratePerSec: 2, startTs: Date.now() - 3_600_000 });
  const batch = (n: number) => Array.from({ length: n }, () => gen.next());
  const a = await autoEngine(c, url, "a");
  const b = await autoEngine(c, url, "b");
  await eventually(() => a.engine.runners.size === 4 && b.engine.runners.size === 4, "4/4");
  await publishOrders(c.js, batch(3000), PARTITIONS);
  await eventually(() => applied([a.engine, b.engine]) >= 3000, "the first orders");
  return { c, gen, batch, a, b };
}

describe("engines with coordinators: a hand-off", () => {
  const nats = useNatsServer();

  test("continues from the object-store snapshot: same members as a full replay, no change twice", async () => {
    const { c, gen, batch, a, b } = await twoEnginesWithOrders(nats.url, 5);

    await b.coordinator.stop({ handoff: true }); // drains, snapshots into the object store, releases
    expect(b.engine.runners.size).toBe(0);
    await eventually(() => a.engine.runners.size === PARTITIONS, "a to own all 8");
    await a.engine.whenCaughtUp();
    expect(fromObjectStore(a)).toBe(4); // b's four, from the snapshots b wrote into NATS

    await publishOrders(c.js, batch(3000), PARTITIONS);
    await eventually(() => caughtUpToLog(c, a.engine), "a to apply and publish the rest");
    await expectExact(nats.url, c, a.engine, gen);
    await a.coordinator.stop({ handoff: true });
  }, 60_000);
});

describe("engines with coordinators: a death", () => {
  const nats = useNatsServer();

  test("the survivor takes the dead one's partitions after the TTL, from its last snapshot plus the log", async () => {
    const { c, gen, batch, a, b } = await twoEnginesWithOrders(nats.url, 6);
    await Bun.sleep(1_500); // a periodic snapshot of every partition

    // b dies: no renewals, no release, no snapshot. Its leases lapse, so its fence closes;
    // orders keep coming meanwhile.
    await b.coordinator.stop({ handoff: false });
    const t0 = performance.now();
    for (let i = 0; i < 10; i++) {
      await publishOrders(c.js, batch(300), PARTITIONS);
      await Bun.sleep(100);
    }
    await eventually(() => a.engine.runners.size === PARTITIONS, "a to own all 8", 5 * TTL_MS);
    const takeoverMs = performance.now() - t0;
    await a.engine.whenCaughtUp();
    expect(takeoverMs).toBeLessThan(TTL_MS + 200 + 1_500);
    expect(fromObjectStore(a)).toBe(4);
    await eventually(() => caughtUpToLog(c, a.engine), "a to apply and publish the rest");
    await expectExact(nats.url, c, a.engine, gen);
    await a.coordinator.stop({ handoff: true });
  }, 60_000);
});
