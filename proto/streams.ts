// The JetStream streams of the contract, and ensureStreams to create the missing ones.
// Any process (engine, gateway, producer, test) may call it; creating is idempotent.

import type { JetStreamManager, StreamConfig } from "@nats-io/jetstream";
import { isCreatedConcurrently, retryTransient } from "./create-race.ts";
import { STREAM_CLAIMS, STREAM_ORDERS, STREAM_ORDERS_DLQ, STREAM_TIER_EVENTS } from "./names.ts";

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
    },
    { name: STREAM_CLAIMS, subjects: ["claims.>"], storage: "file", num_replicas, duplicate_window: 10 * MINUTE_NS },
  ] as NamedStreamConfig[];
}

/**
 * Creates every stream that does not exist yet; existing ones are left as they are. A slow or
 * busy server's transient failures are ridden out (create-race.ts): every process calls this
 * at start, and one slow answer should not end it.
 */
export async function ensureStreams(jsm: JetStreamManager, opts: StreamOptions = {}): Promise<void> {
  for (const config of streamConfigs(opts)) await retryTransient(() => ensureStream(jsm, config));
}

async function ensureStream(jsm: JetStreamManager, config: NamedStreamConfig): Promise<void> {
  try {
    await jsm.streams.info(config.name);
  } catch (err) {
    if (!isStreamNotFound(err)) throw err;
    try {
      await jsm.streams.add(config);
    } catch (addErr) {
      // Another process created it between our look and our add.
      if (!isCreatedConcurrently(addErr)) throw addErr;
    }
  }
}

function isStreamNotFound(err: unknown): boolean {
  const e = err as { name?: string; message?: string; code?: number; api_error?: { err_code?: number } };
  return e?.name === "StreamNotFoundError" || e?.api_error?.err_code === 10059 || /stream not found/i.test(String(e?.message));
}
