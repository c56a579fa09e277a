// The drop scenario's own flags: how many members claim, what the benefit holds, when it
// opens, who may claim it, and how hard the claims are pushed.

import { type Flags, type FlagSpec, numberFlag, UsageError } from "../../scripts/commands/command.ts";
import { BENEFIT_INVENTORY_MAX, BENEFIT_PER_MEMBER_MAX } from "../../proto/benefit.ts";
import { TIERS, type Tier } from "../../proto/types.ts";
import type { LoadtestOptions } from "./options.ts";

/** Member ids come from one fresh block of 2^20 (feed-clients.ts probeMemberIds). */
const MEMBERS_MAX = 2 ** 20;
export const CLAIM_CONCURRENCY_DEFAULT = 256;

/** How many requests Bun's fetch sends at once (the rest wait inside fetch, timed as latency). */
export function fetchConcurrencyLimit(): number {
  const v = Number(process.env.BUN_CONFIG_MAX_HTTP_REQUESTS);
  return Number.isFinite(v) && v > 0 ? v : 256;
}

export interface DropSettings {
  /** Members connected to the feed (the first of the run's members). */
  connections: number;
  /** Members who claim (the first of the run's members: connected ones first). */
  claimants: number;
  inventory: number;
  perMember: number;
  opensInS: number;
  minTier: Tier;
  /** Claims in flight at most. */
  claimConcurrency: number;
}

export const DROP_FLAGS: FlagSpec = {
  claimants: { type: "string" },
  inventory: { type: "string" },
  "per-member": { type: "string" },
  "opens-in-s": { type: "string" },
  "min-tier": { type: "string" },
  "claim-concurrency": { type: "string" },
  "api-key": { type: "string" },
};

export const DROP_FLAGS_HELP = `  --connections N     members connected to the feed, told when it opens    [default 1000]
  --claimants N       members who claim, the connected ones first (may be more) [default: --connections]
  --inventory N       units of the benefit                                [default 1000]
  --per-member N      units a member may win; each claimant claims N times [default 1]
  --opens-in-s S      the benefit opens S s after it is defined           [default 3]
  --min-tier T        ${TIERS.join("|")} [default bronze]
                      (above bronze the claimants first get the orders that lift them to T)
  --claim-concurrency N  claims in flight at most                         [default ${CLAIM_CONCURRENCY_DEFAULT}; Bun's fetch
                      sends 256 at once unless BUN_CONFIG_MAX_HTTP_REQUESTS is raised]
  --api-key KEY       a deployment's gateway key, scopes read and claim   [env TIERSTREAM_LOADTEST_API_KEY]
  (--slo-p99-ms judges claim → answer, --slo-min-rate claims answered per second; a failed check exits 4)`;

export function dropSettings(flags: Flags, o: LoadtestOptions): DropSettings {
  const int = (name: string, fallback: number, min: number, max: number) => Math.floor(numberFlag(flags, name, fallback, min, max));
  const minTier = (flags["min-tier"] as string | undefined) ?? "bronze";
  if (!(TIERS as readonly string[]).includes(minTier)) throw new UsageError(`--min-tier must be one of ${TIERS.join(", ")}, got "${minTier}"`);
  const s: DropSettings = {
    connections: o.connections,
    claimants: int("claimants", o.connections, 1, MEMBERS_MAX),
    inventory: int("inventory", 1000, 0, BENEFIT_INVENTORY_MAX),
    perMember: int("per-member", 1, 1, BENEFIT_PER_MEMBER_MAX),
    opensInS: numberFlag(flags, "opens-in-s", 3, 0, 3600),
    minTier: minTier as Tier,
    claimConcurrency: int("claim-concurrency", CLAIM_CONCURRENCY_DEFAULT, 1, 100_000),
  };
  if (s.connections > MEMBERS_MAX) throw new UsageError(`--connections: a drop connects at most ${MEMBERS_MAX} members`);
  return s;
}

/** The gateway key for the claims: the local stack's, else --api-key or the environment's. */
export function dropApiKey(flags: Flags, localKey: string | null): string | null {
  return localKey ?? (flags["api-key"] as string | undefined) ?? (process.env.TIERSTREAM_LOADTEST_API_KEY || null);
}
