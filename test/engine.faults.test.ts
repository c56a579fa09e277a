// JetStream refusing the engine's writes: TIER_EVENTS deleted (publishes get "no responders")
// and TIER_EVENTS full (max_msgs with discard "new"). The engine retries, a partition whose
// outbox is full stops consuming instead of moving on without storing, and once the stream is
// back every tier change is in TIER_EVENTS exactly once, in log order — checked against
// changes computed by hand and against `verify`.
// FUZZ_SEED=<n> varies the order amounts; the seed is in the suite's name, so every failure shows it.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { loadConfig } from "../engine/config.ts";
import type { Engine } from "../engine/engine.ts";
import type { Logger } from "../engine/log.ts";
import type { Outbox } from "../engine/outbox.ts";
import type { PartitionRunner } from "../engine/partition-runner.ts";
import { ensureStreams, type Order, ordersSubject, partitionOf, STREAM_TIER_EVENTS, TIERS, encodeOrders } from "../proto/index.ts";
import { verify } from "../scripts/verify.ts";
import { type Client, client, eventually, readTierChanges, startEngine } from "./harness/engine.ts";
import { useNatsServer } from "./harness/nats.ts";
import { intBetween, mulberry32 } from "./harness/prng.ts";

const SEED = Number(process.env.FUZZ_SEED ?? 0xfa017) >>> 0;
const P = 64;
const RULES = { policy: "immediate" } as const;
const LADDER = [0, 200, 500, 1000, 2500, 6000]; // the default ladder, lowest tier first
const T = Date.now() - 120_000;
/** How long a refusal lasts before the stream comes back (the outbox backs off 50 ms … 5 s). */
const OUTAGE_MS = 1_500;

const tierOf = (score: number) => {
  let t = 0;
  while (t + 1 < LADDER.length && score >= LADDER[t + 1]) t++;
  return t;
};

/** Members of partition `p`, from `from` up. */
const membersOf = (p: number, count: number, from: number): number[] => {
  const out: number[] = [];
  for (let m = from; out.length < count; m++) if (partitionOf(m, P) === p) out.push(m);
  return out;
};

/** The tier changes the rules predict (policy immediate, one order per message, taobao = 1 point per yuan). */
class Expected {
  private readonly score = new Map<number, number>();
  readonly changes: { member: number; from: string; to: string; score: number; cause: string }[] = [];

  paid(member: number, points: number, id: string): void {
    const before = this.score.get(member) ?? 0;
    const after = before + points;
    this.score.set(member, after);
    if (tierOf(after) !== tierOf(before)) this.changes.push({ member, from: TIERS[tierOf(before)], to: TIERS[tierOf(after)], score: after, cause: id });
  }

  of(p: number) {
    return this.changes.filter((c) => partitionOf(c.member, P) === p);
  }
}

const outboxOf = (r: PartitionRunner) => (r as unknown as { outbox: Outbox }).outbox;

describe(`the engine when JetStream refuses tier changes (seed ${SEED})`, () => {
  const nats = useNatsServer();

  // Nested, so that this block's afterAll runs while nats-server is still up.
  describe("against a real nats-server", () => {
    let c: Client;
    let jsm: JetStreamManager;
    let engine: Engine | undefined;
    const logLines: string[] = [];
    const log: Logger = {
      info: (m) => logLines.push(`info ${m}`),
      warn: (m) => logLines.push(`warn ${m}`),
      error: (m) => logLines.push(`error ${m}`),
      child: () => log,
    };
    const rnd = mulberry32(SEED);
    const expected = new Expected();
    const [p, q] = [5, 9];
    const pMembers = membersOf(p, 10, 70_000);
    const qMembers = membersOf(q, 5, 80_000);
    let orderNo = 0;

    /** One order per ORDERS message (so each is its own step of the runner); returns its seq. */
    const pay = async (member: number, points: number): Promise<number> => {
      const id = `fault-${SEED}-${orderNo++}`;
      const order: Order = { id, member, line: "taobao", kind: "paid", amount: points * 100, ts: T + orderNo };
      expected.paid(member, points, id);
      return (await c.js.publish(ordersSubject(partitionOf(member, P)), encodeOrders([order]))).seq;
    };

    /** TIER_EVENTS of a partition, checked: each predicted change once, in log order, nothing else. */
    const expectStoredExactlyOnce = async (part: number) => {
      const stored = await readTierChanges(c.nc, `tier.${part}.>`);
      const got = stored.map((s) => ({ member: s.member, from: s.from as string, to: s.to as string, score: s.score, cause: s.cause }));
      expect(got).toEqual(expected.of(part));
      const ids = stored.map((s) => s.msgId);
      expect(new Set(ids).size).toBe(ids.length);
      // Stored in the order of the log: Nats-Msg-Id is t.<p>.<orderSeq>.<k>.
      const positions = ids.map((id) => Number(id.split(".")[2]));
      expect(positions).toEqual([...positions].sort((a, b) => a - b));
    };

    /** TIER_EVENTS as the contract has it (after a test that failed mid-outage, too). */
    const restoreTierEvents = async () => {
      await ensureStreams(jsm);
      const { config } = await jsm.streams.info(STREAM_TIER_EVENTS);
      if (config.max_msgs !== -1) await jsm.streams.update(STREAM_TIER_EVENTS, { ...config, max_msgs: -1, discard: "old" as never });
    };

    beforeAll(async () => {
      c = await client(nats.url);
      jsm = await jetstreamManager(c.nc);
    });

    afterAll(async () => {
      // An engine stops only once every change is stored: give it a stream to store them in.
      await restoreTierEvents().catch(() => {});
      await engine?.stop();
      await c?.close();
    });

    test("TIER_EVENTS deleted: the engine retries, the partition stops consuming, and loses nothing once the stream is back", async () => {
      // Two changes in flight fill the partition's outbox: then its consumption must wait.
      engine = await startEngine(nats.url, { ...RULES, tierPublishInFlightMax: 2 }, undefined, { log });
      const [rp, rq] = [engine.runners.get(p)!, engine.runners.get(q)!];
      await jsm.streams.delete(STREAM_TIER_EVENTS);

      // Partition p: ten orders, each lifting its member over at least one threshold.
      const pSeqs: number[] = [];
      for (const m of pMembers) pSeqs.push(await pay(m, intBetween(rnd, 200, 3000)));
      // Partition q: orders that change no tier; nothing of q waits on JetStream.
      let qLast = 0;
      for (const m of qMembers) qLast = await pay(m, intBetween(rnd, 1, 150));

      await eventually(() => rq.lastSeq === qLast, "partition q consumed its orders");
      await eventually(() => outboxOf(rp).publishRetries >= 4, "the engine retrying the refused publishes");
      expect(logLines.some((l) => l.startsWith("warn") && l.includes(`publish to tier.${p}.`) && l.includes("no responders"))).toBe(true);
      // p applied the two messages that filled its outbox, and no more — and stays there.
      const pausedAt = rp.lastSeq;
      expect(pausedAt).toBe(pSeqs[1]);
      expect(outboxOf(rp).pending).toBe(2);
      await Bun.sleep(OUTAGE_MS);
      expect(rp.lastSeq).toBe(pausedAt);
      expect(engine.counters.tierChanges).toBe(2);

      // The stream comes back: everything is stored, once, and p consumes to the end.
      await ensureStreams(jsm);
      await eventually(() => rp.lastSeq === pSeqs.at(-1) && outboxOf(rp).pending === 0, "partition p caught up", 15_000);
      expect(engine.counters.tierChanges).toBe(expected.changes.length);
      expect(expected.of(p).length).toBeGreaterThanOrEqual(10);
      await expectStoredExactlyOnce(p);
      await expectStoredExactlyOnce(q);
      const report = await verify(c.nc, loadConfig(RULES), [p, q]);
      expect(report.differences).toEqual([]);
      expect(report.tierChangesStored).toBe(expected.changes.length);
    }, 30_000);

    test("TIER_EVENTS full (max_msgs, discard new): changes wait and are retried while consumption goes on; once there is room each is stored once", async () => {
      await restoreTierEvents();
      await engine?.stop();
      // A restarted engine with the default outbox: it replays the log and publishes nothing again.
      logLines.length = 0;
      engine = await startEngine(nats.url, RULES, undefined, { log });
      const [rp, rq] = [engine.runners.get(p)!, engine.runners.get(q)!];
      const info = await jsm.streams.info(STREAM_TIER_EVENTS);
      const storedBefore = info.state.messages;
      expect(storedBefore).toBe(expected.changes.length);
      await Bun.sleep(200);
      expect((await jsm.streams.info(STREAM_TIER_EVENTS)).state.messages).toBe(storedBefore);

      await jsm.streams.update(STREAM_TIER_EVENTS, { ...info.config, max_msgs: storedBefore, discard: "new" as never });
      let pLast = 0;
      let qLast = 0;
      for (const m of pMembers) pLast = await pay(m, intBetween(rnd, 300, 2000));
      for (const m of qMembers) qLast = await pay(m, intBetween(rnd, 300, 2000));
      const changesDuringOutage = expected.changes.length - storedBefore;
      expect(changesDuringOutage).toBeGreaterThanOrEqual(qMembers.length); // each q member passes silver at least

      // Room in the outbox (4096): both partitions consume to the end, their changes held and retried.
      await eventually(() => rp.lastSeq === pLast && rq.lastSeq === qLast, "both partitions consumed");
      await eventually(() => outboxOf(rp).publishRetries > 0 && outboxOf(rq).publishRetries > 0, "retries");
      expect(logLines.some((l) => l.startsWith("warn") && /publish to tier\.\d+\.\d+ failed \(JetStream refused/.test(l))).toBe(true);
      expect(outboxOf(rp).pending + outboxOf(rq).pending).toBe(changesDuringOutage);
      await Bun.sleep(OUTAGE_MS);
      expect((await jsm.streams.info(STREAM_TIER_EVENTS)).state.messages).toBe(storedBefore);
      expect(outboxOf(rp).pending + outboxOf(rq).pending).toBe(changesDuringOutage);

      await jsm.streams.update(STREAM_TIER_EVENTS, { ...info.config, max_msgs: -1, discard: "old" as never });
      await eventually(() => outboxOf(rp).pending + outboxOf(rq).pending === 0, "every held change stored", 15_000);
      expect((await jsm.streams.info(STREAM_TIER_EVENTS)).state.messages).toBe(expected.changes.length);
      await expectStoredExactlyOnce(p);
      await expectStoredExactlyOnce(q);
      const report = await verify(c.nc, loadConfig(RULES), [p, q]);
      expect(report.differences).toEqual([]);
      expect(report.tierChangesStored).toBe(expected.changes.length);
    }, 30_000);

    test("a change refused for longer is not overtaken by a later one: TIER_EVENTS stays in log order", async () => {
      // Order matters beyond looks: on start the engine trusts the LAST stored position of a
      // partition and publishes nothing at or before it, so a change stored after a later one
      // is lost if the engine stops in between; and a feed replays a member's changes in seq order.
      const rp = engine!.runners.get(p)!;
      const info = await jsm.streams.info(STREAM_TIER_EVENTS);
      const [x] = membersOf(p, 1, 90_000);
      const start = performance.now();
      await jsm.streams.update(STREAM_TIER_EVENTS, { ...info.config, max_msgs: info.state.messages, discard: "new" as never });
      // x: bronze → silver now (its publish backs off 50, 100, 250, 500, 1000, 2000 ms: tries at
      // ~0.05, 0.15, 0.4, 0.9, 1.9, 3.9 s); silver → gold a second later (tries at ~1.05 … 2.9 s).
      const first = await pay(x, 300);
      await Bun.sleep(1000 - (performance.now() - start));
      const second = await pay(x, 300);
      await eventually(() => rp.lastSeq === second, "both applied");
      expect(first).toBeLessThan(second);
      await Bun.sleep(2200 - (performance.now() - start)); // past the first change's try at 1.9 s
      await jsm.streams.update(STREAM_TIER_EVENTS, { ...info.config, max_msgs: -1, discard: "old" as never });
      await eventually(() => outboxOf(rp).pending === 0, "both changes stored", 10_000);
      const xs = await readTierChanges(c.nc, `tier.${p}.${x}`);
      expect(xs.map((s) => `${s.from}→${s.to}`)).toEqual(["bronze→silver", "silver→gold"]);
      await expectStoredExactlyOnce(p);
      expect((await verify(c.nc, loadConfig(RULES), [p, q])).differences).toEqual([]);
    }, 20_000);
  });
});
