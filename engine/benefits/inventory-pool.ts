// InventoryPool: a benefit's inventory handed out to partitions in allotments, by
// compare-and-set on one BENEFIT_POOLS key per benefit:
//
//   { granted: units handed out in all, byPartition: { "<p>": units handed to p } }
//
// A partition claims only units of its own allotment, so claims never wait on one another
// across partitions, and Σ claimed(p) ≤ Σ byPartition[p] = granted ≤ inventory: no oversell,
// whoever crashes when. Each partition's owner is the only writer of its own entry, so after a
// CAS whose outcome is unknown (a timeout) the value read back is the truth for it — except
// that a give-back may still land after that read, so a give-back's result is the lower of
// the two (units are stranded rather than used twice; the next owner's restart recovers them).

import type { KV } from "@nats-io/kv";
import { isCasConflict, type PoolValue } from "../../proto/benefit-pool.ts";

export type { PoolValue };

const CAS_ATTEMPTS_MAX = 200;
/** Backoff after a lost compare-and-set: random in [0, 2^min(n, 5)) ms — 64 partitions refilling at the opening second collide. */
const backoffMs = (attempt: number): number => Math.random() * (1 << Math.min(attempt, 5));
const encoder = new TextEncoder();

export class PoolError extends Error {
  override readonly name = "PoolError";
}

export class InventoryPool {
  /** CAS operations done and lost to another writer, for stats and tests. */
  casWrites = 0;
  casConflicts = 0;
  /** Give-backs (each one compare-and-set when nothing races it). */
  giveBackWrites = 0;
  /** Each benefit's write chain (takes and give-backs of this process, one at a time). */
  private readonly chains = new Map<string, Promise<void>>();
  /** Takes asked and not yet started, per benefit: they go together. */
  private readonly waitingTakes = new Map<string, TakeJob[]>();

  constructor(private readonly kv: KV) {}

  async read(benefit: string): Promise<{ value: PoolValue; revision: number }> {
    const e = await this.kv.get(benefit);
    if (e === null || e.operation !== "PUT") return { value: { granted: 0, byPartition: {} }, revision: e?.revision ?? 0 };
    const v = e.json<PoolValue>();
    if (!Number.isSafeInteger(v?.granted) || typeof v.byPartition !== "object" || v.byPartition === null) {
      throw new PoolError(`BENEFIT_POOLS "${benefit}" holds no pool value`);
    }
    return { value: v, revision: e.revision };
  }

  /** Units handed to partition p so far (0 when none). */
  async grantOf(benefit: string, p: number): Promise<number> {
    return (await this.read(benefit)).value.byPartition[p] ?? 0;
  }

  /**
   * Moves units from the pool to p: `want(poolLeft)` of them, at most what is left under
   * `inventory`. Returns p's allotment afterwards (unchanged when the pool is empty).
   *
   * Takes asked while another write of this process to the benefit's pool is on the wire
   * wait for it and then go together, in one compare-and-set. At the end of a drop every
   * partition refills a unit or two at a time: 64 of them racing on the one key lost most of
   * their compare-and-sets and slept in backoff while their claims queued behind them. Now
   * the only writers that can collide are other engines.
   */
  take(benefit: string, p: number, inventory: number, want: (poolLeft: number) => number): Promise<number> {
    return new Promise((resolve, reject) => {
      let batch = this.waitingTakes.get(benefit);
      if (batch === undefined) {
        const jobs: TakeJob[] = [];
        batch = jobs;
        this.waitingTakes.set(benefit, jobs);
        void this.serially(benefit, () => {
          this.waitingTakes.delete(benefit); // takes asked from now on form the next batch
          return this.takeAll(benefit, jobs);
        });
      }
      batch.push({ p, inventory, want, resolve, reject });
    });
  }

  /**
   * Returns unused units of several partitions (one engine's) to the pool in one
   * compare-and-set: `amounts` says, for each, how many of the units the pool holds for it go
   * back. Resolves with each partition's allotment afterwards. After an outcome that is not
   * known, each is the lower of what was read back and what was meant (units stranded, never
   * used twice).
   */
  giveBack(benefit: string, amounts: ReadonlyMap<number, (mine: number) => number>): Promise<Map<number, number>> {
    return this.serially(benefit, async () => {
      this.giveBackWrites++;
      const outcome = await this.write(benefit, (value) => {
        const byPartition = { ...value.byPartition };
        let granted = value.granted;
        const after = new Map<number, number>();
        for (const [p, amount] of amounts) {
          const mine = byPartition[p] ?? 0;
          const back = Math.max(0, Math.min(amount(mine), mine));
          byPartition[p] = mine - back;
          granted -= back;
          after.set(p, mine - back);
        }
        return { next: { granted, byPartition }, after };
      });
      if (outcome.known) return outcome.after;
      return new Map([...outcome.after].map(([p, meant]) => [p, Math.min(outcome.now.byPartition[p] ?? 0, meant)]));
    });
  }

  private async takeAll(benefit: string, jobs: TakeJob[]): Promise<void> {
    try {
      const outcome = await this.write(benefit, (value) => {
        const byPartition = { ...value.byPartition };
        let granted = value.granted;
        const after = new Map<number, number>();
        for (const j of jobs) {
          const left = j.inventory - granted;
          const d = left <= 0 ? 0 : Math.min(left, Math.max(1, j.want(left)));
          byPartition[j.p] = (byPartition[j.p] ?? 0) + d;
          granted += d;
          after.set(j.p, byPartition[j.p]);
        }
        return { next: { granted, byPartition }, after };
      });
      // After an unknown outcome, what the pool holds for p is the truth: only this process writes p's entry.
      for (const j of jobs) j.resolve(outcome.known ? outcome.after.get(j.p)! : (outcome.now.byPartition[j.p] ?? 0));
    } catch (err) {
      for (const j of jobs) j.reject(err);
    }
  }

  /**
   * One compare-and-set of the benefit's pool value, retried while another engine wins the
   * race. `change` computes the next value (unchanged: nothing written) and what it means per
   * partition. An error other than a lost race leaves the outcome unknown: the value is read
   * back (`now`) for the caller to judge.
   */
  private async write(
    benefit: string,
    change: (v: PoolValue) => { next: PoolValue; after: Map<number, number> },
  ): Promise<{ known: true; after: Map<number, number> } | { known: false; after: Map<number, number>; now: PoolValue }> {
    for (let attempt = 0; attempt < CAS_ATTEMPTS_MAX; attempt++) {
      const { value, revision } = await this.read(benefit);
      const { next, after } = change(value);
      // Takes only add and give-backs only remove: the same total means nothing moved.
      if (next.granted === value.granted) return { known: true, after };
      try {
        this.casWrites++;
        const bytes = encoder.encode(JSON.stringify(next));
        if (revision === 0) await this.kv.create(benefit, bytes);
        else await this.kv.update(benefit, bytes, revision);
        return { known: true, after };
      } catch (err) {
        if (isCasConflict(err)) {
          this.casConflicts++;
          await Bun.sleep(backoffMs(attempt));
          continue;
        }
        return { known: false, after, now: (await this.read(benefit)).value };
      }
    }
    throw new PoolError(`BENEFIT_POOLS "${benefit}": ${CAS_ATTEMPTS_MAX} compare-and-set attempts all lost to other writers`);
  }

  /** This process's writes to one benefit's pool, one at a time. */
  private serially<T>(benefit: string, fn: () => Promise<T>): Promise<T> {
    const run = (this.chains.get(benefit) ?? Promise.resolve()).then(fn, fn);
    const settled = run.then(
      () => {},
      () => {},
    );
    this.chains.set(benefit, settled);
    void settled.then(() => {
      if (this.chains.get(benefit) === settled) this.chains.delete(benefit);
    });
    return run;
  }
}

interface TakeJob {
  p: number;
  inventory: number;
  want: (poolLeft: number) => number;
  resolve: (after: number) => void;
  reject: (err: unknown) => void;
}
