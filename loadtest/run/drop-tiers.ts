// Before a drop above bronze: orders that lift each claimant to --min-tier (points on the
// best-paying line, as many orders as the per-order cap needs), published to ORDERS, and a
// wait until the engines applied them — every claimant's tier, read back from its partition's
// engine, has reached it.

import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Config } from "../../engine/config.ts";
import { EngineClient } from "../../gateway/engine-client.ts";
import { encodeOrders } from "../../proto/codec.ts";
import { ordersSubject } from "../../proto/names.ts";
import { partitionOf } from "../../proto/partition.ts";
import { type Order, TIERS, type Tier } from "../../proto/types.ts";

const IN_FLIGHT = 256;
const ORDERS_PER_MESSAGE = 1000;
const APPLY_DEADLINE_MS = 120_000;
const POLL_MS = 250;

export interface TierRaise {
  /** Claimants below the tier, the orders they got, and how long until all had reached it. */
  members: number;
  orders: number;
  ms: number;
}

/** Runs `fn` over `items`, `n` at a time. */
async function eachLimited<T>(items: readonly T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
}

/** The orders that take a member from `score` to `target` points. */
export function ordersToReach(config: Config, member: number, score: number, target: number, idPrefix: string, ts: number): Order[] {
  let line = 0;
  for (let l = 1; l < config.lineMilli.length; l++) if (config.lineMilli[l] > config.lineMilli[line]) line = l;
  const milli = config.lineMilli[line];
  if (milli <= 0) throw new Error("no business line earns points: --min-tier cannot be reached by orders");
  const orders: Order[] = [];
  for (let left = target - score; left > 0; ) {
    const points = Math.min(left, config.orderPointsMax);
    orders.push({ id: `${idPrefix}-${member}-${orders.length}`, member, line: config.lineNames[line], kind: "paid", amount: Math.ceil((points * 100000) / milli), ts });
    left -= points;
  }
  return orders;
}

export async function raiseToTier(nc: NatsConnection, config: Config, members: readonly number[], minTier: Tier, idPrefix: string): Promise<TierRaise> {
  const t0 = performance.now();
  const want = TIERS.indexOf(minTier);
  const target = config.ladder[want];
  const engines = new EngineClient(nc, config.partitions, 10_000);
  try {
    const below: number[] = [];
    const byPartition = new Map<number, Order[]>();
    const ts = Date.now();
    await eachLimited(members, IN_FLIGHT, async (m) => {
      const v = await engines.memberView(m);
      if (TIERS.indexOf(v.tier as Tier) >= want) return;
      below.push(m);
      const p = partitionOf(m, config.partitions);
      const orders = ordersToReach(config, m, v.score, target, idPrefix, ts);
      const list = byPartition.get(p);
      if (list === undefined) byPartition.set(p, orders);
      else list.push(...orders);
    });
    const js = jetstream(nc);
    const messages: [number, Order[]][] = [];
    for (const [p, list] of byPartition) for (let i = 0; i < list.length; i += ORDERS_PER_MESSAGE) messages.push([p, list.slice(i, i + ORDERS_PER_MESSAGE)]);
    await eachLimited(messages, IN_FLIGHT, async ([p, list]) => void (await js.publish(ordersSubject(p), encodeOrders(list))));

    let waiting = below;
    const until = performance.now() + APPLY_DEADLINE_MS;
    while (waiting.length > 0) {
      if (performance.now() > until) throw new Error(`${waiting.length} of ${below.length} claimants had not reached ${minTier} ${APPLY_DEADLINE_MS / 1000} s after their orders`);
      await Bun.sleep(POLL_MS);
      const still: number[] = [];
      await eachLimited(waiting, IN_FLIGHT, async (m) => {
        if (TIERS.indexOf((await engines.memberView(m)).tier as Tier) < want) still.push(m);
      });
      waiting = still;
    }
    return { members: below.length, orders: [...byPartition.values()].reduce((n, l) => n + l.length, 0), ms: performance.now() - t0 };
  } finally {
    engines.close();
  }
}
