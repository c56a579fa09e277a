// Interest: which members gateways watch, per owned partition, as leases.
//
// A gateway publishes {gateway, leaseMs, members: [...], drop?: [...]} on
// tierstream.interest.<p> when a member connects and again every leaseMs/3 for all it
// watches; the engine extends each member's lease to now + leaseMs. A gateway that dies
// stops renewing and its interest lapses — leases, not trust. An engine that starts asks
// every gateway to announce again (tierstream.interest.resync). The same announcements say
// whose stored tier changes go out live (live-tiers.ts), with a longer lease and no drop.

import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { INTEREST_RESYNC_SUBJECT, interestSubject } from "../proto/names.ts";
import { isMemberId } from "../proto/types.ts";
import { LIVE_TIER_GRACE_MS, type LiveTiers } from "./live-tiers.ts";
import type { Logger } from "./log.ts";
import type { ScoreFeed } from "./score-feed.ts";

const LEASE_MS_MAX = 10 * 60_000;
const MEMBERS_PER_MESSAGE_MAX = 100_000;
const EXPIRE_INTERVAL_MS = 1000;
const EXPIRE_STEPS = 50;

export interface InterestMessage {
  gateway: string;
  leaseMs: number;
  members: number[];
  drop?: number[];
}

const RESYNC_COALESCE_MS = 10;

/** One partition's watchers: its score ticks and its live tier changes. */
export interface Watchers {
  scores: ScoreFeed;
  tiers: LiveTiers;
}

export class Interest {
  private readonly watchers = new Map<number, Watchers>();
  private readonly subs = new Map<number, Subscription>();
  private timers: ReturnType<typeof setInterval>[] = [];
  private resyncTimer: ReturnType<typeof setTimeout> | null = null;
  badMessages = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly now: () => number,
    private readonly log: Logger,
    /** How long a partition just taken publishes every tier change live (live-tiers.ts). */
    private readonly liveTierGraceMs = LIVE_TIER_GRACE_MS,
  ) {}

  start(): void {
    this.timers.push(
      setInterval(() => {
        for (const w of this.watchers.values()) w.scores.flush();
      }, 100),
      // Lapsed leases go within a second, a fiftieth of each table every 20 ms: a million
      // watched members (score and tier tables over 64 partitions, ~4 M slots) swept in one
      // go held the event loop for ~20 ms; in fiftieths, ~0.4 ms at a time.
      setInterval(() => {
        const now = this.now();
        for (const w of this.watchers.values()) {
          w.scores.leases.expireStep(now, EXPIRE_STEPS);
          w.tiers.leases.expireStep(now, EXPIRE_STEPS);
        }
      }, EXPIRE_INTERVAL_MS / EXPIRE_STEPS),
    );
  }

  /**
   * Takes leases for partition p; resolves once the server has the subscription, then asks
   * every gateway to announce again (a lease sent after that is never missed).
   */
  async add(p: number, w: Watchers): Promise<void> {
    this.remove(p);
    this.watchers.set(p, w);
    this.subs.set(
      p,
      this.nc.subscribe(interestSubject(p), {
        callback: (err, msg) => {
          if (err) return;
          this.apply(w, msg.data);
        },
      }),
    );
    await this.nc.flush();
    // Announcements from here on are heard; the gateways re-announce at the resync below.
    w.tiers.opened(this.liveTierGraceMs);
    // Partitions taken together (a start, a rebalance) share one resync.
    this.resyncTimer ??= setTimeout(() => {
      this.resyncTimer = null;
      this.nc.publish(INTEREST_RESYNC_SUBJECT, "");
    }, RESYNC_COALESCE_MS);
  }

  remove(p: number): void {
    this.subs.get(p)?.unsubscribe();
    this.subs.delete(p);
    this.watchers.get(p)?.scores.flush();
    this.watchers.delete(p);
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    if (this.resyncTimer) clearTimeout(this.resyncTimer);
    for (const p of [...this.subs.keys()]) this.remove(p);
  }

  private apply(w: Watchers, data: Uint8Array): void {
    let msg: InterestMessage;
    try {
      msg = JSON.parse(new TextDecoder().decode(data)) as InterestMessage;
    } catch {
      this.reject("not JSON");
      return;
    }
    const leaseMs = msg?.leaseMs;
    if (typeof leaseMs !== "number" || leaseMs <= 0 || leaseMs > LEASE_MS_MAX || !Array.isArray(msg.members)) {
      this.reject("needs leaseMs (1 … 600000) and members[]");
      return;
    }
    if (msg.members.length > MEMBERS_PER_MESSAGE_MAX) {
      this.reject(`more than ${MEMBERS_PER_MESSAGE_MAX} members`);
      return;
    }
    const now = this.now();
    const until = now + leaseMs;
    for (const m of msg.members) {
      if (!isMemberId(m)) continue;
      w.scores.leases.renew(m, until);
      w.tiers.watch(m, leaseMs, now);
    }
    // A drop does not end the lease: another gateway may hold the member too (a phone on one,
    // a tablet on another), and leases carry no gateway. It brings the score lease's end
    // forward to half a lease from now, by when every other holder has renewed it (each
    // renews every leaseMs / 3); with no other holder the ticks stop then. Live tier changes
    // only lapse (live-tiers.ts).
    if (Array.isArray(msg.drop)) {
      const soon = now + leaseMs / 2;
      for (const m of msg.drop) if (isMemberId(m)) w.scores.leases.shorten(m, soon);
    }
  }

  private reject(why: string): void {
    if (this.badMessages++ % 1000 === 0) this.log.warn(`bad interest message (${why}); ignored`);
  }
}
