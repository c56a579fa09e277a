// What a gateway knows of flash benefits: the definitions (BENEFITS, watched) and the units
// claimed per benefit (counted from CLAIMS). The HTTP routes and the feed's push share it.

import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { type Benefit, type BenefitState, remainingOf } from "../proto/benefit.ts";
import { BenefitCatalog, openBenefitBuckets } from "../proto/benefit-catalog.ts";
import { ClaimTally } from "../proto/claim-tally.ts";

export class GatewayBenefits {
  private constructor(
    readonly kv: KV,
    /** BENEFIT_POOLS: seeded when a benefit is defined. */
    readonly pools: KV,
    readonly catalog: BenefitCatalog,
    readonly tally: ClaimTally,
  ) {}

  static async start(nc: NatsConnection, js: JetStreamClient, jsm: JetStreamManager, warn: (m: string) => void = () => {}, replicas = 1): Promise<GatewayBenefits> {
    const { benefits, pools } = await openBenefitBuckets(nc, replicas);
    const catalog = new BenefitCatalog(benefits, warn);
    const tally = new ClaimTally(js, jsm);
    await Promise.all([catalog.start(), tally.start({ info() {}, warn })]);
    return new GatewayBenefits(benefits, pools, catalog, tally);
  }

  stateOf(b: Benefit): BenefitState {
    const claimed = this.tally.claimed(b.id);
    return { ...b, claimed, remaining: remainingOf(b, claimed) };
  }

  stop(): void {
    this.catalog.stop();
    this.tally.stop();
  }
}
