// Accepted orders → ORDERS. Grouped by partition (each message holds one partition's orders,
// as the contract requires), cut into messages of at most ORDERS_PER_MESSAGE_MAX, published
// all at once, and successful only when JetStream acknowledged every message.
//
// Nats-Msg-Id is `<Idempotency-Key>:<partition>:<chunk>` when the client sent a key: the same
// batch always cuts into the same messages, so a retry after a partial failure re-publishes
// only what JetStream has not stored (within the ORDERS dedup window, 2 minutes). Without a
// key the ids are random (a retry is then caught only by the engine's (id, kind) horizon).

import type { JetStreamClient } from "@nats-io/jetstream";
import { encodeOrders } from "../../proto/codec.ts";
import { ordersSubject } from "../../proto/names.ts";
import { partitionOf } from "../../proto/partition.ts";
import type { Order } from "../../proto/types.ts";
import { HttpError } from "./errors.ts";

/** Orders per ORDERS message: small enough to spread a batch, large enough to amortise acks. */
export const ORDERS_PER_MESSAGE_MAX = 256;
export const IDEMPOTENCY_KEY_CHARS_MAX = 128;
/** Visible ASCII, no spaces: the key becomes part of a NATS header value. */
const IDEMPOTENCY_KEY = /^[\x21-\x7e]+$/;

export interface OrderMessage {
  subject: string;
  msgId: string;
  orders: Order[];
}

/** The key of a request, checked; a random one when the client sent none. */
export function idempotencyKeyOf(header: string | null | undefined): { key: string; fromClient: boolean } {
  if (header === null || header === undefined) return { key: crypto.randomUUID(), fromClient: false };
  if (header.length === 0 || header.length > IDEMPOTENCY_KEY_CHARS_MAX || !IDEMPOTENCY_KEY.test(header)) {
    throw new HttpError(400, "bad_idempotency_key", `Idempotency-Key must be 1 … ${IDEMPOTENCY_KEY_CHARS_MAX} visible ASCII characters`);
  }
  return { key: header, fromClient: true };
}

/** The messages of a batch: deterministic for a given order list and key. */
export function planMessages(orders: readonly Order[], partitions: number, key: string): OrderMessage[] {
  const byPartition = new Map<number, Order[]>();
  for (const order of orders) {
    const p = partitionOf(order.member, partitions);
    let list = byPartition.get(p);
    if (list === undefined) byPartition.set(p, (list = []));
    list.push(order);
  }
  const messages: OrderMessage[] = [];
  for (const [p, list] of byPartition) {
    for (let chunk = 0; chunk * ORDERS_PER_MESSAGE_MAX < list.length; chunk++) {
      const slice = list.slice(chunk * ORDERS_PER_MESSAGE_MAX, (chunk + 1) * ORDERS_PER_MESSAGE_MAX);
      messages.push({ subject: ordersSubject(p), msgId: `${key}:${p}:${chunk}`, orders: slice });
    }
  }
  return messages;
}

export interface PublishResult {
  /** Orders in messages JetStream stored now (not duplicates of an earlier attempt). */
  stored: number;
  /** Messages JetStream did not acknowledge, and why the first one failed. */
  failed: number;
  firstError: string;
}

/** Publishes every message and waits for every ack (or failure); never throws. */
export async function publishMessages(js: JetStreamClient, messages: readonly OrderMessage[]): Promise<PublishResult> {
  const settled = await Promise.allSettled(messages.map((m) => js.publish(m.subject, encodeOrders(m.orders), { msgID: m.msgId })));
  const result: PublishResult = { stored: 0, failed: 0, firstError: "" };
  for (let i = 0; i < settled.length; i++) {
    const s = settled[i];
    if (s.status === "rejected") {
      result.failed++;
      result.firstError ||= s.reason instanceof Error ? s.reason.message : String(s.reason);
    } else if (!s.value.duplicate) result.stored += messages[i].orders.length;
  }
  return result;
}

/** 503 `unavailable` for a batch of which `failed` of `total` messages were not acknowledged. */
export function publishFailed(result: PublishResult, total: number, clientKey: boolean): HttpError {
  const retry = clientKey
    ? "retry the same request with the same Idempotency-Key: what JetStream already stored is not stored twice"
    : "retry the same request; send an Idempotency-Key so that what JetStream already stored is not stored twice";
  return new HttpError(
    503,
    "unavailable",
    `JetStream did not acknowledge ${result.failed} of ${total} messages (${result.firstError}); ${retry}`,
  );
}
