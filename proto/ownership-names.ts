// Names and values of partition ownership (engine/ownership/README.md): which engine process
// owns which partition, in the KV bucket TIERSTREAM_LEASES, and where partition snapshots
// live, in the object store TIERSTREAM_SNAPSHOTS. Here, not in the engine, so that a gateway
// or an operator's tool can read who owns what without importing the engine.

/** KV bucket (stream KV_TIERSTREAM_LEASES) of partition leases and engine heartbeats. */
export const BUCKET_LEASES = "TIERSTREAM_LEASES";
/** Object store (stream OBJ_TIERSTREAM_SNAPSHOTS) of partition snapshots. */
export const BUCKET_SNAPSHOTS = "TIERSTREAM_SNAPSHOTS";

export const LEASE_KEY_PREFIX = "p.";
export const MEMBER_KEY_PREFIX = "member.";
/** The lease of partition p. */
export const leaseKey = (partition: number): string => `${LEASE_KEY_PREFIX}${partition}`;
/** The heartbeat of one engine process (one incarnation: a restarted process has a new id). */
export const memberKey = (engineId: string): string => `${MEMBER_KEY_PREFIX}${engineId}`;

/** Engine ids become KV key tokens: letters, digits, '-', '_' and '=', 1 … 64 of them. */
export const ENGINE_ID_PATTERN = /^[A-Za-z0-9_=-]{1,64}$/;

/** The partition of a lease key, or -1 for any other key. */
export function partitionOfLeaseKey(key: string): number {
  if (!key.startsWith(LEASE_KEY_PREFIX)) return -1;
  const digits = key.slice(LEASE_KEY_PREFIX.length);
  return /^(0|[1-9]\d{0,4})$/.test(digits) ? Number(digits) : -1;
}

/**
 * The value of `p.<n>`. `owner: null` is a lease released on a planned hand-off: free at once.
 * `epoch` grows by one with every new holder (the fencing token); renewals keep it.
 * `renewedAt` is the writer's wall clock, for people reading the bucket — expiry is never
 * judged from it (clocks of two machines differ; see engine/ownership/README.md).
 */
export interface LeaseValue {
  owner: string | null;
  epoch: number;
  /** The holder's TTL: a contender waits this long (plus a margin) without a renewal. */
  ttlMs: number;
  renewedAt: number;
}

/** The value of `member.<id>`: an engine process that wants partitions. */
export interface MemberValue {
  id: string;
  ttlMs: number;
  startedAt: number;
  renewedAt: number;
  /**
   * Its view of the bucket has run for a TTL and margin: it has found every dead member dead
   * (a newcomer first counts every member key it sees as live) and so agrees with the others
   * on the target. Partitions are handed off only to settled members.
   */
  settled: boolean;
}

const LEASE_TTL_MS_MAX = 10 * 60_000;

/** Parses a lease value; null for anything that is not one (a contender treats it as expired-when-stale). */
export function parseLeaseValue(bytes: Uint8Array): LeaseValue | null {
  const v = parseJson(bytes) as Partial<LeaseValue> | null;
  if (v == null || typeof v !== "object") return null;
  const ownerOk = v.owner === null || (typeof v.owner === "string" && ENGINE_ID_PATTERN.test(v.owner));
  if (!ownerOk || !isCount(v.epoch) || !isTtl(v.ttlMs) || typeof v.renewedAt !== "number") return null;
  return { owner: v.owner as string | null, epoch: v.epoch as number, ttlMs: v.ttlMs as number, renewedAt: v.renewedAt };
}

export function parseMemberValue(bytes: Uint8Array): MemberValue | null {
  const v = parseJson(bytes) as Partial<MemberValue> | null;
  if (v == null || typeof v !== "object") return null;
  if (typeof v.id !== "string" || !ENGINE_ID_PATTERN.test(v.id) || !isTtl(v.ttlMs)) return null;
  if (typeof v.startedAt !== "number" || typeof v.renewedAt !== "number") return null;
  return { id: v.id, ttlMs: v.ttlMs as number, startedAt: v.startedAt, renewedAt: v.renewedAt, settled: v.settled === true };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
export const encodeLeaseValue = (v: LeaseValue): Uint8Array => encoder.encode(JSON.stringify(v));
export const encodeMemberValue = (v: MemberValue): Uint8Array => encoder.encode(JSON.stringify(v));

function parseJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(decoder.decode(bytes));
  } catch {
    return null;
  }
}

const isCount = (n: unknown): boolean => Number.isSafeInteger(n) && (n as number) >= 0;
const isTtl = (n: unknown): boolean => Number.isSafeInteger(n) && (n as number) > 0 && (n as number) <= LEASE_TTL_MS_MAX;

/** Object name of a partition snapshot: `p<p>/<lastSeq, 16 digits>.snap` (sorts by seq). */
export const snapshotObjectName = (partition: number, lastSeq: number): string =>
  `p${partition}/${String(lastSeq).padStart(16, "0")}.snap`;

/** The ORDERS seq of one of partition p's snapshot objects, or -1 for any other name. */
export function snapshotSeqOf(name: string, partition: number): number {
  const prefix = `p${partition}/`;
  if (!name.startsWith(prefix)) return -1;
  const m = /^(\d{16})\.snap$/.exec(name.slice(prefix.length));
  return m ? Number(m[1]) : -1;
}
