// Reads every partition's orders.<p> through an OrderedPull (proto/ordered-pull.ts — the same
// consumer the engine's PartitionRunner reads with), all partitions at once in this process,
// handing each message to `handle` — the consume side of the runner without the runner. With a
// handle that only decodes, it is the raw consume ceiling; with one that calls applyMessage,
// the runner's loop minus its outbox.

import type { JetStreamClient } from "@nats-io/jetstream";
import { ordersSubject, STREAM_ORDERS } from "../proto/names.ts";
import { connectionOf, OrderedPull, type PulledMessage, type PullLogger } from "../proto/ordered-pull.ts";

export interface ConsumeResult {
  ms: number;
  messages: number;
  /** The sum of what `handle` returned (orders, by convention). */
  orders: number;
}

/** Returns the orders the message held. */
export type MessageHandler = (partition: number, m: PulledMessage) => number;

const quiet: PullLogger = { info() {}, warn() {} };

/** Reads `perPartition[p]` messages from each partition p, each pulling at most `pullBytes` ahead. */
export async function consumePartitions(js: JetStreamClient, perPartition: Int32Array, pullBytes: number, handle: MessageHandler): Promise<ConsumeResult> {
  let messages = 0;
  let orders = 0;
  const nc = connectionOf(js);
  const jsm = await js.jetstreamManager(false);
  const readPartition = async (p: number, expected: number) => {
    if (expected === 0) return;
    const pull = new OrderedPull({ nc, jsm, apiPrefix: js.apiPrefix, stream: STREAM_ORDERS, filter: ordersSubject(p), maxBytes: pullBytes, log: quiet, label: `partition ${p}` });
    let seen = 0;
    try {
      await pull.start(1);
      for await (const m of pull) {
        orders += handle(p, m);
        messages++;
        // Bounded by the count published, not by pending alone.
        if (++seen === expected || m.pending === 0) break;
      }
    } finally {
      await pull.close();
    }
    if (seen !== expected) throw new Error(`partition ${p}: read ${seen} of ${expected} messages`);
  };
  const t = performance.now();
  await Promise.all(Array.from(perPartition, (n, p) => readPartition(p, n)));
  return { ms: performance.now() - t, messages, orders };
}
