// Streams and buckets are created by whichever process comes first. Several processes
// starting at once against a fresh server must all open them: before openRacing, one in a
// few hundred concurrent opens of a fresh bucket failed with "subjects overlap with an
// existing stream" (the twin created a moment ago), and an engine died at start for it.

import { describe, expect, test } from "bun:test";
import { type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { isCreatedConcurrently, isTransient, openRacing } from "../proto/create-race.ts";
import { ensureStreams, streamConfigs } from "../proto/streams.ts";
import { openLeaseBucket } from "../engine/ownership/bucket.ts";
import { ObjectSnapshotStore } from "../engine/snapshot/object-store.ts";
import { useNatsServer } from "./harness/nats.ts";

describe("openRacing", () => {
  test("asks once more after a lost creation race, and only then", async () => {
    let calls = 0;
    const lostOnce = () => (++calls === 1 ? Promise.reject(new Error("subjects overlap with an existing stream")) : Promise.resolve("opened"));
    expect(await openRacing(lostOnce)).toBe("opened");
    expect(calls).toBe(2);

    calls = 0;
    const clash = () => (++calls, Promise.reject(new Error("subjects overlap with an existing stream")));
    await expect(openRacing(clash)).rejects.toThrow(/subjects overlap/);
    expect(calls).toBe(2); // a real clash fails twice and is thrown

    calls = 0;
    const other = () => (++calls, Promise.reject(new Error("insufficient resources")));
    await expect(openRacing(other)).rejects.toThrow(/insufficient resources/);
    expect(calls).toBe(1);
  });

  test("asks again after transient failures, pausing longer each time, and gives up after its attempts", async () => {
    const pausesMs: number[] = [];
    const sleep = async (ms: number) => void pausesMs.push(ms);
    let calls = 0;
    const slowTwice = () => (++calls <= 2 ? Promise.reject(new Error("timeout")) : Promise.resolve("opened"));
    expect(await openRacing(slowTwice, { sleep, backoffMs: 50 })).toBe("opened");
    expect(calls).toBe(3);
    expect(pausesMs).toEqual([50, 100]);

    calls = 0;
    pausesMs.length = 0;
    const unavailable = () => (++calls, Promise.reject(new Error("JetStream system temporarily unavailable")));
    await expect(openRacing(unavailable, { sleep, attempts: 4, backoffMs: 10 })).rejects.toThrow(/temporarily unavailable/);
    expect(calls).toBe(4);
    expect(pausesMs).toEqual([10, 20, 40]);

    // A lost race then a slow answer: both are ridden out.
    calls = 0;
    const raceThenSlow = () => {
      calls++;
      if (calls === 1) return Promise.reject(new Error("stream name already in use with a different configuration"));
      if (calls === 2) return Promise.reject(new Error("timeout"));
      return Promise.resolve("opened");
    };
    expect(await openRacing(raceThenSlow, { sleep })).toBe("opened");
    expect(calls).toBe(3);
  });

  test("ensureStreams rides out a slow answer for each stream (a server timing out on demand cannot be had, so a stand-in manager times out once per stream)", async () => {
    const calls: string[] = [];
    const timedOut = new Set<string>();
    const jsm = {
      streams: {
        info: async (name: string) => {
          calls.push(`info ${name}`);
          if (!timedOut.has(name)) {
            timedOut.add(name);
            throw new Error("timeout");
          }
          throw Object.assign(new Error("stream not found"), { name: "StreamNotFoundError" });
        },
        add: async (config: { name: string }) => void calls.push(`add ${config.name}`),
      },
    } as unknown as JetStreamManager;
    await ensureStreams(jsm);
    const names = streamConfigs().map((c) => c.name);
    expect(calls).toEqual(names.flatMap((n) => [`info ${n}`, `info ${n}`, `add ${n}`]));
  });

  test("knows the server's words for a twin created a moment ago", () => {
    expect(isCreatedConcurrently(new Error("stream name already in use with a different configuration"))).toBe(true);
    expect(isCreatedConcurrently(new Error("subjects overlap with an existing stream"))).toBe(true);
    expect(isCreatedConcurrently(new Error("stream not found"))).toBe(false);
    expect(isCreatedConcurrently(undefined)).toBe(false);
    expect(isTransient(new Error("timeout"))).toBe(true);
    expect(isTransient(new Error("JetStream system temporarily unavailable"))).toBe(true);
    expect(isTransient(new Error("no responders: '$JS.API.STREAM.INFO.KV_X'"))).toBe(true);
    expect(isTransient(new Error("stream not found"))).toBe(false);
    expect(isTransient(new Error("insufficient resources"))).toBe(false);
  });
});

describe("many processes creating the same streams and buckets at once", () => {
  const nats = useNatsServer();
  const ROUNDS = 400;
  const PROCESSES = 8;

  async function connections(): Promise<NatsConnection[]> {
    return Promise.all(Array.from({ length: PROCESSES }, () => connect({ servers: nats.url })));
  }

  test(`${ROUNDS} rounds of ${PROCESSES} connections opening one fresh lease bucket and one snapshot bucket: every open succeeds`, async () => {
    const ncs = await connections();
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const leases = await Promise.allSettled(ncs.map((nc) => openLeaseBucket(jetstream(nc), { bucket: `RACE_L_${round}` })));
        const snapshots = await Promise.allSettled(ncs.map((nc) => ObjectSnapshotStore.open(jetstream(nc), { bucket: `RACE_S_${round}` })));
        const failed = [...leases, ...snapshots].filter((r) => r.status === "rejected").map((r) => String((r as PromiseRejectedResult).reason));
        expect(failed).toEqual([]); // on failure, the reasons say which open failed and why
      }
    } finally {
      await Promise.all(ncs.map((nc) => nc.close()));
    }
  }, 60_000);

  test("every process creating the contract's streams at once: all succeed, each stream once", async () => {
    const ncs = await connections();
    try {
      const results = await Promise.allSettled(ncs.map(async (nc) => ensureStreams(await jetstreamManager(nc))));
      expect(results.filter((r) => r.status === "rejected")).toEqual([]);
      const jsm = await jetstreamManager(ncs[0]);
      for (const c of streamConfigs()) expect((await jsm.streams.info(c.name)).config.subjects).toEqual(c.subjects!);
    } finally {
      await Promise.all(ncs.map((nc) => nc.close()));
    }
  }, 60_000);
});
