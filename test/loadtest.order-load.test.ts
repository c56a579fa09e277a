// The feed benchmark's order load (loadtest/stack/order-load-role.ts), as its own process
// against a real nats-server: every order it reports stored is in ORDERS, and JetStream's
// refusals are counted as errors, not as stored orders.

import { describe, expect, test } from "bun:test";
import { DiscardPolicy, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { spawnRole } from "../loadtest/stack/children.ts";
import type { RunArgs, RunResult } from "../loadtest/stack/order-load-role.ts";
import { ensureStreams } from "../proto/streams.ts";
import { STREAM_ORDERS } from "../proto/names.ts";
import { useNatsServer } from "./harness/nats.ts";

const RUN: RunArgs = { ratePerSec: 20_000, durationMs: 400, members: 5_000, seed: 7, probes: null };

/** Orders in ORDERS: each message is a msgpack array of orders (its header gives the count). */
async function ordersStored(url: string): Promise<{ messages: number; orders: number }> {
  const nc = await connect({ servers: url });
  try {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(STREAM_ORDERS);
    let orders = 0;
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const m = await jsm.streams.getMessage(STREAM_ORDERS, { seq });
      const b = m!.data;
      orders += b[0] === 0xdc ? (b[1] << 8) | b[2] : b[0] & 0x0f;
    }
    return { messages: info.state.messages, orders };
  } finally {
    await nc.close();
  }
}

describe("order load role", () => {
  const nats = useNatsServer();

  test("every order reported stored is in ORDERS, and none is reported twice", async () => {
    const nc = await connect({ servers: nats.url });
    await ensureStreams(await jetstreamManager(nc));
    await nc.close();
    const load = await spawnRole("order-load-role", [nats.url]);
    try {
      const r = await load.request<RunResult>("run", RUN, 60_000);
      expect(r.publishErrors).toBe(0);
      expect(r.offered).toBeGreaterThan(0.5 * RUN.ratePerSec * (RUN.durationMs / 1000));
      expect(r.acked).toBe(r.offered);
      expect(r.ackedInWindow).toBeLessThanOrEqual(r.acked);
      expect(await ordersStored(nats.url)).toEqual({ messages: r.messages, orders: r.acked });
    } finally {
      await load.stop();
    }
  }, 90_000);

  test("a publish JetStream refuses is an error, not a stored order", async () => {
    const nc = await connect({ servers: nats.url });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(STREAM_ORDERS);
    // Room for 5 messages; JetStream refuses the rest with an error PubAck.
    await jsm.streams.add({ name: STREAM_ORDERS, subjects: ["orders.>"], max_msgs: 5, discard: DiscardPolicy.New });
    await nc.close();
    const load = await spawnRole("order-load-role", [nats.url]);
    try {
      const r = await load.request<RunResult>("run", RUN, 60_000);
      expect(r.messages).toBeGreaterThan(5);
      expect(r.publishErrors).toBe(r.messages - 5);
      expect(r.firstError).toContain("JetStream refused the publish");
      const stored = await ordersStored(nats.url);
      expect(stored.messages).toBe(5);
      expect(r.acked).toBe(stored.orders);
    } finally {
      await load.stop();
    }
  }, 90_000);
});
