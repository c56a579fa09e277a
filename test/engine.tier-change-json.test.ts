// The engine prints tier changes by hand (engine/tier-change-json.ts); they must be exactly
// what JSON.stringify would print, for every tier pair and any cause an order id may be.

import { describe, expect, test } from "bun:test";
import type { Change } from "../engine/apply-message.ts";
import { tierChangeFields } from "../engine/tier-change-json.ts";
import { TIERS } from "../proto/types.ts";
import { mulberry32 } from "./harness/prng.ts";

const reference = (c: Change) => JSON.stringify({ member: c.member, from: TIERS[c.from], to: TIERS[c.to], score: c.score, ts: c.ts, cause: c.cause });

describe("tierChangeFields", () => {
  test("equals JSON.stringify over random changes, odd causes and extreme ids", () => {
    const rand = mulberry32(11);
    const causes = ["rollover", "o-1", 'quote"d', "back\\slash", "new\nline", "tab\t", "ünïcødé 订单", "\u0001ctl", "", "x".repeat(200)];
    const members = [1, 42, 2 ** 32 - 5, 2 ** 32 + 1000, Number.MAX_SAFE_INTEGER];
    for (let i = 0; i < 5000; i++) {
      const c: Change = {
        member: i < members.length ? members[i] : 1 + Math.floor(rand() * Number.MAX_SAFE_INTEGER),
        from: Math.floor(rand() * TIERS.length),
        to: Math.floor(rand() * TIERS.length),
        score: Math.floor(rand() * 1e9),
        ts: 1_700_000_000_000 + Math.floor(rand() * 1e11),
        rollover: false,
        cause: causes[i % causes.length],
      };
      const printed = `{${tierChangeFields(c)}}`;
      expect(printed).toBe(reference(c));
      expect(JSON.parse(printed)).toEqual(JSON.parse(reference(c)));
    }
  });
});
