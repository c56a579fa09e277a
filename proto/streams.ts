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
  /**
   * TIER_EVENTS' duplicate window (s): a resend of a change whose ack was lost, or after a
   * reconnect, lands once within it. nats-server holds each id of the window in memory
   * (~190 bytes; README, "nats-server's memory").
   */
  tierEventsDuplicateWindowS?: number;
  /** ORDERS' duplicate window (s); the contract asks for at least 2 minutes. */
  ordersDuplicateWindowS?: number;
}

export const TIER_EVENTS_MAX_AGE_DAYS_MIN = 7;
export const TIER_EVENTS_MAX_AGE_DAYS_DEFAULT = 30;
/**
 * Below this a change could be stored twice without any outage: the engine resends a publish
 * whose ack is overdue (5 s), after backing off up to 5 s more (engine/outbox.ts).
 */
export const TIER_EVENTS_DUPLICATE_WINDOW_S_MIN = 60;
export const TIER_EVENTS_DUPLICATE_WINDOW_S_DEFAULT = 600;
export const ORDERS_DUPLICATE_WINDOW_S_MIN = 120;
export const ORDERS_DUPLICATE_WINDOW_S_DEFAULT = 120;
const DUPLICATE_WINDOW_S_MAX = 24 * 3600;

type NamedStreamConfig = Partial<StreamConfig> & { name: string };

function inRange(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) throw new RangeError(`${name} must be an integer ${min} … ${max}, got ${value}`);
  return value;
}

export function streamConfigs(opts: StreamOptions = {}): NamedStreamConfig[] {
  const num_replicas = inRange("replicas", opts.replicas ?? 1, 1, 5);
  const tierDays = inRange("TIER_EVENTS' age in days", opts.tierEventsMaxAgeDays ?? TIER_EVENTS_MAX_AGE_DAYS_DEFAULT, TIER_EVENTS_MAX_AGE_DAYS_MIN, 3650);
  const tierWindowS = inRange(
    "TIER_EVENTS' duplicate window in seconds",
    opts.tierEventsDuplicateWindowS ?? TIER_EVENTS_DUPLICATE_WINDOW_S_DEFAULT,
    TIER_EVENTS_DUPLICATE_WINDOW_S_MIN,
    DUPLICATE_WINDOW_S_MAX,
  );
  const ordersWindowS = inRange(
    "ORDERS' duplicate window in seconds",
    opts.ordersDuplicateWindowS ?? ORDERS_DUPLICATE_WINDOW_S_DEFAULT,
    ORDERS_DUPLICATE_WINDOW_S_MIN,
    DUPLICATE_WINDOW_S_MAX,
  );
  return [
    // The system of record: kept until an operator decides otherwise.
    { name: STREAM_ORDERS, subjects: ["orders.>"], storage: "file", num_replicas, duplicate_window: ordersWindowS * SECOND_NS },
    { name: STREAM_ORDERS_DLQ, subjects: ["dlq.orders.>"], storage: "file", num_replicas, duplicate_window: 2 * MINUTE_NS },
    {
      name: STREAM_TIER_EVENTS,
      subjects: ["tier.>"],
      storage: "file",
      num_replicas,
      max_age: tierDays * DAY_NS,
      duplicate_window: tierWindowS * SECOND_NS,
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

/** Whether a JetStream API error says the stream does not exist. */
export function isStreamNotFound(err: unknown): boolean {
  const e = err as { name?: string; message?: string; code?: number; api_error?: { err_code?: number } };
  return e?.name === "StreamNotFoundError" || e?.api_error?.err_code === 10059 || /stream not found/i.test(String(e?.message));
}
