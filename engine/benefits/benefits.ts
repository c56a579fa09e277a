// Benefits: the engine's side of flash benefits — the catalog (BENEFITS KV), the claim tally
// (CLAIMS, then the owners' announcements), the inventory pool (BENEFIT_POOLS) and a ClaimDesk
// per owned partition. Every TALLY_ANNOUNCE_MS the engine announces the won counts of its
// partitions that moved, in one message (proto/claim-tally.ts has why).

import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { BenefitCatalog, openBenefitBuckets } from "../../proto/benefit-catalog.ts";
import { ClaimTally, encodeAnnouncement, TALLY_ANNOUNCE_MS, TALLY_SUBJECT } from "../../proto/claim-tally.ts";
import { POOL_RELEASE_SUBJECT, STREAM_CLAIMS } from "../../proto/names.ts";
import type { AckedPublisher } from "../acked-publisher.ts";
import type { Logger } from "../log.ts";
import type { PartitionState } from "../state/partition-state.ts";
import { ClaimDesk } from "./claim-desk.ts";
import { InventoryPool } from "./inventory-pool.ts";

/** One release request per benefit per this many ms, per engine: a sold-out tail is many claims. */
const RELEASE_REQUEST_INTERVAL_MS = 5;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface BenefitsDeps {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  publisher: AckedPublisher;
  partitions: number;
  replicas?: number;
  now: () => number;
  log: Logger;
}

export class Benefits {
  readonly desks = new Map<number, ClaimDesk>();
  private releaseSub: Subscription | null = null;
  private announcer: ReturnType<typeof setInterval> | null = null;
  private readonly lastReleaseAt = new Map<string, number>();

  private constructor(
    private readonly deps: BenefitsDeps,
    readonly catalog: BenefitCatalog,
    readonly tally: ClaimTally,
    readonly pool: InventoryPool,
  ) {}

  static async start(deps: BenefitsDeps): Promise<Benefits> {
    const buckets = await openBenefitBuckets(deps.nc, deps.replicas);
    const catalog = new BenefitCatalog(buckets.benefits, (m) => deps.log.warn(m));
    const tally = new ClaimTally(deps.js, deps.jsm);
    await Promise.all([catalog.start(), tally.start(deps.log)]);
    const benefits = new Benefits(deps, catalog, tally, new InventoryPool(buckets.pools));
    benefits.releaseSub = deps.nc.subscribe(POOL_RELEASE_SUBJECT, {
      callback: (err, msg) => {
        if (err) return;
        benefits.giveBackUnused(decoder.decode(msg.data));
      },
    });
    await deps.nc.flush();
    benefits.announcer = setInterval(() => benefits.announce(), TALLY_ANNOUNCE_MS);
    return benefits;
  }

  /** Another partition ran out: every owned partition's unused units go back, in one compare-and-set. */
  private giveBackUnused(benefit: string): void {
    const taken = new Map<number, NonNullable<ReturnType<ClaimDesk["takeForGiveBack"]>>>();
    for (const [p, desk] of this.desks) {
      const t = desk.takeForGiveBack(benefit);
      if (t !== null) taken.set(p, t);
    }
    if (taken.size === 0) return;
    this.pool.giveBack(benefit, new Map([...taken].map(([p, t]) => [p, t.amount]))).then(
      (after) => {
        for (const [p, t] of taken) t.done(after.get(p) ?? null);
      },
      (err: Error) => {
        this.deps.log.warn(`giving back units of ${benefit}: ${err.message}`);
        for (const t of taken.values()) t.done(null);
      },
    );
  }

  /** The won counts of every owned partition that moved, in one message on TALLY_SUBJECT. */
  private announce(): void {
    if (this.deps.nc.isClosed()) return;
    let won: Record<string, Record<string, number>> | null = null;
    for (const [p, desk] of this.desks) {
      const moved = desk.book.takeMoved();
      if (moved !== null) (won ??= {})[p] = moved;
    }
    if (won === null) return;
    try {
      this.deps.nc.publish(TALLY_SUBJECT, encodeAnnouncement({ won }));
    } catch {
      // draining: the counts are in CLAIMS for whoever starts next
    }
  }

  /** Starts serving partition p: its claims are read back from CLAIMS first. */
  async addPartition(p: number, state: () => PartitionState | null): Promise<ClaimDesk> {
    const desk = new ClaimDesk({
      partition: p,
      partitions: this.deps.partitions,
      state,
      catalog: this.catalog,
      tally: this.tally,
      pool: this.pool,
      js: this.deps.js,
      publisher: this.deps.publisher,
      now: this.deps.now,
      requestRelease: (benefit) => this.requestRelease(benefit),
    });
    this.desks.set(p, desk);
    const lastSeq = (await this.deps.jsm.streams.info(STREAM_CLAIMS)).state.last_seq;
    await desk.load(lastSeq);
    return desk;
  }

  removePartition(p: number): void {
    this.desks.delete(p);
  }

  private requestRelease(benefit: string): void {
    const now = this.deps.now();
    if (now - (this.lastReleaseAt.get(benefit) ?? Number.NEGATIVE_INFINITY) < RELEASE_REQUEST_INTERVAL_MS) return;
    this.lastReleaseAt.set(benefit, now);
    this.deps.nc.publish(POOL_RELEASE_SUBJECT, encoder.encode(benefit));
  }

  stop(): void {
    if (this.announcer) clearInterval(this.announcer);
    this.announce(); // the last counts, before the connection drains
    this.releaseSub?.unsubscribe();
    this.catalog.stop();
    this.tally.stop();
  }
}
