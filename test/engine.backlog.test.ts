// A backlog that arrives all at once — the festival-midnight spike — against an engine that is
// already running: every partition must drain it at full speed, with no pause in its progress.
//
// Regression: with nats.js's ordered consumer, `consume({max_bytes})` lost track of its pulls
// under a backlog (pulls that ended on their 100-message batch left their unused bytes
// booked), shrank every later pull to a few KB, and when one of those ended with "409 Message
// Size Exceeds MaxBytes" while the engine had nothing left to apply, it did not pull again:
// the partition applied nothing until two idle heartbeats were missed, ~30 s later
// (engine/ordered-pull.ts has the whole story). The engine now pulls through OrderedPull.
// The second part checks OrderedPull itself: a byte budget that holds, messages as big as the
// server allows after small ones, an idle pull that expires and is renewed, and a consumer
// that vanishes under it. The last checks readSubject (a partition's claims are replayed
// through it at start), which stalled the same way while it pulled by max_bytes.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import type { Engine } from "../engine/engine.ts";
import { silentLogger } from "../engine/log.ts";
import { OrderedPull, type PulledMessage } from "../proto/ordered-pull.ts";
import { encodeOrders, ensureStreams, type Order, ordersSubject, partitionOf, STREAM_ORDERS } from "../proto/index.ts";
import { readSubject } from "../proto/read-subject.ts";
import { startEngine } from "./harness/engine.ts";
import { useNatsServer } from "./harness/nats.ts";
import { mulberry32 } from "./harness/prng.ts";

const P = 64;
const T = Date.now() - 60_000;

/** `count` members of partition p. */
const membersOf = (p: number, count: number): number[] => {
  const out: number[] = [];
  for (let m = 1; out.length < count; m++) if (partitionOf(m, P) === p) out.push(m);
  return out;
};

describe("a sudden backlog", () => {
  const nats = useNatsServer();
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let engine: Engine;
  const PARTITIONS = [...Array(16).keys()];
  const MESSAGES_PER_PARTITION = 5_000;

  beforeAll(async () => {
    nc = await connect({ servers: nats.url });
    jsm = await jetstreamManager(nc);
    await ensureStreams(jsm);
    engine = await startEngine(nats.url, {}, PARTITIONS);
  });
  afterAll(async () => {
    await engine?.stop();
    await nc?.close();
  });

  test("drains at full speed, without a pause in any partition's progress", async () => {
    const rnd = mulberry32(0x5b1e);
    const members = new Map(PARTITIONS.map((p) => [p, membersOf(p, 50)]));
    let id = 0;
    // Messages of 1 … 60 orders (most small), as a spike's per-partition batches come:
    // published as fast as the connection takes them, with Nats-Msg-Id as producers send them.
    for (let i = 0; i < MESSAGES_PER_PARTITION; i++) {
      for (const p of PARTITIONS) {
        const n = 1 + Math.floor(rnd() * rnd() * 60);
        const orders: Order[] = [];
        for (let k = 0; k < n; k++) {
          orders.push({ id: `b${id++}`, member: members.get(p)![k % 50], line: "taobao", kind: "paid", amount: 100 + Math.floor(rnd() * 10_000), ts: T });
        }
        const h = headers();
        h.set("Nats-Msg-Id", `backlog-${p}-${i}`);
        nc.publish(ordersSubject(p), encodeOrders(orders), { headers: h });
      }
      if (i % 250 === 0) await nc.flush();
    }
    await nc.flush();
    const total = PARTITIONS.length * MESSAGES_PER_PARTITION;
    for (;;) {
      if ((await jsm.streams.info(STREAM_ORDERS)).state.messages >= total) break;
      await Bun.sleep(20);
    }

    // Every partition applies its share; none stands still for long while it has some left.
    const lastSeqOf = async (p: number) => (await jsm.streams.getMessage(STREAM_ORDERS, { last_by_subj: ordersSubject(p) }))!.seq;
    const last = new Map(await Promise.all(PARTITIONS.map(async (p) => [p, await lastSeqOf(p)] as const)));
    const progress = new Map(PARTITIONS.map((p) => [p, { seq: -1, at: performance.now() }]));
    const STILL_MAX_MS = 3_000;
    const DEADLINE_MS = 20_000;
    const started = performance.now();
    let longestStill = { p: -1, ms: 0 };
    for (;;) {
      const now = performance.now();
      let behind = 0;
      for (const p of PARTITIONS) {
        const seq = engine.runners.get(p)!.lastSeq;
        if (seq >= last.get(p)!) continue;
        behind++;
        const seen = progress.get(p)!;
        if (seq !== seen.seq) progress.set(p, { seq, at: now });
        else if (now - seen.at > longestStill.ms) longestStill = { p, ms: now - seen.at };
      }
      if (behind === 0 || longestStill.ms > STILL_MAX_MS || now - started > DEADLINE_MS) break;
      await Bun.sleep(10);
    }
    const stuck = PARTITIONS.filter((p) => engine.runners.get(p)!.lastSeq < last.get(p)!).map((p) => `p${p} at ${engine.runners.get(p)!.lastSeq} of ${last.get(p)}`);
    expect({ stuck, longestStillMs: longestStill.ms > STILL_MAX_MS ? Math.round(longestStill.ms) : "under the limit" }).toEqual({ stuck: [], longestStillMs: "under the limit" });
    expect(engine.counters.messages).toBeGreaterThanOrEqual(total);
  }, 60_000);
});

describe("OrderedPull", () => {
  const nats = useNatsServer();
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  const pulls: OrderedPull[] = [];

  beforeAll(async () => {
    nc = await connect({ servers: nats.url });
    jsm = await jetstreamManager(nc);
    await ensureStreams(jsm);
  });
  afterAll(async () => {
    for (const pull of pulls) await pull.close();
    await nc?.close();
  });

  const open = (p: number, maxBytes: number, more: { heartbeatMs?: number; expiresMs?: number } = {}) => {
    const pull = new OrderedPull({ nc, jsm, stream: STREAM_ORDERS, filter: ordersSubject(p), maxBytes, log: silentLogger, label: `partition ${p}`, ...more });
    pulls.push(pull);
    return pull;
  };

  /** Reads `count` messages, calling `each` after every one. */
  const read = async (pull: OrderedPull, count: number, each: (m: PulledMessage) => void | Promise<void> = () => {}) => {
    const got: PulledMessage[] = [];
    for await (const m of pull) {
      got.push(m);
      await each(m);
      if (got.length === count) break;
    }
    return got;
  };

  test("in order, within its byte budget, and a message as big as the server takes after small ones", async () => {
    const p = 40;
    const subject = ordersSubject(p);
    const maxPayload = nc.info!.max_payload;
    const payloads: Uint8Array[] = [];
    for (let i = 0; i < 600; i++) payloads.push(new Uint8Array(i % 7 === 0 ? 3000 : 40).fill(i % 251));
    payloads.splice(300, 0, new Uint8Array(maxPayload - 200).fill(7)); // near the limit
    const first = (await jsm.streams.info(STREAM_ORDERS)).state.last_seq + 1;
    for (const data of payloads) nc.publish(subject, data);
    await nc.flush();

    const budget = maxPayload + 64 * 1024;
    const pull = open(p, budget);
    const info = await pull.start(first);
    expect(info.num_pending).toBe(payloads.length);
    const overBudget: number[] = [];
    const got = await read(pull, payloads.length, async (m) => {
      if (pull.heldBytes > budget) overBudget.push(m.seq);
      if (m.seq % 50 === 0) await Bun.sleep(1); // a slow reader now and then
    });
    expect(overBudget).toEqual([]);
    expect(got.map((m) => m.data.length)).toEqual(payloads.map((d) => d.length));
    expect(got.every((m, i) => i === 0 || m.seq > got[i - 1].seq)).toBe(true);
    expect(got.at(-1)!.pending).toBe(0);
    await pull.close();
  }, 30_000);

  test("an idle pull expires and is renewed, heartbeats keep it from being taken for lost", async () => {
    const p = 42;
    const first = (await jsm.streams.info(STREAM_ORDERS)).state.last_seq + 1;
    const pull = open(p, 64 * 1024, { heartbeatMs: 250, expiresMs: 1000 });
    await pull.start(first);
    await Bun.sleep(2_600); // two expiries, ten heartbeats; "lost" would be 1.5 s without any
    expect({ resets: pull.resets, renewed: pull.pulls >= 3 }).toEqual({ resets: 0, renewed: true });
    nc.publish(ordersSubject(p), new TextEncoder().encode("late"));
    const [m] = await read(pull, 1);
    expect(new TextDecoder().decode(m.data)).toBe("late");
    await pull.close();
  }, 30_000);

  test("a pull that expires while messages keep coming is renewed at once, not after two silent heartbeats", async () => {
    // nats-server before 2.9.16 (Debian's is 2.9.10) ends a pull without its 408 when it finds
    // the pull expired while delivering (nats-server df282a221): a burst of messages that is
    // still being delivered at the pull's expiry makes that happen. Each burst here starts just
    // before the open pull's expiry; a pull request's send time is seen on the connection.
    const p = 43;
    const subject = ordersSubject(p);
    const expiresMs = 1000;
    const heartbeatMs = 400;
    const first = (await jsm.streams.info(STREAM_ORDERS)).state.last_seq + 1;
    const pullSentAt: number[] = [];
    const publish = nc.publish.bind(nc);
    nc.publish = (subj, payload, options) => {
      if (subj.includes(".CONSUMER.MSG.NEXT.")) pullSentAt.push(performance.now());
      publish(subj, payload, options);
    };
    const pull = open(p, 256 * 1024 * 1024, { heartbeatMs, expiresMs });
    let sent = 0;
    try {
      await pull.start(first);
      const bursts = (async () => {
        for (let cycle = 0; cycle < 4; cycle++) {
          const expiry = pullSentAt.at(-1)! + expiresMs;
          await Bun.sleep(Math.max(0, expiry - 5 - performance.now()));
          for (let i = 0; i < 4000; i++) publish(subject, new TextEncoder().encode(`m${sent++}`));
          await nc.flush();
          await Bun.sleep(50); // past the expiry: the next pull, if one was sent, is the last
        }
      })();
      let lastMs = performance.now();
      let longestGapMs = 0;
      let got = 0;
      for await (const m of pull) {
        expect(new TextDecoder().decode(m.data)).toBe(`m${got++}`);
        const now = performance.now();
        longestGapMs = Math.max(longestGapMs, now - lastMs);
        lastMs = now;
        if (got === 16_000) break;
      }
      await bursts;
      // The gaps are the ~1 s between bursts; two unheard heartbeats would add 1.8 s more.
      expect({ longestGapUnder1500Ms: longestGapMs < 1500, resets: pull.resets }).toEqual({ longestGapUnder1500Ms: true, resets: 0 });
    } finally {
      nc.publish = publish;
      await pull.close();
    }
  }, 30_000);

  test("picks up after the last message it got when its consumer is deleted under it", async () => {
    const p = 41;
    const subject = ordersSubject(p);
    const first = (await jsm.streams.info(STREAM_ORDERS)).state.last_seq + 1;
    for (let i = 0; i < 50; i++) nc.publish(subject, new TextEncoder().encode(`a${i}`));
    await nc.flush();
    const pull = open(p, 64 * 1024, { heartbeatMs: 500 });
    await pull.start(first);
    const got = await read(pull, 50);
    await jsm.consumers.delete(STREAM_ORDERS, pull.consumer);
    for (let i = 50; i < 100; i++) nc.publish(subject, new TextEncoder().encode(`a${i}`));
    await nc.flush();
    got.push(...(await read(pull, 50)));
    expect(got.map((m) => new TextDecoder().decode(m.data))).toEqual(Array.from({ length: 100 }, (_, i) => `a${i}`));
    expect(pull.resets).toBeGreaterThanOrEqual(1);
    await pull.close();
  }, 30_000);
});

describe("readSubject", () => {
  const nats = useNatsServer();

  test("reads a long subject of small messages of mixed sizes without stalling", async () => {
    const nc = await connect({ servers: nats.url });
    try {
      const jsm = await jetstreamManager(nc);
      await ensureStreams(jsm);
      const rnd = mulberry32(0x4ead);
      const subject = ordersSubject(3);
      const COUNT = 30_000;
      for (let i = 0; i < COUNT; i++) {
        nc.publish(subject, new Uint8Array(20 + Math.floor(rnd() * rnd() * 2000)));
        if (i % 1000 === 0) await nc.flush();
      }
      await nc.flush();
      let last = 0;
      while ((last = (await jsm.streams.info(STREAM_ORDERS)).state.last_seq) < COUNT) await Bun.sleep(20);
      let read = 0;
      const reading = (async () => {
        for await (const _ of readSubject(jetstream(nc), STREAM_ORDERS, subject, last)) {
          read++;
          if (read % 500 === 0) await Bun.sleep(0); // a reader that lets its queue run dry now and then
        }
      })();
      // A stalled read never comes back by itself: give it 10 s (it needs well under one).
      await Promise.race([reading, Bun.sleep(10_000)]);
      expect(read).toBe(COUNT);
    } finally {
      await nc.close();
    }
  }, 30_000);
});
