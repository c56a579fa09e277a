// Helpers for flash-benefit suites: definitions straight into BENEFITS, and the engine's
// eligibility and claim endpoints over NATS.

import type { NatsConnection } from "@nats-io/transport-node";
import { type Benefit } from "../../proto/benefit.ts";
import { openBenefitBuckets } from "../../proto/benefit-catalog.ts";
import { claimRequestSubject, eligibilityRequestSubject } from "../../proto/names.ts";
import { partitionOf } from "../../proto/partition.ts";

export async function putBenefit(nc: NatsConnection, b: Benefit): Promise<void> {
  const { benefits } = await openBenefitBuckets(nc);
  await benefits.put(b.id, JSON.stringify(b));
}

export const openBenefit = (id: string, over: Partial<Benefit> = {}, now = Date.now()): Benefit => ({
  id,
  title: `test benefit ${id}`,
  minTier: "bronze",
  startsAt: now - 60_000,
  endsAt: now + 3_600_000,
  inventory: 100,
  perMember: 1,
  ...over,
});

export interface EngineAnswer {
  status: number;
  body: Record<string, unknown>;
}

async function ask(nc: NatsConnection, subject: string, body: unknown, timeoutMs = 10_000): Promise<EngineAnswer> {
  const reply = await nc.request(subject, JSON.stringify(body), { timeout: timeoutMs });
  const status = Number(reply.headers?.get("Nats-Service-Error-Code") || 200);
  return { status, body: reply.json() as Record<string, unknown> };
}

export function claimViaNats(nc: NatsConnection, benefit: string, member: number, key: string, keyFromClient = true, partitions = 64): Promise<EngineAnswer> {
  return ask(nc, claimRequestSubject(partitionOf(member, partitions)), { benefit, member, key, keyFromClient });
}

export function eligibilityViaNats(nc: NatsConnection, benefit: string, member: number, partitions = 64): Promise<EngineAnswer> {
  return ask(nc, eligibilityRequestSubject(partitionOf(member, partitions)), { benefit, member });
}

/** Waits until the engine's catalog has the benefit as defined (the KV watch is asynchronous). */
export async function untilEngineSees(nc: NatsConnection, benefit: string, member = 1): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    // No responders while the engine is still starting: try again.
    const a = await eligibilityViaNats(nc, benefit, member).catch(() => null);
    if (a?.status === 200 && a.body.reason !== "unknown_benefit") return;
    await Bun.sleep(20);
  }
  throw new Error(`the engine never saw benefit ${benefit}`);
}
