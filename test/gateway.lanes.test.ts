// The request lane (engine/request-lane.ts, gateway/engine-lanes.ts): member reads and
// eligibility checks batched per engine. Its answers must equal the per-partition endpoints',
// a bad item must spoil nothing else, and a partition that moves must still be answered.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createInbox } from "@nats-io/transport-node";
import type { Engine } from "../engine/engine.ts";
import { EngineClient, EngineError } from "../gateway/engine-client.ts";
import { LANE_CHANGED_SUBJECT, LANE_DIRECTORY_SUBJECT, type LaneEntry } from "../proto/lane.ts";
import { partitionOf } from "../proto/partition.ts";
import { claimViaNats, eligibilityViaNats, openBenefit, putBenefit, untilEngineSees } from "./harness/benefits.ts";
import { type Client, client, eventually, memberViaService, publishOrders, startEngine } from "./harness/engine.ts";
import { useNatsServer } from "./harness/nats.ts";

const P = 64;
const T = Date.now() - 60_000;
const evens = Array.from({ length: P / 2 }, (_, i) => 2 * i);
const odds = evens.map((p) => p + 1);

async function directory(c: Client): Promise<LaneEntry[]> {
  const out: LaneEntry[] = [];
  for await (const m of await c.nc.requestMany(LANE_DIRECTORY_SUBJECT, "", { strategy: "timer", maxWait: 300 })) out.push(m.json());
  return out;
}

/** Items sent straight to a lane; its replies gathered until `count` items are answered, as [status, answer] in item order. */
async function askLane(c: Client, lane: string, items: unknown[], count: number): Promise<[number, any][]> {
  const inbox = createInbox();
  const out: [number, any][] = new Array(count);
  let seen = 0;
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`lane answered ${seen} of ${count} items`)), 5000);
    c.nc.subscribe(inbox, {
      callback: (_err, msg) => {
        for (const [i, status, answer] of msg.json<[number, number, unknown][]>()) {
          expect(out[i]).toBeUndefined(); // each item is answered once
          out[i] = [status, answer];
          seen++;
        }
        if (seen === count) {
          clearTimeout(timer);
          resolve();
        }
      },
    });
  });
  await c.nc.flush();
  c.nc.publish(lane, JSON.stringify(items), { reply: inbox });
  await done;
  return out;
}

/** Members 1… spread over partitions, with a few orders each so views differ. */
const MEMBERS = Array.from({ length: 300 }, (_, i) => 1 + i);

describe("the engine request lane", () => {
  const nats = useNatsServer();
  let c: Client;
  let evenEngine: Engine;
  let oddEngine: Engine;
  let engines: EngineClient;

  beforeAll(async () => {
    c = await client(nats.url);
    await publishOrders(
      c.js,
      MEMBERS.map((m) => ({ id: `o-${m}`, member: m, line: "taobao", kind: "paid" as const, amount: 1000 * m, ts: T })),
    );
    evenEngine = await startEngine(nats.url, {}, evens, { name: "even" });
    oddEngine = await startEngine(nats.url, {}, odds, { name: "odd" });
    await putBenefit(c.nc, openBenefit("lane-b", { minTier: "silver" }));
    await untilEngineSees(c.nc, "lane-b");
    engines = new EngineClient(c.nc, P, 5000);
    await eventually(() => engines.lanes!.known === P, "the gateway's lane directory to know every partition");
  });
  afterAll(async () => {
    engines?.close();
    await evenEngine?.stop();
    await oddEngine?.stop();
    await c?.close();
  });

  test("every engine answers the directory with the partitions it serves", async () => {
    const entries = (await directory(c)).sort((a, b) => a.engine.localeCompare(b.engine));
    expect(entries.map((e) => e.engine)).toEqual(["even", "odd"]);
    expect(entries[0].partitions).toEqual(evens);
    expect(entries[1].partitions).toEqual(odds);
    expect(entries[0].lane).not.toBe(entries[1].lane);
  });

  test("reads and eligibility asked together go out as a few lane messages and equal the endpoints' answers", async () => {
    const sentBefore = engines.lanes!.messagesSent;
    const itemsBefore = engines.lanes!.itemsSent;
    const [views, eligs] = await Promise.all([
      Promise.all(MEMBERS.map((m) => engines.memberView(m))),
      Promise.all(MEMBERS.map((m) => engines.eligibility("lane-b", m))),
    ]);
    const messages = engines.lanes!.messagesSent - sentBefore;
    expect(engines.lanes!.itemsSent - itemsBefore).toBe(2 * MEMBERS.length);
    // 600 items for two engines, asked in one turn: 2 engines × ⌈600/512⌉ at most.
    expect(messages).toBeLessThanOrEqual(4);
    for (let i = 0; i < MEMBERS.length; i++) {
      expect(views[i]).toEqual(await memberViaService(c.nc, MEMBERS[i]));
      expect(eligs[i] as unknown).toEqual((await eligibilityViaNats(c.nc, "lane-b", MEMBERS[i])).body);
    }
    // Both reasons occur, so the comparison covers more than one answer shape.
    expect(new Set(eligs.map((e) => e.reason))).toEqual(new Set(["ok", "tier_too_low"]));
  });

  test("a member view as JSON text through the lane is the endpoint's view, printed once by the engine, stamped with its run and seq", async () => {
    const itemsBefore = engines.lanes!.itemsSent;
    const stamped = await Promise.all(MEMBERS.slice(0, 50).map((m) => engines.memberViewStamped(m)));
    expect(engines.lanes!.itemsSent - itemsBefore).toBe(50);
    for (let i = 0; i < 50; i++) {
      const view = await memberViaService(c.nc, MEMBERS[i]);
      const [json, run, seq] = stamped[i];
      expect(json).toBe(JSON.stringify(view));
      expect(run).toBeGreaterThanOrEqual(0);
      expect(seq).toBeGreaterThan(0);
    }
  });

  test("a batch eligibility check is one lane item per engine and keeps the caller's order", async () => {
    const asked = [...MEMBERS].reverse().concat(MEMBERS[0]);
    const itemsBefore = engines.lanes!.itemsSent;
    const fallbacksBefore = engines.lanes!.fallbacks;
    const reasons = await engines.eligibilityReasons("lane-b", asked);
    expect(engines.lanes!.itemsSent - itemsBefore).toBe(2);
    expect(engines.lanes!.fallbacks).toBe(fallbacksBefore);
    expect(reasons.length).toBe(asked.length);
    for (let i = 0; i < asked.length; i++) expect(reasons[i] as unknown).toBe((await eligibilityViaNats(c.nc, "lane-b", asked[i])).body.reason);
    expect(new Set(reasons)).toEqual(new Set(["ok", "tier_too_low"]));
  });

  test("a claim through the lane is stored once: the partition endpoint gives the same answer to the same key", async () => {
    await putBenefit(c.nc, openBenefit("lane-claim", { inventory: 10 }));
    await untilEngineSees(c.nc, "lane-claim");
    const viaLane = await Promise.all(MEMBERS.slice(0, 20).map((m) => engines.claim("lane-claim", m, `k-${m}`, true).catch((e: EngineError) => e.status)));
    expect(viaLane.filter((a) => typeof a === "object" && a.won).length).toBe(10);
    expect(viaLane.filter((a) => a === 410).length).toBe(10);
    for (let i = 0; i < 20; i++) {
      const again = await claimViaNats(c.nc, "lane-claim", MEMBERS[i], `k-${MEMBERS[i]}`);
      const first = viaLane[i];
      if (typeof first === "number") expect(again.status).toBe(first);
      // The stored answer; `remaining` is read now, so it is the only field that moves.
      else expect({ ...again.body, remaining: null }).toEqual({ ...(first as unknown as Record<string, unknown>), remaining: null });
    }
  });

  test("bad items are answered with their own error and spoil nothing else", async () => {
    const lane = (await directory(c)).find((e) => e.engine === "even")!.lane;
    const good = MEMBERS.find((m) => partitionOf(m, P) % 2 === 0)!;
    const foreign = MEMBERS.find((m) => partitionOf(m, P) % 2 === 1)!;
    const items = [
      ["m", partitionOf(good, P), good],
      ["m", partitionOf(foreign, P), foreign], // an odd partition: not this engine's
      ["m", partitionOf(good, P), "seven"],
      ["x", partitionOf(good, P), good],
      ["e", partitionOf(good, P), { benefit: "lane-b", member: foreign }], // wrong partition
      "nonsense",
      ["E", -1, { benefit: "lane-b", members: [good, foreign, good] }], // the foreign one is not answered here
      ["E", -1, { benefit: "lane-b", members: [] }],
      ["E", -1, { benefit: "lane-b", members: [good, 0] }],
      ["E", -1, { benefit: "no such benefit!", members: [good] }],
      ["E", -1, { benefit: "no-such-benefit", members: [good] }],
    ];
    const reply = await askLane(c, lane, items, items.length);
    expect(reply.map((r) => [r[0], r[0] === 0 ? null : r[1].error.code])).toEqual([
      [0, null],
      [503, "not_owner"],
      [400, "bad_member"],
      [400, "bad_request"],
      [400, "wrong_partition"],
      [400, "bad_request"],
      [0, null],
      [400, "bad_members"],
      [400, "bad_member"],
      [400, "bad_benefit"],
      [0, null],
    ]);
    expect(reply[0][1]).toEqual(await memberViaService(c.nc, good));
    const goodReason = (await eligibilityViaNats(c.nc, "lane-b", good)).body.reason;
    expect(reply[6][1]).toEqual({ reasons: [goodReason, null, goodReason] });
    expect(reply[10][1]).toEqual({ reasons: ["unknown_benefit"] });
    const garbage = (await c.nc.request(lane, "not json", { timeout: 5000 })).json<[number, number, any][]>();
    expect(garbage).toEqual([[-1, 400, { error: { code: "bad_request", message: expect.any(String) } }]]);
  });

  test("an error answer through the lane is the endpoint's error", async () => {
    const err = await engines.eligibility("no such benefit!", 1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EngineError);
    expect((err as EngineError).status).toBe(400);
    expect((err as EngineError).code).toBe("bad_benefit");
  });

  test("a partition that moves is still answered: a stale hint falls back to the partition's endpoint", async () => {
    const member = MEMBERS.find((m) => partitionOf(m, P) === 2)!;
    const before = await engines.memberView(member);
    // Partition 2 moves from "even" to "odd". The gateway may still route to "even" for a
    // moment (its hint is stale until the announcement lands): the read must not fail.
    await evenEngine.removePartition(2);
    await oddEngine.addPartition(2);
    await oddEngine.whenCaughtUp();
    expect(await engines.memberView(member)).toEqual(before);
    await eventually(async () => (await directory(c)).find((e) => e.engine === "odd")!.partitions.includes(2), "odd to announce partition 2");
    const even = (await directory(c)).find((e) => e.engine === "even")!;
    expect(even.partitions).not.toContain(2);
    expect(await engines.memberView(member)).toEqual(before);

    // A late announcement makes the hint wrong on purpose: "even" serves 2 again, it says.
    c.nc.publish(LANE_CHANGED_SUBJECT, JSON.stringify({ ...even, partitions: [...even.partitions, 2] }));
    await c.nc.flush();
    await Bun.sleep(50);
    const fallbacks = engines.lanes!.fallbacks;
    expect(await engines.memberView(member)).toEqual(before);
    expect(engines.lanes!.fallbacks).toBe(fallbacks + 1);
    // The view as text too: "even" answers 503, and the endpoint's text is the same view.
    const [json, run, seq] = await engines.memberViewStamped(member);
    expect(JSON.parse(json)).toEqual(before);
    expect([run, seq]).toEqual([-1, -1]); // the endpoint's view is the contract's alone: unstamped
    expect(engines.lanes!.fallbacks).toBe(fallbacks + 2);
    // A batch too: "even" answers null for partition 2's member, and its endpoint answers it.
    const other = MEMBERS.find((m) => partitionOf(m, P) === 4)!;
    const reasons = await engines.eligibilityReasons("lane-b", [member, other]);
    expect(engines.lanes!.fallbacks).toBe(fallbacks + 3);
    expect(reasons as unknown[]).toEqual([(await eligibilityViaNats(c.nc, "lane-b", member)).body.reason, (await eligibilityViaNats(c.nc, "lane-b", other)).body.reason]);
  });

  test("an engine that stops is dropped from the directory, and its partitions are answered by the next owner", async () => {
    const member = MEMBERS.find((m) => partitionOf(m, P) === 1)!;
    const before = await engines.memberView(member);
    await oddEngine.stop();
    // Nobody serves the odd partitions now: within the retry window a new owner appears.
    const read = engines.memberView(member);
    await Bun.sleep(100);
    oddEngine = await startEngine(nats.url, {}, [...odds, 2], { name: "odd-2" });
    expect(await read).toEqual(before);
    await eventually(() => engines.lanes!.known === P, "the directory to know every partition again");
  });
});
