// `tierstream streams`: the contract's streams, their sizing settings and what they hold; with
// --apply, the missing ones created and the settings given set on the ones that exist.
// Every engine and gateway creates a missing stream itself, with the defaults; this is for an
// operator who sizes them (README, "nats-server's memory grows with the membership").

import { type JetStreamManager, jetstreamManager, type StreamConfig, type StreamInfo } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import {
  isStreamNotFound,
  ORDERS_DUPLICATE_WINDOW_S_DEFAULT,
  ORDERS_DUPLICATE_WINDOW_S_MIN,
  type StreamOptions,
  streamConfigs,
  TIER_EVENTS_DUPLICATE_WINDOW_S_DEFAULT,
  TIER_EVENTS_DUPLICATE_WINDOW_S_MIN,
  TIER_EVENTS_MAX_AGE_DAYS_DEFAULT,
  TIER_EVENTS_MAX_AGE_DAYS_MIN,
} from "../../proto/streams.ts";
import { STREAM_ORDERS, STREAM_TIER_EVENTS } from "../../proto/names.ts";
import { type Command, natsUrlOf, numberFlag, parseFlags } from "./command.ts";

const NS_PER_S = 1e9;
/** The settings this command shows and sets. */
const SETTINGS = ["max_age", "duplicate_window", "num_replicas"] as const;
type Setting = (typeof SETTINGS)[number];

export interface StreamPlan {
  /** What the stream is created with when missing; its settings are what the flags ask for. */
  config: Partial<StreamConfig> & { name: string };
  /** Null when the stream does not exist (--apply creates it with `config`). */
  info: StreamInfo | null;
  /** On a stream that exists: the settings asked for that differ from its own. */
  changes: { setting: Setting; from: number; to: number }[];
}

/** Whether the operator asked for `setting` of `stream` (a setting nobody asked about is left as it is). */
export type Asked = (stream: string, setting: Setting) => boolean;

/** What --apply would do: a missing stream is created whole; on one that exists, only what was asked for changes. */
export async function planStreams(jsm: JetStreamManager, opts: StreamOptions, asked: Asked): Promise<StreamPlan[]> {
  const plans: StreamPlan[] = [];
  for (const config of streamConfigs(opts)) {
    const info = await jsm.streams.info(config.name).catch((err: unknown) => {
      if (isStreamNotFound(err)) return null;
      throw err;
    });
    const changes: StreamPlan["changes"] = [];
    if (info !== null) {
      for (const setting of SETTINGS) {
        const from = info.config[setting] ?? 0;
        const to = config[setting] ?? 0;
        if (asked(config.name, setting) && from !== to) changes.push({ setting, from, to });
      }
    }
    plans.push({ config, info, changes });
  }
  return plans;
}

/** Creates the missing streams and sets the planned settings on the others. */
export async function applyStreams(jsm: JetStreamManager, plans: readonly StreamPlan[]): Promise<void> {
  for (const plan of plans) {
    if (plan.info === null) {
      await jsm.streams.add(plan.config);
    } else if (plan.changes.length > 0) {
      const update: Partial<StreamConfig> = {};
      for (const c of plan.changes) update[c.setting] = c.to;
      await jsm.streams.update(plan.config.name, { ...plan.info.config, ...update });
    }
  }
}

function shown(setting: Setting, value: number): string {
  if (setting === "num_replicas") return String(value);
  if (value === 0) return "unlimited";
  const s = value / NS_PER_S;
  return s >= 86_400 && s % 86_400 === 0 ? `${s / 86_400} d` : `${s} s`;
}

/** "max_age 30 d, duplicate_window 600 s, num_replicas 1" */
const settingsOf = (config: Partial<StreamConfig>) => SETTINGS.map((s) => `${s} ${shown(s, config[s] ?? 0)}`).join(", ");

function describe(plans: readonly StreamPlan[], applied: boolean): string {
  const lines: string[] = [];
  for (const { config, info, changes } of plans) {
    const name = config.name.padEnd(12);
    if (info === null) {
      lines.push(`${name} missing`, `  ${applied ? "created" : "would create"} with ${settingsOf(config)}`);
      continue;
    }
    lines.push(`${name} ${info.state.messages.toLocaleString("en")} messages, ${(info.state.bytes / 2 ** 20).toFixed(1)} MiB; ${settingsOf(info.config)}`);
    for (const c of changes) lines.push(`  ${applied ? "set" : "would set"} ${c.setting}: ${shown(c.setting, c.from)} → ${shown(c.setting, c.to)}`);
  }
  return lines.join("\n");
}

export const streamsCommand: Command = {
  name: "streams",
  summary: "show the streams and their sizing; with --apply, create the missing ones and set their sizing",
  help: `usage: tierstream streams [flags]

Shows the contract's streams (ORDERS, ORDERS_DLQ, TIER_EVENTS, CLAIMS): what each holds and
its sizing settings, and what the flags given would change. With --apply it creates the
missing streams (every engine and gateway would, with the defaults) and sets the settings
given on the ones that exist; a setting not given is left as it is.

nats-server holds ~190 bytes of memory for each id in a duplicate window, and ~200 bytes for
each member with a change in TIER_EVENTS (README, "nats-server's memory grows with the
membership").

flags:
  --nats URL                  NATS server(s), comma-separated   [env NATS_URL, default nats://127.0.0.1:4222]
  --tier-events-days N        how long TIER_EVENTS keeps changes (≥ ${TIER_EVENTS_MAX_AGE_DAYS_MIN})    [default ${TIER_EVENTS_MAX_AGE_DAYS_DEFAULT}]
  --tier-dedup-window S       TIER_EVENTS' duplicate window, seconds (≥ ${TIER_EVENTS_DUPLICATE_WINDOW_S_MIN}: the engine resends
                              a publish whose ack is overdue up to ~10 s later)   [default ${TIER_EVENTS_DUPLICATE_WINDOW_S_DEFAULT}]
  --orders-dedup-window S     ORDERS' duplicate window, seconds (≥ ${ORDERS_DUPLICATE_WINDOW_S_MIN})   [default ${ORDERS_DUPLICATE_WINDOW_S_DEFAULT}]
  --replicas R                replicas of every stream (a cluster of ≥ R servers)   [default 1]
  --apply                     make the changes (without it, only show them)`,

  async run(argv) {
    const { flags } = parseFlags(argv, {
      nats: { type: "string" },
      "tier-events-days": { type: "string" },
      "tier-dedup-window": { type: "string" },
      "orders-dedup-window": { type: "string" },
      replicas: { type: "string" },
      apply: { type: "boolean" },
    });
    const opts: StreamOptions = {
      tierEventsMaxAgeDays: numberFlag(flags, "tier-events-days", TIER_EVENTS_MAX_AGE_DAYS_DEFAULT, TIER_EVENTS_MAX_AGE_DAYS_MIN, 3650),
      tierEventsDuplicateWindowS: numberFlag(flags, "tier-dedup-window", TIER_EVENTS_DUPLICATE_WINDOW_S_DEFAULT, TIER_EVENTS_DUPLICATE_WINDOW_S_MIN, 86_400),
      ordersDuplicateWindowS: numberFlag(flags, "orders-dedup-window", ORDERS_DUPLICATE_WINDOW_S_DEFAULT, ORDERS_DUPLICATE_WINDOW_S_MIN, 86_400),
      replicas: numberFlag(flags, "replicas", 1, 1, 5),
    };
    streamConfigs(opts); // refuses what is not a whole number in range, before connecting
    const asked: Asked = (stream, setting) => {
      if (setting === "num_replicas") return flags.replicas !== undefined;
      if (stream === STREAM_TIER_EVENTS) return flags[setting === "max_age" ? "tier-events-days" : "tier-dedup-window"] !== undefined;
      return stream === STREAM_ORDERS && setting === "duplicate_window" && flags["orders-dedup-window"] !== undefined;
    };
    const nc = await connect({ servers: natsUrlOf(flags.nats), name: "tierstream-streams" });
    try {
      const jsm = await jetstreamManager(nc);
      const plans = await planStreams(jsm, opts, asked);
      if (flags.apply) await applyStreams(jsm, plans);
      console.log(describe(plans, flags.apply === true));
      const pending = plans.some((p) => p.info === null || p.changes.length > 0);
      if (!flags.apply && pending) console.log("(nothing changed: --apply makes these changes)");
      return 0;
    } finally {
      await nc.close();
    }
  },
};
