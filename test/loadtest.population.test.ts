// The load generator's distributions and wire bytes: if a sampler drifts, a benchmark measures
// a population nobody asked for; if the bytes drift, it measures a format the engine never sees.

import { describe, expect, test } from "bun:test";
import { decodeOrders, encodeOrders, type Order, OrderReader, partitionOf } from "../proto/index.ts";
import { DEFAULT_LINE_WEIGHTS, DEFAULT_START_TS, OrderGenerator } from "../loadtest/population.ts";
import { LogNormalSampler, NormalSampler, Rng, ZipfSampler } from "../loadtest/random.ts";

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

/** Σ_{k=1..n} k^−s, summed exactly. */
function harmonic(n: number, s: number): number {
  let sum = 0;
  for (let k = n; k >= 1; k--) sum += k ** -s; // smallest first: less rounding
  return sum;
}

function median(values: Float64Array): number {
  const sorted = values.slice().sort();
  return sorted[sorted.length >> 1];
}

describe("random", () => {
  test("the same seed gives the same stream, another seed another", () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const c = new Rng(43);
    const xs = Array.from({ length: 8 }, () => a.nextU32());
    expect(Array.from({ length: 8 }, () => b.nextU32())).toEqual(xs);
    expect(Array.from({ length: 8 }, () => c.nextU32())).not.toEqual(xs);
  });

  test("uniform integers cover [lo, hi] evenly", () => {
    const rng = new Rng(1);
    const counts = new Int32Array(10);
    for (let i = 0; i < 100_000; i++) counts[rng.intBetween(0, 9)]++;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(500); // ~5σ
  });

  test("normal draws have mean 0 and standard deviation 1", () => {
    const normal = new NormalSampler(new Rng(2));
    let sum = 0;
    let sumSq = 0;
    const n = 200_000;
    for (let i = 0; i < n; i++) {
      const x = normal.sample();
      sum += x;
      sumSq += x * x;
    }
    const mean = sum / n;
    expect(Math.abs(mean)).toBeLessThan(0.01);
    expect(Math.abs(Math.sqrt(sumSq / n - mean * mean) - 1)).toBeLessThan(0.01);
  });

  test("log-normal draws have the asked median and tail", () => {
    const logNormal = new LogNormalSampler(new Rng(3), 6000, 1);
    const xs = new Float64Array(100_000).map(() => logNormal.sample());
    expect(Math.abs(median(xs) / 6000 - 1)).toBeLessThan(0.03);
    const p99 = xs.slice().sort()[Math.floor(xs.length * 0.99)];
    expect(Math.abs(p99 / 6000 / Math.exp(2.3263) - 1)).toBeLessThan(0.1); // e^(z99·σ)
  });

  for (const s of [1.1, 1.0, 0.8]) {
    test(`Zipf(${s}) rank frequencies follow 1/k^s`, () => {
      const n = 1000;
      const zipf = new ZipfSampler(new Rng(4), s, n);
      const counts = new Float64Array(n + 1);
      const draws = 400_000;
      for (let i = 0; i < draws; i++) counts[zipf.sample()]++;
      expect(counts[0]).toBe(0);
      expect(Math.abs(counts[1] / counts[10] / 10 ** s - 1)).toBeLessThan(0.06); // ~4σ
      const h = harmonic(n, s);
      expect(Math.abs(counts[1] / draws / (1 / h) - 1)).toBeLessThan(0.02);
      const top1pc = counts.subarray(1, n / 100 + 1).reduce((a, b) => a + b, 0) / draws;
      expect(Math.abs(top1pc / (harmonic(n / 100, s) / h) - 1)).toBeLessThan(0.02);
    });

    test(`Zipf(${s}) matches P(k) = k^-s / H exactly at the head, where inversion alone is off`, () => {
      // Rounding the continuous inverse without the rejection step over-weights rank 2 by
      // ~s(s+1)/96 (2.4 % at s = 1.1): many draws and a chi-square over ranks 1 … 10 see it.
      const n = 1000;
      const zipf = new ZipfSampler(new Rng(6), s, n);
      const counts = new Float64Array(n + 1);
      const draws = 2_000_000;
      for (let i = 0; i < draws; i++) counts[zipf.sample()]++;
      const h = harmonic(n, s);
      let chiSquare = 0;
      for (let k = 1; k <= 10; k++) {
        const expected = (draws * k ** -s) / h;
        const z = (counts[k] - expected) / Math.sqrt(expected);
        expect(Math.abs(z)).toBeLessThan(5);
        chiSquare += z * z;
      }
      expect(chiSquare).toBeLessThan(35.6); // the 99.99 % quantile of χ² with 10 degrees of freedom
    });
  }

  test("Zipf over 10 million ranks needs no table and keeps its shape", () => {
    const n = 10_000_000;
    const zipf = new ZipfSampler(new Rng(5), 1.1, n);
    const draws = 300_000;
    let rank1 = 0;
    let rank10 = 0;
    let top1pc = 0;
    let max = 0;
    for (let i = 0; i < draws; i++) {
      const k = zipf.sample();
      if (k === 1) rank1++;
      if (k === 10) rank10++;
      if (k <= n / 100) top1pc++;
      if (k > max) max = k;
    }
    const h = harmonic(n, 1.1);
    expect(Math.abs(rank1 / draws / (1 / h) - 1)).toBeLessThan(0.03);
    expect(Math.abs(rank1 / rank10 / 10 ** 1.1 - 1)).toBeLessThan(0.12);
    expect(Math.abs(top1pc / draws / (harmonic(n / 100, 1.1) / h) - 1)).toBeLessThan(0.01);
    expect(max).toBeLessThanOrEqual(n);
    expect(max).toBeGreaterThan(n / 10); // the tail is reached
  });
});

describe("OrderGenerator", () => {
  const members = 500_000;
  const count = 200_000;
  const orders: Order[] = [];
  const ranks = new Int32Array(count);
  const gen = new OrderGenerator({ seed: 11, members });
  for (let i = 0; i < count; i++) {
    orders.push(gen.next());
    ranks[i] = gen.rank;
  }
  const uniformShare = 0.5; // the default

  test("the line mix is within 2 % of the weights", () => {
    const seen: Record<string, number> = {};
    for (const o of orders) seen[o.line] = (seen[o.line] ?? 0) + 1;
    for (const [line, w] of Object.entries(DEFAULT_LINE_WEIGHTS)) {
      const share = (seen[line] ?? 0) / count;
      const sigma4 = 4 * Math.sqrt((w * (1 - w)) / count);
      expect(Math.abs(share - w)).toBeLessThan(Math.max(0.02 * w, sigma4));
    }
    expect(Object.keys(seen).sort()).toEqual(Object.keys(DEFAULT_LINE_WEIGHTS).sort());
  });

  test("amounts are integer cents ≥ 1, log-normal around 60 yuan", () => {
    const amounts = new Float64Array(orders.map((o) => o.amount));
    for (const a of amounts) expect(Number.isInteger(a) && a >= 1 && a <= 10_000_000_000).toBe(true);
    expect(Math.abs(median(amounts) / 6000 - 1)).toBeLessThan(0.1);
    const p99 = amounts.slice().sort()[Math.floor(count * 0.99)];
    expect(p99 / median(amounts)).toBeGreaterThan(7); // a long tail, not a bell
  });

  test("refunds: 3 % of orders, of an order 1 … 30 days back", () => {
    const refunds = orders.filter((o) => o.kind === "refund");
    expect(Math.abs(refunds.length / count - 0.03)).toBeLessThan(0.003);
    for (const r of refunds) {
      expect(r.orderTs).toBeDefined();
      const back = r.ts - r.orderTs!;
      expect(back >= DAY_MS && back <= 30 * DAY_MS).toBe(true);
    }
    expect(orders.filter((o) => o.kind === "paid" && o.orderTs !== undefined)).toHaveLength(0);
  });

  test("event time advances 1/rate per order; 1 % of orders are up to 3 hours late", () => {
    let late = 0;
    for (let i = 0; i < count; i++) {
      const base = DEFAULT_START_TS + Math.floor(i / 5); // 5 000 orders/s: 0.2 ms each
      const lag = base - orders[i].ts;
      expect(lag >= 0 && lag <= 3 * HOUR_MS).toBe(true);
      if (lag > 0) late++;
    }
    expect(Math.abs(late / count - 0.01)).toBeLessThan(0.002);
  });

  test("a few members order very often: Zipf by rank on top of a uniform share", () => {
    const byMember = new Map<number, number>();
    for (const o of orders) byMember.set(o.member, (byMember.get(o.member) ?? 0) + 1);
    const h = harmonic(members, 1.1);
    const zipfShare = 1 - uniformShare;
    const rank1 = byMember.get(gen.memberOfRank(1)) ?? 0;
    const rank10 = byMember.get(gen.memberOfRank(10)) ?? 0;
    expect(Math.abs(rank1 / count / (zipfShare / h) - 1)).toBeLessThan(0.05);
    expect(Math.abs(rank1 / rank10 / 10 ** 1.1 - 1)).toBeLessThan(0.15);
    // The busiest 1 % of members by rank: their Zipf share plus 1 % of the uniform share.
    let top1pc = 0;
    for (const r of ranks) if (r <= members / 100) top1pc++;
    const expected = (zipfShare * harmonic(members / 100, 1.1)) / h + uniformShare / 100;
    expect(Math.abs(top1pc / count / expected - 1)).toBeLessThan(0.02);
    // Most members order rarely: of those seen, most were seen once or twice.
    const rare = [...byMember.values()].filter((c) => c <= 2).length;
    expect(rare / byMember.size).toBeGreaterThan(0.9);
  });

  test("busy members are scattered over the id space, and ranks map to distinct ids", () => {
    const top = Array.from({ length: 100 }, (_, i) => gen.memberOfRank(i + 1));
    expect(new Set(top).size).toBe(100);
    const small = top.filter((id) => id < 2 ** 31).length;
    expect(small).toBeGreaterThan(25);
    expect(small).toBeLessThan(75);
    for (const o of orders) expect(o.member >= 1 && o.member < 2 ** 32).toBe(true);
    expect(gen.memberOfRank(members)).not.toBe(gen.memberOfRank(members - 1));
  });
});

describe("encoded batches", () => {
  const opts = { seed: 21, members: 50_000 };
  const partitions = 64;

  for (const ordersPerMessage of [256, 10]) {
    test(`decode to exactly the generated orders, each in its partition (${ordersPerMessage} per message)`, () => {
      const count = 30_000;
      const expected: Order[][] = Array.from({ length: partitions }, () => []);
      const objects = new OrderGenerator(opts);
      for (let i = 0; i < count; i++) {
        const o = objects.next();
        expected[partitionOf(o.member, partitions)].push(o);
      }
      const batches = new OrderGenerator(opts).fillPartitionBatches(count, partitions, ordersPerMessage);
      const reader = new OrderReader(Object.keys(DEFAULT_LINE_WEIGHTS));
      let total = 0;
      for (let p = 0; p < partitions; p++) {
        const want = expected[p];
        expect(batches[p].length).toBe(Math.ceil(want.length / ordersPerMessage));
        batches[p].forEach((body, k) => {
          const chunk = want.slice(k * ordersPerMessage, (k + 1) * ordersPerMessage);
          expect(decodeOrders(body)).toEqual(chunk);
          expect(body).toEqual(encodeOrders(chunk)); // the very bytes proto's encoder writes
          expect(reader.begin(body)).toBeNull();
          while (reader.next()) {
            expect(reader.error).toBeNull();
            expect(partitionOf(reader.member, partitions)).toBe(p);
            total++;
          }
        });
      }
      expect(total).toBe(count);
    });
  }

  test("the same seed gives the same bytes; another seed other bytes", () => {
    const a = new OrderGenerator(opts).fillPartitionBatches(20_000, partitions, 256);
    const b = new OrderGenerator(opts).fillPartitionBatches(20_000, partitions, 256);
    const c = new OrderGenerator({ ...opts, seed: 22 }).fillPartitionBatches(20_000, partitions, 256);
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
  });

  test("a stream continues across calls, and across the zero-copy sink", () => {
    const whole = new OrderGenerator(opts).fillPartitionBatches(5_000, 8, 256);
    const split = new OrderGenerator(opts);
    const bodies: Uint8Array[][] = Array.from({ length: 8 }, () => []);
    const batcher = split.batcher(8, 256, (p, body) => bodies[p].push(body.slice()));
    split.writeBatches(2_000, batcher);
    split.writeBatches(3_000, batcher);
    batcher.flush();
    expect(bodies).toEqual(whole);
  });
});
