// The hand-printed POST /v1/eligibility body must be exactly what JSON.stringify would print.

import { expect, test } from "bun:test";
import { eligibilityResultsJson } from "../gateway/http/routes/benefits.ts";
import { ELIGIBILITY_REASONS, type EligibilityReason } from "../proto/benefit.ts";

test("eligibilityResultsJson prints what JSON.stringify prints, for every reason and ids up to 2^53 − 1", () => {
  let seed = 7;
  const next = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let round = 0; round < 200; round++) {
    const n = 1 + Math.floor(next() * 50);
    const members = Array.from({ length: n }, (_, i) => (i === 0 && round % 2 === 0 ? Number.MAX_SAFE_INTEGER : 1 + Math.floor(next() * 1e12)));
    const reasons = members.map(() => ELIGIBILITY_REASONS[Math.floor(next() * ELIGIBILITY_REASONS.length)] as EligibilityReason);
    const expected = JSON.stringify({ results: members.map((member, i) => ({ member, eligible: reasons[i] === "ok", reason: reasons[i] })) });
    expect(eligibilityResultsJson(members, reasons)).toBe(expected);
  }
});
