// Leases against a real nats-server: at most one holder per partition at any instant under
// contention, renewals, expiry judged by the contender (never early, soon after), fencing
// of an owner that was frozen past its TTL, and the loss of a lease someone else took.

import { afterEach, describe, expect, test } from "bun:test";
import { leaseKey, parseLeaseValue } from "../proto/ownership-names.ts";
import { LeaseTable, type LostReason } from "../engine/ownership/lease-table.ts";
import { eventually, freshBucket, type LeaseProcess, leaseProcess } from "./harness/ownership.ts";
import { useNatsServer } from "./harness/nats.ts";
import { mulberry32 } from "./harness/prng.ts";

const TTL_MS = 1_000;
const MARGIN_MS = 200; // holder and takeover margins: ttl / 5

const nats = useNatsServer();
const opened: LeaseProcess[] = [];
const tables: LeaseTable[] = [];
afterEach(async () => {
  for (const t of tables.splice(0)) t.stop();
  await Promise.all(opened.splice(0).map((p) => p.close()));
});

async function proc(bucket: string, now?: () => number): Promise<LeaseProcess> {
  const p = await leaseProcess(nats.url, bucket, now);
  opened.push(p);
  return p;
}

function table(p: LeaseProcess, owner: string, partitions = 4, more: { now?: () => number; onLost?: (p: number, r: LostReason) => void } = {}): LeaseTable {
  const t = new LeaseTable({ view: p.view, owner, partitions, ttlMs: TTL_MS, ...more });
  t.start();
  tables.push(t);
  return t;
}

describe("a lease", () => {
  test("is held by one, renewed while held, and free for the next at once when released", async () => {
    const bucket = freshBucket();
    const [pa, pb] = [await proc(bucket), await proc(bucket)];
    const a = table(pa, "a");
    const b = table(pb, "b");
    const got = await a.tryAcquire(0);
    expect(got).toEqual({ ok: true, epoch: 1, previous: null });
    expect(a.holds(0)).toBe(true);
    await eventually(() => b.judge(0) === "held", "b to see a's lease");
    expect(await b.tryAcquire(0)).toEqual({ ok: false, reason: "held", holder: "a" });

    // Two TTLs later a still holds it, through renewals b sees as new revisions.
    const first = pb.view.get(leaseKey(0))!.revision;
    await Bun.sleep(2 * TTL_MS);
    expect(a.holds(0)).toBe(true);
    expect(pb.view.get(leaseKey(0))!.revision).toBeGreaterThanOrEqual(first + 4);
    expect(await b.tryAcquire(0)).toMatchObject({ ok: false, reason: "held" });

    await a.release(0);
    expect(a.holds(0)).toBe(false);
    await eventually(() => b.judge(0) === "free", "b to see the release");
    expect(await b.tryAcquire(0)).toEqual({ ok: true, epoch: 2, previous: { owner: null, epoch: 1 } });
  });

  test("under contention: never two holders at once, each epoch won once, takeovers only after the TTL", async () => {
    const bucket = freshBucket();
    const partitions = 3;
    const contenders = 8;
    const rand = mulberry32(7);
    const procs = await Promise.all(Array.from({ length: contenders }, () => proc(bucket)));
    let incarnation = 0;
    const current: LeaseTable[] = procs.map((p) => table(p, `c${incarnation++}`, partitions));
    const acquisitions: { p: number; owner: string; epoch: number; revision: number; previous: string | null }[] = [];
    const violations: string[] = [];
    const outcomes = { conflict: 0, held: 0, crashes: 0, takeovers: 0 };

    async function contend(i: number, untilMs: number): Promise<void> {
      while (performance.now() < untilMs) {
        const t = current[i];
        const p = Math.floor(rand() * partitions);
        const r = await t.tryAcquire(p);
        if (!r.ok) {
          if (r.reason === "conflict") outcomes.conflict++;
          if (r.reason === "held") outcomes.held++;
          await Bun.sleep(2 + rand() * 10);
          continue;
        }
        // The instant t starts to hold p, nobody else may (an overlap must begin at some acquire).
        for (const other of current) if (other !== t && other.holds(p)) violations.push(`${t.owner} acquired ${p} while ${other.owner} held it`);
        for (const old of tables) if (!current.includes(old) && old.holds(p)) violations.push(`${t.owner} acquired ${p} while crashed ${old.owner} held it`);
        const revision = procs[i].view.get(leaseKey(p))!.revision;
        acquisitions.push({ p, owner: t.owner, epoch: r.epoch, revision, previous: r.previous?.owner ?? null });
        if (r.previous?.owner != null) outcomes.takeovers++;
        await Bun.sleep(20 + rand() * 300);
        if (rand() < 0.75) {
          await t.release(p);
        } else {
          // Crash: stop renewing, never release; a new incarnation carries on with a new id.
          t.stop();
          outcomes.crashes++;
          current[i] = table(procs[i], `c${incarnation++}`, partitions);
        }
      }
    }
    const untilMs = performance.now() + 4_000;
    await Promise.all(procs.map((_, i) => contend(i, untilMs)));

    expect(violations).toEqual([]);
    for (let p = 0; p < partitions; p++) {
      const log = acquisitions.filter((a) => a.p === p);
      const epochs = log.map((a) => a.epoch);
      // Every epoch was won by exactly one contender, in increasing order, at increasing revisions.
      expect(epochs).toEqual(epochs.map((_, k) => k + 1));
      for (let k = 1; k < log.length; k++) expect(log[k].revision).toBeGreaterThan(log[k - 1].revision);
      expect(log.length).toBeGreaterThan(3);
    }
    expect(outcomes.conflict).toBeGreaterThan(0);
    expect(outcomes.crashes).toBeGreaterThan(0);
    expect(outcomes.takeovers).toBeGreaterThan(0);
  }, 30_000);

  test("an owner that stops renewing is taken over after TTL + margin, never before", async () => {
    const bucket = freshBucket();
    const [pa, pb] = [await proc(bucket), await proc(bucket)];
    const a = table(pa, "a");
    const b = table(pb, "b");
    expect((await a.tryAcquire(1)).ok).toBe(true);
    await Bun.sleep(TTL_MS / 2); // some renewals
    await eventually(() => b.judge(1) === "held", "b to see a's lease");
    a.stop(); // dies: no more renewals
    const lastRevision = (await pa.kv.get(leaseKey(1)))!.revision;
    await eventually(() => pb.view.get(leaseKey(1))?.revision === lastRevision, "b to see a's last renewal");
    const seenAt = pb.view.get(leaseKey(1))!.seenAt;
    let attempts = 0;
    for (;;) {
      const r = await b.tryAcquire(1);
      attempts++;
      if (r.ok) break;
      expect(r.reason).toBe("held");
      await Bun.sleep(10);
    }
    const waitedMs = performance.now() - seenAt;
    expect(waitedMs).toBeGreaterThanOrEqual(TTL_MS + MARGIN_MS);
    expect(waitedMs).toBeLessThan(TTL_MS + MARGIN_MS + 500);
    expect(attempts).toBeGreaterThan(10);
    expect(b.epochOf(1)).toBe(2);
  });

  test("a process frozen past its TTL holds nothing the instant it resumes, hears of the loss, and its compare-and-set fails", async () => {
    const bucket = freshBucket();
    const [pa, pb] = [await proc(bucket), await proc(bucket)];
    const lost: [number, LostReason][] = [];
    const a = table(pa, "a", 4, { onLost: (p, r) => lost.push([p, r]) });
    const b = table(pb, "b");
    expect((await a.tryAcquire(2)).ok).toBe(true);
    await Bun.sleep(TTL_MS / 2);
    await eventually(() => b.judge(2) === "held", "b to see a's lease");
    const revisionBeforeFreeze = (await pa.kv.get(leaseKey(2)))!.revision;

    Bun.sleepSync(TTL_MS + 500); // the whole process freezes: no timer, no I/O
    expect(a.holds(2)).toBe(false); // before any timer or callback has run
    expect(lost).toEqual([]); // told on a microtask...
    await Promise.resolve();
    expect(lost).toEqual([[2, "expired"]]); // ...right after

    // b takes over once a's last renewal is old enough on b's clock.
    await eventually(async () => (await b.tryAcquire(2)).ok, "b to take over", 3 * TTL_MS);
    const now = (await pb.kv.get(leaseKey(2)))!;
    expect(parseLeaseValue(now.value)).toMatchObject({ owner: "b", epoch: 2 });
    // a's stale compare-and-set (a renewal written before the freeze) fails; so does its acquire.
    await expect(pa.kv.update(leaseKey(2), "a again", revisionBeforeFreeze)).rejects.toThrow(/wrong last sequence/);
    expect(await a.tryAcquire(2)).toMatchObject({ ok: false, reason: "held", holder: "b" });
    expect(a.holds(2)).toBe(false);
    expect(lost).toEqual([[2, "expired"]]); // once
  }, 15_000);

  test("a clock that jumps past the deadline fences at once (injected clock)", async () => {
    const bucket = freshBucket();
    let skewMs = 0;
    const clock = () => performance.now() + skewMs;
    const pa = await proc(bucket, clock);
    const lost: number[] = [];
    const a = table(pa, "a", 4, { now: clock, onLost: (p) => lost.push(p) });
    expect((await a.tryAcquire(0)).ok).toBe(true);
    expect((await a.tryAcquire(1)).ok).toBe(true);
    expect(a.held()).toEqual([0, 1]);
    skewMs += TTL_MS - MARGIN_MS; // exactly at the deadline of anything renewed "now" or earlier
    expect(a.holds(0)).toBe(false);
    a.tick(); // the timer's round finds the other one
    expect(a.held()).toEqual([]);
    await Promise.resolve();
    expect(lost.sort()).toEqual([0, 1]);
  });

  test("a lease someone else overwrote is lost at the next renewal (taken)", async () => {
    const bucket = freshBucket();
    const pa = await proc(bucket);
    const lost: [number, LostReason][] = [];
    const a = table(pa, "a", 4, { onLost: (p, r) => lost.push([p, r]) });
    expect((await a.tryAcquire(3)).ok).toBe(true);
    const start = performance.now();
    await pa.kv.put(leaseKey(3), JSON.stringify({ owner: "intruder", epoch: 9, ttlMs: TTL_MS, renewedAt: Date.now() }));
    await eventually(() => lost.length > 0, "the loss");
    expect(lost).toEqual([[3, "taken"]]);
    expect(performance.now() - start).toBeLessThan(TTL_MS / 3 + 200);
    expect(a.holds(3)).toBe(false);
  });

  test("a renewal whose answer was lost is adopted, not mistaken for a takeover", async () => {
    const bucket = freshBucket();
    const pa = await proc(bucket);
    const lost: number[] = [];
    const a = table(pa, "a", 4, { onLost: (p) => lost.push(p) });
    const r = await a.tryAcquire(0);
    expect(r.ok).toBe(true);
    // What a renewal stored without its PubAck reaching us looks like: our owner and epoch, a newer revision.
    const e = (await pa.kv.get(leaseKey(0)))!;
    await pa.kv.put(leaseKey(0), e.value);
    await Bun.sleep(1.5 * TTL_MS);
    expect(lost).toEqual([]);
    expect(a.holds(0)).toBe(true);
    expect(parseLeaseValue((await pa.kv.get(leaseKey(0)))!.value)).toMatchObject({ owner: "a", epoch: 1 });
  });

  test("a fresh contender waits a full TTL from its own first sight of a lease, however old", async () => {
    const bucket = freshBucket();
    const pa = await proc(bucket);
    const a = table(pa, "a");
    expect((await a.tryAcquire(0)).ok).toBe(true);
    a.stop();
    await Bun.sleep(TTL_MS + MARGIN_MS + 100); // already stale by the writer's clock
    const pb = await proc(bucket); // b starts now and sees the lease for the first time
    const b = table(pb, "b");
    await eventually(() => pb.view.get(leaseKey(0)) != null, "b's view");
    expect(b.judge(0)).toBe("held");
    await eventually(() => b.judge(0) === "stale", "staleness", 3 * TTL_MS);
    expect((await b.tryAcquire(0)).ok).toBe(true);
  });
});
