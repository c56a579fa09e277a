// Gateway configuration: where NATS is, who may do what, and the limits of each connection.

import { PARTITIONS_DEFAULT } from "../proto/names.ts";

export const SCOPES = ["read", "claim", "ingest", "admin"] as const;
export type Scope = (typeof SCOPES)[number];

export interface GatewayOptions {
  natsUrl: string;
  /** 0 picks a free port. */
  port: number;
  hostname?: string;
  /** HS256 secret for member tokens. */
  jwtSecret: string;
  /** API key → its scopes. */
  apiKeys: ReadonlyMap<string, ReadonlySet<Scope>>;
  partitions: number;
  /** The configured business lines (orders are validated against them). */
  lines: readonly string[];
  /** Engine request timeout. */
  requestTimeoutMs: number;
  /** How long a request keeps retrying a partition no engine answers (a hand-off, a takeover). */
  ownerlessRetryMs: number;
  /** Bytes a WebSocket may have queued before it is closed with 1013. */
  wsBackpressureBytesMax: number;
  /** A connection silent this long (no pong either) is closed. */
  wsIdleTimeoutSec: number;
  /** Interest leases the gateway holds at the engines. */
  interestLeaseMs: number;
  /** How long new interest is batched before it is announced; a feed's hello waits for it (default 10 ms). */
  interestBatchMs?: number;
  /**
   * How long a member view stays cached when no engine's view notices vouch for it (none
   * heard yet for its partition, or an endpoint's answer); see gateway/member-cache.ts.
   */
  memberCacheTtlMs: number;
  /** How long a member view stays cached at most, notices or not. */
  memberCacheMaxAgeMs: number;
  memberCacheEntriesMax: number;
  name: string;
  /** Replicas of the benefit buckets when this gateway is the one that creates them; default 1. */
  replicas?: number;
}

export const GATEWAY_DEFAULTS = {
  port: 8080,
  partitions: PARTITIONS_DEFAULT,
  requestTimeoutMs: 2000,
  ownerlessRetryMs: 8000,
  wsBackpressureBytesMax: 1 << 20,
  wsIdleTimeoutSec: 60,
  interestLeaseMs: 30_000,
  memberCacheTtlMs: 250,
  memberCacheMaxAgeMs: 60_000,
  memberCacheEntriesMax: 100_000,
} as const;

export class GatewayConfigError extends Error {
  override readonly name = "GatewayConfigError";
}

/** Parses TIERSTREAM_API_KEYS: `key:scope,scope;key2:scope`. */
export function parseApiKeys(spec: string | undefined): Map<string, Set<Scope>> {
  const keys = new Map<string, Set<Scope>>();
  if (!spec) return keys;
  for (const entry of spec.split(";")) {
    if (entry.trim() === "") continue;
    const colon = entry.indexOf(":");
    if (colon <= 0) throw new GatewayConfigError(`bad API key entry "${entry}": use key:scope,scope`);
    const key = entry.slice(0, colon).trim();
    if (key.length < 8) throw new GatewayConfigError(`API key "${key.slice(0, 3)}…" is shorter than 8 characters`);
    const scopes = new Set<Scope>();
    for (const raw of entry.slice(colon + 1).split(",")) {
      const s = raw.trim();
      if (!(SCOPES as readonly string[]).includes(s)) {
        throw new GatewayConfigError(`unknown scope "${s}" for an API key; scopes are ${SCOPES.join(", ")}`);
      }
      scopes.add(s as Scope);
    }
    keys.set(key, scopes);
  }
  return keys;
}
