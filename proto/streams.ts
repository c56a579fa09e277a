// The JetStream streams of the contract, and ensureStreams to create the missing ones.
// Any process (engine, gateway, producer, test) may call it; creating is idempotent.

import type { JetStreamManager, StreamConfig, StreamInfo } from "@nats-io/jetstream";
import { isCreatedConcurrently } from "./create-race.ts";
import { STREAM_CLAIMS, STREAM_ORDERS, STREAM_ORDERS_DLQ, STREAM_TIER_EVENTS, TIER_REPUBLISH } from "./names.ts";

const SECOND_NS = 1_000_000_000;
const MINUTE_NS = 60 * SECOND_NS;
const DAY_NS = 24 * 60 * MINUTE_NS;

export interface StreamOptions {
  /** Replicas per stream (3 on a cluster). */
  replicas?: number;
  /** How long TIER_EVENTS keeps changes; the contract asks for at least 7 days. */
  tierEventsMaxAgeDays?: number;
}

type NamedStreamConfig = Partial<StreamConfig> & { name: string };

export function streamConfigs(opts: StreamOptions = {}): NamedStreamConfig[] {
  const num_replicas = opts.replicas ?? 1;
  const tierDays = opts.tierEventsMaxAgeDays ?? 30;
  if (tierDays < 7) throw new RangeError("TIER_EVENTS must keep at least 7 days");
  return [
    // The system of record: kept until an operator decides otherwise.
    { name: STREAM_ORDERS, subjects: ["orders.>"], storage: "file", num_replicas, duplicate_window: 2 * MINUTE_NS },
    { name: STREAM_ORDERS_DLQ, subjects: ["dlq.orders.>"], storage: "file", num_replicas, duplicate_window: 2 * MINUTE_NS },
    {
      name: STREAM_TIER_EVENTS,
      subjects: ["tier.>"],
      storage: "file",
      num_replicas,
      max_age: tierDays * DAY_NS,
      duplicate_window: 10 * MINUTE_NS,
      // The live feed: the server republishes each change the moment it is stored, with its
      // seq, so a change reaches the gateways without waiting for the engine to read its
      // PubAck and publish it again (one hop and one message less per change). A change whose
      // publish was a duplicate is not stored, so it is not republished either.
      republish: { ...TIER_REPUBLISH },
    },
    { name: STREAM_CLAIMS, subjects: ["claims.>"], storage: "file", num_replicas, duplicate_window: 10 * MINUTE_NS },
  ] as NamedStreamConfig[];
}

export interface EnsuredStreams {
  /**
   * TIER_EVENTS republishes each stored change (the live tier feed). False only for a stream
   * made without it on a server that cannot add it to an existing stream (nats-server 2.9
   * refuses: "can not change RePublish"); the engine then publishes live changes itself.
   */
  tierRepublish: boolean;
}

/**
 * Creates every stream that does not exist yet. Existing ones are left as they are, but for
 * TIER_EVENTS' RePublish (the live feed), which is added to a stream made before it was part
 * of the config, or made by hand without it, where the server allows.
 */
export async function ensureStreams(jsm: JetStreamManager, opts: StreamOptions = {}): Promise<EnsuredStreams> {
  let tierRepublish = true;
  for (const config of streamConfigs(opts)) {
    let info: StreamInfo;
    try {
      info = await jsm.streams.info(config.name);
    } catch (err) {
      if (!isStreamNotFound(err)) throw err;
      try {
        await jsm.streams.add(config);
      } catch (addErr) {
        // Another process created it between our look and our add.
        if (!isCreatedConcurrently(addErr)) throw addErr;
      }
      continue;
    }
    if (config.republish && !sameRepublish(info.config.republish, config.republish)) {
      try {
        await jsm.streams.update(config.name, { ...info.config, republish: config.republish });
      } catch (err) {
        if (!CANNOT_CHANGE_REPUBLISH.test(String((err as Error)?.message))) throw err;
        tierRepublish = false;
      }
    }
  }
  return { tierRepublish };
}

const CANNOT_CHANGE_REPUBLISH = /can ?not change republish/i;

function isStreamNotFound(err: unknown): boolean {
  const e = err as { name?: string; message?: string; code?: number; api_error?: { err_code?: number } };
  return e?.name === "StreamNotFoundError" || e?.api_error?.err_code === 10059 || /stream not found/i.test(String(e?.message));
}

function sameRepublish(a: StreamConfig["republish"] | undefined, b: NonNullable<StreamConfig["republish"]>): boolean {
  return a !== undefined && a.src === b.src && a.dest === b.dest && (a.headers_only ?? false) === (b.headers_only ?? false);
}
