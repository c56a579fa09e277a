// The engine's typed hash structures against plain Map models, on random operations.

import { describe, expect, test } from "bun:test";
import { DedupHorizon } from "../engine/state/dedup-horizon.ts";
import { LeaseSet } from "../engine/state/lease-set.ts";
import { intBetween, mulberry32 } from "./harness/prng.ts";

describe("DedupHorizon", () => {
  test("equals a Map model through growth and expiry, with colliding slots", () => {
    const rnd = mulberry32(42);
    const horizonMs = 1000;
    const dedup = new DedupHorizon(horizonMs, 8);
    const model = new Map<string, number>(); // "hi:lo" → seenAt
    let now = 0;
    for (let op = 0; op < 200_000; op++) {
      now += intBetween(rnd, 0, 3);
      // Few distinct fingerprints, so repeats inside and outside the horizon are common.
      const hi = intBetween(rnd, 0, 3000);
      const lo = hi % 7;
      dedup.expire(now);
      for (const [k, at] of model) if (now - at >= horizonMs) model.delete(k);
      const key = `${hi}:${lo}`;
      const added = dedup.addIfAbsent(hi, lo, now);
      expect(added).toBe(!model.has(key));
      if (added) model.set(key, now);
      if (op % 5000 === 0) expect(dedup.size).toBe(model.size);
    }
    expect(dedup.size).toBe(model.size);
    expect([...dedup.entries()].length).toBe(model.size);
  });
});

describe("DedupHorizon, more", () => {
  test("equals a Map model while entries move to a new index, across a renumbering of positions", () => {
    const rnd = mulberry32(9);
    const horizonMs = 400;
    const dedup = new DedupHorizon(horizonMs, 4);
    // Positions near 2^32: the horizon renumbers them in the middle of the run.
    dedup.skipPositionsForTest(0xfffffffe - 5000);
    const model = new Map<string, number>();
    let now = 0;
    for (let op = 0; op < 60_000; op++) {
      now += intBetween(rnd, 0, 1);
      const hi = intBetween(rnd, 0, 800);
      const lo = intBetween(rnd, 0, 2);
      dedup.expire(now);
      for (const [k, at] of model) if (now - at >= horizonMs) model.delete(k);
      const key = `${hi}:${lo}`;
      expect(dedup.has(hi, lo)).toBe(model.has(key));
      const added = dedup.addIfAbsent(hi, lo, now);
      expect(added).toBe(!model.has(key));
      if (added) model.set(key, now);
    }
    expect(dedup.size).toBe(model.size);
    expect(new Set([...dedup.entries()].map(([hi, lo]) => `${hi}:${lo}`))).toEqual(new Set(model.keys()));
  });
});

describe("LeaseSet", () => {
  test("a lease ending at or before now lapses, one ending after it does not; each step sweeps its part", () => {
    const leases = new LeaseSet(4096);
    const now = 1_000;
    for (let m = 1; m <= 3000; m++) leases.renew(m, now - 1 + (m % 3)); // ends now − 1, now, now + 1
    let dropped = 0;
    for (let step = 0; step < 4; step++) dropped += leases.expireStep(now, 4);
    while (leases.expireStep(now, 1) > 0); // what a removal shifted back past the cursor
    expect(dropped).toBeGreaterThan(0);
    expect(leases.size).toBe(1000);
    for (let m = 1; m <= 3000; m++) expect(leases.has(m)).toBe(m % 3 === 2);
  });

  test("equals a Map model through renew, shorten, delete, stepwise expiry and growth", () => {
    const rnd = mulberry32(7);
    const leases = new LeaseSet(4);
    const model = new Map<number, number>();
    let now = 0;
    for (let op = 0; op < 100_000; op++) {
      now += intBetween(rnd, 0, 2);
      const member = intBetween(rnd, 1, 5000);
      const r = rnd();
      if (r < 0.6) {
        const until = now + intBetween(rnd, 1, 500);
        leases.renew(member, until);
        model.set(member, Math.max(model.get(member) ?? 0, until));
      } else if (r < 0.7) {
        leases.delete(member);
        model.delete(member);
      } else if (r < 0.75) {
        const at = now + intBetween(rnd, 0, 300);
        leases.shorten(member, at);
        if (model.has(member)) model.set(member, Math.min(model.get(member)!, at));
      } else if (r < 0.8) {
        // A step drops lapsed leases in its part of the table only; the model keeps them, and
        // a lapsed lease may be held or gone until the sweep has come round.
        leases.expireStep(now, intBetween(rnd, 1, 8));
      } else {
        const until = model.get(member);
        if (until === undefined) expect(leases.has(member)).toBe(false);
        else if (until > now) expect(leases.has(member)).toBe(true);
      }
    }
    // Sweeps at one instant until one drops nothing: every lapsed lease is gone, the rest held.
    while (leases.expireStep(now, 3) + leases.expireStep(now, 3) + leases.expireStep(now, 3) > 0);
    const live = [...model].filter(([, until]) => until > now);
    expect(leases.size).toBe(live.length);
    for (const [m] of live) expect(leases.has(m)).toBe(true);
  });
});
