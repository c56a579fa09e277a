// SnapshotStore: a partition's snapshots in a local folder, newest kept, torn ones skipped.
//   <dir>/p<partition>/<lastSeq, 16 digits>.snap
// Written to a temporary name, fsynced, then renamed: a crash leaves the old snapshot or the
// new one, never half of one under a snapshot's name.

import { mkdir, open, readdir, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "../log.ts";
import { decodeSnapshot, type SnapshotMeta, SnapshotError, type StateParts } from "./format.ts";
import type { SnapshotStorage } from "./snapshot-store.ts";

const KEEP = 2;

export class SnapshotStore implements SnapshotStorage {
  constructor(
    readonly dir: string,
    private readonly log: Logger,
  ) {}

  private folder(partition: number): string {
    return join(this.dir, `p${partition}`);
  }

  async write(partition: number, lastSeq: number, bytes: Uint8Array): Promise<string> {
    const folder = this.folder(partition);
    await mkdir(folder, { recursive: true });
    const name = `${String(lastSeq).padStart(16, "0")}.snap`;
    const tmp = join(folder, `.${name}.${process.pid}.tmp`);
    const file = await open(tmp, "w");
    try {
      await file.write(bytes);
      await file.sync();
    } finally {
      await file.close();
    }
    const path = join(folder, name);
    await rename(tmp, path);
    await this.prune(folder);
    return path;
  }

  /** The newest snapshot that reads back whole and matches, or null. */
  async loadNewest(partition: number, expect: { configHash: number }): Promise<{ meta: SnapshotMeta; parts: StateParts; path: string } | null> {
    const folder = this.folder(partition);
    for (const name of await this.names(folder)) {
      const path = join(folder, name);
      try {
        const { meta, parts } = decodeSnapshot(new Uint8Array(await readFile(path)), { partition, configHash: expect.configHash });
        return { meta, parts, path };
      } catch (err) {
        const why = err instanceof SnapshotError ? `${err.code}: ${err.message}` : (err as Error).message;
        this.log.warn(`snapshot ${path} is unusable (${why}); trying the previous one`);
      }
    }
    return null;
  }

  /** Snapshot file names, newest first. */
  private async names(folder: string): Promise<string[]> {
    try {
      return (await readdir(folder)).filter((n) => /^\d{16}\.snap$/.test(n)).sort().reverse();
    } catch {
      return [];
    }
  }

  private async prune(folder: string): Promise<void> {
    for (const name of (await this.names(folder)).slice(KEEP)) await rm(join(folder, name), { force: true });
  }
}
