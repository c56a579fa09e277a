// ObjectSnapshotStore: partition snapshots in the JetStream object store TIERSTREAM_SNAPSHOTS,
// so that whichever process takes a partition over, on whatever machine, starts from the
// snapshot its previous owner wrote.
//
//   <bucket>/p<partition>/<lastSeq, 16 digits>.snap      the newest `keep` of each partition
//
// The same bytes as the file store (format.ts: versioned, CRC-checked). An object becomes
// visible only when its metadata entry is written after the last chunk, so a writer that dies
// halfway leaves no object under the name; the object store's own SHA-256 digest and the
// snapshot's CRC catch the rest, and loadNewest falls back to the previous snapshot.
//
// Two writers of one partition (an old owner fenced a moment late) are harmless: a snapshot
// at seq N is a pure function of the log up to N, whoever wrote it.

import { type JetStreamClient, StorageType } from "@nats-io/jetstream";
import { type ObjectStore, Objm } from "@nats-io/obj";
import { openRacing } from "../../proto/create-race.ts";
import { BUCKET_SNAPSHOTS, snapshotObjectName, snapshotSeqOf } from "../../proto/ownership-names.ts";
import { type Logger, silentLogger } from "../log.ts";
import { decodeSnapshot, SnapshotError } from "./format.ts";
import type { LoadedSnapshot, SnapshotStorage } from "./snapshot-store.ts";

const KEEP_DEFAULT = 2;

export interface ObjectSnapshotStoreOptions {
  /** 3 on a cluster: a snapshot must outlive the node that stored it. */
  replicas?: number;
  /** Another bucket name (tests side by side). */
  bucket?: string;
  /** Snapshots kept per partition; older ones are deleted after each write. */
  keep?: number;
  log?: Logger;
}

export class ObjectSnapshotStore implements SnapshotStorage {
  private constructor(
    readonly os: ObjectStore,
    readonly bucket: string,
    private readonly keep: number,
    private readonly log: Logger,
  ) {}

  /** Opens the bucket, creating it on first use. */
  static async open(js: JetStreamClient, opts: ObjectSnapshotStoreOptions = {}): Promise<ObjectSnapshotStore> {
    const bucket = opts.bucket ?? BUCKET_SNAPSHOTS;
    const keep = opts.keep ?? KEEP_DEFAULT;
    if (!Number.isInteger(keep) || keep < 1) throw new RangeError(`keep must be ≥ 1, got ${keep}`);
    const os = await openRacing(() => new Objm(js).create(bucket, { replicas: opts.replicas ?? 1, storage: StorageType.File }));
    return new ObjectSnapshotStore(os, bucket, keep, opts.log ?? silentLogger);
  }

  async write(partition: number, lastSeq: number, bytes: Uint8Array): Promise<string> {
    const name = snapshotObjectName(partition, lastSeq);
    await this.os.putBlob({ name, description: `tierstream partition ${partition} at orders seq ${lastSeq}` }, bytes);
    await this.prune(partition);
    return this.pathOf(name);
  }

  async loadNewest(partition: number, expect: { configHash: number }): Promise<LoadedSnapshot | null> {
    for (const name of await this.names(partition)) {
      const path = this.pathOf(name);
      try {
        const bytes = await this.os.getBlob(name);
        if (bytes == null) continue; // deleted since we listed it (pruned by a newer write)
        const { meta, parts } = decodeSnapshot(bytes, { partition, configHash: expect.configHash });
        return { meta, parts, path };
      } catch (err) {
        const why = err instanceof SnapshotError ? `${err.code}: ${err.message}` : (err as Error).message;
        this.log.warn(`snapshot ${path} is unusable (${why}); trying the previous one`);
      }
    }
    return null;
  }

  /** Partition's snapshot object names, newest first. */
  async names(partition: number): Promise<string[]> {
    const mine = (await this.os.list())
      .filter((info) => !info.deleted)
      .map((info) => ({ name: info.name, seq: snapshotSeqOf(info.name, partition) }))
      .filter((o) => o.seq >= 0);
    return mine.sort((a, b) => b.seq - a.seq).map((o) => o.name);
  }

  private async prune(partition: number): Promise<void> {
    for (const name of (await this.names(partition)).slice(this.keep)) {
      await this.os.delete(name).catch((err) => this.log.warn(`snapshot ${this.pathOf(name)} not deleted (${(err as Error).message})`));
    }
  }

  private pathOf(name: string): string {
    return `nats:${this.bucket}/${name}`;
  }
}
