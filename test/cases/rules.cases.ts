// Hand-computed rule cases, shared by the reference's tests (test/reference.test.ts) and the
// engine's tests. Every expected value below was worked out by hand from engine/README.md;
// the arithmetic is in the comment beside it. Never paste an implementation's output here.
//
// Reading a case:
// - `config` is merged over { partitions: 1 }; with 1 partition every member is in partition 0,
//   and the case runs as partition 0.
// - Message i has seq i + 1 and storedMs = its `storedMs`, or the largest numeric `ts` among
//   its items (0 if none).
// - `expect.members`: when given, exactly the members the partition holds, sorted by id. A
//   member is held from the first event that added points to it, for good (one whose points
//   all expired or were refunded is still held, as bronze/score 0 or a tier still waiting for
//   a month start). An implementation that cannot list members checks each listed member
//   with its member(id) read; `lines`/`months`, when given, must match exactly (0s left out).
// - `expect.changes`: the exact, full list of tier changes of the whole run, in order.
// - `expect.deadLetters`: the exact, full list; `message` is the index into `messages`.
// - `expect.clock`: the partition clock after the last message.
//
// Month indexes are year × 12 + (month − 1): January 2025 = 24300, January 2026 = 24312,
// January 2027 = 24324. The points formula is floor(amount × milli / 100000), capped at
// orderPointsMax (5000); default milli: taobao 1000, tmall 1000, eleme 2000, fliggy 500,
// hema 1500. Default ladder: bronze 0, silver 200, gold 500, platinum 1000, diamond 2500,
// black_diamond 6000.

import type { ConfigInput } from "../../engine/config.ts";
import { partitionOf } from "../../proto/index.ts";

export interface RuleCase {
  name: string;
  /** Merged over { partitions: 1 }. */
  config?: ConfigInput;
  /** storedMs defaults to the largest numeric `ts` among the items (0 if none); seq = index + 1. */
  messages: { storedMs?: number; items: unknown[] }[];
  expect: {
    members?: { member: number; score: number; tier: string; lines?: Record<string, number>; months?: Record<number, number> }[];
    /** The EXACT full list, in order. */
    changes?: { member: number; from: string; to: string; score: number; ts: number; cause: string }[];
    /** message = index into messages. */
    deadLetters?: { message: number; item: number; code: string }[];
    clock?: number;
  };
}

const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;
const DAY_MS = 24 * HOUR_MS;

/** The instant of a wall-clock time at UTC+08:00 (month 1 … 12): Date.UTC(…) − 8 h. */
const cst = (year: number, month: number, day: number, hour = 0, minute = 0, second = 0, ms = 0): number =>
  Date.UTC(year, month - 1, day, hour, minute, second, ms) - 8 * HOUR_MS;

const paid = (id: string, member: number, line: string, amount: number, ts: number) => ({
  id,
  member,
  line,
  kind: "paid",
  amount,
  ts,
});
const refund = (id: string, member: number, line: string, amount: number, ts: number, orderTs?: number) =>
  orderTs === undefined
    ? { id, member, line, kind: "refund", amount, ts }
    : { id, member, line, kind: "refund", amount, ts, orderTs };
const tick = (ts: number) => ({ kind: "tick", ts });

/** A single item per message: the common shape of a case. */
const one = (...items: unknown[]) => items.map((item) => ({ items: [item] }));

/** 2026-03-10 12:00 at UTC+08:00, month 24314: the default "now" of the cases. */
const T = cst(2026, 3, 10, 12);

// With partitions: 2, member 1 is in partition 0 and member 3 in partition 1 (checked here,
// so a change to partitionOf cannot silently turn the wrong_partition case into a no-op).
const MEMBER_P0 = 1;
const MEMBER_P1 = 3;
if (partitionOf(MEMBER_P0, 2) !== 0 || partitionOf(MEMBER_P1, 2) !== 1) {
  throw new Error("rules.cases: partitionOf(1, 2) must be 0 and partitionOf(3, 2) must be 1");
}

export const RULE_CASES: RuleCase[] = [
  // ───────────────────────────── the points formula, per line ─────────────────────────────
  {
    name: "taobao earns 1 point per yuan, rounded down",
    // 12345 × 1000 / 100000 = 123.45 → 123
    messages: one(paid("a1", 1, "taobao", 12345, T)),
    expect: {
      members: [{ member: 1, score: 123, tier: "bronze", lines: { taobao: 123 }, months: { 24314: 123 } }],
      changes: [],
      deadLetters: [],
      clock: T,
    },
  },
  {
    name: "tmall earns 1 point per yuan, rounded down",
    // 4567 × 1000 / 100000 = 45.67 → 45
    messages: one(paid("a1", 1, "tmall", 4567, T)),
    expect: {
      members: [{ member: 1, score: 45, tier: "bronze", lines: { tmall: 45 }, months: { 24314: 45 } }],
      changes: [],
      clock: T,
    },
  },
  {
    name: "eleme earns 2 points per yuan: 35.50 yuan → 71",
    // member 1: 3550 × 2000 / 100000 = 71 exactly; member 2: 3549 × 2000 / 100000 = 70.98 → 70
    messages: one(paid("a1", 1, "eleme", 3550, T), paid("a2", 2, "eleme", 3549, T + 1)),
    expect: {
      members: [
        { member: 1, score: 71, tier: "bronze", lines: { eleme: 71 }, months: { 24314: 71 } },
        { member: 2, score: 70, tier: "bronze", lines: { eleme: 70 }, months: { 24314: 70 } },
      ],
      changes: [],
      clock: T + 1,
    },
  },
  {
    name: "fliggy earns 0.5 points per yuan: 199 cents earn 0 and create no member",
    // member 1: 199 × 500 / 100000 = 0.995 → 0 → member 1 is not created
    // member 2: 201 × 500 / 100000 = 1.005 → 1; then 199 cents again → 0, still 1
    // member 3: 10001 × 500 / 100000 = 50.005 → 50
    messages: one(
      paid("a1", 1, "fliggy", 199, T),
      paid("a2", 2, "fliggy", 201, T + 1),
      paid("a3", 2, "fliggy", 199, T + 2),
      paid("a4", 3, "fliggy", 10001, T + 3),
    ),
    expect: {
      members: [
        { member: 2, score: 1, tier: "bronze", lines: { fliggy: 1 }, months: { 24314: 1 } },
        { member: 3, score: 50, tier: "bronze", lines: { fliggy: 50 }, months: { 24314: 50 } },
      ],
      changes: [],
      clock: T + 3,
    },
  },
  {
    name: "hema earns 1.5 points per yuan, rounded down per order",
    // 333 × 1500 / 100000 = 4.995 → 4; 10000 × 1500 / 100000 = 150; 4 + 150 = 154
    messages: one(paid("a1", 1, "hema", 333, T), paid("a2", 1, "hema", 10000, T + 1)),
    expect: {
      members: [{ member: 1, score: 154, tier: "bronze", lines: { hema: 154 }, months: { 24314: 154 } }],
      changes: [],
      clock: T + 1,
    },
  },

  // ───────────────────────────── the per-order cap ─────────────────────────────
  {
    name: "an order earns at most 5000 points",
    // member 1: 600000 × 1000 / 100000 = 6000 → capped 5000 → diamond (2500 ≤ 5000 < 6000)
    // member 2: 500000 × 1000 / 100000 = 5000 exactly → diamond
    // member 3: hema 400000 × 1500 / 100000 = 6000 → capped 5000 → diamond
    messages: one(paid("a1", 1, "taobao", 600000, T), paid("a2", 2, "taobao", 500000, T + 1), paid("a3", 3, "hema", 400000, T + 2)),
    expect: {
      members: [
        { member: 1, score: 5000, tier: "diamond", lines: { taobao: 5000 }, months: { 24314: 5000 } },
        { member: 2, score: 5000, tier: "diamond", lines: { taobao: 5000 }, months: { 24314: 5000 } },
        { member: 3, score: 5000, tier: "diamond", lines: { hema: 5000 }, months: { 24314: 5000 } },
      ],
      changes: [
        { member: 1, from: "bronze", to: "diamond", score: 5000, ts: T, cause: "a1" },
        { member: 2, from: "bronze", to: "diamond", score: 5000, ts: T + 1, cause: "a2" },
        { member: 3, from: "bronze", to: "diamond", score: 5000, ts: T + 2, cause: "a3" },
      ],
      clock: T + 2,
    },
  },
  {
    name: "a configured per-order cap",
    config: { orderPointsMax: 300 },
    // 50000 × 1000 / 100000 = 500 → capped 300 → silver
    // 29999 × 1000 / 100000 = 299.99 → 299 (under the cap); 300 + 299 = 599 → gold
    messages: one(paid("a1", 1, "tmall", 50000, T), paid("a2", 1, "tmall", 29999, T + 1)),
    expect: {
      members: [{ member: 1, score: 599, tier: "gold", lines: { tmall: 599 }, months: { 24314: 599 } }],
      changes: [
        { member: 1, from: "bronze", to: "silver", score: 300, ts: T, cause: "a1" },
        { member: 1, from: "silver", to: "gold", score: 599, ts: T + 1, cause: "a2" },
      ],
      clock: T + 1,
    },
  },

  // ───────────────────────────── configured lines ─────────────────────────────
  {
    name: "a custom line weight from config; a default line not configured is bad_line",
    config: { lines: { taobao: 1, meituan: 3.25 } },
    // meituan milli = round(3.25 × 1000) = 3250; 1001 × 3250 / 100000 = 32.5325 → 32
    // taobao 500 × 1000 / 100000 = 5; 32 + 5 = 37; eleme is not a configured line
    messages: [{ items: [paid("a1", 1, "meituan", 1001, T), paid("a2", 1, "taobao", 500, T + 1), paid("a3", 1, "eleme", 10000, T + 2)] }],
    expect: {
      members: [{ member: 1, score: 37, tier: "bronze", lines: { meituan: 32, taobao: 5 }, months: { 24314: 37 } }],
      changes: [],
      deadLetters: [{ message: 0, item: 2, code: "bad_line" }],
      clock: T + 1,
    },
  },
  {
    name: "a line with weight 0 earns nothing",
    config: { lines: { taobao: 1, promo: 0 } },
    // promo milli = 0 → every promo order earns 0: member 1 is never created;
    // member 2: taobao 100 × 1000 / 100000 = 1, then promo 99999 → 0; score 1
    messages: one(paid("a1", 1, "promo", 100000, T), paid("a2", 2, "taobao", 100, T + 1), paid("a3", 2, "promo", 99999, T + 2)),
    expect: {
      members: [{ member: 2, score: 1, tier: "bronze", lines: { taobao: 1 }, months: { 24314: 1 } }],
      changes: [],
      clock: T + 2,
    },
  },

  // ───────────────────────────── the ladder, each threshold hit and missed by one ─────────────────────────────
  {
    name: "silver at exactly 200; 199 stays bronze",
    // 20000 × 1000 / 100000 = 200 → silver; 19999 → 199.99 → 199 → bronze
    messages: one(paid("a1", 1, "taobao", 20000, T), paid("a2", 2, "taobao", 19999, T + 1)),
    expect: {
      members: [
        { member: 1, score: 200, tier: "silver" },
        { member: 2, score: 199, tier: "bronze" },
      ],
      changes: [{ member: 1, from: "bronze", to: "silver", score: 200, ts: T, cause: "a1" }],
    },
  },
  {
    name: "gold at exactly 500; 499 is silver",
    // 50000 → 500 → gold; 49999 → 499.99 → 499 → silver (200 ≤ 499 < 500)
    messages: one(paid("a1", 1, "taobao", 50000, T), paid("a2", 2, "taobao", 49999, T + 1)),
    expect: {
      members: [
        { member: 1, score: 500, tier: "gold" },
        { member: 2, score: 499, tier: "silver" },
      ],
      changes: [
        { member: 1, from: "bronze", to: "gold", score: 500, ts: T, cause: "a1" },
        { member: 2, from: "bronze", to: "silver", score: 499, ts: T + 1, cause: "a2" },
      ],
    },
  },
  {
    name: "platinum at exactly 1000; 999 is gold",
    // 100000 → 1000 → platinum; 99999 → 999.99 → 999 → gold
    messages: one(paid("a1", 1, "tmall", 100000, T), paid("a2", 2, "tmall", 99999, T + 1)),
    expect: {
      members: [
        { member: 1, score: 1000, tier: "platinum" },
        { member: 2, score: 999, tier: "gold" },
      ],
      changes: [
        { member: 1, from: "bronze", to: "platinum", score: 1000, ts: T, cause: "a1" },
        { member: 2, from: "bronze", to: "gold", score: 999, ts: T + 1, cause: "a2" },
      ],
    },
  },
  {
    name: "diamond at exactly 2500; 2499 is platinum",
    // eleme 125000 × 2000 / 100000 = 2500 → diamond; 124999 × 2000 / 100000 = 2499.98 → 2499 → platinum
    messages: one(paid("a1", 1, "eleme", 125000, T), paid("a2", 2, "eleme", 124999, T + 1)),
    expect: {
      members: [
        { member: 1, score: 2500, tier: "diamond", lines: { eleme: 2500 } },
        { member: 2, score: 2499, tier: "platinum", lines: { eleme: 2499 } },
      ],
      changes: [
        { member: 1, from: "bronze", to: "diamond", score: 2500, ts: T, cause: "a1" },
        { member: 2, from: "bronze", to: "platinum", score: 2499, ts: T + 1, cause: "a2" },
      ],
    },
  },
  {
    name: "black_diamond at exactly 6000; 5999 stays diamond",
    // member 1: 500000 → 5000 (diamond), then 100000 → 1000: 6000 → black_diamond
    // member 2: 500000 → 5000 (diamond), then 99999 → 999: 5999 → still diamond, no change
    messages: one(
      paid("a1", 1, "taobao", 500000, T),
      paid("a2", 1, "taobao", 100000, T + 1),
      paid("b1", 2, "taobao", 500000, T + 2),
      paid("b2", 2, "taobao", 99999, T + 3),
    ),
    expect: {
      members: [
        { member: 1, score: 6000, tier: "black_diamond" },
        { member: 2, score: 5999, tier: "diamond" },
      ],
      changes: [
        { member: 1, from: "bronze", to: "diamond", score: 5000, ts: T, cause: "a1" },
        { member: 1, from: "diamond", to: "black_diamond", score: 6000, ts: T + 1, cause: "a2" },
        { member: 2, from: "bronze", to: "diamond", score: 5000, ts: T + 2, cause: "b1" },
      ],
    },
  },
  {
    name: "one order jumps several tiers in one change (bronze → platinum)",
    // 123456 × 1000 / 100000 = 1234.56 → 1234 → platinum (1000 ≤ 1234 < 2500): one change
    messages: one(paid("a1", 1, "taobao", 123456, T)),
    expect: {
      members: [{ member: 1, score: 1234, tier: "platinum" }],
      changes: [{ member: 1, from: "bronze", to: "platinum", score: 1234, ts: T, cause: "a1" }],
    },
  },
  {
    name: "a configured ladder",
    config: { ladder: { bronze: 0, silver: 10, gold: 20, platinum: 30, diamond: 40, black_diamond: 50 } },
    // 2500 × 1000 / 100000 = 25 → gold (20 ≤ 25 < 30); another 25 → 50 → black_diamond
    messages: one(paid("a1", 1, "taobao", 2500, T), paid("a2", 1, "taobao", 2500, T + 1)),
    expect: {
      members: [{ member: 1, score: 50, tier: "black_diamond" }],
      changes: [
        { member: 1, from: "bronze", to: "gold", score: 25, ts: T, cause: "a1" },
        { member: 1, from: "gold", to: "black_diamond", score: 50, ts: T + 1, cause: "a2" },
      ],
    },
  },

  // ───────────────────────────── refunds ─────────────────────────────
  {
    name: "a refund without orderTs takes from its own month; period-end keeps the tier until the month start",
    // p1: 50000 → 500 → gold. r1: 20000 → 200 → 300 (tier stays gold).
    // p2: 10000 → 100 → 400: tierOf(400) = silver < gold → no change (not an upgrade).
    // tick in April (24315): window 24304 … 24315 still holds March → 400 → silver;
    //   change at the start of April = cst(2026, 4, 1).
    messages: one(
      paid("p1", 1, "taobao", 50000, cst(2026, 3, 10)),
      refund("r1", 1, "taobao", 20000, cst(2026, 3, 12)),
      paid("p2", 1, "taobao", 10000, cst(2026, 3, 13)),
      tick(cst(2026, 4, 1, 10)),
    ),
    expect: {
      members: [{ member: 1, score: 400, tier: "silver", lines: { taobao: 400 }, months: { 24314: 400 } }],
      changes: [
        { member: 1, from: "bronze", to: "gold", score: 500, ts: cst(2026, 3, 10), cause: "p1" },
        { member: 1, from: "gold", to: "silver", score: 400, ts: cst(2026, 4, 1), cause: "rollover" },
      ],
      clock: cst(2026, 4, 1, 10),
    },
  },
  {
    name: "a refund with orderTs takes from the original order's month",
    // p1 (Feb, 24313): 30000 → 300 → silver.
    // p2 (Mar, 24314): rollover Feb → Mar: window 24303 … 24314 → 300, silver, no change;
    //   then 20000 → 200 → 500 → gold.
    // r1 (Mar) orderTs in Feb: 25000 → 250 taken from Feb: 300 − 250 = 50; score 50 + 200 = 250, gold stays.
    messages: one(
      paid("p1", 1, "taobao", 30000, cst(2026, 2, 20)),
      paid("p2", 1, "taobao", 20000, cst(2026, 3, 5)),
      refund("r1", 1, "taobao", 25000, cst(2026, 3, 10), cst(2026, 2, 20)),
    ),
    expect: {
      members: [{ member: 1, score: 250, tier: "gold", lines: { taobao: 250 }, months: { 24313: 50, 24314: 200 } }],
      changes: [
        { member: 1, from: "bronze", to: "silver", score: 300, ts: cst(2026, 2, 20), cause: "p1" },
        { member: 1, from: "silver", to: "gold", score: 500, ts: cst(2026, 3, 5), cause: "p2" },
      ],
      clock: cst(2026, 3, 10),
    },
  },
  {
    name: "a refund bigger than its line's points takes from the month's other lines in configured order",
    // One batch, all March. taobao 10000 → 100; tmall 20000 → 200 (300 → silver);
    // eleme 5000 × 2000 / 100000 = 100 (400); fliggy 20000 × 500 / 100000 = 100 (500 → gold);
    // hema 10000 × 1500 / 100000 = 150 (650).
    // Refund on fliggy 100000 × 500 / 100000 = 500: fliggy 100 → 0 (400 left), then in line order
    //   taobao 100 → 0 (300 left), tmall 200 → 0 (100 left), eleme 100 → 0 (0 left); hema keeps 150.
    // Score 150; the tier stays gold (period-end).
    messages: [
      {
        items: [
          paid("a", 1, "taobao", 10000, cst(2026, 3, 10, 10, 1)),
          paid("b", 1, "tmall", 20000, cst(2026, 3, 10, 10, 2)),
          paid("c", 1, "eleme", 5000, cst(2026, 3, 10, 10, 3)),
          paid("d", 1, "fliggy", 20000, cst(2026, 3, 10, 10, 4)),
          paid("e", 1, "hema", 10000, cst(2026, 3, 10, 10, 5)),
          refund("r", 1, "fliggy", 100000, cst(2026, 3, 10, 10, 6)),
        ],
      },
    ],
    expect: {
      members: [{ member: 1, score: 150, tier: "gold", lines: { hema: 150 }, months: { 24314: 150 } }],
      changes: [
        { member: 1, from: "bronze", to: "silver", score: 300, ts: cst(2026, 3, 10, 10, 2), cause: "b" },
        { member: 1, from: "silver", to: "gold", score: 500, ts: cst(2026, 3, 10, 10, 4), cause: "d" },
      ],
      deadLetters: [],
      clock: cst(2026, 3, 10, 10, 6),
    },
  },
  {
    name: "a refund never takes a month below 0 and never touches another month",
    // p1 (Feb): 5000 → 50. p2 (Mar): tmall 10000 → 100. Score 150.
    // r1 (Mar) taobao 50000 → 500: March taobao has 0; other lines in order: tmall 100 → 0;
    //   eleme, fliggy, hema have 0: March is empty, the other 400 are not taken. Feb keeps 50.
    // p3 (Mar): 3000 → 30 → March 30 (not −370). Score 50 + 30 = 80. Always bronze.
    messages: one(
      paid("p1", 1, "taobao", 5000, cst(2026, 2, 10)),
      paid("p2", 1, "tmall", 10000, cst(2026, 3, 10)),
      refund("r1", 1, "taobao", 50000, cst(2026, 3, 11)),
      paid("p3", 1, "taobao", 3000, cst(2026, 3, 12)),
    ),
    expect: {
      members: [{ member: 1, score: 80, tier: "bronze", lines: { taobao: 80 }, months: { 24313: 50, 24314: 30 } }],
      changes: [],
      clock: cst(2026, 3, 12),
    },
  },
  {
    name: "points leave the window at rollover; a refund of an order whose month has left changes nothing",
    // p1 (Mar 2025, 24302): 40000 → 400 → silver.
    // p2 (Apr 2025, 24303): rollover to 24303, window 24292 … 24303 → 400, no change; +300 → 700 → gold.
    // p3 (Mar 2026, 24314): rollover 24303 → 24314; at 24314 the window is 24303 … 24314:
    //   March 2025 has left → 300 → silver: change at cst(2026, 3, 1), score 300. Then +100 → 400.
    // r1 orderTs 2025-03-31 23:59:59.999 +08 → month 24302 < 24303 → nothing changes (and
    //   nothing could show it: month 24302 never counts again).
    // r2 orderTs 2025-04-01 00:00 +08 → month 24303 (the oldest in the window): 5000 → 50 from
    //   April 2025: 300 − 50 = 250. Score 250 + 100 = 350, silver.
    messages: one(
      paid("p1", 1, "taobao", 40000, cst(2025, 3, 20)),
      paid("p2", 1, "taobao", 30000, cst(2025, 4, 20)),
      paid("p3", 1, "taobao", 10000, cst(2026, 3, 10)),
      refund("r1", 1, "taobao", 10000, cst(2026, 3, 11), cst(2025, 3, 31, 23, 59, 59, 999)),
      refund("r2", 1, "taobao", 5000, cst(2026, 3, 12), cst(2025, 4, 1)),
    ),
    expect: {
      members: [{ member: 1, score: 350, tier: "silver", lines: { taobao: 350 }, months: { 24303: 250, 24314: 100 } }],
      changes: [
        { member: 1, from: "bronze", to: "silver", score: 400, ts: cst(2025, 3, 20), cause: "p1" },
        { member: 1, from: "silver", to: "gold", score: 700, ts: cst(2025, 4, 20), cause: "p2" },
        { member: 1, from: "gold", to: "silver", score: 300, ts: cst(2026, 3, 1), cause: "rollover" },
      ],
      clock: cst(2026, 3, 12),
    },
  },
  {
    name: "a refund or a 0-point order for an unknown member creates nothing",
    // member 1: 10000 → 100. member 2: a refund, unknown → nothing. member 4: 99 × 1000 / 100000
    // = 0.99 → 0 → nothing. Only member 1 is held.
    messages: one(
      paid("p1", 1, "taobao", 10000, T),
      refund("r2", 2, "taobao", 10000, T + MINUTE_MS),
      refund("r3", 2, "taobao", 10000, T + 2 * MINUTE_MS, T - DAY_MS),
      paid("p4", 4, "taobao", 99, T + 3 * MINUTE_MS),
    ),
    expect: {
      members: [{ member: 1, score: 100, tier: "bronze", lines: { taobao: 100 }, months: { 24314: 100 } }],
      changes: [],
      clock: T + 3 * MINUTE_MS,
    },
  },
  {
    name: "a refund whose ts starts a new month rolls over first, then takes from orderTs's month",
    // p1 (Mar): 50000 → 500 → gold.
    // r1 ts in April: rollover 24314 → 24315, window 24304 … 24315 → 500, gold, no change;
    //   then 30000 → 300 taken from March: 200. Tier stays gold (period-end).
    // tick in May (24316): window 24305 … 24316 holds March → 200 → silver at cst(2026, 5, 1).
    messages: one(
      paid("p1", 1, "taobao", 50000, cst(2026, 3, 20)),
      refund("r1", 1, "taobao", 30000, cst(2026, 4, 3), cst(2026, 3, 20)),
      tick(cst(2026, 5, 1)),
    ),
    expect: {
      members: [{ member: 1, score: 200, tier: "silver", lines: { taobao: 200 }, months: { 24314: 200 } }],
      changes: [
        { member: 1, from: "bronze", to: "gold", score: 500, ts: cst(2026, 3, 20), cause: "p1" },
        { member: 1, from: "gold", to: "silver", score: 200, ts: cst(2026, 5, 1), cause: "rollover" },
      ],
      clock: cst(2026, 5, 1),
    },
  },
  {
    name: "a paid order's orderTs is ignored: it counts in the month of its ts",
    // 10000 → 100 in March (24314), the month of ts, not February (the month of orderTs)
    messages: one({ ...paid("p1", 1, "taobao", 10000, cst(2026, 3, 10)), orderTs: cst(2026, 2, 10) }),
    expect: {
      members: [{ member: 1, score: 100, tier: "bronze", lines: { taobao: 100 }, months: { 24314: 100 } }],
      deadLetters: [],
      clock: cst(2026, 3, 10),
    },
  },

  // ───────────────────────────── months at UTC+08:00 ─────────────────────────────
  {
    name: "the month boundary is 16:00 UTC on the last day of the month",
    // 2026-03-31 15:59:59.999 UTC = 23:59:59.999 +08 → March (24314): 10000 → 100.
    // 2026-03-31 16:00:00.000 UTC = April 1 00:00 +08 → April (24315): rollover (100, bronze, no
    //   change); 20000 → 200 → 300 → silver.
    messages: one(
      paid("p1", 1, "taobao", 10000, Date.UTC(2026, 2, 31, 15, 59, 59, 999)),
      paid("p2", 1, "taobao", 20000, Date.UTC(2026, 2, 31, 16, 0, 0, 0)),
    ),
    expect: {
      members: [{ member: 1, score: 300, tier: "silver", lines: { taobao: 300 }, months: { 24314: 100, 24315: 200 } }],
      changes: [{ member: 1, from: "bronze", to: "silver", score: 300, ts: Date.UTC(2026, 2, 31, 16), cause: "p2" }],
      clock: Date.UTC(2026, 2, 31, 16),
    },
  },
  {
    name: "points leave the window exactly at the month start 12 months on",
    // p1 2025-04-30 15:59:59.999 UTC = April 30 23:59:59.999 +08 → April 2025 (24303): 300 → silver.
    // tick 2026-03-31 15:59:59.999 UTC → March 2026 (24314): window 24303 … 24314 still holds it.
    // tick 2026-03-31 16:00 UTC → April 2026 (24315): window 24304 … 24315 → 0 → bronze,
    //   change at the month start Date.UTC(2026, 2, 31, 16) = cst(2026, 4, 1).
    messages: one(
      paid("p1", 1, "taobao", 30000, Date.UTC(2025, 3, 30, 15, 59, 59, 999)),
      tick(Date.UTC(2026, 2, 31, 15, 59, 59, 999)),
      tick(Date.UTC(2026, 2, 31, 16, 0, 0, 0)),
    ),
    expect: {
      members: [{ member: 1, score: 0, tier: "bronze", lines: {}, months: {} }],
      changes: [
        { member: 1, from: "bronze", to: "silver", score: 300, ts: Date.UTC(2025, 3, 30, 15, 59, 59, 999), cause: "p1" },
        { member: 1, from: "silver", to: "bronze", score: 0, ts: Date.UTC(2026, 2, 31, 16), cause: "rollover" },
      ],
      clock: Date.UTC(2026, 2, 31, 16),
    },
  },
  {
    name: "a configured UTC+00:00 offset and a 1-month window",
    config: { utcOffsetMinutes: 0, windowMonths: 1 },
    // 2026-03-31 20:00 UTC is March at UTC+00:00 (it would be April at +08): 20000 → 200 → silver.
    // tick 23:59:59.999 UTC: still March. tick 2026-04-01 00:00 UTC → April: window = April only
    //   → 0 → bronze at Date.UTC(2026, 3, 1).
    messages: one(
      paid("p1", 1, "taobao", 20000, Date.UTC(2026, 2, 31, 20)),
      tick(Date.UTC(2026, 2, 31, 23, 59, 59, 999)),
      tick(Date.UTC(2026, 3, 1)),
    ),
    expect: {
      members: [{ member: 1, score: 0, tier: "bronze", lines: {}, months: {} }],
      changes: [
        { member: 1, from: "bronze", to: "silver", score: 200, ts: Date.UTC(2026, 2, 31, 20), cause: "p1" },
        { member: 1, from: "silver", to: "bronze", score: 0, ts: Date.UTC(2026, 3, 1), cause: "rollover" },
      ],
      clock: Date.UTC(2026, 3, 1),
    },
  },
  {
    name: "a configured UTC−05:00 offset",
    config: { utcOffsetMinutes: -300 },
    // 2026-04-01 04:59:59.999 UTC = March 31 23:59:59.999 −05 → March (24314): 20000 → 200 → silver.
    // 2026-04-01 05:00 UTC = April 1 00:00 −05 → April (24315): 10000 → 100.
    messages: one(paid("p1", 1, "taobao", 20000, Date.UTC(2026, 3, 1, 4, 59, 59, 999)), paid("p2", 1, "taobao", 10000, Date.UTC(2026, 3, 1, 5))),
    expect: {
      members: [{ member: 1, score: 300, tier: "silver", lines: { taobao: 300 }, months: { 24314: 200, 24315: 100 } }],
      changes: [{ member: 1, from: "bronze", to: "silver", score: 200, ts: Date.UTC(2026, 3, 1, 4, 59, 59, 999), cause: "p1" }],
      clock: Date.UTC(2026, 3, 1, 5),
    },
  },

  // ───────────────────────────── the rolling window ─────────────────────────────
  {
    name: "the 12-month window: each month's points leave at their own month start",
    // p1 (Jan 2026, 24312): 300 → silver. p2 (Feb, 24313): rollover (300, silver, no change); +300 → 600 → gold.
    // tick Jan 5 2027 (24324): window 24313 … 24324 → Feb only → 300 → silver at cst(2027, 1, 1).
    // tick Feb 1 2027 (24325): window 24314 … 24325 → 0 → bronze at cst(2027, 2, 1).
    messages: one(
      paid("p1", 1, "taobao", 30000, cst(2026, 1, 15)),
      paid("p2", 1, "taobao", 30000, cst(2026, 2, 15)),
      tick(cst(2027, 1, 5)),
      tick(cst(2027, 2, 1)),
    ),
    expect: {
      members: [{ member: 1, score: 0, tier: "bronze", lines: {}, months: {} }],
      changes: [
        { member: 1, from: "bronze", to: "silver", score: 300, ts: cst(2026, 1, 15), cause: "p1" },
        { member: 1, from: "silver", to: "gold", score: 600, ts: cst(2026, 2, 15), cause: "p2" },
        { member: 1, from: "gold", to: "silver", score: 300, ts: cst(2027, 1, 1), cause: "rollover" },
        { member: 1, from: "silver", to: "bronze", score: 0, ts: cst(2027, 2, 1), cause: "rollover" },
      ],
      clock: cst(2027, 2, 1),
    },
  },
  {
    name: "a configured 3-month window",
    config: { windowMonths: 3 },
    // p1 (Jan, 24312): 300 → silver. tick Mar 31 (24314): window 24312 … 24314 → 300, no change.
    // tick Apr 1 (24315): window 24313 … 24315 → 0 → bronze at cst(2026, 4, 1).
    messages: one(paid("p1", 1, "taobao", 30000, cst(2026, 1, 15)), tick(cst(2026, 3, 31, 12)), tick(cst(2026, 4, 1))),
    expect: {
      members: [{ member: 1, score: 0, tier: "bronze", lines: {}, months: {} }],
      changes: [
        { member: 1, from: "bronze", to: "silver", score: 300, ts: cst(2026, 1, 15), cause: "p1" },
        { member: 1, from: "silver", to: "bronze", score: 0, ts: cst(2026, 4, 1), cause: "rollover" },
      ],
      clock: cst(2026, 4, 1),
    },
  },

  // ───────────────────────────── downgrade policies ─────────────────────────────
  {
    name: "period-end: a rollover drops straight to the tier of the score",
    // p1 (Jan 2026, 24312): 500000 → 5000 → diamond. p2 (Jun 2026, 24317): rollover (5000,
    //   diamond, no change); 60000 → 600 → 5600, still diamond.
    // tick Jan 20 2027 (24324): window 24313 … 24324 → June only → 600 → gold (diamond → gold in
    //   one change) at cst(2027, 1, 1).
    messages: one(paid("p1", 1, "taobao", 500000, cst(2026, 1, 15)), paid("p2", 1, "taobao", 60000, cst(2026, 6, 10)), tick(cst(2027, 1, 20))),
    expect: {
      members: [{ member: 1, score: 600, tier: "gold", lines: { taobao: 600 }, months: { 24317: 600 } }],
      changes: [
        { member: 1, from: "bronze", to: "diamond", score: 5000, ts: cst(2026, 1, 15), cause: "p1" },
        { member: 1, from: "diamond", to: "gold", score: 600, ts: cst(2027, 1, 1), cause: "rollover" },
      ],
      clock: cst(2027, 1, 20),
    },
  },
  {
    name: "one-down: at most one tier per month start",
    config: { policy: "one-down" },
    // p1: 500000 → 5000 → diamond. p2: 100000 → 1000 → 6000 → black_diamond (5).
    // r1: 600000 → 6000 → capped 5000: January 6000 − 5000 = 1000; tier stays black_diamond.
    // tick Feb 1 (24313): tierOf(1000) = platinum (3); max(3, 5 − 1) = 4 diamond, at cst(2026, 2, 1).
    // tick Mar 5 (24314): max(3, 4 − 1) = 3 platinum, at cst(2026, 3, 1).
    // tick Apr 2 (24315): max(3, 3 − 1) = 3 → no change.
    messages: one(
      paid("p1", 1, "taobao", 500000, cst(2026, 1, 10)),
      paid("p2", 1, "taobao", 100000, cst(2026, 1, 11)),
      refund("r1", 1, "taobao", 600000, cst(2026, 1, 20)),
      tick(cst(2026, 2, 1)),
      tick(cst(2026, 3, 5)),
      tick(cst(2026, 4, 2)),
    ),
    expect: {
      members: [{ member: 1, score: 1000, tier: "platinum", lines: { taobao: 1000 }, months: { 24312: 1000 } }],
      changes: [
        { member: 1, from: "bronze", to: "diamond", score: 5000, ts: cst(2026, 1, 10), cause: "p1" },
        { member: 1, from: "diamond", to: "black_diamond", score: 6000, ts: cst(2026, 1, 11), cause: "p2" },
        { member: 1, from: "black_diamond", to: "diamond", score: 1000, ts: cst(2026, 2, 1), cause: "rollover" },
        { member: 1, from: "diamond", to: "platinum", score: 1000, ts: cst(2026, 3, 1), cause: "rollover" },
      ],
      clock: cst(2026, 4, 2),
    },
  },
  {
    name: "one-down: a tick over several month starts drops one tier per start, in one change",
    config: { policy: "one-down" },
    // p1 5000 → diamond; p2 1000 → 6000 → black_diamond (5); r1 5000 → 1000; r2 1000 → 0.
    // tick Apr 15 (24315) passes Feb, Mar, Apr: score 0 each time:
    //   max(0, 5 − 1) = 4, max(0, 3) = 3, max(0, 2) = 2 → gold; one change at cst(2026, 4, 1).
    messages: one(
      paid("p1", 1, "taobao", 500000, cst(2026, 1, 10)),
      paid("p2", 1, "taobao", 100000, cst(2026, 1, 11)),
      refund("r1", 1, "taobao", 500000, cst(2026, 1, 20)),
      refund("r2", 1, "taobao", 100000, cst(2026, 1, 21)),
      tick(cst(2026, 4, 15)),
    ),
    expect: {
      members: [{ member: 1, score: 0, tier: "gold", lines: {}, months: {} }],
      changes: [
        { member: 1, from: "bronze", to: "diamond", score: 5000, ts: cst(2026, 1, 10), cause: "p1" },
        { member: 1, from: "diamond", to: "black_diamond", score: 6000, ts: cst(2026, 1, 11), cause: "p2" },
        { member: 1, from: "black_diamond", to: "gold", score: 0, ts: cst(2026, 4, 1), cause: "rollover" },
      ],
      clock: cst(2026, 4, 15),
    },
  },
  {
    name: "one-down: points expiring during a long gap start the soft landing only when they leave",
    config: { policy: "one-down" },
    // p1 (Jan 2026, 24312): 250000 → 2500 → diamond (4).
    // tick Mar 10 2027 (24326) passes 24313 … 24326. While m ≤ 24323 the window m − 11 … m still
    //   holds 24312 → 2500 → diamond stays. m = 24324: 0 → max(0, 3) = 3; 24325 → 2; 24326 → 1
    //   silver: one change diamond → silver at cst(2027, 3, 1), score 0.
    // tick May 1 2027 (24328): 24327 → max(0, 0) = 0; 24328 → 0: silver → bronze at cst(2027, 5, 1).
    messages: one(paid("p1", 1, "taobao", 250000, cst(2026, 1, 10)), tick(cst(2027, 3, 10)), tick(cst(2027, 5, 1))),
    expect: {
      members: [{ member: 1, score: 0, tier: "bronze", lines: {}, months: {} }],
      changes: [
        { member: 1, from: "bronze", to: "diamond", score: 2500, ts: cst(2026, 1, 10), cause: "p1" },
        { member: 1, from: "diamond", to: "silver", score: 0, ts: cst(2027, 3, 1), cause: "rollover" },
        { member: 1, from: "silver", to: "bronze", score: 0, ts: cst(2027, 5, 1), cause: "rollover" },
      ],
      clock: cst(2027, 5, 1),
    },
  },
  {
    name: "immediate: a refund downgrades at once; expiry downgrades at the month start",
    config: { policy: "immediate" },
    // p1: 100000 → 1000 → platinum. r1: 60000 → 600 → 400 → silver at once (cause r1, its ts).
    // p2: 5000 → 50 → 450, still silver. tick Mar 1 2027 (24326): window 24315 … 24326 → 0 →
    //   bronze at cst(2027, 3, 1) (at 24325 the window 24314 … 24325 still held 450).
    messages: one(
      paid("p1", 1, "taobao", 100000, cst(2026, 3, 10)),
      refund("r1", 1, "taobao", 60000, cst(2026, 3, 11)),
      paid("p2", 1, "taobao", 5000, cst(2026, 3, 12)),
      tick(cst(2027, 3, 1)),
    ),
    expect: {
      members: [{ member: 1, score: 0, tier: "bronze", lines: {}, months: {} }],
      changes: [
        { member: 1, from: "bronze", to: "platinum", score: 1000, ts: cst(2026, 3, 10), cause: "p1" },
        { member: 1, from: "platinum", to: "silver", score: 400, ts: cst(2026, 3, 11), cause: "r1" },
        { member: 1, from: "silver", to: "bronze", score: 0, ts: cst(2027, 3, 1), cause: "rollover" },
      ],
      clock: cst(2027, 3, 1),
    },
  },
  {
    name: "rollover changes (ascending member id) come before the causing order's own upgrade",
    // March, one batch: m3 500 → gold; m2 200 → silver; m1 500 → gold;
    //   refunds: m3 300 → 200; m2 150 → 50; m1 200 → 300 (tiers wait: period-end).
    // q1 (April) for m1: rollover first, members in id order: m1 300 → silver; m2 50 → bronze;
    //   m3 200 → silver; all at cst(2026, 4, 1). Then q1: 80000 → 800 → 1100 → platinum.
    messages: [
      {
        items: [
          paid("p3", 3, "taobao", 50000, cst(2026, 3, 2)),
          paid("p2", 2, "taobao", 20000, cst(2026, 3, 3)),
          paid("p1", 1, "taobao", 50000, cst(2026, 3, 4)),
          refund("r3", 3, "taobao", 30000, cst(2026, 3, 5)),
          refund("r2", 2, "taobao", 15000, cst(2026, 3, 6)),
          refund("r1", 1, "taobao", 20000, cst(2026, 3, 7)),
        ],
      },
      { items: [paid("q1", 1, "taobao", 80000, cst(2026, 4, 2))] },
    ],
    expect: {
      members: [
        { member: 1, score: 1100, tier: "platinum", lines: { taobao: 1100 }, months: { 24314: 300, 24315: 800 } },
        { member: 2, score: 50, tier: "bronze", lines: { taobao: 50 }, months: { 24314: 50 } },
        { member: 3, score: 200, tier: "silver", lines: { taobao: 200 }, months: { 24314: 200 } },
      ],
      changes: [
        { member: 3, from: "bronze", to: "gold", score: 500, ts: cst(2026, 3, 2), cause: "p3" },
        { member: 2, from: "bronze", to: "silver", score: 200, ts: cst(2026, 3, 3), cause: "p2" },
        { member: 1, from: "bronze", to: "gold", score: 500, ts: cst(2026, 3, 4), cause: "p1" },
        { member: 1, from: "gold", to: "silver", score: 300, ts: cst(2026, 4, 1), cause: "rollover" },
        { member: 2, from: "silver", to: "bronze", score: 50, ts: cst(2026, 4, 1), cause: "rollover" },
        { member: 3, from: "gold", to: "silver", score: 200, ts: cst(2026, 4, 1), cause: "rollover" },
        { member: 1, from: "silver", to: "platinum", score: 1100, ts: cst(2026, 4, 2), cause: "q1" },
      ],
      clock: cst(2026, 4, 2),
    },
  },

  // ───────────────────────────── the clock, ticks, late events ─────────────────────────────
  {
    name: "ticks move the clock and roll over; a tick older than the clock does nothing",
    // p1 (Apr): 50000 → 500 → gold; r1: 40000 → 400 → 100 (gold waits).
    // tick Apr 5: older than the clock (Apr 11) → nothing. tick Apr 30 23:59:59.999: same month.
    // tick May 1 09:00 (24316): rollover; window 24305 … 24316 holds April → 100 → bronze at
    //   cst(2026, 5, 1). tick Apr 20: older → nothing; the clock stays May 1 09:00.
    messages: one(
      paid("p1", 1, "taobao", 50000, cst(2026, 4, 10)),
      refund("r1", 1, "taobao", 40000, cst(2026, 4, 11)),
      tick(cst(2026, 4, 5)),
      tick(cst(2026, 4, 30, 23, 59, 59, 999)),
      tick(cst(2026, 5, 1, 9)),
      tick(cst(2026, 4, 20)),
    ),
    expect: {
      members: [{ member: 1, score: 100, tier: "bronze", lines: { taobao: 100 }, months: { 24315: 100 } }],
      changes: [
        { member: 1, from: "bronze", to: "gold", score: 500, ts: cst(2026, 4, 10), cause: "p1" },
        { member: 1, from: "gold", to: "bronze", score: 100, ts: cst(2026, 5, 1), cause: "rollover" },
      ],
      clock: cst(2026, 5, 1, 9),
    },
  },
  {
    name: "a tick older than the clock, alone in its message, changes nothing",
    // tick Mar 10 sets the clock; the tick of Mar 9 is older: the clock stays.
    messages: one(tick(T), tick(T - DAY_MS)),
    expect: { members: [], changes: [], deadLetters: [], clock: T },
  },
  {
    name: "late and out-of-order orders count inside the window and not outside it",
    // p1 Mar 10 2026 (24314): 15000 → 150. Window 24303 … 24314.
    // p2 Mar 5 (late, same month): 5000 → 50 → 200 → silver; the change carries p2's ts.
    // p3 Apr 1 2025 00:00 +08 (24303, the oldest window month): 10000 → 100 → 300.
    // p4 Mar 31 2025 23:59:59.999 +08 (24302): outside → nothing.
    // p5 Jun 15 2025 (24305): tmall 30000 → 300 → 600 → gold, at p5's ts. The clock never moves back.
    messages: one(
      paid("p1", 1, "taobao", 15000, cst(2026, 3, 10)),
      paid("p2", 1, "taobao", 5000, cst(2026, 3, 5)),
      paid("p3", 1, "taobao", 10000, cst(2025, 4, 1)),
      paid("p4", 1, "taobao", 100000, cst(2025, 3, 31, 23, 59, 59, 999)),
      paid("p5", 1, "tmall", 30000, cst(2025, 6, 15)),
    ),
    expect: {
      members: [
        { member: 1, score: 600, tier: "gold", lines: { taobao: 300, tmall: 300 }, months: { 24303: 100, 24305: 300, 24314: 200 } },
      ],
      changes: [
        { member: 1, from: "bronze", to: "silver", score: 200, ts: cst(2026, 3, 5), cause: "p2" },
        { member: 1, from: "silver", to: "gold", score: 600, ts: cst(2025, 6, 15), cause: "p5" },
      ],
      clock: cst(2026, 3, 10),
    },
  },
  {
    name: "a late order outside the window creates no member",
    // p1 for member 1 sets the clock to March 2026; p2 for member 2 is in March 2025 (24302 <
    // 24303): nothing, member 2 is not created.
    messages: one(paid("p1", 1, "taobao", 10000, T), paid("p2", 2, "taobao", 90000, cst(2025, 3, 15))),
    expect: {
      members: [{ member: 1, score: 100, tier: "bronze" }],
      changes: [],
      clock: T,
    },
  },

  // ───────────────────────────── dedup ─────────────────────────────
  {
    name: "an order delivered twice within the horizon counts once and does not move the clock",
    // o1 at T: 10000 → 100, seenAt = T. Then a batch with o1 twice: now = T, 0 < 600000 → ignored.
    // o1 again with ts T + 599999: now = T + 599999; 599999 < 600000 → ignored; the clock stays T.
    messages: [
      { items: [paid("o1", 1, "taobao", 10000, T)] },
      { items: [paid("o1", 1, "taobao", 10000, T), paid("o1", 1, "taobao", 10000, T)] },
      { items: [paid("o1", 1, "taobao", 10000, T + 599_999)] },
    ],
    expect: {
      members: [{ member: 1, score: 100, tier: "bronze", lines: { taobao: 100 } }],
      changes: [],
      deadLetters: [],
      clock: T,
    },
  },
  {
    name: "the same order re-published after the horizon counts again",
    // o1 at T → 100, seenAt T. tick T + 599999; o1: now − seenAt = 599999 < 600000 → ignored.
    // tick T + 600000; o1: 600000 is not < 600000 → counts: 200 → silver (ts = o1's ts T);
    //   seenAt = T + 600000. o1 again: now − seenAt = 0 → ignored.
    messages: one(
      paid("o1", 1, "taobao", 10000, T),
      tick(T + 599_999),
      paid("o1", 1, "taobao", 10000, T),
      tick(T + 600_000),
      paid("o1", 1, "taobao", 10000, T),
      paid("o1", 1, "taobao", 10000, T),
    ),
    expect: {
      members: [{ member: 1, score: 200, tier: "silver", lines: { taobao: 200 } }],
      changes: [{ member: 1, from: "bronze", to: "silver", score: 200, ts: T, cause: "o1" }],
      clock: T + 600_000,
    },
  },
  {
    name: "the same id as a refund is a different order than as paid",
    // paid o1: 20000 → 200 → silver. refund o1: 5000 → 50 → 150 (counts: (o1, refund) is new).
    // refund o1 again → ignored; paid o1 again (now T + 60000, seenAt T) → ignored.
    messages: one(
      paid("o1", 1, "taobao", 20000, T),
      refund("o1", 1, "taobao", 5000, T + MINUTE_MS),
      refund("o1", 1, "taobao", 5000, T + MINUTE_MS),
      paid("o1", 1, "taobao", 20000, T),
    ),
    expect: {
      members: [{ member: 1, score: 150, tier: "silver", lines: { taobao: 150 } }],
      changes: [{ member: 1, from: "bronze", to: "silver", score: 200, ts: T, cause: "o1" }],
      clock: T + MINUTE_MS,
    },
  },
  {
    name: "seenAt is the clock after applying, not the order's ts",
    // a at T: 100. L at T − 1 day (late, same month): 200 → 300 → silver; seenAt = clock = T.
    // tick T + 9 min; L again: now − seenAt = 540000 < 600000 → ignored (with seenAt = L's ts it
    //   would be 1 day + 9 min and count).
    // tick T + 10 min; L again: 600000 → counts: 500 → gold, at L's ts.
    messages: one(
      paid("a", 1, "taobao", 10000, T),
      paid("L", 1, "taobao", 20000, T - DAY_MS),
      tick(T + 9 * MINUTE_MS),
      paid("L", 1, "taobao", 20000, T - DAY_MS),
      tick(T + 10 * MINUTE_MS),
      paid("L", 1, "taobao", 20000, T - DAY_MS),
    ),
    expect: {
      members: [{ member: 1, score: 500, tier: "gold", lines: { taobao: 500 }, months: { 24314: 500 } }],
      changes: [
        { member: 1, from: "bronze", to: "silver", score: 300, ts: T - DAY_MS, cause: "L" },
        { member: 1, from: "silver", to: "gold", score: 500, ts: T - DAY_MS, cause: "L" },
      ],
      clock: T + 10 * MINUTE_MS,
    },
  },
  {
    name: "a dedup horizon of 0 never ignores a re-published order",
    config: { dedupHorizonMs: 0 },
    // now − seenAt < 0 is never true: o1 counts twice, 100 + 100 = 200 → silver on the second
    messages: one(paid("o1", 1, "taobao", 10000, T), paid("o1", 1, "taobao", 10000, T)),
    expect: {
      members: [{ member: 1, score: 200, tier: "silver" }],
      changes: [{ member: 1, from: "bronze", to: "silver", score: 200, ts: T, cause: "o1" }],
      clock: T,
    },
  },
  {
    name: "an ignored duplicate whose ts is in a new month does not roll over",
    // p1 (Mar 20): 500 → gold; r1: 300 → 200 (gold waits). p2 m2 at Mar 31 23:55 +08: 1000 → 10.
    // p2 again with ts Apr 1 00:01 +08: now − seenAt = 6 min < 10 min → ignored: no rollover, the
    //   clock stays Mar 31 23:55. tick Apr 1 00:02: rollover: m1 200 → silver at cst(2026, 4, 1);
    //   m2 10, bronze, no change.
    messages: one(
      paid("p1", 1, "taobao", 50000, cst(2026, 3, 20)),
      refund("r1", 1, "taobao", 30000, cst(2026, 3, 21)),
      paid("p2", 2, "taobao", 1000, cst(2026, 3, 31, 23, 55)),
      paid("p2", 2, "taobao", 1000, cst(2026, 4, 1, 0, 1)),
      tick(cst(2026, 4, 1, 0, 2)),
    ),
    expect: {
      members: [
        { member: 1, score: 200, tier: "silver", months: { 24314: 200 } },
        { member: 2, score: 10, tier: "bronze", months: { 24314: 10 } },
      ],
      changes: [
        { member: 1, from: "bronze", to: "gold", score: 500, ts: cst(2026, 3, 20), cause: "p1" },
        { member: 1, from: "gold", to: "silver", score: 200, ts: cst(2026, 4, 1), cause: "rollover" },
      ],
      clock: cst(2026, 4, 1, 0, 2),
    },
  },

  // ───────────────────────────── bad input ─────────────────────────────
  {
    name: "bad_shape: not a map, an unknown field, a tick with extra fields; the valid item still applies",
    // items 0 … 5 are bad_shape; item 6: 10000 → 100
    messages: [
      {
        items: [
          42,
          "order",
          null,
          [1, 2],
          { ...paid("x1", 1, "taobao", 100, T), extra: 1 },
          { kind: "tick", ts: T, member: 1 },
          paid("ok", 1, "taobao", 10000, T),
        ],
      },
    ],
    expect: {
      members: [{ member: 1, score: 100, tier: "bronze" }],
      changes: [],
      deadLetters: [0, 1, 2, 3, 4, 5].map((item) => ({ message: 0, item, code: "bad_shape" })),
      clock: T,
    },
  },
  {
    name: "bad_id: empty, 65 bytes, 66 bytes of UTF-8, not a string, missing; 64 bytes is fine",
    // "x" × 64 = 64 bytes: 10000 → 100; "é" (U+00E9, 2 bytes) × 32 = 64 bytes: 20000 → 200 → 300 → silver.
    // "x" × 65 = 65 bytes and "é" × 33 = 66 bytes are too long.
    messages: [
      {
        items: [
          paid("", 1, "taobao", 10000, T),
          paid("x".repeat(65), 1, "taobao", 10000, T),
          paid("\u00e9".repeat(33), 1, "taobao", 10000, T),
          { member: 1, line: "taobao", kind: "paid", amount: 10000, ts: T, id: 7 },
          { member: 1, line: "taobao", kind: "paid", amount: 10000, ts: T },
          paid("x".repeat(64), 1, "taobao", 10000, T),
          paid("\u00e9".repeat(32), 1, "taobao", 20000, T),
        ],
      },
    ],
    expect: {
      members: [{ member: 1, score: 300, tier: "silver" }],
      changes: [{ member: 1, from: "bronze", to: "silver", score: 300, ts: T, cause: "\u00e9".repeat(32) }],
      deadLetters: [0, 1, 2, 3, 4].map((item) => ({ message: 0, item, code: "bad_id" })),
      clock: T,
    },
  },
  {
    name: "bad_member: 0, 2^53, negative, fractional, a string, missing; 2^53 − 1 is fine",
    // 2^53 − 1 = 9007199254740991: 10000 → 100
    messages: [
      {
        items: [
          paid("m0", 0, "taobao", 10000, T),
          paid("m1", 2 ** 53, "taobao", 10000, T),
          paid("m2", -1, "taobao", 10000, T),
          paid("m3", 1.5, "taobao", 10000, T),
          { id: "m4", member: "1", line: "taobao", kind: "paid", amount: 10000, ts: T },
          { id: "m5", line: "taobao", kind: "paid", amount: 10000, ts: T },
          paid("ok", 9007199254740991, "taobao", 10000, T),
        ],
      },
    ],
    expect: {
      members: [{ member: 9007199254740991, score: 100, tier: "bronze", lines: { taobao: 100 } }],
      changes: [],
      deadLetters: [0, 1, 2, 3, 4, 5].map((item) => ({ message: 0, item, code: "bad_member" })),
      clock: T,
    },
  },
  {
    name: "bad_line: unknown, wrong case, not a string, missing",
    // tmall 10000 → 100
    messages: [
      {
        items: [
          paid("l0", 1, "jd", 10000, T),
          paid("l1", 1, "TAOBAO", 10000, T),
          { id: "l2", member: 1, line: 5, kind: "paid", amount: 10000, ts: T },
          { id: "l3", member: 1, kind: "paid", amount: 10000, ts: T },
          paid("ok", 1, "tmall", 10000, T),
        ],
      },
    ],
    expect: {
      members: [{ member: 1, score: 100, tier: "bronze", lines: { tmall: 100 } }],
      changes: [],
      deadLetters: [0, 1, 2, 3].map((item) => ({ message: 0, item, code: "bad_line" })),
      clock: T,
    },
  },
  {
    name: "bad_kind: unknown, wrong case, not a string, missing",
    // taobao 10000 → 100
    messages: [
      {
        items: [
          { id: "k0", member: 1, line: "taobao", kind: "pay", amount: 10000, ts: T },
          { id: "k1", member: 1, line: "taobao", kind: "Refund", amount: 10000, ts: T },
          { id: "k2", member: 1, line: "taobao", kind: 1, amount: 10000, ts: T },
          { id: "k3", member: 1, line: "taobao", amount: 10000, ts: T },
          paid("ok", 1, "taobao", 10000, T),
        ],
      },
    ],
    expect: {
      members: [{ member: 1, score: 100, tier: "bronze" }],
      changes: [],
      deadLetters: [0, 1, 2, 3].map((item) => ({ message: 0, item, code: "bad_kind" })),
      clock: T,
    },
  },
  {
    name: "bad_amount: 0, a float, negative, a string, over the maximum, missing",
    // member 1: 10_000_000_000 (the maximum) × 1000 / 100000 = 100_000_000 → capped 5000 → diamond.
    // member 2: 1 cent × 1000 / 100000 = 0.01 → 0 → not created.
    messages: [
      {
        items: [
          paid("a0", 1, "taobao", 0, T),
          paid("a1", 1, "taobao", 12.5, T),
          paid("a2", 1, "taobao", -100, T),
          { id: "a3", member: 1, line: "taobao", kind: "paid", amount: "100", ts: T },
          paid("a4", 1, "taobao", 10_000_000_001, T),
          { id: "a5", member: 1, line: "taobao", kind: "paid", ts: T },
          paid("max", 1, "taobao", 10_000_000_000, T),
          paid("one", 2, "taobao", 1, T),
        ],
      },
    ],
    expect: {
      members: [{ member: 1, score: 5000, tier: "diamond" }],
      changes: [{ member: 1, from: "bronze", to: "diamond", score: 5000, ts: T, cause: "max" }],
      deadLetters: [0, 1, 2, 3, 4, 5].map((item) => ({ message: 0, item, code: "bad_amount" })),
      clock: T,
    },
  },
  {
    name: "bad_ts: negative, fractional, a string, missing, on orders and ticks; bad items do not move the clock",
    // ok at T: 10000 → 100 (storedMs is given: a fractional default would be odd)
    messages: [
      {
        storedMs: T,
        items: [
          paid("t0", 1, "taobao", 10000, -1),
          paid("t1", 1, "taobao", 10000, 1.5),
          { id: "t2", member: 1, line: "taobao", kind: "paid", amount: 10000, ts: String(T + 1) },
          { id: "t3", member: 1, line: "taobao", kind: "paid", amount: 10000 },
          tick(-1),
          { kind: "tick" },
          tick(T + 0.5),
          paid("ok", 1, "taobao", 10000, T),
        ],
      },
    ],
    expect: {
      members: [{ member: 1, score: 100, tier: "bronze" }],
      changes: [],
      deadLetters: [0, 1, 2, 3, 4, 5, 6].map((item) => ({ message: 0, item, code: "bad_ts" })),
      clock: T,
    },
  },
  {
    name: "bad_order_ts: later than ts, negative, fractional, a string; orderTs equal to ts is fine",
    // p1: 30000 → 300 → silver. Message 1 (ts T + 1 min): r4 with orderTs = ts takes 10000 → 100 → 200.
    messages: [
      { items: [paid("p1", 1, "taobao", 30000, T)] },
      {
        items: [
          refund("r0", 1, "taobao", 10000, T + MINUTE_MS, T + MINUTE_MS + 1),
          refund("r1", 1, "taobao", 10000, T + MINUTE_MS, -5),
          refund("r2", 1, "taobao", 10000, T + MINUTE_MS, 1.5),
          { ...refund("r3", 1, "taobao", 10000, T + MINUTE_MS), orderTs: "yesterday" },
          refund("r4", 1, "taobao", 10000, T + MINUTE_MS, T + MINUTE_MS),
        ],
      },
    ],
    expect: {
      members: [{ member: 1, score: 200, tier: "silver", months: { 24314: 200 } }],
      changes: [{ member: 1, from: "bronze", to: "silver", score: 300, ts: T, cause: "p1" }],
      deadLetters: [0, 1, 2, 3].map((item) => ({ message: 1, item, code: "bad_order_ts" })),
      clock: T + MINUTE_MS,
    },
  },
  {
    name: "ts_in_future: 1 ms over the 300 000 ms skew is bad, exactly at it is fine; validation codes come first",
    // storedMs S = T. f1 at S + 300001 → ts_in_future. f2 at S + 300000 → 20000 → 200 → silver.
    // tick at S + 300001 → ts_in_future; tick at S + 300000 → fine (the clock is already there).
    // f3: amount 0 and ts in the future → bad_amount (validateEvent first).
    messages: [
      {
        storedMs: T,
        items: [
          paid("f1", 1, "taobao", 10000, T + 300_001),
          paid("f2", 1, "taobao", 20000, T + 300_000),
          tick(T + 300_001),
          tick(T + 300_000),
          paid("f3", 1, "taobao", 0, T + 300_001),
        ],
      },
    ],
    expect: {
      members: [{ member: 1, score: 200, tier: "silver" }],
      changes: [{ member: 1, from: "bronze", to: "silver", score: 200, ts: T + 300_000, cause: "f2" }],
      deadLetters: [
        { message: 0, item: 0, code: "ts_in_future" },
        { message: 0, item: 2, code: "ts_in_future" },
        { message: 0, item: 4, code: "bad_amount" },
      ],
      clock: T + 300_000,
    },
  },
  {
    name: "a future tick does not move the clock",
    // storedMs = T: the tick at T + 300001 is bad; the clock stays at the order's T.
    messages: [{ storedMs: T, items: [paid("p1", 1, "taobao", 10000, T), tick(T + 300_001)] }],
    expect: {
      members: [{ member: 1, score: 100, tier: "bronze" }],
      changes: [],
      deadLetters: [{ message: 0, item: 1, code: "ts_in_future" }],
      clock: T,
    },
  },
  {
    name: "wrong_partition: a member of partition 1 in partition 0's message; ts_in_future is checked first",
    config: { partitions: 2 },
    // partitionOf(1, 2) = 0, partitionOf(3, 2) = 1 (asserted above). storedMs = T.
    // item 0: member 3 → wrong_partition. item 1: member 1, 10000 → 100. item 2: a refund for
    // member 3 → wrong_partition. item 3: a tick (no member) → fine. item 4: member 3 with ts in
    // the future → ts_in_future. item 5: member 3 with amount 0 → bad_amount.
    messages: [
      {
        storedMs: T,
        items: [
          paid("w0", MEMBER_P1, "taobao", 10000, T),
          paid("ok", MEMBER_P0, "taobao", 10000, T),
          refund("w2", MEMBER_P1, "taobao", 10000, T),
          tick(T + 1),
          paid("w4", MEMBER_P1, "taobao", 10000, T + 300_001),
          paid("w5", MEMBER_P1, "taobao", 0, T),
        ],
      },
    ],
    expect: {
      members: [{ member: MEMBER_P0, score: 100, tier: "bronze" }],
      changes: [],
      deadLetters: [
        { message: 0, item: 0, code: "wrong_partition" },
        { message: 0, item: 2, code: "wrong_partition" },
        { message: 0, item: 4, code: "ts_in_future" },
        { message: 0, item: 5, code: "bad_amount" },
      ],
      clock: T + 1,
    },
  },
  {
    name: "a message of only bad items changes nothing and leaves the clock at 0",
    messages: [{ items: [tick(-1), { kind: "tick" }, 42, paid("x", 0, "taobao", 100, T)] }],
    expect: {
      members: [],
      changes: [],
      deadLetters: [
        { message: 0, item: 0, code: "bad_ts" },
        { message: 0, item: 1, code: "bad_ts" },
        { message: 0, item: 2, code: "bad_shape" },
        { message: 0, item: 3, code: "bad_member" },
      ],
      clock: 0,
    },
  },
  {
    name: "a dead letter in a later message keeps its message index",
    // message 0: 10000 → 100; message 1: item 0 (p2) → 100 + 100 = 200 → silver at p2;
    // item 1 is bad_kind; item 2 (p4) → 300, still silver
    messages: [
      { items: [paid("p1", 1, "taobao", 10000, T)] },
      {
        items: [
          paid("p2", 1, "taobao", 10000, T + 1),
          { id: "p3", member: 1, line: "taobao", kind: "gift", amount: 10000, ts: T + 2 },
          paid("p4", 1, "taobao", 10000, T + 3),
        ],
      },
    ],
    expect: {
      members: [{ member: 1, score: 300, tier: "silver" }],
      changes: [{ member: 1, from: "bronze", to: "silver", score: 200, ts: T + 1, cause: "p2" }],
      deadLetters: [{ message: 1, item: 1, code: "bad_kind" }],
      clock: T + 3,
    },
  },
];
