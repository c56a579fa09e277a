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
  /** Of casWrites, the give-backs. */
  giveBackWrites = 0;

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
   */
  async take(benefit: string, p: number, inventory: number, want: (poolLeft: number) => number): Promise<number> {
    return this.change(benefit, p, (v) => {
      const left = inventory - v.granted;
      if (left <= 0) return 0;
      return Math.min(left, Math.max(1, want(left)));
    });
  }

  /**
   * Returns unused units of several partitions (one engine's) to the pool in one
   * compare-and-set: `amounts` says, for each, how many of the units the pool holds for it go
   * back. Resolves with each partition's allotment afterwards. After an outcome that is not
   * known, each is the lower of what was read back and what was meant (units stranded, never
   * used twice).
   */
  async giveBack(benefit: string, amounts: ReadonlyMap<number, (mine: number) => number>): Promise<Map<number, number>> {
    for (let attempt = 0; attempt < CAS_ATTEMPTS_MAX; attempt++) {
      const { value, revision } = await this.read(benefit);
      const byPartition = { ...value.byPartition };
      let granted = value.granted;
      const intended = new Map<number, number>();
      for (const [p, amount] of amounts) {
        const mine = byPartition[p] ?? 0;
        const back = Math.max(0, Math.min(amount(mine), mine));
        byPartition[p] = mine - back;
        granted -= back;
        intended.set(p, mine - back);
      }
      if (granted === value.granted) return intended;
      try {
        this.casWrites++;
        this.giveBackWrites++;
        await this.kv.update(benefit, encoder.encode(JSON.stringify({ granted, byPartition } satisfies PoolValue)), revision);
        return intended;
      } catch (err) {
        if (isCasConflict(err)) {
          this.casConflicts++;
          await Bun.sleep(backoffMs(attempt));
          continue;
        }
        const now = (await this.read(benefit)).value.byPartition;
        return new Map([...intended].map(([p, meant]) => [p, Math.min(now[p] ?? 0, meant)]));
      }
    }
    throw new PoolError(`BENEFIT_POOLS "${benefit}": ${CAS_ATTEMPTS_MAX} compare-and-set attempts all lost to other writers`);
  }

  private async change(benefit: string, p: number, delta: (v: PoolValue) => number): Promise<number> {
    for (let attempt = 0; attempt < CAS_ATTEMPTS_MAX; attempt++) {
      const { value, revision } = await this.read(benefit);
      const d = delta(value);
      const mine = value.byPartition[p] ?? 0;
      if (d === 0) return mine;
      const next: PoolValue = { granted: value.granted + d, byPartition: { ...value.byPartition, [p]: mine + d } };
      const bytes = encoder.encode(JSON.stringify(next));
      try {
        this.casWrites++;
        if (revision === 0) await this.kv.create(benefit, bytes);
        else await this.kv.update(benefit, bytes, revision);
        return mine + d;
      } catch (err) {
        if (isCasConflict(err)) {
          this.casConflicts++;
          await Bun.sleep(backoffMs(attempt));
          continue;
        }
        // Unknown outcome: read back what p holds now.
        return this.grantOf(benefit, p);
      }
    }
    throw new PoolError(`BENEFIT_POOLS "${benefit}": ${CAS_ATTEMPTS_MAX} compare-and-set attempts all lost to other writers`);
  }
}
