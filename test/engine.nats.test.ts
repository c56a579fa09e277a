// The engine against a real nats-server: orders in, tier changes and dead letters out,
// member views over the micro service, restarts and split ownership.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";
import type { Engine } from "../engine/engine.ts";
import {
  encodeOrder,
  encodeOrders,
  ENGINE_STATS_SUBJECT,
  type Order,
  ordersSubject,
  partitionOf,
  STREAM_ORDERS_DLQ,
} from "../proto/index.ts";
import {
  type Client,
  client,
  eventually,
  memberViaService,
  publishOrders,
  readTierChanges,
  startEngine,
} from "./harness/engine.ts";
import { useNatsServer } from "./harness/nats.ts";
import { startNatsServer } from "../scripts/nats-server.ts";

const T = Date.now() - 60_000; // event times in the recent past: never "in the future"

const paid = (id: string, member: number, amount: number, ts = T, line = "taobao"): Order => ({
  id,
  member,
  line,
  kind: "paid",
  amount,
  ts,
});

describe("engine on NATS", () => {
  const nats = useNatsServer();
  let c: Client;
  let engine: Engine;

  beforeAll(async () => {
    c = await client(nats.url);
    engine = await startEngine(nats.url);
  });
  afterAll(async () => {
    await engine?.stop();
    await c?.close();
  });

  test("an order that crosses a threshold publishes one tier change with a deterministic Nats-Msg-Id", async () => {
    const member = 1001;
    await publishOrders(c.js, [paid("o-1", member, 15_000)]); // 150 points: bronze
    await publishOrders(c.js, [paid("o-2", member, 5_000, T + 1)]); // 200: silver
    const filter = `tier.${partitionOf(member, 64)}.${member}`;
    await eventually(async () => (await readTierChanges(c.nc, filter)).length === 1, "the silver change");
    const [change] = await readTierChanges(c.nc, filter);
    expect(change).toMatchObject({ member, from: "bronze", to: "silver", score: 200, ts: T + 1, cause: "o-2" });
    expect(change.seq).toBeGreaterThan(0);
    expect(change.msgId).toMatch(/^t\.\d+\.\d+\.0$/);

    const view = await memberViaService(c.nc, member);
    expect(view).toMatchObject({ member, score: 200, tier: "silver", next: { tier: "gold", pointsNeeded: 300 } });
    expect(view.lines).toEqual({ taobao: 200 });
    expect(view.seq).toBeGreaterThanOrEqual(change.seq);
  });

  test("an unknown member reads as bronze with score 0", async () => {
    const view = await memberViaService(c.nc, 987_654_321);
    expect(view).toMatchObject({ score: 0, tier: "bronze", lines: {}, next: { tier: "silver", pointsNeeded: 200 } });
  });

  test("a bad request to the member service gets a typed error", async () => {
    const member = 5;
    const p = partitionOf(member, 64);
    const r = await c.nc.request(`tierstream.member.${p}`, "not json", { timeout: 5000 });
    expect(r.headers?.get("Nats-Service-Error-Code")).toBe("400");
    expect(r.json()).toEqual({ error: { code: "bad_request", message: expect.any(String) } });
    const wrong = await c.nc.request(`tierstream.member.${(p + 1) % 64}`, JSON.stringify({ member }), { timeout: 5000 });
    expect((wrong.json() as { error: { code: string } }).error.code).toBe("wrong_partition");
  });

  test("an order delivered twice counts once: same Nats-Msg-Id, and a new msg id with the same (id, kind)", async () => {
    const member = 2002;
    const p = partitionOf(member, 64);
    const bytes = encodeOrders([paid("dup-1", member, 30_000)]);
    await c.js.publish(ordersSubject(p), bytes, { msgID: "same" });
    await c.js.publish(ordersSubject(p), bytes, { msgID: "same" }); // JetStream drops it
    await c.js.publish(ordersSubject(p), bytes, { msgID: "other" }); // the engine's dedup horizon drops it
    await publishOrders(c.js, [{ ...paid("dup-1", member, 10_000), kind: "refund" }]); // (id, refund) is another order
    await eventually(async () => (await memberViaService(c.nc, member)).score === 200, "300 − 100 points");
    expect(engine.counters.duplicates).toBeGreaterThanOrEqual(1);
  });

  test("bad input goes to ORDERS_DLQ with its reason; the valid orders of the batch still apply", async () => {
    const member = 3003;
    const p = partitionOf(member, 64);
    const before = engine.counters.deadLetters;
    const batch = encodeOrders([
      paid("ok-1", member, 10_000),
      { ...paid("bad-line", member, 10_000), line: "nope" },
      paid("future", member, 10_000, Date.now() + 3_600_000),
      paid("ok-2", member, 20_000),
    ]);
    await c.js.publish(ordersSubject(p), batch);
    await c.js.publish(ordersSubject(p), new Uint8Array([0xc1, 0x00])); // not msgpack
    await eventually(async () => (await memberViaService(c.nc, member)).score === 300, "the two valid orders");
    await eventually(() => engine.counters.deadLetters === before + 3, "three dead letters");

    const jsm = await jetstreamManager(c.nc);
    const reasons: string[] = [];
    for (let seq = 1; seq <= (await jsm.streams.info(STREAM_ORDERS_DLQ)).state.last_seq; seq++) {
      const m = await jsm.streams.getMessage(STREAM_ORDERS_DLQ, { seq });
      if (m?.subject === `dlq.orders.${p}`) reasons.push(m.header.get("Tierstream-Reason"));
    }
    expect(reasons.sort()).toEqual(["bad_line", "malformed", "ts_in_future"]);
    expect(engine.counters.deadLettersByCode.malformed).toBeGreaterThanOrEqual(1);
  });

  test("a message near the server's payload limit is applied (a pull always fits the largest message)", async () => {
    const member = 6006;
    const p = partitionOf(member, 64);
    const pad = "y".repeat(56);
    const orders: Order[] = [];
    for (let i = 0; i < 9000; i++) orders.push(paid(`${pad}-${i}`, member, 100, T));
    const bytes = encodeOrders(orders);
    expect(bytes.length).toBeGreaterThan(700 * 1024); // above an even share of the 32 MiB pull budget
    await c.js.publish(ordersSubject(p), bytes);
    await eventually(async () => (await memberViaService(c.nc, member)).score === 9000, "all 9000 orders");
  });

  test("an order published to the wrong partition is dead-lettered, not applied", async () => {
    const member = 4004;
    const wrong = (partitionOf(member, 64) + 1) % 64;
    const before = engine.counters.deadLettersByCode.wrong_partition;
    await c.js.publish(ordersSubject(wrong), encodeOrders([paid("wp", member, 100_000)]));
    await eventually(() => engine.counters.deadLettersByCode.wrong_partition === before + 1, "wrong_partition");
    expect((await memberViaService(c.nc, member)).score).toBe(0);
  });
});

describe("engine restarts and split ownership", () => {
  const nats = useNatsServer();

  test("a restarted engine replays the log to the same state and publishes no change twice", async () => {
    const c = await client(nats.url);
    let engine = await startEngine(nats.url);
    const members = [11, 12, 13, 14, 15];
    await publishOrders(
      c.js,
      members.flatMap((m, i) => [paid(`r-${m}-a`, m, 20_000 * (i + 1)), paid(`r-${m}-b`, m, 50_000 * (i + 1), T + 1)]),
    );
    // Every member's final score: each view waits until its partition's changes are stored,
    // so TIER_EVENTS is complete before it is read (members live in different partitions).
    await eventually(
      async () => (await Promise.all(members.map((m) => memberViaService(c.nc, m)))).every((v, i) => v.score === 700 * (i + 1)),
      "every member's orders applied",
    );
    const viewsBefore = await Promise.all(members.map((m) => memberViaService(c.nc, m)));
    expect(viewsBefore[4].tier).toBe("diamond");
    const changesBefore = await readTierChanges(c.nc);
    await engine.stop();

    engine = await startEngine(nats.url);
    const viewsAfter = await Promise.all(members.map((m) => memberViaService(c.nc, m)));
    expect(viewsAfter.map(({ seq: _, ...v }) => v)).toEqual(viewsBefore.map(({ seq: _, ...v }) => v));
    await publishOrders(c.js, [paid("r-after", 11, 100_000, T + 2)]);
    await eventually(async () => (await memberViaService(c.nc, 11)).score === 1700, "the order after the restart");
    const changesAfter = await readTierChanges(c.nc);
    expect(changesAfter.slice(0, changesBefore.length)).toEqual(changesBefore);
    expect(changesAfter.length).toBe(changesBefore.length + 1); // 700 → 1700: gold → platinum, member 11 only
    expect(changesAfter.at(-1)).toMatchObject({ member: 11, from: "gold", to: "platinum", cause: "r-after" });
    await engine.stop();
    await c.close();
  });

  test("two engines on disjoint partitions produce the same tier changes as one", async () => {
    // The same log on two fresh servers: one engine owns everything on the first, two
    // engines split the partitions on the second.
    const servers = [await startNatsServer(), await startNatsServer()];
    const orders: Order[] = [];
    for (let m = 100; m < 400; m++) {
      orders.push(paid(`s-${m}-1`, m, (m % 7) * 30_000 + 5_000, T + m), paid(`s-${m}-2`, m, (m % 5) * 40_000 + 1, T + m + 1000, "eleme"));
    }
    const run = async (url: string, owners: number[][]) => {
      const c = await client(url);
      await publishOrders(c.js, orders);
      const engines = await Promise.all(owners.map((partitions) => startEngine(url, {}, partitions)));
      const applied = () => engines.reduce((n, e) => n + e.counters.eventsApplied, 0);
      await eventually(() => applied() === orders.length, "every order applied");
      // Every engine answers the stats request, each for its own partitions.
      const answers: number[][] = [];
      for await (const m of await c.nc.requestMany(ENGINE_STATS_SUBJECT, "", { maxWait: 500 })) {
        answers.push((m.json() as { partitions: { partition: number }[] }).partitions.map((p) => p.partition));
      }
      expect(answers.map((ps) => ps.length).sort()).toEqual(owners.map((o) => o.length).sort());
      expect(answers.flat().sort((a, b) => a - b)).toEqual(all);
      for (const e of engines) await e.stop();
      const changes = (await readTierChanges(c.nc)).map(({ seq: _s, msgId: _m, ...ch }) => ch);
      await c.close();
      return changes;
    };
    const all = [...Array(64).keys()];
    const byOne = await run(servers[0].url, [all]);
    const byTwo = await run(servers[1].url, [all.slice(0, 32), all.slice(32)]);
    await Promise.all(servers.map((s) => s.cleanup()));
    const key = (ch: { member: number; cause: string; from: string; to: string; score: number; ts: number }) =>
      JSON.stringify([ch.member, ch.cause, ch.from, ch.to, ch.score, ch.ts]);
    expect(byOne.length).toBeGreaterThan(100);
    expect(byTwo.map(key).sort()).toEqual(byOne.map(key).sort());
  });

  test("the engine ticks quiet partitions so their clocks keep up with the wall clock", async () => {
    const { Engine } = await import("../engine/engine.ts");
    const { loadConfig } = await import("../engine/config.ts");
    const { silentLogger } = await import("../engine/log.ts");
    let now = Date.now();
    const engine = await Engine.start({
      natsUrl: nats.url,
      config: loadConfig({ tickIntervalMs: 100 }),
      partitions: [7],
      log: silentLogger,
      now: () => now,
    });
    await engine.whenCaughtUp();
    now += 5_000;
    await eventually(() => engine.runners.get(7)!.state.clock === now, "the tick to arrive");
    await engine.stop();
  });

  test("a tick is part of the log: a replay sees it", async () => {
    const c = await client(nats.url);
    const h = headers();
    h.set("Nats-Msg-Id", "tick-test");
    await c.js.publish(ordersSubject(9), encodeOrder({ kind: "tick", ts: T + 12_345 }), { headers: h });
    const engine = await startEngine(nats.url, {}, [9]);
    expect(engine.runners.get(9)!.state.clock).toBeGreaterThanOrEqual(T + 12_345);
    await engine.stop();
    await c.close();
  });
});

describe("engine live feeds: interest leases, score ticks, live tier changes", () => {
  const nats = useNatsServer();

  test("score ticks only for watched members, coalesced, and they stop when the lease lapses", async () => {
    const { interestSubject, liveTierSubject, scoreSubject } = await import("../proto/index.ts");
    const c = await client(nats.url);
    const engine = await startEngine(nats.url);
    const watched = 5150;
    const unwatched = 5151;
    const pw = partitionOf(watched, 64);
    const pu = partitionOf(unwatched, 64);
    const frames: { subject: string; body: Record<string, unknown> }[] = [];
    for (const subject of [scoreSubject(pw, watched), scoreSubject(pu, unwatched), liveTierSubject(pw, watched)]) {
      c.nc.subscribe(subject, {
        callback: (_e, m) => {
          frames.push({ subject: m.subject, body: m.json() });
        },
      });
    }
    c.nc.publish(interestSubject(pw), JSON.stringify({ gateway: "test", leaseMs: 30_000, members: [watched] }));
    await eventually(() => engine.runners.get(pw)!.scoreFeed.leases.has(watched), "the engine to hold the lease");
    // Three orders in one message: one coalesced score tick (+250), one live tier change.
    await publishOrders(c.js, [paid("w1", watched, 10_000), paid("w2", watched, 10_000, T + 1), paid("w3", watched, 5_000, T + 2)]);
    await publishOrders(c.js, [paid("u1", unwatched, 50_000)]);
    await eventually(() => frames.some((f) => f.subject.startsWith("live.")), "the live tier change");
    await Bun.sleep(250);
    const scores = frames.filter((f) => f.subject.startsWith("score."));
    expect(scores).toEqual([
      { subject: scoreSubject(pw, watched), body: { type: "score", member: watched, score: 250, delta: 250, line: "taobao", ts: T + 2 } },
    ]);
    const live = frames.find((f) => f.subject.startsWith("live."))!;
    expect(live.body).toMatchObject({ type: "tier", member: watched, from: "bronze", to: "silver", score: 200, cause: "w2" });
    const stored = await readTierChanges(c.nc, `tier.${pw}.${watched}`);
    expect(live.body.seq).toBe(stored[0].seq);

    // A lease that is not renewed lapses: no more ticks for that member.
    const lapsing = 5152;
    const pl = partitionOf(lapsing, 64);
    c.nc.subscribe(scoreSubject(pl, lapsing), {
      callback: (_e, m) => {
        frames.push({ subject: m.subject, body: m.json() });
      },
    });
    c.nc.publish(interestSubject(pl), JSON.stringify({ gateway: "test", leaseMs: 500, members: [lapsing] }));
    const leases = engine.runners.get(pl)!.scoreFeed.leases;
    await eventually(() => leases.has(lapsing), "the short lease to be held");
    await eventually(() => !leases.has(lapsing), "the short lease to lapse", 5_000);
    const before = frames.length;
    await publishOrders(c.js, [paid("l1", lapsing, 1_000, T + 3)]);
    await eventually(async () => (await memberViaService(c.nc, lapsing)).score === 10, "the order of the lapsed member");
    await Bun.sleep(250);
    expect(frames.length).toBe(before);
    await engine.stop();
    await c.close();
  });
});

describe("engine score leases held by two gateways", () => {
  const nats = useNatsServer();

  test("one gateway's drop does not stop the other's score ticks; the last one's does, half a lease later", async () => {
    const { interestSubject, scoreSubject } = await import("../proto/index.ts");
    const c = await client(nats.url);
    const engine = await startEngine(nats.url);
    try {
      const member = 7100;
      const p = partitionOf(member, 64);
      const ticks: number[] = [];
      c.nc.subscribe(scoreSubject(p, member), { callback: (_e, m) => void ticks.push((m.json() as { score: number }).score) });
      const say = (gateway: string, members: number[], drop?: number[]) =>
        c.nc.publish(interestSubject(p), JSON.stringify({ gateway, leaseMs: 2000, members, drop }));
      const leases = engine.runners.get(p)!.scoreFeed.leases;
      let ts = T;
      const order = async (n: number) => {
        await publishOrders(c.js, [paid(`two-${n}`, member, 1_000, ++ts)]); // +10 points
        await eventually(async () => (await memberViaService(c.nc, member)).score === 10 * n, `order ${n} applied`);
        await Bun.sleep(250); // a tick leaves within 100 ms
      };
      say("phone-gateway", [member]);
      say("tablet-gateway", [member]);
      await eventually(() => leases.has(member), "the lease");
      say("phone-gateway", [], [member]); // the phone's connection closed
      // The tablet's gateway renews every leaseMs / 3, as gateways do.
      const renewing = setInterval(() => say("tablet-gateway", [member]), 600);
      try {
        await order(1);
        await Bun.sleep(1500); // past half a lease from the drop, and a whole expiry sweep
        await order(2);
      } finally {
        clearInterval(renewing);
      }
      expect(ticks).toEqual([10, 20]);
      say("tablet-gateway", [], [member]); // the last holder lets go
      await eventually(() => !leases.has(member), "the lease to end", 5_000);
      await order(3);
      expect(ticks).toEqual([10, 20]);
    } finally {
      await engine.stop();
      await c.close();
    }
  });
});

describe("engine live tier changes: only for watched members, after a partition's grace", () => {
  const nats = useNatsServer();

  test("every change goes out live during the grace; then only watched members' — a drop does not close it, expiry does", async () => {
    const { interestSubject } = await import("../proto/index.ts");
    const c = await client(nats.url);
    const engine = await startEngine(nats.url, {}, undefined, { liveTierGraceMs: 600, liveTierLeaseMinMs: 300 });
    try {
      const watched = 6100;
      const other = 6101;
      const live: string[] = [];
      c.nc.subscribe("live.tier.>", { callback: (_e, m) => void live.push(`${(m.json() as { cause: string }).cause}`) });
      await c.nc.flush();
      const announce = (members: number[], drop?: number[]) => {
        for (const m of [...members, ...(drop ?? [])]) {
          c.nc.publish(interestSubject(partitionOf(m, 64)), JSON.stringify({ gateway: "g", leaseMs: 100, members, drop }));
        }
      };
      const liveOf = (cause: string) => eventually(() => live.includes(cause), `${cause} live`);
      const stored = (member: number, n: number) => eventually(async () => (await readTierChanges(c.nc, `tier.${partitionOf(member, 64)}.${member}`)).length === n, `${n} changes of ${member} stored`);

      // In the grace: a member nobody watches still gets its change live.
      await publishOrders(c.js, [paid("grace", other, 20_000)]); // → silver
      await liveOf("grace");
      await Bun.sleep(700); // the grace is over

      announce([watched]);
      await eventually(() => engine.runners.get(partitionOf(watched, 64))!.liveTiers.leases.has(watched), "the watch");
      await publishOrders(c.js, [paid("seen", watched, 20_000, T + 1), paid("unseen", other, 30_000, T + 1)]); // silver, gold
      await liveOf("seen");
      await stored(other, 2);
      // Another gateway's drop ends score ticks, not live tier changes.
      announce([], [watched]);
      await c.nc.flush();
      await Bun.sleep(50);
      await publishOrders(c.js, [paid("after-drop", watched, 30_000, T + 2)]); // gold
      await liveOf("after-drop");
      // The watch lapses after max(leaseMs, the floor) once nobody renews it (expired each second).
      const tiers = engine.runners.get(partitionOf(watched, 64))!.liveTiers;
      await eventually(() => !tiers.leases.has(watched), "the watch to lapse", 5_000);
      await publishOrders(c.js, [paid("lapsed", watched, 50_000, T + 3)]); // platinum
      await stored(watched, 3);
      await c.nc.flush();
      await Bun.sleep(100);
      expect(live).toEqual(["grace", "seen", "after-drop"]);
      expect(engine.counters.snapshot()).toMatchObject({ tierChanges: 5, liveTierChanges: 3 });
    } finally {
      await engine.stop();
      await c.close();
    }
  });
});
