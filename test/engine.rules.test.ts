// The engine's state machine (PartitionState + OrderReader via applyMessage) on the
// hand-computed rule cases shared with the reference implementation.

import { describe, expect, test } from "bun:test";
import { encode } from "@msgpack/msgpack";
import { applyMessage } from "../engine/apply-message.ts";
import { loadConfig } from "../engine/config.ts";
import { PartitionState } from "../engine/state/partition-state.ts";
import { OrderReader, TIERS } from "../proto/index.ts";
import { RULE_CASES, type RuleCase } from "./cases/rules.cases.ts";

export function runCaseOnEngine(c: RuleCase) {
  const config = loadConfig({ partitions: 1, ...c.config });
  const state = new PartitionState(config, 0);
  const reader = new OrderReader(config.lineNames);
  const changes: { member: number; from: string; to: string; score: number; ts: number; cause: string }[] = [];
  const deadLetters: { message: number; item: number; code: string }[] = [];
  c.messages.forEach((m, i) => {
    // A batch whose first item were a string would read as one order tuple.
    expect(typeof m.items[0]).not.toBe("string");
    const tsValues = m.items.map((it) => (it as { ts?: unknown })?.ts).filter((t): t is number => typeof t === "number");
    const storedMs = m.storedMs ?? (tsValues.length ? Math.max(...tsValues) : 0);
    const r = applyMessage(state, reader, encode(m.items), storedMs);
    for (const d of r.deadLetters) deadLetters.push({ message: i, item: d.item, code: d.code });
    for (const ch of r.changes) {
      changes.push({ member: ch.member, from: TIERS[ch.from], to: TIERS[ch.to], score: ch.score, ts: ch.ts, cause: ch.cause });
    }
  });
  const members = [...state.ids.subarray(0, state.memberCount)].sort((a, b) => a - b).map((member) => {
    const i = state.memberIndex(member);
    const lines: Record<string, number> = {};
    const months: Record<number, number> = {};
    for (const cell of state.cellsOf(member)) {
      const name = config.lineNames[cell.line];
      lines[name] = (lines[name] ?? 0) + cell.points;
      months[cell.month] = (months[cell.month] ?? 0) + cell.points;
    }
    return { member, score: state.score[i], tier: TIERS[state.tier[i]] as string, lines, months };
  });
  return { changes, deadLetters, members, clock: state.clock };
}

describe("rule cases on the engine", () => {
  for (const c of RULE_CASES) {
    test(c.name, () => {
      const got = runCaseOnEngine(c);
      if (c.expect.changes) expect(got.changes).toEqual(c.expect.changes);
      if (c.expect.deadLetters) expect(got.deadLetters).toEqual(c.expect.deadLetters);
      if (c.expect.clock !== undefined) expect(got.clock).toBe(c.expect.clock);
      if (c.expect.members) {
        expect(got.members.map((m) => m.member)).toEqual(c.expect.members.map((m) => m.member));
        for (const want of c.expect.members) {
          const m = got.members.find((x) => x.member === want.member)!;
          expect({ member: m.member, score: m.score, tier: m.tier }).toEqual({ member: want.member, score: want.score, tier: want.tier });
          if (want.lines) expect(m.lines).toEqual(want.lines);
          if (want.months) expect(m.months).toEqual(want.months);
        }
      }
    });
  }
});
