// Reads every partition's orders.<p> with an ordered consumer, all partitions at once in this
// process, handing each message to `handle` — the consume side of the engine's PartitionRunner
// without the runner. With a handle that only decodes, it is the raw consume ceiling; with one
// that calls applyMessage, the runner's loop minus its outbox.

import type { ConsumeOptions, JetStreamClient, JsMsg } from "@nats-io/jetstream";
import { ordersSubject, STREAM_ORDERS } from "../proto/names.ts";

export interface ConsumeResult {
  ms: number;
  messages: number;
  /** The sum of what `handle` returned (orders, by convention). */
  orders: number;
}

/** Returns the orders the message held. */
export type MessageHandler = (partition: number, m: JsMsg) => number;

/** Reads `perPartition[p]` messages from each partition p. */
export async function consumePartitions(
  js: JetStreamClient,
  perPartition: Int32Array,
  options: Partial<ConsumeOptions>,
  handle: MessageHandler,
): Promise<ConsumeResult> {
  let messages = 0;
  let orders = 0;
  const readPartition = async (p: number, expected: number) => {
    if (expected === 0) return;
    const consumer = await js.consumers.get(STREAM_ORDERS, { filter_subjects: ordersSubject(p) });
    const iter = await consumer.consume(options as ConsumeOptions);
    let seen = 0;
    for await (const m of iter) {
      orders += handle(p, m);
      messages++;
      // Bounded by the count published, not by pending alone.
      if (++seen === expected || m.info.pending === 0) break;
    }
    await iter.close();
    if (seen !== expected) throw new Error(`partition ${p}: read ${seen} of ${expected} messages`);
  };
  const t = performance.now();
  await Promise.all(Array.from(perPartition, (n, p) => readPartition(p, n)));
  return { ms: performance.now() - t, messages, orders };
}
