// What a partition needs from wherever its snapshots live: a local folder (store.ts) or a
// JetStream object store (object-store.ts), so that a partition taken over on another
// machine starts from the snapshot its previous owner wrote.

import type { SnapshotMeta, StateParts } from "./format.ts";

export interface LoadedSnapshot {
  meta: SnapshotMeta;
  parts: StateParts;
  /** Where it came from, for the one log line that says which snapshot was used. */
  path: string;
}

export interface SnapshotStorage {
  /** Stores the encoded snapshot of `partition` at ORDERS seq `lastSeq`, whole or not at all; returns where. */
  write(partition: number, lastSeq: number, bytes: Uint8Array): Promise<string>;
  /** The newest snapshot that reads back whole and matches, falling back past unusable ones; null when none. */
  loadNewest(partition: number, expect: { configHash: number }): Promise<LoadedSnapshot | null>;
}
