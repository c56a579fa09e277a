// Helpers for suites that run a real engine against a real nats-server.

import { jetstream, jetstreamManager, type JetStreamClient } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { type ConfigInput, loadConfig } from "../../engine/config.ts";
import { Engine, type EngineOptions } from "../../engine/engine.ts";
import { silentLogger } from "../../engine/log.ts";
import type { MemberView } from "../../engine/member-view.ts";
import {
  encodeOrders,
  ensureStreams,
  memberRequestSubject,
  type OrderEvent,
  ordersSubject,
  partitionOf,
  STREAM_TIER_EVENTS,
  type TierChange,
} from "../../proto/index.ts";

export async function startEngine(
  url: string,
  config: ConfigInput = {},
  partitions?: number[],
  more: Partial<EngineOptions> = {},
): Promise<Engine> {
  const engine = await Engine.start({
    natsUrl: url,
    config: loadConfig({ tickIntervalMs: 0, ...config }),
    partitions,
    log: silentLogger,
    // No grace: only watched members' changes go out live from the start, as in production
    // 30 s after a partition is taken (engine/live-tiers.ts), so suites exercise the gate.
    liveTierGraceMs: 0,
    ...more,
  });
  await engine.whenCaughtUp();
  return engine;
}

export interface Client {
  nc: NatsConnection;
  js: JetStreamClient;
  close(): Promise<void>;
}

/** A connection for a test, with the contract's streams in place. */
export async function client(url: string): Promise<Client> {
  const nc = await connect({ servers: url });
  await ensureStreams(await jetstreamManager(nc));
  return { nc, js: jetstream(nc), close: () => nc.close() };
}

/** Publishes events grouped by partition, one message per partition per call. */
export async function publishOrders(js: JetStreamClient, events: OrderEvent[], partitions = 64): Promise<void> {
  const byPartition = new Map<number, OrderEvent[]>();
  for (const e of events) {
    if (e.kind === "tick") throw new Error("publish ticks with publishRaw to a chosen partition");
    const p = partitionOf(e.member, partitions);
    byPartition.set(p, [...(byPartition.get(p) ?? []), e]);
  }
  await Promise.all([...byPartition].map(([p, batch]) => js.publish(ordersSubject(p), encodeOrders(batch))));
}

/** Every tier change in TIER_EVENTS (optionally on one filter), with its seq. */
export async function readTierChanges(nc: NatsConnection, filter = "tier.>"): Promise<(TierChange & { subject: string; msgId: string })[]> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(STREAM_TIER_EVENTS);
  const out: (TierChange & { subject: string; msgId: string })[] = [];
  if (info.state.messages === 0) return out;
  const c = await jetstream(nc).consumers.get(STREAM_TIER_EVENTS, { filter_subjects: filter });
  const pending = (await c.info(true)).num_pending;
  if (pending === 0) return out;
  const iter = await c.consume();
  for await (const m of iter) {
    out.push({ ...(m.json() as Omit<TierChange, "seq">), seq: m.seq, subject: m.subject, msgId: m.headers?.get("Nats-Msg-Id") ?? "" });
    if (m.info.pending === 0) break;
  }
  await iter.close();
  return out;
}

/** Waits until `check` returns true, polling; fails with `what` after timeoutMs. */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}

export async function memberViaService(nc: NatsConnection, member: number, partitions = 64): Promise<MemberView> {
  const r = await nc.request(memberRequestSubject(partitionOf(member, partitions)), JSON.stringify({ member }), { timeout: 5000 });
  return r.json() as MemberView;
}
