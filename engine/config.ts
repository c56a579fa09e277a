// Engine configuration: rules, lines, ladder, policy and limits. Validated once at start-up
// (zod, off the hot path) and turned into the flat numeric form the hot path reads.

import { z } from "zod";
import { PARTITIONS_DEFAULT, TIERS, TIER_COUNT } from "../proto/index.ts";

export const POLICIES = ["period-end", "one-down", "immediate"] as const;
export type Policy = (typeof POLICIES)[number];

/** Lines are indexed in a byte; 32 keeps a member's (month, line) cells few and keys small. */
export const LINES_MAX = 32;

const ladderSchema = z
  .object(Object.fromEntries(TIERS.map((t) => [t, z.number().int().min(0)])) as Record<(typeof TIERS)[number], z.ZodNumber>)
  .strict()
  .refine((l) => l.bronze === 0, { message: "bronze must start at 0 (every member starts at bronze)" })
  .refine((l) => TIERS.every((t, i) => i === 0 || l[t] > l[TIERS[i - 1]]), {
    message: "tier minimums must rise strictly from bronze to black_diamond",
  });

export const configSchema = z
  .object({
    partitions: z.number().int().min(1).max(65536).default(PARTITIONS_DEFAULT),
    /** Points per yuan of each business line, in the order lines are numbered. */
    lines: z
      .record(z.string().regex(/^[a-z][a-z0-9_]{0,31}$/, "line names are lowercase identifiers"), z.number().min(0).max(900))
      .refine((l) => Object.keys(l).length >= 1 && Object.keys(l).length <= LINES_MAX, {
        message: `between 1 and ${LINES_MAX} lines`,
      })
      .default({ taobao: 1, tmall: 1, eleme: 2, fliggy: 0.5, hema: 1.5 }),
    orderPointsMax: z.number().int().min(1).max(1_000_000_000).default(5000),
    ladder: ladderSchema.default({ bronze: 0, silver: 200, gold: 500, platinum: 1000, diamond: 2500, black_diamond: 6000 }),
    policy: z.enum(POLICIES).default("period-end"),
    windowMonths: z.number().int().min(1).max(120).default(12),
    /** Months are calendar months at this UTC offset (UTC+08:00 by default). */
    utcOffsetMinutes: z.number().int().min(-720).max(840).default(480),
    /** An order re-published with the same (id, kind) within this much event time is ignored. */
    dedupHorizonMs: z.number().int().min(0).max(7 * 24 * 3600_000).default(600_000),
    /** An event whose ts is more than this after JetStream stored it is bad input. */
    futureSkewMs: z.number().int().min(0).max(24 * 3600_000).default(300_000),
    /** A partition whose clock lags the wall clock by this much gets a tick; 0 turns ticks off. */
    tickIntervalMs: z
      .number()
      .int()
      .refine((v) => v === 0 || (v >= 100 && v <= 3600_000), { message: "0 (off) or 100 … 3600000 ms" })
      .default(1000),
    /** How often each partition writes a snapshot (when a snapshot folder is given). */
    snapshotIntervalMs: z.number().int().min(1000).max(24 * 3600_000).default(60_000),
    /** Tier changes a partition may have in flight before its consumption pauses. */
    tierPublishInFlightMax: z.number().int().min(1).max(1_000_000).default(4096),
  })
  .strict();

export type ConfigInput = z.input<typeof configSchema>;

export interface Config {
  partitions: number;
  lineNames: string[];
  /** round(pointsPerYuan × 1000) per line index. */
  lineMilli: Int32Array;
  orderPointsMax: number;
  /** Minimum score of each tier, lowest first. */
  ladder: Float64Array;
  policy: Policy;
  windowMonths: number;
  utcOffsetMs: number;
  dedupHorizonMs: number;
  futureSkewMs: number;
  tickIntervalMs: number;
  snapshotIntervalMs: number;
  tierPublishInFlightMax: number;
}

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

/** Validates a parsed config object; throws ConfigError with every problem on one line each. */
export function loadConfig(input: unknown = {}): Config {
  const parsed = configSchema.safeParse(input ?? {});
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new ConfigError(`invalid config: ${problems.join("; ")}`);
  }
  const c = parsed.data;
  const lineNames = Object.keys(c.lines);
  const config: Config = {
    partitions: c.partitions,
    lineNames,
    lineMilli: Int32Array.from(lineNames.map((l) => Math.round(c.lines[l] * 1000))),
    orderPointsMax: c.orderPointsMax,
    ladder: Float64Array.from(TIERS.map((t) => c.ladder[t])),
    policy: c.policy,
    windowMonths: c.windowMonths,
    utcOffsetMs: c.utcOffsetMinutes * 60_000,
    dedupHorizonMs: c.dedupHorizonMs,
    futureSkewMs: c.futureSkewMs,
    tickIntervalMs: c.tickIntervalMs,
    snapshotIntervalMs: c.snapshotIntervalMs,
    tierPublishInFlightMax: c.tierPublishInFlightMax,
  };
  console.assert(config.ladder.length === TIER_COUNT);
  return config;
}

/** Reads and validates a JSON config file. */
export async function loadConfigFile(path: string | undefined): Promise<Config> {
  if (!path) return loadConfig({});
  let text: string;
  try {
    text = await Bun.file(path).text();
  } catch (err) {
    throw new ConfigError(`cannot read config ${path}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config ${path} is not JSON: ${(err as Error).message}`);
  }
  return loadConfig(json);
}
