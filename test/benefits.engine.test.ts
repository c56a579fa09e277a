// Flash benefits at the engine, over NATS: eligibility reasons, claims that never oversell and
// never exceed a member's limit, Idempotency-Key answers, the draw, and definitions written
// while the engine was down.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { jetstreamManager } from "@nats-io/jetstream";
import type { Engine } from "../engine/engine.ts";
import { drawWon } from "../proto/benefit.ts";
import { openBenefitBuckets } from "../proto/benefit-catalog.ts";
import { seedPool } from "../proto/benefit-pool.ts";
import { partitionOf } from "../proto/partition.ts";
import { type ClaimRecord, encodeClaimRecord, parseClaimRecord } from "../proto/claim-record.ts";
import { CLAIMS_ALL_FILTER, claimsSubject, STREAM_CLAIMS } from "../proto/names.ts";
import { readSubject } from "../proto/read-subject.ts";
import { ClaimTally, TALLY_SUBJECT } from "../proto/claim-tally.ts";
import { claimViaNats, eligibilityViaNats, openBenefit, putBenefit, untilEngineSees } from "./harness/benefits.ts";
import { type Client, client, eventually, publishOrders, startEngine } from "./harness/engine.ts";
import { useNatsServer } from "./harness/nats.ts";

const T = Date.now() - 60_000;

async function claimRecords(c: Client, benefit: string) {
  const last = (await (await jetstreamManager(c.nc)).streams.info(STREAM_CLAIMS)).state.last_seq;
  const out = [];
  for await (const m of readSubject(c.js, STREAM_CLAIMS, CLAIMS_ALL_FILTER, last)) {
    const r = parseClaimRecord(m.data);
    if (r?.benefit === benefit) out.push({ ...r, seq: m.seq });
  }
  return out;
}

describe("flash benefits at the engine", () => {
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

  test("eligibility gives each of the contract's reasons", async () => {
    const now = Date.now();
    await putBenefit(c.nc, openBenefit("gold-only", { minTier: "gold" }));
    await putBenefit(c.nc, openBenefit("later", { startsAt: now + 3_600_000, endsAt: now + 7_200_000 }));
    await putBenefit(c.nc, openBenefit("over", { startsAt: now - 7_200_000, endsAt: now - 3_600_000 }));
    await putBenefit(c.nc, openBenefit("none-left", { inventory: 0 }));
    await putBenefit(c.nc, openBenefit("open", { inventory: 5 }));
    for (const id of ["gold-only", "later", "over", "none-left", "open"]) await untilEngineSees(c.nc, id);
    // Member 7 reaches gold (500 points: 500 yuan on taobao).
    await publishOrders(c.js, [{ id: "o-gold", member: 7, line: "taobao", kind: "paid", amount: 50_000, ts: T }]);
    for (let i = 0; i < 200 && (await eligibilityViaNats(c.nc, "gold-only", 7)).body.reason !== "ok"; i++) await Bun.sleep(10);

    const reason = async (b: string, m: number) => (await eligibilityViaNats(c.nc, b, m)).body;
    expect(await reason("gold-only", 7)).toEqual({ member: 7, eligible: true, reason: "ok", tier: "gold", benefit: "gold-only", remaining: 100 });
    expect((await reason("gold-only", 8)).reason).toBe("tier_too_low");
    expect((await reason("later", 8)).reason).toBe("not_started");
    expect((await reason("over", 8)).reason).toBe("ended");
    expect((await reason("none-left", 8)).reason).toBe("sold_out");
    expect((await reason("nope", 8)).reason).toBe("unknown_benefit");
    expect((await claimViaNats(c.nc, "open", 8, "k1")).status).toBe(200);
    expect(await reason("open", 8)).toMatchObject({ eligible: false, reason: "already_claimed" });
  });

  test("a storm of concurrent claims over every partition ends with exactly the inventory, nobody over the limit", async () => {
    const N = 300;
    await putBenefit(c.nc, openBenefit("storm", { inventory: N, perMember: 2 }));
    await untilEngineSees(c.nc, "storm");
    const members = Array.from({ length: 1000 }, (_, i) => 10_000 + i);
    // Every member tries three times at once: 3000 claims for 300 units; at most 2 each.
    const answers = await Promise.all(
      members.flatMap((m) => [0, 1, 2].map((k) => claimViaNats(c.nc, "storm", m, `storm-${m}-${k}`, false))),
    );
    const won = answers.filter((a) => a.status === 200 && a.body.won === true);
    const soldOut = answers.filter((a) => a.status === 410);
    const limited = answers.filter((a) => a.status === 409);
    expect(won.length).toBe(N);
    const statuses = answers.map((a) => `${a.status}:${(a.body as { error?: { code: string; message: string } }).error?.message ?? "ok"}`);
    expect(soldOut.length + limited.length + won.length, [...new Set(statuses)].join(" ")).toBe(answers.length);
    const perMember = new Map<number, number>();
    for (const a of won) perMember.set(a.body.member as number, (perMember.get(a.body.member as number) ?? 0) + 1);
    expect(Math.max(...perMember.values())).toBeLessThanOrEqual(2);
    const records = await claimRecords(c, "storm");
    expect(records.filter((r) => r.outcome === "won").length).toBe(N);
    // Every answered win is a stored record.
    const stored = new Set(records.filter((r) => r.outcome === "won").map((r) => r.seq));
    for (const a of won) expect(stored.has(a.body.seq as number)).toBe(true);
  });

  test("a seeded pool: the opening claims of every partition need no compare-and-set on the pool key", async () => {
    const { pools } = await openBenefitBuckets(c.nc);
    expect(await seedPool(pools, "seeded", 768, 64)).toBe(true); // 3 units per partition
    expect(await seedPool(pools, "seeded", 768, 64)).toBe(false); // there already: left alone
    await putBenefit(c.nc, openBenefit("seeded", { inventory: 768 }));
    await untilEngineSees(c.nc, "seeded");
    const before = engine.benefits!.pool.casWrites;
    // Two members in every partition.
    const byPartition = new Map<number, number[]>();
    for (let m = 700_000; [...byPartition.values()].filter((l) => l.length >= 2).length < 64; m++) {
      const p = partitionOf(m, 64);
      const list = byPartition.get(p) ?? [];
      if (list.length < 2) byPartition.set(p, [...list, m]);
    }
    const answers = await Promise.all([...byPartition.values()].flat().map((m) => claimViaNats(c.nc, "seeded", m, `s-${m}`)));
    expect(answers.every((a) => a.status === 200 && a.body.won === true)).toBe(true);
    expect(engine.benefits!.pool.casWrites).toBe(before);
  });

  test("units idle in other partitions go back, in one compare-and-set, to the partition that runs out", async () => {
    const P = 64;
    const { pools } = await openBenefitBuckets(c.nc);
    // The whole inventory handed out already, 3 units to every partition.
    await pools.create("spread", JSON.stringify({ granted: 3 * P, byPartition: Object.fromEntries(Array.from({ length: P }, (_, p) => [p, 3])) }));
    await putBenefit(c.nc, openBenefit("spread", { inventory: 3 * P }));
    await untilEngineSees(c.nc, "spread");
    // Every claimant in one partition: 192 of them need the units of the 63 others.
    const members: number[] = [];
    for (let m = 900_000; members.length < 3 * P + 1; m++) if (partitionOf(m, P) === 5) members.push(m);
    const pool = engine.benefits!.pool;
    const giveBacksBefore = pool.giveBackWrites;
    const answers = [];
    for (const m of members) answers.push(await claimViaNats(c.nc, "spread", m, `spread-${m}`));
    const lost = answers.slice(0, 3 * P).map((a, i) => [i, a.status, JSON.stringify(a.body)]).filter(([, s]) => s !== 200);
    expect(lost).toEqual([]);
    expect(answers[3 * P].status).toBe(410); // sold out, and only then
    const value = (await pools.get("spread"))!.json<{ granted: number; byPartition: Record<string, number> }>();
    expect(value.granted).toBe(3 * P);
    expect(value.byPartition["5"]).toBe(3 * P);
    // The 63 partitions' units went back together (one write per release request, not one each).
    expect(pool.giveBackWrites - giveBacksBefore).toBeGreaterThanOrEqual(1);
    expect(pool.giveBackWrites - giveBacksBefore).toBeLessThanOrEqual(8);
  });

  test("refills asked at once by every partition go to the pool together, without racing one another", async () => {
    await putBenefit(c.nc, openBenefit("together", { inventory: 100 })); // too small to seed: every partition must take
    await untilEngineSees(c.nc, "together");
    const byPartition = new Map<number, number>();
    for (let m = 950_000; byPartition.size < 64; m++) if (!byPartition.has(partitionOf(m, 64))) byPartition.set(partitionOf(m, 64), m);
    const pool = engine.benefits!.pool;
    const [writes, conflicts] = [pool.casWrites, pool.casConflicts];
    const answers = await Promise.all([...byPartition.values()].map((m) => claimViaNats(c.nc, "together", m, `t-${m}`)));
    expect(answers.every((a) => a.status === 200 && a.body.won === true)).toBe(true);
    // 64 takes, each after its partition's first pool read: they go in a few batches, as the reads
    // come back (4 here; 391 writes, most of them lost races, before). None races another.
    expect(pool.casWrites - writes).toBeLessThanOrEqual(16);
    expect(pool.casConflicts - conflicts).toBe(0);
  });

  test("one Idempotency-Key gets one answer — a win, a refusal — and a new key is a new claim", async () => {
    await putBenefit(c.nc, openBenefit("idem", { inventory: 10 }));
    await untilEngineSees(c.nc, "idem");
    const first = await Promise.all([1, 2, 3].map(() => claimViaNats(c.nc, "idem", 501, "same-key")));
    expect(first.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(new Set(first.map((a) => a.body.seq)).size).toBe(1);
    const other = await claimViaNats(c.nc, "idem", 501, "other-key");
    expect(other.status).toBe(409);
    expect((other.body as { error: { code: string } }).error.code).toBe("already_claimed");
    expect((await claimViaNats(c.nc, "idem", 501, "other-key")).status).toBe(409);
    expect((await claimViaNats(c.nc, "idem", 501, "same-key")).body.seq).toBe(first[0].body.seq);
    // A key is stored in the record's Nats-Msg-Id header: no line break, ≤ 200 characters.
    for (const bad of ["two\nlines", "cr\r", "k".repeat(201), ""]) {
      const refused = await claimViaNats(c.nc, "idem", 502, bad);
      expect(refused.status).toBe(400);
      expect((refused.body as { error: { code: string } }).error.code).toBe("bad_key");
    }
    // Any other character is part of the key, spaces at its ends included.
    const spaced = await claimViaNats(c.nc, "idem", 502, " spaced key ");
    expect(spaced.status).toBe(200);
    expect((await claimViaNats(c.nc, "idem", 502, " spaced key ")).body.seq).toBe(spaced.body.seq);
    expect((await claimViaNats(c.nc, "idem", 502, "spaced key")).status).toBe(409);
  });

  test("a record written by another writer of the partition fences the claim: 503, then the member is re-read", async () => {
    await putBenefit(c.nc, openBenefit("fenced", { inventory: 10 }));
    await untilEngineSees(c.nc, "fenced");
    const member = 777_001;
    // Someone else (an old owner a moment late) stores a win for this member first.
    const foreign: ClaimRecord = { benefit: "fenced", member, key: "other-writer", outcome: "won", attempt: 1, tier: "bronze", at: Date.now() };
    await c.js.publish(claimsSubject(partitionOf(member, 64), member), encodeClaimRecord(foreign));
    const first = await claimViaNats(c.nc, "fenced", member, "mine");
    expect(first.status).toBe(503);
    expect((first.body as { error: { code: string } }).error.code).toBe("claim_not_stored");
    // The retry finds the member re-read from CLAIMS: the other writer's win counts.
    const retry = await claimViaNats(c.nc, "fenced", member, "mine");
    expect(retry.status).toBe(409);
    // Certainly not stored: its unit went back to the allotment rather than being stranded.
    expect(engine.benefits!.desks.get(partitionOf(member, 64))!.strandedUnits).toBe(0);
    expect((await claimRecords(c, "fenced")).filter((r) => r.member === member && r.outcome === "won").length).toBe(1);
  });

  test("odds are honoured within statistical bounds, and a retry never re-rolls", async () => {
    const odds = 0.3;
    await putBenefit(c.nc, openBenefit("draw", { inventory: null, odds: { bronze: odds, silver: odds, gold: odds, platinum: 1, diamond: 1, black_diamond: 1 } }));
    await untilEngineSees(c.nc, "draw");
    const n = 2000;
    const members = Array.from({ length: n }, (_, i) => 50_000 + i);
    const answers = await Promise.all(members.map((m) => claimViaNats(c.nc, "draw", m, `d-${m}`)));
    const wins = answers.filter((a) => a.body.won === true).length;
    const sd = Math.sqrt(n * odds * (1 - odds));
    expect(Math.abs(wins - n * odds)).toBeLessThan(4 * sd);
    for (const [i, a] of answers.entries()) expect(a.body.won).toBe(drawWon("draw", members[i], 1, odds));
    const again = await Promise.all(members.slice(0, 200).map((m) => claimViaNats(c.nc, "draw", m, `d-${m}`)));
    for (const [i, a] of again.entries()) expect(a.body.won).toBe(answers[i].body.won);
  });

  test("definitions written while the engine was down are there when it returns; claims survive the restart", async () => {
    await putBenefit(c.nc, openBenefit("restart", { inventory: 3 }));
    await untilEngineSees(c.nc, "restart");
    expect((await claimViaNats(c.nc, "restart", 900, "r1")).status).toBe(200);
    await engine.stop();
    await putBenefit(c.nc, openBenefit("while-down", { inventory: 2, minTier: "bronze" }));
    engine = await startEngine(nats.url);
    expect((await eligibilityViaNats(c.nc, "while-down", 901)).body.reason).toBe("ok");
    // The member's earlier claim was read back from CLAIMS: the same key, the same answer.
    const again = await claimViaNats(c.nc, "restart", 900, "r1");
    expect(again.status).toBe(200);
    expect((await claimViaNats(c.nc, "restart", 900, "r2")).status).toBe(409);
  });

  test("the claim tally counts what CLAIMS holds, even when the stream's last record is gone", async () => {
    const won = (member: number): ClaimRecord => ({ benefit: "tally", member, key: `t-${member}`, outcome: "won", attempt: 1, tier: "bronze", at: Date.now() });
    for (const m of [880_001, 880_002, 880_003]) await c.js.publish(claimsSubject(partitionOf(m, 64), m), encodeClaimRecord(won(m)));
    const jsm = await jetstreamManager(c.nc);
    const last = (await jsm.streams.info(STREAM_CLAIMS)).state.last_seq;
    // The newest record removed (an operator's delete, a limit): a tally must not wait for it.
    expect(await jsm.streams.deleteMessage(STREAM_CLAIMS, last)).toBe(true);
    const tally = new ClaimTally(c.js, jsm);
    const started = await Promise.race([tally.start().then(() => true), Bun.sleep(5000).then(() => false)]);
    tally.stop();
    expect(started).toBe(true);
    expect(tally.claimed("tally")).toBe(2);
  });

  test("the claim tally follows the owners' announcements: the larger count per partition wins, garbage is ignored", async () => {
    const tally = new ClaimTally(c.js, await jetstreamManager(c.nc));
    await tally.start();
    const announce = (body: string) => c.nc.publish(TALLY_SUBJECT, body);
    announce(JSON.stringify({ won: { 5: { ann: 3 } } }));
    announce(JSON.stringify({ won: { 5: { ann: 2 } } })); // older, or a late second owner: not lower
    announce(JSON.stringify({ won: { 6: { ann: 1, other: 4 } } }));
    announce("not json");
    announce(JSON.stringify({ won: { "-1": { ann: 9 } } }));
    announce(JSON.stringify({ won: { 7: { ann: -5 } } }));
    await eventually(() => tally.malformed === 3, "three malformed announcements counted");
    expect(tally.claimed("ann")).toBe(4);
    expect(tally.claimed("other")).toBe(4);

    // And claims made after it started reach it through the engine's announcements alone.
    await putBenefit(c.nc, openBenefit("announced", { inventory: 50 }));
    await untilEngineSees(c.nc, "announced");
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => claimViaNats(c.nc, "announced", 990_000 + i, `a-${i}`)));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    await eventually(() => tally.claimed("announced") === 30, "30 wins announced");
    tally.stop();
  });
});

