// Snapshots in the JetStream object store (engine/snapshot/object-store.ts) against a real
// nats-server: a state written by one process is read back whole by another (a partition taken
// over on another machine), the newest `keep` are kept, and a corrupt or foreign newest one is
// skipped for the previous one.

import { afterAll, describe, expect, test } from "bun:test";
import { jetstream } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { applyMessage } from "../engine/apply-message.ts";
import { loadConfig } from "../engine/config.ts";
import { memberView } from "../engine/member-view.ts";
import { configHash, encodeSnapshot } from "../engine/snapshot/format.ts";
import { ObjectSnapshotStore } from "../engine/snapshot/object-store.ts";
import { PartitionState } from "../engine/state/partition-state.ts";
import { OrderGenerator } from "../loadtest/population.ts";
import { OrderReader } from "../proto/index.ts";
import { memoryLog } from "./harness/ownership.ts";
import { useNatsServer } from "./harness/nats.ts";

const config = loadConfig({ partitions: 4 });
const hash = configHash(config);
const nats = useNatsServer();
const connections: NatsConnection[] = [];
afterAll(async () => {
  await Promise.all(connections.map((nc) => nc.close()));
});

let buckets = 0;
async function open(bucket: string, log = memoryLog(), keep?: number): Promise<ObjectSnapshotStore> {
  const nc = await connect({ servers: nats.url });
  connections.push(nc);
  return ObjectSnapshotStore.open(jetstream(nc), { bucket, log, keep });
}

/** Partition 1 after `count` orders of a realistic population. */
function stateAfter(count: number): PartitionState {
  const gen = new OrderGenerator({ seed: 11, members: 20_000, ratePerSec: 0.02, startTs: Date.UTC(2025, 0, 1) });
  const state = new PartitionState(config, 1);
  const reader = new OrderReader(config.lineNames);
  for (const m of gen.fillPartitionBatches(count, 4, 64)[1]) applyMessage(state, reader, m, 4e12);
  return state;
}

function snapshotOf(state: PartitionState, lastSeq: number, partition = 1, withHash = hash): Uint8Array {
  return encodeSnapshot(
    { partition, partitions: 4, configHash: withHash, lastSeq, clock: state.clock, memberCount: state.memberCount, freeCells: state.cells.exportParts().freeCells, createdAtMs: 0 },
    state.exportParts(),
  );
}

describe("ObjectSnapshotStore", () => {
  const state = stateAfter(120_000);

  test("a snapshot written by one process loads whole in another (several chunks)", async () => {
    const bucket = `SNAPS_${++buckets}`;
    const writer = await open(bucket);
    const bytes = snapshotOf(state, 4242);
    expect(bytes.length).toBeGreaterThan(2 * 128 * 1024); // more than two 128 KiB chunks
    const path = await writer.write(1, 4242, bytes);
    expect(path).toBe(`nats:${bucket}/p1/0000000000004242.snap`);

    const reader = await open(bucket);
    const got = await reader.loadNewest(1, { configHash: hash });
    expect(got?.meta.lastSeq).toBe(4242);
    expect(got?.path).toBe(path);
    const restored = PartitionState.fromParts(config, 1, got!.parts);
    expect(restored.memberCount).toBe(state.memberCount);
    expect(restored.memberCount).toBeGreaterThan(1000);
    for (let i = 0; i < state.memberCount; i += 97) {
      const id = state.ids[i];
      expect(memberView(restored, id, 0)).toEqual(memberView(state, id, 0));
    }
    expect(await reader.loadNewest(2, { configHash: hash })).toBeNull(); // another partition: none
  });

  test("keeps the newest two per partition, and other partitions' alone", async () => {
    const bucket = `SNAPS_${++buckets}`;
    const store = await open(bucket);
    const small = stateAfter(2_000);
    for (const seq of [10, 20, 30]) await store.write(1, seq, snapshotOf(small, seq));
    await store.write(3, 5, snapshotOf(small, 5, 3));
    expect(await store.names(1)).toEqual(["p1/0000000000000030.snap", "p1/0000000000000020.snap"]);
    expect(await store.names(3)).toEqual(["p3/0000000000000005.snap"]);
  });

  test("falls back past a corrupt and a foreign newest snapshot, saying why", async () => {
    const bucket = `SNAPS_${++buckets}`;
    const log = memoryLog();
    const store = await open(bucket, log, 3);
    const small = stateAfter(2_000);
    await store.write(1, 100, snapshotOf(small, 100));
    await store.write(1, 200, snapshotOf(small, 200, 1, hash ^ 1)); // other rules
    const flipped = snapshotOf(small, 300);
    flipped[Math.floor(flipped.length / 2)] ^= 0x40; // bits flipped after the CRC was computed
    await store.write(1, 300, flipped);

    const got = await store.loadNewest(1, { configHash: hash });
    expect(got?.meta.lastSeq).toBe(100);
    expect(log.lines.some((l) => l.includes("p1/0000000000000300.snap is unusable (checksum"))).toBe(true);
    expect(log.lines.some((l) => l.includes("p1/0000000000000200.snap is unusable (mismatch"))).toBe(true);
  });
});
