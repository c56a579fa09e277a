// InterestAnnouncer: the gateway's side of the lease protocol (engine/interest.ts).
//
// Members that gain their first connection (or lose their last) are batched per partition
// and announced together FLUSH_DELAY_MS later — a thousand clients reconnecting at once cost
// one message per partition, not a thousand. Every member's lease is renewed every
// leaseMs / 3, and everything is announced again at once when an engine starts and asks
// (tierstream.interest.resync). Large sets go out in chunks of MEMBERS_PER_MESSAGE_MAX.

import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { INTEREST_RESYNC_SUBJECT, interestSubject } from "../../proto/names.ts";
import type { Logger } from "../../engine/log.ts";

export const FLUSH_DELAY_MS = 10;
/** Below the engine's own limit (100 000) and well below NATS's 1 MB payload: ≤ 17 bytes an id. */
export const MEMBERS_PER_MESSAGE_MAX = 10_000;

interface InterestMessage {
  gateway: string;
  leaseMs: number;
  members: number[];
  drop?: number[];
}

/** The members watched now, with their partitions (the registry). */
export type Watched = () => Iterable<{ readonly member: number; readonly partition: number }>;

export class InterestAnnouncer {
  private adds = new Map<number, Set<number>>();
  private drops = new Map<number, Set<number>>();
  private flushTimer: ReturnType<typeof setTimeout> | null = null;
  private flushWaiters: (() => void)[] = [];
  private renewTimer: ReturnType<typeof setInterval> | null = null;
  private resyncSub: Subscription | null = null;
  announcements = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly gateway: string,
    private readonly leaseMs: number,
    private readonly watched: Watched,
    private readonly log: Logger,
    private readonly batchMs = FLUSH_DELAY_MS,
  ) {
    // The engine accepts leases up to 10 minutes; renewing every leaseMs / 3 needs a few ms at least.
    if (!(leaseMs >= 30 && leaseMs <= 600_000)) throw new RangeError("interestLeaseMs must be 30 … 600000");
  }

  start(): void {
    this.resyncSub = this.nc.subscribe(INTEREST_RESYNC_SUBJECT, {
      callback: (err) => {
        if (!err) this.announceAll();
      },
    });
    this.renewTimer = setInterval(() => this.announceAll(), Math.floor(this.leaseMs / 3));
  }

  add(member: number, partition: number): void {
    this.mark(member, partition, this.adds, this.drops);
    this.scheduleFlush();
  }

  drop(member: number, partition: number): void {
    this.mark(member, partition, this.drops, this.adds);
    this.scheduleFlush();
  }

  /** The last word wins: a member added and dropped within one batch is only dropped. */
  private mark(member: number, partition: number, into: Map<number, Set<number>>, outOf: Map<number, Set<number>>): void {
    outOf.get(partition)?.delete(member);
    setOf(into, partition).add(member);
  }

  /** Stops renewing and drops every lease this gateway holds. */
  stop(): void {
    if (this.renewTimer) clearInterval(this.renewTimer);
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.renewTimer = this.flushTimer = null;
    this.resyncSub?.unsubscribe();
    this.resyncSub = null;
    for (const { member, partition } of this.watched()) this.mark(member, partition, this.drops, this.adds);
    this.flush();
  }

  /**
   * Resolves once every addition made so far has been published (at the batch's flush, at
   * most FLUSH_DELAY_MS away; at once when none waits). A feed asks for the member's view only
   * after this: on the same connection the engine then hears of the member before the view
   * request, and publishes its changes live from there on (engine/live-tiers.ts).
   */
  announced(): Promise<void> {
    if (this.flushTimer === null) return Promise.resolve();
    return new Promise((resolve) => this.flushWaiters.push(resolve));
  }

  private scheduleFlush(): void {
    this.flushTimer ??= setTimeout(() => {
      this.flushTimer = null;
      this.flush();
    }, this.batchMs);
  }

  /** Sends the batched additions and drops, one message (or chunk) per partition. */
  private flush(): void {
    const partitions = new Set([...this.adds.keys(), ...this.drops.keys()]);
    for (const p of partitions) {
      const members = [...(this.adds.get(p) ?? [])];
      const drop = [...(this.drops.get(p) ?? [])];
      for (let i = 0; i < Math.max(members.length, drop.length); i += MEMBERS_PER_MESSAGE_MAX) {
        const dropChunk = drop.slice(i, i + MEMBERS_PER_MESSAGE_MAX);
        this.publish(p, members.slice(i, i + MEMBERS_PER_MESSAGE_MAX), dropChunk.length > 0 ? dropChunk : undefined);
      }
    }
    this.adds.clear();
    this.drops.clear();
    for (const resolve of this.flushWaiters.splice(0)) resolve();
  }

  /** Renews every watched member's lease (renewal timer, an engine's resync, a NATS reconnect). */
  announceAll(): void {
    const byPartition = new Map<number, number[]>();
    for (const { member, partition } of this.watched()) {
      let list = byPartition.get(partition);
      if (list === undefined) byPartition.set(partition, (list = []));
      list.push(member);
    }
    for (const [p, members] of byPartition) {
      for (let i = 0; i < members.length; i += MEMBERS_PER_MESSAGE_MAX) {
        this.publish(p, members.slice(i, i + MEMBERS_PER_MESSAGE_MAX));
      }
    }
  }

  private publish(partition: number, members: number[], drop?: number[]): void {
    const msg: InterestMessage = { gateway: this.gateway, leaseMs: this.leaseMs, members };
    if (drop) msg.drop = drop;
    try {
      this.nc.publish(interestSubject(partition), JSON.stringify(msg));
      this.announcements++;
    } catch (err) {
      // Closed connection: leases lapse on their own; the next renewal tries again.
      this.log.warn(`interest announcement for partition ${partition} failed: ${(err as Error).message}`);
    }
  }
}

function setOf(map: Map<number, Set<number>>, key: number): Set<number> {
  let s = map.get(key);
  if (s === undefined) map.set(key, (s = new Set()));
  return s;
}
