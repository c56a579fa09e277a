// Allotment: one partition's units of one benefit — what the pool granted it, less what its
// claims won, less what claims in flight reserved. Reserving is synchronous while units are
// left; refilling from the pool and giving back run one at a time (a chain per allotment).
//
// When the pool is empty but the tally says units are still unclaimed, they sit in other
// partitions' allotments: this partition asks every engine to give their unused units back
// and tries the pool again a few times before it answers sold_out. Chunks shrink as the pool
// drains (left / 2P), so what sits idle at the end is a handful of units, not P chunks.

import type { Benefit } from "../../proto/benefit.ts";
import type { InventoryPool } from "./inventory-pool.ts";

/** Largest allotment one refill takes. */
export const CHUNK_MAX = 256;
/** Waits between asking for give-backs and trying the pool again. */
export const RELEASE_WAITS_MS = [5, 15, 30, 60, 120] as const;
/** After a sold-out conclusion, claims within this time try the pool once, not the whole wait. */
const EXHAUSTED_MEMORY_MS = 250;

export interface AllotmentDeps {
  benefit: string;
  partition: number;
  partitions: number;
  pool: InventoryPool;
  /** Units won in this partition (the ClaimBook). */
  used: () => number;
  /** The tally says every unit is claimed. */
  soldOut: (b: Benefit) => boolean;
  requestRelease: () => void;
  now?: () => number;
}

export class Allotment {
  /** Units the pool granted this partition; null until read. */
  private grant: number | null = null;
  private reserved = 0;
  private chain: Promise<unknown> = Promise.resolve();
  /** Operations queued or running in the chain. */
  private pending = 0;
  private exhaustedAt = Number.NEGATIVE_INFINITY;
  /** Pool reads that found nothing for this partition, counted (see reserve). */
  private emptyReads = 0;

  constructor(private readonly deps: AllotmentDeps) {}

  get available(): number {
    return this.grant === null ? 0 : this.grant - this.deps.used() - this.reserved;
  }

  /** Takes one unit for a claim in flight; false when there is none to be had. */
  reserve(b: Benefit): Promise<boolean> {
    if (this.available > 0) {
      this.reserved++;
      return Promise.resolve(true);
    }
    const emptyReadsBefore = this.emptyReads;
    return this.serially(async () => {
      const { pool, benefit, partition, partitions } = this.deps;
      const inventory = b.inventory ?? 0;
      const want = (left: number) => Math.min(CHUNK_MAX, Math.floor(left / (2 * partitions)));
      const now = this.deps.now ?? Date.now;
      if (this.grant === null) this.grant = await pool.grantOf(benefit, partition);
      if (this.take()) return true;
      if (this.deps.soldOut(b)) return false;
      // Claims queue here one behind another at the end of a drop. A pool read that found
      // nothing after this claim arrived answers it as well as its own read would.
      if (this.emptyReads > emptyReadsBefore && now() - this.exhaustedAt < EXHAUSTED_MEMORY_MS) return false;
      this.grant = await pool.take(benefit, partition, inventory, want);
      if (this.take()) return true;
      if (now() - this.exhaustedAt < EXHAUSTED_MEMORY_MS) {
        this.emptyReads++;
        return false;
      }
      for (const waitMs of RELEASE_WAITS_MS) {
        this.deps.requestRelease();
        await Bun.sleep(waitMs);
        if (this.take()) return true;
        if (this.deps.soldOut(b)) break;
        this.grant = await pool.take(benefit, partition, inventory, want);
        if (this.take()) return true;
      }
      this.exhaustedAt = now();
      this.emptyReads++;
      return false;
    });
  }

  /** The claim's record is stored: the unit now counts in `used`. */
  settle(): void {
    this.reserved--;
  }

  /** The claim's record was certainly not stored: the unit is free again. */
  unreserve(): void {
    this.reserved--;
  }

  /**
   * This partition's part in a batched give-back (one compare-and-set for every partition of
   * the engine: 64 separate ones collided on the one pool key for tens of ms while claims
   * elsewhere waited for the units). `amount(mine)` says how many of the `mine` units the
   * pool holds for p go back: the unused ones. Holds the chain until `done` says what the
   * pool holds for p afterwards (null: not known), so no refill interleaves with units on
   * their way back. Null when a refill or a claim is in the chain (it gives back at the next
   * request) or nothing is unused.
   *
   * A grant never read (a partition whose pool entry was seeded, or that no claim has asked
   * since it was loaded) gives back what the pool holds for it less what it won.
   */
  takeForGiveBack(): { amount: (mine: number) => number; done: (after: number | null) => void } | null {
    if (this.pending > 0) return null;
    let amount: (mine: number) => number;
    const known = this.grant !== null;
    if (this.grant !== null) {
      const count = this.available;
      if (count <= 0) return null;
      // Lowered now: a claim reserving meanwhile must not count the units going back.
      this.grant -= count;
      amount = (mine) => Math.min(count, mine);
    } else {
      const used = this.deps.used();
      amount = (mine) => Math.max(0, mine - used);
    }
    let done!: (after: number | null) => void;
    const landed = new Promise<number | null>((resolve) => (done = resolve));
    void this.serially(async () => {
      const after = await landed;
      if (after === null) return; // not known: a known grant stays lowered (stranded, never used twice); an unread one is read later
      this.grant = known ? Math.min(this.grant ?? after, after) : after;
    });
    return { amount, done };
  }

  private take(): boolean {
    if (this.available <= 0) return false;
    this.reserved++;
    return true;
  }

  private serially<T>(fn: () => Promise<T>): Promise<T> {
    this.pending++;
    const run = this.chain.then(fn, fn).finally(() => this.pending--);
    this.chain = run.catch(() => {});
    return run;
  }
}
