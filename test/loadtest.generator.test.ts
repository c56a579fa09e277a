// The load generator's pacing: the rate profiles (steady, spike) ask for exactly what they
// say, the pacer sends what they ask and accounts for every second — including the seconds
// it fell behind, and why — and the --lines mix reaches the orders.

import { describe, expect, test } from "bun:test";
import { parseLinesMix } from "../loadtest/run/lines-mix.ts";
import { behindIn } from "../loadtest/run/live-line.ts";
import { Pacer, type PacerSink } from "../loadtest/run/pacer.ts";
import { spikeProfile, steadyProfile } from "../loadtest/run/rate-profile.ts";
import { Timeline } from "../loadtest/run/timeline.ts";
import { DEFAULT_START_TS, OrderGenerator } from "../loadtest/population.ts";

/** A sink that only counts, full while `full` says so. */
class CountingSink implements PacerSink {
  published = 0;
  calls = 0;
  full = false;
  publish(count: number): void {
    this.published += count;
    this.calls++;
  }
}

/** Drives a pacer tick by tick on a synthetic clock: every `tickMs` from 0 to the profile's end. */
function drive(pacer: Pacer, durationMs: number, tickMs: number, before?: (ms: number) => void): void {
  for (let ms = 0; ms < durationMs; ms += tickMs) {
    before?.(ms);
    pacer.tick(ms);
  }
  pacer.tick(durationMs - 1e-3);
}

const opts = (tickMs = 10) => ({ tickMs, catchUpMsMax: 100, now: () => 0 });

describe("rate profiles", () => {
  test("steady asks for rate × time, evenly", () => {
    const p = steadyProfile(1000, 5);
    expect(p.durationMs).toBe(5000);
    expect(p.peakRate).toBe(1000);
    expect(p.ordersBy(0)).toBe(0);
    expect(p.ordersBy(2500)).toBeCloseTo(2500, 9);
    expect(p.ordersBy(5000)).toBeCloseTo(5000, 9);
    expect(p.ordersBy(9000)).toBeCloseTo(5000, 9); // nothing after the end
    expect(p.rateAt(4321)).toBe(1000);
  });

  test("spike: base, a linear ramp to factor × base, held, a ramp down, base — centred in the run", () => {
    const p = spikeProfile({ baseRate: 1000, factor: 5, rampS: 2, holdS: 4, durationS: 20 });
    // spike = 2 + 4 + 2 = 8 s, from 6 s to 14 s.
    expect(p.peakRate).toBe(5000);
    expect(p.rateAt(0)).toBe(1000);
    expect(p.rateAt(5999)).toBe(1000);
    expect(p.rateAt(7000)).toBeCloseTo(3000, 9); // half way up
    expect(p.rateAt(8000)).toBe(5000);
    expect(p.rateAt(11_999)).toBe(5000);
    expect(p.rateAt(13_000)).toBeCloseTo(3000, 9); // half way down
    expect(p.rateAt(14_000)).toBe(1000);
    expect(p.rateAt(19_999)).toBe(1000);
    // ∫ = base × 20 s + the spike's extra: 2 ramps of (4000 × 2 s / 2) + 4000 × 4 s.
    expect(p.ordersBy(20_000)).toBeCloseTo(20_000 + 2 * 4000 + 16_000, 6);
    // The integral is continuous and rises with the rate.
    let last = -1;
    for (let ms = 0; ms <= 20_000; ms += 50) {
      const n = p.ordersBy(ms);
      expect(n).toBeGreaterThanOrEqual(last);
      last = n;
    }
  });

  test("a spike that does not fit its run is refused", () => {
    expect(() => spikeProfile({ baseRate: 10, factor: 3, rampS: 5, holdS: 11, durationS: 20 })).toThrow(/does not fit/);
    expect(() => spikeProfile({ baseRate: 10, factor: 0.5, rampS: 1, holdS: 1, durationS: 20 })).toThrow(/factor/);
  });

  test("the requested column of every second is the profile's integral over it", () => {
    const t = new Timeline();
    t.requestFrom(spikeProfile({ baseRate: 1000, factor: 5, rampS: 2, holdS: 4, durationS: 20 }));
    const rows = t.rows();
    expect(rows).toHaveLength(20);
    expect(rows[0].requested).toBe(1000);
    expect(rows[6].requested).toBe(2000); // the first second of the ramp: mean of 1000 and 3000
    expect(rows[7].requested).toBe(4000);
    expect(rows[8].requested).toBe(5000);
    expect(rows[13].requested).toBe(2000);
    expect(rows[19].requested).toBe(1000);
    expect(t.total("requested")).toBeCloseTo(44_000, 6);
  });
});

describe("pacer accounting", () => {
  test("a sink that keeps up gets exactly what was asked, every second", () => {
    const profile = steadyProfile(12_345, 3);
    const t = new Timeline();
    t.requestFrom(profile);
    const sink = new CountingSink();
    const pacer = new Pacer(profile, sink, t, opts());
    drive(pacer, 3000, 10);
    expect(sink.published).toBe(Math.floor(profile.ordersBy(3000 - 1e-3)));
    expect(Math.abs(sink.published - 3 * 12_345)).toBeLessThanOrEqual(1);
    for (const row of t.rows()) {
      expect(Math.abs(row.offered - row.requested)).toBeLessThanOrEqual(124); // one tick's worth
      expect(row.ticks).toBe(row.t === 2 ? 101 : 100); // the last second has the closing tick too
      expect(row.blockedTicks).toBe(0);
      expect(behindIn(row)).toBeNull();
    }
  });

  test("the spike's shape reaches the sink second by second", () => {
    const profile = spikeProfile({ baseRate: 2000, factor: 4, rampS: 1, holdS: 2, durationS: 8 });
    const t = new Timeline();
    t.requestFrom(profile);
    const pacer = new Pacer(profile, new CountingSink(), t, opts(5));
    drive(pacer, 8000, 5);
    const offered = t.rows().map((r) => r.offered);
    const requested = t.rows().map((r) => r.requested);
    for (let s = 0; s < 8; s++) expect(Math.abs(offered[s] - requested[s])).toBeLessThanOrEqual(requested[s] * 0.01 + 40);
    expect(requested).toEqual([2000, 2000, 5000, 8000, 8000, 5000, 2000, 2000]);
  });

  test("a late tick catches up (at most catchUpMsMax of the rate at once), so the total is still met", () => {
    const profile = steadyProfile(10_000, 2);
    const sizes: number[] = [];
    const sink = { full: false, publish: (n: number) => void sizes.push(n) };
    const pacer = new Pacer(profile, sink, new Timeline(), opts());
    // No tick from 200 to 500 ms: the process was descheduled.
    for (let ms = 0; ms < 2000; ms += 10) if (ms < 200 || ms >= 500) pacer.tick(ms);
    pacer.tick(2000 - 1e-3);
    expect(Math.max(...sizes)).toBe(1000); // 100 ms of 10 000/s: the cap, not the 300 ms backlog at once
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(19_999); // and the backlog was made up
    expect(pacer.offered).toBe(19_999);
  });

  test("a full publish window blocks ticks, and the seconds it hit say so", () => {
    const profile = steadyProfile(5000, 3);
    const t = new Timeline();
    t.requestFrom(profile);
    const sink = new CountingSink();
    const pacer = new Pacer(profile, sink, t, opts());
    // The target stops acknowledging in the middle second: the window stays full.
    drive(pacer, 3000, 10, (ms) => void (sink.full = ms >= 1000 && ms < 2000));
    const rows = t.rows();
    expect(behindIn(rows[0])).toBeNull();
    expect(rows[1].offered).toBe(0);
    expect(rows[1].blockedTicks).toBe(100);
    expect(behindIn(rows[1])).toEqual({ share: 0, cause: "window" });
    // Afterwards it catches up at ≤ 100 ms of the rate per tick: the third second sends more than asked.
    expect(rows[2].offered).toBeGreaterThan(rows[2].requested);
    expect(sink.published).toBe(14_999);
  });

  test("a generator that is busy the whole second is named as the limit", () => {
    const row = { t: 0, requested: 1000, offered: 500, acked: 500, errors: 0, applied: null, ticks: 10, blockedTicks: 0, busy: 0.97, cpu: 1, latency: {} };
    expect(behindIn(row)).toEqual({ share: 0.5, cause: "generator" });
    expect(behindIn({ ...row, busy: 0.2 })?.cause).toBe("unknown");
    expect(behindIn({ ...row, offered: 990 })).toBeNull(); // within 2 %
  });
});

describe("event time", () => {
  test("a live load sets it to the wall clock per batch; lateness and refunds stay relative to it", () => {
    const gen = new OrderGenerator({ seed: 5, members: 1000, ratePerSec: 1 });
    gen.eventTsNow = 1_800_000_000_000;
    const orders = Array.from({ length: 5000 }, () => gen.next());
    const paid = orders.filter((o) => o.kind === "paid");
    expect(paid.filter((o) => o.ts === 1_800_000_000_000).length).toBeGreaterThan(paid.length * 0.95);
    for (const o of orders) expect(o.ts).toBeLessThanOrEqual(1_800_000_000_000); // late orders lag it, never lead
    for (const o of orders.filter((x) => x.kind === "refund")) expect(o.orderTs!).toBeLessThan(o.ts);
    gen.eventTsNow = null; // back to 1/rate per order from the start: 5 000 orders at 1/s
    expect(gen.eventTs).toBe(DEFAULT_START_TS + 5000 * 1000);
  });
});

describe("--lines", () => {
  const known = ["taobao", "tmall", "eleme", "fliggy", "hema"];

  test("parses line=weight and refuses what the engines would dead-letter", () => {
    expect(parseLinesMix("taobao=40,eleme=30, tmall=30", known)).toEqual({ taobao: 40, eleme: 30, tmall: 30 });
    expect(() => parseLinesMix("taobao=40,jd=60", known)).toThrow(/unknown line "jd"/);
    expect(() => parseLinesMix("taobao", known)).toThrow(/line=weight/);
    expect(() => parseLinesMix("taobao=0", known)).toThrow(/above 0/);
    expect(() => parseLinesMix("taobao=1,taobao=2", known)).toThrow(/twice/);
  });

  test("the generator's orders follow the mix", () => {
    const mix = parseLinesMix("taobao=40,eleme=30,hema=30", known);
    const gen = new OrderGenerator({ seed: 3, members: 10_000, lines: mix });
    const seen: Record<string, number> = {};
    const n = 50_000;
    for (let i = 0; i < n; i++) {
      const o = gen.next();
      seen[o.line] = (seen[o.line] ?? 0) + 1;
    }
    expect(Object.keys(seen).sort()).toEqual(["eleme", "hema", "taobao"]);
    expect(Math.abs(seen.taobao / n - 0.4)).toBeLessThan(0.01);
    expect(Math.abs(seen.eleme / n - 0.3)).toBeLessThan(0.01);
  });
});
