// Property: random order logs applied by the engine's state machine equal the reference
// implementation (test/reference/), member by member and change by change; replaying the
// same log gives identical changes.

import { describe, expect, test } from "bun:test";
import { encode } from "@msgpack/msgpack";
import { applyMessage } from "../engine/apply-message.ts";
import { loadConfig, POLICIES, type ConfigInput } from "../engine/config.ts";
import { CHUNK_ITEMS } from "../engine/order-chunk.ts";
import { PartitionState } from "../engine/state/partition-state.ts";
import { OrderReader, partitionOf, TIERS } from "../proto/index.ts";
import { intBetween, mulberry32, pick } from "./harness/prng.ts";
import { ReferencePartition } from "./reference/reference.ts";

const LINES = ["taobao", "tmall", "eleme", "fliggy", "hema"];
const DAY_MS = 86_400_000;
const START = Date.UTC(2025, 10, 3);

interface LogMessage {
  storedMs: number;
  items: unknown[];
}

/** A random log for one partition: orders, refunds, ticks, duplicates, late and bad events. */
function randomLog(seed: number, partitions: number, partition: number, messages: number): LogMessage[] {
  const rnd = mulberry32(seed);
  const members: number[] = [];
  for (let m = 1; members.length < 12; m++) if (partitionOf(m, partitions) === partition) members.push(m);
  const foreign = [...Array(200).keys()].map((i) => i + 1).find((m) => partitionOf(m, partitions) !== partition);
  let clock = START;
  const sent: { id: string; member: number; line: string; ts: number; amount: number }[] = [];
  const log: LogMessage[] = [];
  let n = 0;
  for (let i = 0; i < messages; i++) {
    const items: unknown[] = [];
    // Mostly small batches; one in ten longer than applyMessage's chunk, so items cross chunks.
    const count = rnd() < 0.1 ? intBetween(rnd, CHUNK_ITEMS + 1, 3 * CHUNK_ITEMS) : intBetween(rnd, 1, 8);
    for (let k = 0; k < count; k++) {
      // Time mostly creeps forward, sometimes leaps months (rollovers, window expiry).
      const r = rnd();
      clock += r < 0.05 ? intBetween(rnd, 20, 200) * DAY_MS : r < 0.3 ? intBetween(rnd, 1, 5) * DAY_MS : intBetween(rnd, 0, 600_000);
      const kind = rnd();
      if (kind < 0.05) {
        items.push({ kind: "tick", ts: clock - intBetween(rnd, 0, 3) * DAY_MS });
      } else if (kind < 0.15 && sent.length > 0) {
        const o = pick(rnd, sent); // a refund of an earlier order, maybe partial, maybe bigger
        items.push({
          id: `rf-${n++}`,
          member: o.member,
          line: rnd() < 0.8 ? o.line : pick(rnd, LINES),
          kind: "refund",
          amount: Math.max(1, Math.floor(o.amount * (rnd() < 0.2 ? 3 : rnd()))),
          ts: clock,
          orderTs: rnd() < 0.9 ? o.ts : undefined,
        });
      } else if (kind < 0.22 && sent.length > 0) {
        // The same order again, mostly a recent one: a duplicate inside or outside the horizon.
        const o = rnd() < 0.8 ? sent[sent.length - 1 - intBetween(rnd, 0, Math.min(3, sent.length - 1))] : pick(rnd, sent);
        items.push({ id: o.id, member: o.member, line: o.line, kind: "paid", amount: o.amount, ts: Math.max(o.ts, clock - intBetween(rnd, 0, 900_000)) });
      } else if (kind < 0.25) {
        items.push(pick(rnd, [
          { id: "", member: members[0], line: "taobao", kind: "paid", amount: 100, ts: clock },
          { id: `x${n++}`, member: members[0], line: "nope", kind: "paid", amount: 100, ts: clock },
          { id: `x${n++}`, member: foreign, line: "taobao", kind: "paid", amount: 100, ts: clock },
          { id: `x${n++}`, member: members[1], line: "taobao", kind: "paid", amount: 100, ts: clock + 3_600_000 },
          { id: `x${n++}`, member: members[1], line: "taobao", kind: "paid", amount: 1.5, ts: clock },
          { kind: "tick" },
        ]));
      } else {
        const late = rnd() < 0.1 ? intBetween(rnd, 1, 400) * DAY_MS : 0; // late, sometimes beyond the window
        const o = {
          id: `o-${n++}`,
          member: pick(rnd, members),
          line: pick(rnd, LINES),
          kind: "paid",
          amount: Math.floor(Math.exp(Math.log(6000) + rnd() * 4 - 2)) + 1,
          ts: clock - late,
        };
        sent.push(o);
        items.push(o);
      }
    }
    log.push({ storedMs: clock + intBetween(rnd, 0, 120_000), items });
  }
  return log;
}

function replayOnEngine(config: ReturnType<typeof loadConfig>, partition: number, log: LogMessage[], withCauses = true) {
  const state = new PartitionState(config, partition, 4);
  const reader = new OrderReader(config.lineNames);
  const changes: unknown[][] = [];
  const dead: unknown[][] = [];
  for (const m of log) {
    const r = applyMessage(state, reader, encode(m.items, { ignoreUndefined: true }), m.storedMs, withCauses);
    changes.push(r.changes.map((c) => ({ member: c.member, from: TIERS[c.from], to: TIERS[c.to], score: c.score, ts: c.ts, cause: c.cause })));
    dead.push(r.deadLetters.map((d) => ({ item: d.item, code: d.code })));
  }
  return { state, changes, dead };
}

describe("engine = reference on random logs", () => {
  const cases: { policy: (typeof POLICIES)[number]; seed: number }[] = [];
  for (const policy of POLICIES) for (let seed = 1; seed <= 12; seed++) cases.push({ policy, seed: seed * 7919 });

  for (const { policy, seed } of cases) {
    test(`${policy}, seed ${seed}`, () => {
      const configInput: ConfigInput = { partitions: 4, policy, dedupHorizonMs: 600_000 };
      const config = loadConfig(configInput);
      const partition = seed % 4;
      const log = randomLog(seed, 4, partition, 150);
      const engine = replayOnEngine(config, partition, log);
      const ref = new ReferencePartition(config, partition);
      log.forEach((m, i) => {
        const r = ref.apply({ seq: i + 1, storedMs: m.storedMs, items: m.items });
        expect(engine.changes[i]).toEqual(r.changes as unknown[]);
        expect(engine.dead[i]).toEqual(r.deadLetters.map((d) => ({ item: d.item, code: d.code })));
      });
      expect(engine.state.clock).toBe(ref.clock);
      const refMembers = ref.members();
      expect(engine.state.memberCount).toBe(refMembers.length);
      for (const want of refMembers) {
        const i = engine.state.memberIndex(want.member);
        expect(i).toBeGreaterThanOrEqual(0);
        expect({ score: engine.state.score[i], tier: TIERS[engine.state.tier[i]] }).toEqual({ score: want.score, tier: want.tier });
        const lines: Record<string, number> = {};
        const months: Record<number, number> = {};
        for (const c of engine.state.cellsOf(want.member)) {
          lines[config.lineNames[c.line]] = (lines[config.lineNames[c.line]] ?? 0) + c.points;
          months[c.month] = (months[c.month] ?? 0) + c.points;
        }
        expect(lines).toEqual(want.lines);
        expect(months).toEqual(want.months);
      }
      // Replaying the same log gives identical changes.
      expect(replayOnEngine(config, partition, log).changes).toEqual(engine.changes);
      // Without causes (a replay of stored changes): the same changes, the order ids left out.
      const withoutCause = (c: unknown) => ({ ...(c as object), cause: (c as { cause: string }).cause === "rollover" ? "rollover" : "" });
      expect(replayOnEngine(config, partition, log, false).changes).toEqual(engine.changes.map((m) => m.map(withoutCause)));
      // The log exercised the rules: some changes, some rollovers.
      expect(engine.changes.flat().length).toBeGreaterThan(0);
    });
  }
});

test("the random logs exercise every rule: rollovers, refunds, duplicates, dead letters, long batches", () => {
  let rollovers = 0;
  let downgrades = 0;
  let dead = 0;
  let duplicates = 0;
  let refundsIn = 0;
  let deadPastFirstChunk = 0;
  for (const policy of POLICIES) {
    for (let seed = 1; seed <= 12; seed++) {
      const config = loadConfig({ partitions: 4, policy });
      const log = randomLog(seed * 7919, 4, (seed * 7919) % 4, 150);
      const state = new PartitionState(config, (seed * 7919) % 4);
      const reader = new OrderReader(config.lineNames);
      for (const m of log) {
        refundsIn += m.items.filter((it) => (it as { kind?: string }).kind === "refund").length;
        const r = applyMessage(state, reader, encode(m.items, { ignoreUndefined: true }), m.storedMs);
        rollovers += r.changes.filter((c) => c.rollover).length;
        downgrades += r.changes.filter((c) => c.to < c.from).length;
        dead += r.deadLetters.length;
        deadPastFirstChunk += r.deadLetters.filter((d) => d.item >= CHUNK_ITEMS).length;
        duplicates += r.duplicates;
      }
    }
  }
  expect(rollovers).toBeGreaterThan(50);
  expect(downgrades).toBeGreaterThan(50);
  expect(dead).toBeGreaterThan(50);
  expect(duplicates).toBeGreaterThan(100);
  expect(refundsIn).toBeGreaterThan(100);
  expect(deadPastFirstChunk).toBeGreaterThan(10);
});
