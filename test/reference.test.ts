/**
 * The reference implementation against the hand-computed rule cases, plus property checks of
 * the reference itself on seeded random logs.
 */
import { describe, expect, test } from "bun:test";
import { loadConfig, type ConfigInput } from "../engine/config.ts";
import { TIERS, type Tier } from "../proto/index.ts";
import { RULE_CASES, type RuleCase } from "./cases/rules.cases.ts";
import { ReferencePartition, type RefChange, type RefMessage } from "./reference/reference.ts";
import { mulberry32 } from "./harness/prng.ts";

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** storedMs of a case message: given, or the largest numeric `ts` among its items (0 if none). */
function storedMsOf(message: RuleCase["messages"][number]): number {
  if (message.storedMs !== undefined) return message.storedMs;
  let stored = 0;
  for (const item of message.items) {
    if (typeof item !== "object" || item === null || Array.isArray(item)) continue;
    const ts = (item as Record<string, unknown>).ts;
    if (typeof ts === "number" && Number.isFinite(ts)) stored = Math.max(stored, ts);
  }
  return stored;
}

function runCase(c: RuleCase) {
  const partition = new ReferencePartition(loadConfig({ partitions: 1, ...c.config }), 0);
  const changes: RefChange[] = [];
  const deadLetters: { message: number; item: number; code: string }[] = [];
  c.messages.forEach((message, index) => {
    const out = partition.apply({ seq: index + 1, storedMs: storedMsOf(message), items: message.items });
    changes.push(...out.changes);
    for (const d of out.deadLetters) deadLetters.push({ message: d.seq - 1, item: d.item, code: d.code });
  });
  return { partition, changes, deadLetters };
}

describe("the reference passes every hand-computed rule case", () => {
  test("the case names are unique and there are 40 or more", () => {
    expect(new Set(RULE_CASES.map((c) => c.name)).size).toBe(RULE_CASES.length);
    expect(RULE_CASES.length).toBeGreaterThanOrEqual(40);
  });

  for (const c of RULE_CASES) {
    test(c.name, () => {
      const { partition, changes, deadLetters } = runCase(c);
      if (c.expect.members !== undefined) {
        // The listed members are exactly the members held, each reading exactly so.
        expect(partition.members().map((m) => m.member)).toEqual(c.expect.members.map((m) => m.member));
        for (const want of c.expect.members) {
          const got = partition.member(want.member);
          expect({ member: got.member, score: got.score, tier: got.tier }).toEqual({
            member: want.member,
            score: want.score,
            tier: want.tier as Tier,
          });
          if (want.lines !== undefined) expect(got.lines).toEqual(want.lines);
          if (want.months !== undefined) expect(got.months).toEqual(want.months);
        }
      }
      if (c.expect.changes !== undefined) expect(changes).toEqual(c.expect.changes as RefChange[]);
      expect(deadLetters).toEqual(c.expect.deadLetters ?? []);
      if (c.expect.clock !== undefined) expect(partition.clock).toBe(c.expect.clock);
    });
  }
});

describe("reference basics", () => {
  const config = loadConfig({ partitions: 1 });

  test("monthIndex reads the month at UTC+08:00: January 2026 = 24312", () => {
    const p = new ReferencePartition(config, 0);
    expect(p.monthIndex(Date.UTC(2026, 0, 1) - 8 * HOUR_MS)).toBe(24312);
    expect(p.monthIndex(Date.UTC(2026, 0, 1) - 8 * HOUR_MS - 1)).toBe(24311);
    expect(p.monthIndex(0)).toBe(1970 * 12);
    expect(p.monthStart(24312)).toBe(Date.UTC(2025, 11, 31, 16));
  });

  test("an unknown member reads as bronze with score 0", () => {
    const p = new ReferencePartition(config, 0);
    expect(p.member(42)).toEqual({ member: 42, score: 0, tier: "bronze", lines: {}, months: {} });
    expect(p.members()).toEqual([]);
    expect(p.clock).toBe(0);
  });

  test("a partition outside the configured count is a programmer error", () => {
    expect(() => new ReferencePartition(config, 1)).toThrow(RangeError);
  });
});

// ───────────────────────────── property checks on seeded random logs ─────────────────────────────

/** A seeded PRNG, so every failure replays from its seed. */
const prng = mulberry32;

const LINES = ["taobao", "tmall", "eleme", "fliggy", "hema"];
const MEMBERS_MAX = 8;
const MESSAGES_PER_LOG = 400;

/** A random log: mostly forward time with day and month jumps, late events, duplicates, refunds, ticks, bad items. */
function randomLog(seed: number): RefMessage[] {
  const random = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
  const messages: RefMessage[] = [];
  const sent: Record<string, unknown>[] = [];
  let now = Date.UTC(2025, 0, 1);
  for (let seq = 1; seq <= MESSAGES_PER_LOG; seq++) {
    const r = random();
    now += r < 0.05 ? Math.floor(random() * 120 * DAY_MS) : Math.floor(random() * 2 * DAY_MS);
    const items: unknown[] = [];
    if (random() < 0.08) {
      messages.push({ seq, storedMs: now, items: [{ kind: "tick", ts: now }] }); // a quiet partition's tick
      continue;
    }
    const itemCount = 1 + Math.floor(random() * 3);
    for (let i = 0; i < itemCount; i++) {
      const k = random();
      if (k < 0.1) {
        items.push({ kind: "tick", ts: now - Math.floor(random() * DAY_MS) });
      } else if (k < 0.2 && sent.length > 0) {
        items.push(pick(sent)); // a re-published order
      } else if (k < 0.25) {
        items.push({ id: "bad", member: 0, line: "taobao", kind: "paid", amount: 100, ts: now });
      } else {
        const late = random() < 0.15 ? Math.floor(random() * 400 * DAY_MS) : 0;
        const ts = Math.max(0, now - late);
        const isRefund = random() < 0.3;
        const order: Record<string, unknown> = {
          id: `o${seq}.${i}`,
          member: 1 + Math.floor(random() * MEMBERS_MAX),
          line: pick(LINES),
          kind: isRefund ? "refund" : "paid",
          amount: 1 + Math.floor(random() * (random() < 0.1 ? 1_000_000 : 200_000)),
          ts,
        };
        if (isRefund && random() < 0.7) order.orderTs = Math.max(0, ts - Math.floor(random() * 300 * DAY_MS));
        items.push(order);
        sent.push(order);
      }
    }
    messages.push({ seq, storedMs: now, items });
  }
  return messages;
}

const tierIndex = (t: Tier) => TIERS.indexOf(t);

function checkLog(configInput: ConfigInput, seed: number): void {
  const config = loadConfig({ partitions: 1, ...configInput });
  const p = new ReferencePartition(config, 0);
  const tierOf = (score: number) => {
    let t = 0;
    for (let i = 0; i < TIERS.length; i++) if (config.ladder[i] <= score) t = i;
    return t;
  };
  const lastTier = new Map<number, Tier>();
  const allChanges: RefChange[] = [];
  for (const msg of randomLog(seed)) {
    const clockBefore = p.clock;
    const out = p.apply(msg);
    allChanges.push(...out.changes);
    expect(p.clock).toBeGreaterThanOrEqual(clockBefore);
    const monthsPassed = p.monthIndex(p.clock) - p.monthIndex(clockBefore);
    for (const change of out.changes) {
      // Changes are consistent: each starts from the member's previous tier.
      expect(change.from).toBe(lastTier.get(change.member) ?? "bronze");
      expect(change.to).not.toBe(change.from);
      lastTier.set(change.member, change.to);
      const down = tierIndex(change.to) < tierIndex(change.from);
      if (change.cause === "rollover") {
        // A rollover change goes down, at a month start the clock passed in this message.
        expect(down).toBe(true);
        expect(p.monthStart(p.monthIndex(change.ts))).toBe(change.ts);
        expect(change.ts).toBeGreaterThan(clockBefore);
        expect(change.ts).toBeLessThanOrEqual(p.clock);
        if (config.policy === "one-down") {
          expect(tierIndex(change.from) - tierIndex(change.to)).toBeLessThanOrEqual(monthsPassed);
        }
      } else if (config.policy !== "immediate") {
        // With period-end and one-down a tier drops only at a rollover.
        expect(down).toBe(false);
      }
    }
    const tickOnly = msg.items.every((item) => (item as { kind?: unknown }).kind === "tick");
    for (const m of p.members()) {
      const lineSum = Object.values(m.lines).reduce((a, b) => a + b, 0);
      const monthSum = Object.values(m.months).reduce((a, b) => a + b, 0);
      expect(m.score).toBe(lineSum);
      expect(m.score).toBe(monthSum);
      expect(m.score).toBeGreaterThanOrEqual(0);
      for (const v of [...Object.values(m.lines), ...Object.values(m.months)]) expect(v).toBeGreaterThan(0);
      // Upgrades are immediate, so a tier is never below the tier of the score; with immediate it is equal.
      if (config.policy === "immediate") expect(tierIndex(m.tier)).toBe(tierOf(m.score));
      else expect(tierIndex(m.tier)).toBeGreaterThanOrEqual(tierOf(m.score));
      if (config.policy === "period-end" && tickOnly && monthsPassed > 0) {
        // Right after a month start (nothing applied since) every tier is the tier of the score.
        expect(tierIndex(m.tier)).toBe(tierOf(m.score));
      }
      expect(m.tier).toBe(lastTier.get(m.member) ?? "bronze");
    }
  }

  // Replaying the same log into a fresh partition gives the same state and the same changes.
  const replay = new ReferencePartition(config, 0);
  const replayChanges: RefChange[] = [];
  for (const msg of randomLog(seed)) replayChanges.push(...replay.apply(msg).changes);
  expect(replayChanges).toEqual(allChanges);
  expect(replay.members()).toEqual(p.members());
  expect(replay.clock).toBe(p.clock);
}

describe("reference properties on random logs", () => {
  const seeds = [1, 2, 3, 4, 5, 6, 7, 8];
  for (const policy of ["period-end", "one-down", "immediate"] as const) {
    test(`policy ${policy}: scores, tiers and changes stay consistent; replay is identical`, () => {
      for (const seed of seeds) checkLog({ policy }, seed);
    });
  }

  test("a small window, a configured cap and a short horizon keep the same invariants", () => {
    for (const seed of seeds) checkLog({ windowMonths: 2, orderPointsMax: 700, dedupHorizonMs: 60_000 }, seed);
  });

  test("a message of only bad items changes nothing", () => {
    const p = new ReferencePartition(loadConfig({ partitions: 1 }), 0);
    for (const msg of randomLog(7).slice(0, 100)) p.apply(msg);
    const before = { members: p.members(), clock: p.clock };
    const bad = [42, { kind: "tick" }, { id: "x", member: 1, line: "jd", kind: "paid", amount: 1, ts: p.clock }];
    const out = p.apply({ seq: 1000, storedMs: p.clock, items: bad });
    expect(out.changes).toEqual([]);
    expect(out.deadLetters.map((d) => d.code)).toEqual(["bad_shape", "bad_ts", "bad_line"]);
    expect({ members: p.members(), clock: p.clock }).toEqual(before);
  });
});
