// Snapshots: a state written and read back is the same state; torn and corrupt files are
// detected and the previous one used; an engine restarted from a snapshot equals one that
// replayed the whole log, and publishes no tier change twice.

import { memoryLog } from "./harness/log.ts";
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { applyMessage } from "../engine/apply-message.ts";
import { loadConfig } from "../engine/config.ts";
import { memberView } from "../engine/member-view.ts";
import { configHash, decodeSnapshot, encodeSnapshot, SnapshotError } from "../engine/snapshot/format.ts";
import { SnapshotStore } from "../engine/snapshot/store.ts";
import { PartitionState } from "../engine/state/partition-state.ts";
import { OrderGenerator } from "../loadtest/population.ts";
import { OrderReader, partitionOf, TIERS } from "../proto/index.ts";
import { client, eventually, memberViaService, publishOrders, readTierChanges, startEngine } from "./harness/engine.ts";
import { useNatsServer } from "./harness/nats.ts";

const config = loadConfig({ partitions: 4 });

/** Partition 1's messages of a realistic population, with some months of event time. */
function messages(count: number): Uint8Array[] {
  const gen = new OrderGenerator({ seed: 9, members: 3000, ratePerSec: 0.02, startTs: Date.UTC(2025, 0, 1) });
  return gen.fillPartitionBatches(count, 4, 64)[1];
}

function snapshotOf(state: PartitionState, lastSeq: number): Uint8Array {
  return encodeSnapshot(
    {
      partition: 1,
      partitions: 4,
      configHash: configHash(config),
      lastSeq,
      clock: state.clock,
      memberCount: state.memberCount,
      freeCells: state.cells.exportParts().freeCells,
      createdAtMs: 0,
    },
    state.exportParts(),
  );
}

describe("snapshot format", () => {
  const msgs = messages(40_000);
  const half = Math.floor(msgs.length / 2);

  test("a state read back from its snapshot goes on exactly like the original", () => {
    const reader = new OrderReader(config.lineNames);
    const original = new PartitionState(config, 1);
    for (const m of msgs.slice(0, half)) applyMessage(original, reader, m, 4e12);
    const { meta, parts } = decodeSnapshot(snapshotOf(original, half), { partition: 1, configHash: configHash(config) });
    expect(meta.lastSeq).toBe(half);
    const restored = PartitionState.fromParts(config, 1, parts);
    expect(restored.memberCount).toBe(original.memberCount);
    expect(restored.memberCount).toBeGreaterThan(500);

    // The rest of the log: the same changes, the same members.
    const changesOf = (s: PartitionState) =>
      msgs.slice(half).flatMap((m) => applyMessage(s, reader, m, 4e12).changes.map((c) => `${c.member}:${TIERS[c.to]}:${c.cause}`));
    const a = changesOf(original);
    expect(changesOf(restored)).toEqual(a);
    expect(a.length).toBeGreaterThan(100);
    for (let i = 0; i < original.memberCount; i += 7) {
      const id = original.ids[i];
      expect(memberView(restored, id, 0)).toEqual(memberView(original, id, 0));
    }
    expect([...restored.dedup.entries()]).toEqual([...original.dedup.entries()]);
  });

  test("a torn, a corrupt and a foreign snapshot are each refused with a reason", () => {
    const state = new PartitionState(config, 1);
    const reader = new OrderReader(config.lineNames);
    for (const m of msgs.slice(0, 50)) applyMessage(state, reader, m, 4e12);
    const bytes = snapshotOf(state, 50);
    const expectCode = (b: Uint8Array, code: SnapshotError["code"], exp = { partition: 1, configHash: configHash(config) }) => {
      try {
        decodeSnapshot(b, exp);
        throw new Error("accepted");
      } catch (err) {
        expect(err).toBeInstanceOf(SnapshotError);
        expect((err as SnapshotError).code).toBe(code);
      }
    };
    expectCode(bytes.subarray(0, bytes.length - 100), "checksum");
    expectCode(bytes.subarray(0, 10), "torn");
    const flipped = bytes.slice();
    flipped[Math.floor(bytes.length / 2)] ^= 0x40;
    expectCode(flipped, "checksum");
    expectCode(bytes, "mismatch", { partition: 2, configHash: configHash(config) });
    expectCode(bytes, "mismatch", { partition: 1, configHash: configHash(loadConfig({ partitions: 4, policy: "one-down" })) });
  });

  test("the store keeps the newest two and falls back past a corrupt newest one", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tierstream-snap-"));
    try {
      const log = memoryLog();
      const store = new SnapshotStore(dir, log);
      const state = new PartitionState(config, 1);
      const reader = new OrderReader(config.lineNames);
      for (let seq = 1; seq <= 3; seq++) {
        applyMessage(state, reader, msgs[seq], 4e12);
        await store.write(1, seq, snapshotOf(state, seq));
      }
      const files = readdirSync(join(dir, "p1")).sort();
      expect(files).toEqual(["0000000000000002.snap", "0000000000000003.snap"]);
      const newest = join(dir, "p1", files[1]);
      const b = readFileSync(newest);
      writeFileSync(newest, b.subarray(0, b.length - 7)); // torn
      const got = await store.loadNewest(1, { configHash: configHash(config) });
      expect(got?.meta.lastSeq).toBe(2);
      expect(log.lines.some((l) => l.includes("0000000000000003.snap is unusable"))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("an engine restarted from its snapshots", () => {
  const nats = useNatsServer();

  test("equals an engine that replayed the whole log, and publishes no change twice", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tierstream-snap-"));
    const c = await client(nats.url);
    try {
      const T = Date.now() - 3_600_000;
      const gen = new OrderGenerator({ seed: 3, members: 400, ratePerSec: 10, startTs: T });
      const batch = (n: number) => Array.from({ length: n }, () => gen.next());
      let engine = await startEngine(nats.url, {}, undefined, { snapshotDir: dir });
      await publishOrders(c.js, batch(3000));
      await eventually(() => engine.counters.eventsApplied >= 2900, "the first orders");
      await Bun.sleep(200);
      await engine.stop(); // clean shutdown writes a snapshot per partition with orders
      expect(readdirSync(dir).length).toBeGreaterThan(10);

      await publishOrders(c.js, batch(3000)); // while the engine is down
      const log = memoryLog();
      engine = await startEngine(nats.url, {}, undefined, { snapshotDir: dir, log });
      expect(log.lines.filter((l) => l.includes("snapshot at orders seq")).length).toBeGreaterThan(10);
      // It replayed only what came after its snapshots.
      expect(engine.counters.eventsApplied).toBeLessThanOrEqual(3000);
      const fromLog = await startEngine(nats.url, {}, undefined, { name: "replay-all" });
      const members = [...new Set(Array.from({ length: 60 }, (_, i) => gen.memberOfRank(i + 1)))];
      for (const m of members) {
        const [a, b] = [await memberViaService(c.nc, m), memberOfEngine(fromLog, m)];
        expect({ ...a, seq: 0 }).toEqual({ ...b, seq: 0 });
      }
      const changes = await readTierChanges(c.nc);
      const ids = changes.map((ch) => ch.msgId);
      expect(new Set(ids).size).toBe(ids.length);
      expect(changes.length).toBeGreaterThan(50);
      await Promise.all([engine.stop(), fromLog.stop()]);
    } finally {
      await c.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function memberOfEngine(engine: Awaited<ReturnType<typeof startEngine>>, member: number) {
  return memberView(engine.runners.get(partitionOf(member, 64))!.state, member, 0);
}

describe("a slow disk", () => {
  const nats = useNatsServer();

  test("a snapshot write that takes long does not hold up consumption", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tierstream-snap-"));
    let release = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    let writesStarted = 0;
    // The disk: every write waits for the gate (a mock of what a slow disk does to a write).
    class SlowStore extends SnapshotStore {
      override async write(partition: number, lastSeq: number, bytes: Uint8Array): Promise<string> {
        writesStarted++;
        await gate;
        return super.write(partition, lastSeq, bytes);
      }
    }
    const c = await client(nats.url);
    try {
      const engine = await startEngine(nats.url, {}, undefined, { snapshotStore: new SlowStore(dir, memoryLog()) });
      const T = Date.now() - 60_000;
      const member = 31337;
      const order = (id: string, amount: number) => ({ id, member, line: "taobao", kind: "paid" as const, amount, ts: T });
      await publishOrders(c.js, [order("s1", 10_000)]);
      await eventually(async () => (await memberViaService(c.nc, member)).score === 100, "the first order");
      const runner = engine.runners.get(partitionOf(member, 64))!;
      runner.requestSnapshot();
      await eventually(() => writesStarted === 1 && runner.snapshotWritesPending === 1, "the write to hang");
      // While the disk hangs, orders keep applying.
      await publishOrders(c.js, [order("s2", 20_000)]);
      await eventually(async () => (await memberViaService(c.nc, member)).score === 300, "the order during the slow write");
      expect(runner.snapshotWritesPending).toBe(1);
      release();
      await eventually(() => runner.snapshotWritesPending === 0, "the write to finish");
      expect(readdirSync(join(dir, `p${partitionOf(member, 64)}`)).length).toBe(1);
      await engine.stop();
    } finally {
      release();
      await c.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
