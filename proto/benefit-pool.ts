// A benefit's inventory pool in BENEFIT_POOLS (engine/benefits/inventory-pool.ts moves units
// out of it by compare-and-set): {granted, byPartition: {p: units handed to p}}.
//
// Seeding it when a benefit is defined hands every partition an even first allotment —
// a quarter of the inventory across all of them — so at the opening second no partition needs
// a compare-and-set on the one key before its first claims (64 partitions racing for one key
// was the slow start of a drop). Seeding only creates the key: an existing pool (a benefit
// redefined) is left as it is.

import type { KV } from "@nats-io/kv";

export interface PoolValue {
  granted: number;
  byPartition: Record<string, number>;
}

/** A compare-and-set or create that lost to another writer (JetStream err_code 10071, or "key exists"). */
export function isCasConflict(err: unknown): boolean {
  const e = err as { code?: number; message?: string };
  return e?.code === 10071 || /wrong last sequence|key exists/i.test(String(e?.message));
}

/** The first allotment per partition: floor(inventory / 4P), 0 for small inventories. */
export const firstAllotment = (inventory: number, partitions: number): number => Math.floor(inventory / (4 * partitions));

export function seededPool(inventory: number, partitions: number): PoolValue | null {
  const each = firstAllotment(inventory, partitions);
  if (each === 0) return null;
  const byPartition: Record<string, number> = {};
  for (let p = 0; p < partitions; p++) byPartition[p] = each;
  return { granted: each * partitions, byPartition };
}

/** Creates the benefit's pool with even first allotments unless it exists (or the inventory is unlimited or small). */
export async function seedPool(pools: KV, benefit: string, inventory: number | null, partitions: number): Promise<boolean> {
  if (inventory === null) return false;
  const value = seededPool(inventory, partitions);
  if (value === null) return false;
  try {
    await pools.create(benefit, JSON.stringify(value));
    return true;
  } catch (err) {
    if (isCasConflict(err)) return false; // there already
    throw err;
  }
}
