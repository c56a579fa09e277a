// partitionOf: fixed vectors, an independent BigInt implementation of the formula in
// proto/partition.ts's header (so the documented formula is proved exact), range checks, and
// the spread of sequential, random and structured member ids.

import { describe, expect, test } from "bun:test";
import { MEMBER_MAX, memberHash32, partitionOf } from "../proto/index.ts";
import { mulberry32 } from "./harness/prng.ts";

const SEED = Number(process.env.PROTO_SEED ?? 0x5eed);

// The header comment of proto/partition.ts, transcribed literally with BigInt arithmetic.
const U32 = (1n << 32n) - 1n;
function fmix32Big(x: bigint): bigint {
  let h = x & U32;
  h ^= h >> 16n;
  h = (h * 0x85ebca6bn) & U32;
  h ^= h >> 13n;
  h = (h * 0xc2b2ae35n) & U32;
  h ^= h >> 16n;
  return h;
}
function hashBig(member: bigint): bigint {
  const lo = member % (1n << 32n);
  const hi = member / (1n << 32n);
  return fmix32Big(lo ^ fmix32Big(hi ^ 0x9e3779b9n));
}
const partitionBig = (member: number, partitions: number): number => Number(hashBig(BigInt(member)) % BigInt(partitions));

// member, memberHash32(member), partitionOf(member, 64 / 7 / 1000). Computed once with the
// implementation; proto/README.md quotes the first three. Never change them: a change moves members.
const VECTORS: [member: number, hash: number, p64: number, p7: number, p1000: number][] = [
  [1, 1863002342, 38, 5, 342],
  [2, 577680360, 40, 5, 360],
  [3, 3888307089, 17, 2, 89],
  [42, 2695453446, 6, 0, 446],
  [1000, 2963510986, 10, 2, 986],
  [123456789, 1644603846, 6, 4, 846],
  [2 ** 32 - 1, 2196772199, 39, 6, 199],
  [2 ** 32, 2571226413, 45, 0, 413],
  [2 ** 32 + 1, 1300299365, 37, 1, 365],
  [MEMBER_MAX, 1226561997, 13, 3, 997],
];

describe("partitionOf: the formula", () => {
  test.each(VECTORS)("member %d", (member, hash, p64, p7, p1000) => {
    expect(memberHash32(member)).toBe(hash);
    expect(Number(hashBig(BigInt(member)))).toBe(hash);
    expect([partitionOf(member, 64), partitionOf(member, 7), partitionOf(member, 1000)]).toEqual([p64, p7, p1000]);
    expect([partitionBig(member, 64), partitionBig(member, 7), partitionBig(member, 1000)]).toEqual([p64, p7, p1000]);
    expect(partitionOf(member, 1)).toBe(0);
    expect(partitionOf(member, 65536)).toBe(hash % 65536);
  });

  test("agrees with the BigInt transcription on 20 000 random members and partition counts", () => {
    const rnd = mulberry32(SEED);
    for (let i = 0; i < 20_000; i++) {
      const member = randomMember(rnd);
      const partitions = 1 + Math.floor(rnd() * 65536);
      if (partitionOf(member, partitions) !== partitionBig(member, partitions)) {
        throw new Error(`seed ${SEED}: member ${member}, ${partitions} partitions: ${partitionOf(member, partitions)} ≠ ${partitionBig(member, partitions)}`);
      }
    }
  });

  test("agrees at every power-of-two boundary of the member id", () => {
    for (let bit = 0; bit < 53; bit++) {
      for (const member of [2 ** bit - 1, 2 ** bit, 2 ** bit + 1]) {
        if (member < 1 || member > MEMBER_MAX) continue;
        expect(memberHash32(member)).toBe(Number(hashBig(BigInt(member))));
      }
    }
  });
});

describe("partitionOf: range checks", () => {
  test.each([0, -1, 2 ** 53, 2 ** 60, 1.5, Number.NaN, Number.POSITIVE_INFINITY, -0.5])("member %p throws RangeError", (member) => {
    expect(() => partitionOf(member, 64)).toThrow(RangeError);
  });

  test.each([0, -1, 1.5, 65537, Number.NaN, Number.POSITIVE_INFINITY])("partitions %p throws RangeError", (partitions) => {
    expect(() => partitionOf(1, partitions)).toThrow(RangeError);
  });

  test("a member given as a string is refused, not coerced", () => {
    expect(() => partitionOf("42" as unknown as number, 64)).toThrow(RangeError);
  });
});

/** A member id uniform in 1 … 2^53−1. */
function randomMember(rnd: () => number): number {
  for (;;) {
    const m = Math.floor(rnd() * 2 ** 21) * 2 ** 32 + Math.floor(rnd() * 2 ** 32);
    if (m >= 1) return m;
  }
}

/**
 * Upper 10^−6 tail of χ² with `dof` degrees of freedom (Wilson–Hilferty): a fair hash exceeds
 * it once in a million runs.
 */
function chiSquareLimit(dof: number): number {
  const z = 4.753; // standard normal quantile at 1 − 10^−6
  const a = 2 / (9 * dof);
  return dof * (1 - a + z * Math.sqrt(a)) ** 3;
}

function checkSpread(what: string, partitions: number, count: number, idAt: (i: number) => number): void {
  const counts = new Float64Array(partitions);
  for (let i = 0; i < count; i++) counts[partitionOf(idAt(i), partitions)]++;
  const mean = count / partitions;
  let chi2 = 0;
  let worst = 0;
  for (const c of counts) {
    chi2 += (c - mean) ** 2 / mean;
    worst = Math.max(worst, Math.abs(c - mean) / mean);
  }
  const detail = `${what}, ${partitions} partitions, ${count} ids (seed ${SEED}): worst ${(worst * 100).toFixed(2)} % off the mean, χ² ${chi2.toFixed(1)}`;
  if (worst > 0.05) throw new Error(`a partition is more than 5 % off the mean: ${detail}`);
  if (chi2 > chiSquareLimit(partitions - 1)) throw new Error(`χ² above ${chiSquareLimit(partitions - 1).toFixed(1)}: ${detail}`);
}

describe("partitionOf: spread", () => {
  // ±5 % is 5 standard deviations when a partition expects 10 000 ids, so every partition
  // count gets at least that many ids (10 000 000 for 1000 partitions); at 640 000 ids a fair
  // hash over 1000 partitions would leave a fifth of them outside ±5 %.
  const idsFor = (partitions: number): number => Math.max(640_000, 10_000 * partitions);

  for (const partitions of [64, 7, 1000]) {
    const n = idsFor(partitions);
    test(`sequential ids 1 … ${n}, ${partitions} partitions`, () => {
      checkSpread("sequential", partitions, n, (i) => i + 1);
    });

    test(`${n} random ids, ${partitions} partitions`, () => {
      const rnd = mulberry32(SEED + partitions);
      const ids = new Float64Array(n);
      for (let i = 0; i < n; i++) ids[i] = randomMember(rnd);
      checkSpread("random", partitions, n, (i) => ids[i]);
    });
  }

  test("structured ids spread alike: multiples of 64, and ids differing only above bit 32", () => {
    checkSpread("multiples of 64", 64, 640_000, (i) => (i + 1) * 64);
    checkSpread("k × 2^32", 64, 640_000, (i) => (i + 1) * 2 ** 32);
    checkSpread("k × 2^32 + 7", 7, 640_000, (i) => (i + 1) * 2 ** 32 + 7);
  });
});
