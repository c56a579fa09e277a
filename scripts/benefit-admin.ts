// Operator access to flash benefits straight through NATS (the CLI's `benefit` command and the
// demo): definitions validated exactly as PUT /v1/benefits/:id validates them.

import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { type Benefit, type BenefitState, parseBenefit, remainingOf } from "../proto/benefit.ts";
import { openBenefitBuckets } from "../proto/benefit-catalog.ts";
import { ClaimTally } from "../proto/claim-tally.ts";
import { seedPool } from "../proto/benefit-pool.ts";
import { PARTITIONS_DEFAULT } from "../proto/names.ts";
import { ensureStreams } from "../proto/streams.ts";

export class BenefitDefinitionError extends Error {
  override readonly name = "BenefitDefinitionError";
}

/** Validates and stores a definition; returns whether it replaced one. */
export async function putBenefitDefinition(
  nc: NatsConnection,
  input: unknown,
  id?: string,
  partitions = PARTITIONS_DEFAULT,
): Promise<{ benefit: Benefit; replaced: boolean }> {
  const parsed = parseBenefit(input, id);
  if (!parsed.ok) throw new BenefitDefinitionError(parsed.problems.map((p) => `${p.path} ${p.message}`).join("; "));
  const { benefits, pools } = await openBenefitBuckets(nc);
  const before = await benefits.get(parsed.value.id);
  await seedPool(pools, parsed.value.id, parsed.value.inventory, partitions);
  await benefits.put(parsed.value.id, JSON.stringify(parsed.value));
  return { benefit: parsed.value, replaced: before !== null && before.operation === "PUT" };
}

/** Every valid definition (or the one named), with claimed and remaining counted from CLAIMS. */
export async function readBenefitStates(nc: NatsConnection, id?: string): Promise<BenefitState[]> {
  const jsm = await jetstreamManager(nc);
  await ensureStreams(jsm);
  const { benefits } = await openBenefitBuckets(nc);
  const keys: string[] = [];
  if (id !== undefined) keys.push(id);
  else for await (const k of await benefits.keys()) keys.push(k);
  const tally = new ClaimTally(jetstream(nc), jsm);
  await tally.start();
  try {
    const out: BenefitState[] = [];
    for (const k of keys.sort()) {
      const e = await benefits.get(k);
      if (e === null || e.operation !== "PUT") continue;
      const parsed = parseBenefit(e.json(), k);
      if (!parsed.ok) continue;
      const claimed = tally.claimed(k);
      out.push({ ...parsed.value, claimed, remaining: remainingOf(parsed.value, claimed) });
    }
    return out;
  } finally {
    tally.stop();
  }
}
