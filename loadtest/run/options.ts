// The options every scenario shares: what load, against what, and what counts as passing.

import type { Config } from "../../engine/config.ts";
import { type Flags, type FlagSpec, numberFlag, UsageError } from "../../scripts/commands/command.ts";
import { DEFAULT_LINE_WEIGHTS } from "../population.ts";
import { LinesMixError, parseLinesMix } from "./lines-mix.ts";
import { PUBLISHER_DEFAULTS } from "./order-publisher.ts";

export interface LoadtestOptions {
  /** Orders per second asked for (the base rate of a spike). */
  rate: number;
  durationS: number;
  members: number;
  lines: Record<string, number>;
  /** WebSocket members to connect (0: none, no order → frame latency). */
  connections: number;
  /** Of those, the probe members (the rest are the population's most active members). */
  probeMembers: number;
  /** Probes per second; null: as many as the probe members can take over the run, ≤ 200/s. */
  probeRate: number | null;
  /** A deployment's NATS; null: start a local stack. */
  natsUrl: string | null;
  gatewayUrls: string[];
  jwtSecret: string | null;
  configPath: string | undefined;
  engines: number;
  gateway: boolean;
  seed: number;
  outDir: string | null;
  sloP99Ms: number | null;
  sloMinRate: number | null;
  ordersPerMessage: number;
  inFlightMax: number;
  drainS: number;
}

/** What a scenario may change about the defaults. */
export type ScenarioDefaults = Partial<Pick<LoadtestOptions, "rate" | "durationS" | "connections" | "engines">>;

export const COMMON_FLAGS: FlagSpec = {
  rate: { type: "string" },
  duration: { type: "string" },
  members: { type: "string" },
  lines: { type: "string" },
  connections: { type: "string" },
  "probe-members": { type: "string" },
  "probe-rate": { type: "string" },
  nats: { type: "string" },
  gateway: { type: "string" },
  "jwt-secret": { type: "string" },
  config: { type: "string" },
  engines: { type: "string" },
  "no-gateway": { type: "boolean" },
  seed: { type: "string" },
  out: { type: "string" },
  "slo-p99-ms": { type: "string" },
  "slo-min-rate": { type: "string" },
  batch: { type: "string" },
  "in-flight": { type: "string" },
  "drain-s": { type: "string" },
};

const BASE_DEFAULTS = { rate: 10_000, durationS: 30, connections: 200, engines: 1 } as const;
const PROBE_MEMBERS_DEFAULT_MAX = 1000;

export function commonFlagsHelp(): string {
  const mix = Object.entries(DEFAULT_LINE_WEIGHTS)
    .map(([l, w]) => `${l}=${Math.round(w * 100)}`)
    .join(",");
  return `load:
  --rate N            orders per second asked for (a spike's base rate)   [default ${BASE_DEFAULTS.rate.toLocaleString("en")}]
  --duration S        seconds of load                                     [default ${BASE_DEFAULTS.durationS}]
  --members N         members in the population (Zipf-popular + uniform)  [default 500000]
  --lines MIX         line=weight,… share of orders per business line     [default ${mix}]
  --connections N     WebSocket members connected to the gateway(s)       [default ${BASE_DEFAULTS.connections}; feed 2000, drop 1000]
  --probe-members N   of those, probe members (the rest: the most active) [default min(connections, ${PROBE_MEMBERS_DEFAULT_MAX})]
  --probe-rate N      probe orders per second                             [default: what the probe members can take, ≤ 200]
  --seed N            population seed                                     [default 1]
  --batch N           orders per message at most                          [default ${PUBLISHER_DEFAULTS.ordersPerMessage}]
  --in-flight N       messages awaiting their PubAck at most              [default ${PUBLISHER_DEFAULTS.inFlightMax}]
  --drain-s S         after the load, wait up to S s for acks, the engines and probes [default 30]

target (default: a local nats-server, engine(s) and gateway started and stopped by the run):
  --nats URL          a deployment's NATS (no local stack)                [NATS_URL is not read: only a named one is driven]
  --gateway URLS      its gateway(s), comma-separated http(s)://host:port — for the feed and order→frame latency
  --jwt-secret S      the gateways' member-token secret                   [env TIERSTREAM_JWT_SECRET]
  --config FILE       the engines' rules (lines, ladder, partitions)      [env TIERSTREAM_CONFIG]
  --engines N         local stack: engine processes splitting the partitions [default 1; chaos 2]
  --no-gateway        local stack: no gateway (publish → PubAck latency only)

output and verdict:
  --out DIR           result.json and report.html go here                 [default .loadtest/<scenario>-<time>]
  --slo-p99-ms MS     fail (exit 3) when the p99 latency is above MS (order → frame where measured, else publish → PubAck)
  --slo-min-rate N    fail (exit 3) when fewer than N orders/s were acknowledged over the run`;
}

const str = (flags: Flags, name: string): string | undefined => flags[name] as string | undefined;

export function parseOptions(flags: Flags, defaults: ScenarioDefaults, config: Config): LoadtestOptions {
  const d = { ...BASE_DEFAULTS, ...defaults };
  const rate = numberFlag(flags, "rate", d.rate, 1, 10_000_000);
  const durationS = numberFlag(flags, "duration", d.durationS, 1, 86_400);
  const connections = Math.floor(numberFlag(flags, "connections", d.connections, 0, 1_000_000));
  const probeMembers = Math.floor(numberFlag(flags, "probe-members", Math.min(connections, PROBE_MEMBERS_DEFAULT_MAX), 0, connections));
  const natsUrl = str(flags, "nats") ?? null;
  const gatewayUrls = (str(flags, "gateway") ?? "")
    .split(",")
    .map((u) => u.trim().replace(/\/+$/, ""))
    .filter((u) => u !== "");
  for (const u of gatewayUrls) if (!/^(https?|wss?):\/\/[^/]+$/.test(u)) throw new UsageError(`--gateway: "${u}" is not http(s)://host:port`);
  if (gatewayUrls.length > 0 && natsUrl === null) throw new UsageError("--gateway drives a deployment: give its --nats too");
  const jwtSecret = str(flags, "jwt-secret") ?? process.env.TIERSTREAM_JWT_SECRET ?? null;
  if (gatewayUrls.length > 0 && connections > 0 && (jwtSecret === null || jwtSecret.length < 16)) {
    throw new UsageError("--gateway with connections needs the gateways' member-token secret: --jwt-secret or TIERSTREAM_JWT_SECRET");
  }
  let lines: Record<string, number>;
  try {
    lines = str(flags, "lines") === undefined ? defaultMix(config) : parseLinesMix(str(flags, "lines")!, config.lineNames);
  } catch (err) {
    if (err instanceof LinesMixError) throw new UsageError(err.message);
    throw err;
  }
  const slo = (name: string) => (flags[name] === undefined ? null : numberFlag(flags, name, 0, 0, 1e12));
  return {
    rate,
    durationS,
    members: Math.floor(numberFlag(flags, "members", 500_000, 1, 4_294_967_290)),
    lines,
    connections,
    probeMembers,
    probeRate: flags["probe-rate"] === undefined ? null : numberFlag(flags, "probe-rate", 0, 0, 100_000),
    natsUrl,
    gatewayUrls,
    jwtSecret,
    configPath: str(flags, "config") ?? (process.env.TIERSTREAM_CONFIG || undefined),
    engines: Math.floor(numberFlag(flags, "engines", d.engines, 1, config.partitions)),
    gateway: flags["no-gateway"] !== true,
    seed: Math.floor(numberFlag(flags, "seed", 1, 0, 2 ** 32 - 1)),
    outDir: str(flags, "out") ?? null,
    sloP99Ms: slo("slo-p99-ms"),
    sloMinRate: slo("slo-min-rate"),
    ordersPerMessage: Math.floor(numberFlag(flags, "batch", PUBLISHER_DEFAULTS.ordersPerMessage, 1, 10_000)),
    inFlightMax: Math.floor(numberFlag(flags, "in-flight", PUBLISHER_DEFAULTS.inFlightMax, 1, 1_000_000)),
    drainS: numberFlag(flags, "drain-s", 30, 0, 3600),
  };
}

/** The population's default weights for the lines the engines know; any other line gets weight 1. */
function defaultMix(config: Config): Record<string, number> {
  return Object.fromEntries(config.lineNames.map((l) => [l, DEFAULT_LINE_WEIGHTS[l] ?? 1]));
}
