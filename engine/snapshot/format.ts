// The snapshot file of one partition: versioned, checksummed, typed arrays as they are.
//
//   "TSNAP\0\0\2"  8 bytes magic + format version 2 (version 1 kept fingerprints of order ids
//                 hashed a byte at a time, proto/reader.ts; an engine refuses it and replays)
//   u32 header length, header JSON (SnapshotMeta), padding to 8
//   12 sections, each: u32 byte length, u32 0, bytes, padding to 8
//   u32 CRC-32 of everything before it
//
// Sections are little-endian typed arrays (the engine's own layout), in SECTIONS order.
// A torn write (short file), flipped bits (CRC) or another config (configHash) is detected
// on load; the store then falls back to the previous snapshot.

import type { Config } from "../config.ts";
import { CLASS_MAX } from "../state/cell-arena.ts";
import type { PartitionState } from "../state/partition-state.ts";

export const SNAPSHOT_VERSION = 2;
const MAGIC = new Uint8Array([0x54, 0x53, 0x4e, 0x41, 0x50, 0, 0, SNAPSHOT_VERSION]); // "TSNAP" 0 0 v

export interface SnapshotMeta {
  version: number;
  partition: number;
  partitions: number;
  /** Hash of the rules the state was built with; a snapshot of other rules is not used. */
  configHash: number;
  /** Last ORDERS sequence applied. */
  lastSeq: number;
  clock: number;
  memberCount: number;
  freeCells: number;
  createdAtMs: number;
}

export type StateParts = ReturnType<PartitionState["exportParts"]>;

export class SnapshotError extends Error {
  override readonly name = "SnapshotError";
  constructor(
    readonly code: "torn" | "checksum" | "version" | "mismatch",
    message: string,
  ) {
    super(message);
  }
}

/** What the rules are, for configHash: everything that changes how orders become state. */
export function configHash(c: Config): number {
  const rules = {
    partitions: c.partitions,
    lines: c.lineNames,
    milli: [...c.lineMilli],
    cap: c.orderPointsMax,
    ladder: [...c.ladder],
    policy: c.policy,
    window: c.windowMonths,
    offset: c.utcOffsetMs,
    dedup: c.dedupHorizonMs,
    skew: c.futureSkewMs,
  };
  return Bun.hash.crc32(JSON.stringify(rules));
}

const pad8 = (n: number) => (n + 7) & ~7;

function sectionsOf(p: StateParts): ArrayBufferView[] {
  return [
    p.ids,
    p.score,
    p.tier,
    p.cellStart,
    p.cellCount,
    p.cellClass,
    p.cells.keys,
    p.cells.points,
    p.cells.freeHead,
    p.dedupHi,
    p.dedupLo,
    p.dedupSeenAt,
  ];
}

/** Serialises a partition state (copies it: the state may move on as soon as this returns). */
export function encodeSnapshot(meta: Omit<SnapshotMeta, "version">, parts: StateParts): Uint8Array {
  const header = new TextEncoder().encode(JSON.stringify({ ...meta, version: SNAPSHOT_VERSION }));
  const sections = sectionsOf(parts);
  let size = pad8(12 + header.length);
  for (const s of sections) size += 8 + pad8(s.byteLength);
  size += 4;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  view.setUint32(8, header.length, true);
  out.set(header, 12);
  let at = pad8(12 + header.length);
  for (const s of sections) {
    view.setUint32(at, s.byteLength, true);
    at += 8;
    out.set(new Uint8Array(s.buffer, s.byteOffset, s.byteLength), at);
    at += pad8(s.byteLength);
  }
  view.setUint32(at, Bun.hash.crc32(out.subarray(0, at)), true);
  console.assert(at + 4 === size, "snapshot size");
  return out;
}

/** Parses and checks a snapshot; throws SnapshotError when it cannot be used. */
export function decodeSnapshot(bytes: Uint8Array, expect: { partition: number; configHash: number }): { meta: SnapshotMeta; parts: StateParts } {
  if (bytes.length < 16) throw new SnapshotError("torn", `only ${bytes.length} bytes`);
  for (let i = 0; i < 7; i++) if (bytes[i] !== MAGIC[i]) throw new SnapshotError("torn", "not a tierstream snapshot");
  if (bytes[7] !== SNAPSHOT_VERSION) throw new SnapshotError("version", `format version ${bytes[7]}, this engine reads ${SNAPSHOT_VERSION}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = bytes.length - 4;
  if (Bun.hash.crc32(bytes.subarray(0, end)) !== view.getUint32(end, true)) {
    throw new SnapshotError("checksum", "checksum mismatch (torn or corrupt)");
  }
  const headerLength = view.getUint32(8, true);
  if (12 + headerLength > end) throw new SnapshotError("torn", "header runs past the end");
  // The CRC only proves the bytes are the ones written; what they say is checked like input.
  let meta: SnapshotMeta;
  try {
    meta = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(12, 12 + headerLength))) as SnapshotMeta;
  } catch {
    throw new SnapshotError("torn", "header is not JSON");
  }
  if (!isMeta(meta)) throw new SnapshotError("torn", "header fields are missing or out of range");
  if (meta.partition !== expect.partition) throw new SnapshotError("mismatch", `snapshot of partition ${meta.partition}`);
  if (meta.configHash !== expect.configHash) throw new SnapshotError("mismatch", "made with other rules (config changed)");
  // Copy into an 8-aligned buffer so every section can be viewed in place.
  const aligned = new Uint8Array(bytes.length);
  aligned.set(bytes);
  let at = pad8(12 + headerLength);
  const take = <T>(make: (buf: ArrayBuffer, offset: number, count: number) => T, width: number): T => {
    if (at + 8 > end) throw new SnapshotError("torn", "section header runs past the end");
    const length = view.getUint32(at, true);
    at += 8;
    if (at + length > end || length % width !== 0) throw new SnapshotError("torn", "section runs past the end");
    const t = make(aligned.buffer, at, length / width);
    at += pad8(length);
    return t;
  };
  const f64 = (b: ArrayBuffer, o: number, n: number) => new Float64Array(b, o, n);
  const u32 = (b: ArrayBuffer, o: number, n: number) => new Uint32Array(b, o, n);
  const u16 = (b: ArrayBuffer, o: number, n: number) => new Uint16Array(b, o, n);
  const u8 = (b: ArrayBuffer, o: number, n: number) => new Uint8Array(b, o, n);
  const parts: StateParts = {
    clock: meta.clock,
    memberCount: meta.memberCount,
    ids: take(f64, 8),
    score: take(u32, 4),
    tier: take(u8, 1),
    cellStart: take(u32, 4),
    cellCount: take(u16, 2),
    cellClass: take(u8, 1),
    cells: { keys: take(u32, 4), points: take(u32, 4), freeHead: take(u32, 4), freeCells: meta.freeCells },
    dedupHi: take(u32, 4),
    dedupLo: take(u32, 4),
    dedupSeenAt: take(f64, 8),
  };
  const n = meta.memberCount;
  const perMember = [parts.ids, parts.score, parts.tier, parts.cellStart, parts.cellCount, parts.cellClass];
  if (perMember.some((s) => s.length !== n)) throw new SnapshotError("torn", "member sections disagree with the header");
  const { cells } = parts;
  if (cells.points.length !== cells.keys.length || cells.freeHead.length !== CLASS_MAX + 1) {
    throw new SnapshotError("torn", "cell sections disagree with each other");
  }
  if (parts.dedupLo.length !== parts.dedupHi.length || parts.dedupSeenAt.length !== parts.dedupHi.length) {
    throw new SnapshotError("torn", "dedup sections disagree with each other");
  }
  if (at !== end) throw new SnapshotError("torn", "bytes after the last section");
  return { meta, parts };
}

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

function isMeta(m: unknown): m is SnapshotMeta {
  if (typeof m !== "object" || m === null || Array.isArray(m)) return false;
  const o = m as Record<string, unknown>;
  return isCount(o.lastSeq) && isCount(o.memberCount) && isCount(o.freeCells) && Number.isFinite(o.clock) && (o.clock as number) >= 0;
}
