// Interest: which members gateways watch, per owned partition, as leases.
//
// A gateway publishes {gateway, leaseMs, members: [...], drop?: [...]} on
// tierstream.interest.<p> when a member connects and again every leaseMs/3 for all it
// watches; the engine extends each member's lease to now + leaseMs. A gateway that dies
// stops renewing and its interest lapses — leases, not trust. An engine that starts asks
// every gateway to announce again (tierstream.interest.resync).

import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { INTEREST_RESYNC_SUBJECT, interestSubject } from "../proto/names.ts";
import { MEMBER_MAX } from "../proto/types.ts";
import type { Logger } from "./log.ts";
import type { ScoreFeed } from "./score-feed.ts";

const LEASE_MS_MAX = 10 * 60_000;
const MEMBERS_PER_MESSAGE_MAX = 100_000;
const EXPIRE_INTERVAL_MS = 1000;

export interface InterestMessage {
  gateway: string;
  leaseMs: number;
  members: number[];
  drop?: number[];
}

const isMember = (m: unknown): m is number => typeof m === "number" && Number.isInteger(m) && m >= 1 && m <= MEMBER_MAX;

export class Interest {
  private subs: Subscription[] = [];
  private timers: ReturnType<typeof setInterval>[] = [];
  badMessages = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly feeds: ReadonlyMap<number, ScoreFeed>,
    private readonly now: () => number,
    private readonly log: Logger,
  ) {}

  /** Subscribes, and resolves once the server has the subscriptions (a lease sent after start is never missed). */
  async start(): Promise<void> {
    for (const [p, feed] of this.feeds) {
      const sub = this.nc.subscribe(interestSubject(p), {
        callback: (err, msg) => {
          if (err) return;
          this.apply(feed, msg.data);
        },
      });
      this.subs.push(sub);
    }
    this.timers.push(
      setInterval(() => {
        for (const feed of this.feeds.values()) feed.flush();
      }, 100),
      setInterval(() => {
        const now = this.now();
        for (const feed of this.feeds.values()) feed.leases.expire(now);
      }, EXPIRE_INTERVAL_MS),
    );
    await this.nc.flush();
    this.nc.publish(INTEREST_RESYNC_SUBJECT, "");
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    for (const s of this.subs) s.unsubscribe();
    for (const feed of this.feeds.values()) feed.flush();
  }

  private apply(feed: ScoreFeed, data: Uint8Array): void {
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
    const until = this.now() + leaseMs;
    for (const m of msg.members) if (isMember(m)) feed.leases.renew(m, until);
    if (Array.isArray(msg.drop)) for (const m of msg.drop) if (isMember(m)) feed.leases.delete(m);
  }

  private reject(why: string): void {
    if (this.badMessages++ % 1000 === 0) this.log.warn(`bad interest message (${why}); ignored`);
  }
}
