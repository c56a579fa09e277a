// MemberRegistry: the members with at least one open feed connection, and how their live
// subjects (live.tier.<p>.<m>, score.<p>.<m>) are subscribed.
//
// Subscriptions and the interest lease are per member, shared by its connections (a phone
// and a tablet cost one pair): the first connection subscribes and announces interest, the
// last one unsubscribes and drops the lease. A nats.js subscription costs about 1 KiB of
// heap (1.6 KiB of RSS), two per member — so once a partition has PARTITION_WIDE_AT watched
// members the registry switches that partition to one pair of wildcard subscriptions
// (live.tier.<p>.*, score.<p>.*) and routes by the subject's member id instead. At that
// density a good share of the partition's traffic is wanted anyway; a gateway with 15 000
// members (every partition wide) holds 128 subscriptions, not 30 000. Leases stay per member,
// so the engines still publish score ticks only for watched members.
//
// The switch subscribes the wildcards first and removes the per-member subscriptions only
// after a flush (the server has the wildcards, and every message sent before is read), so
// nothing falls between; a tier message seen twice meanwhile is dropped by its seq (each
// connection sends a seq once), a score tick seen twice by equality with the last one. A
// partition goes back to per-member subscriptions only when its last member leaves.
//
// Every subscription shares one callback per subject kind, which finds the member from the
// subject — no closure per member.

import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { liveTierSubject, scoreSubject } from "../../proto/names.ts";
import { partitionOf } from "../../proto/partition.ts";
import type { ScoreFrame } from "../client/frames.ts";
import type { InterestAnnouncer } from "./interest.ts";
import type { FeedSocket } from "./socket.ts";

/** Watched members of one partition at which its subscriptions become partition-wide. */
export const PARTITION_WIDE_AT = 16;

export class MemberEntry {
  readonly sockets: FeedSocket[] = [];
  /** Per-member subscriptions; null while the partition is subscribed partition-wide. */
  tierSub: Subscription | null = null;
  scoreSub: Subscription | null = null;
  /** Score coalescing (see score-window.ts): when the last frame went out, and what waits. */
  scoreSentAt = Number.NEGATIVE_INFINITY;
  scorePending: ScoreFrame | null = null;
  scoreLast: ScoreFrame | null = null;
  /** The last tick received (ts, score), to drop the copy a subscription switch can deliver. */
  tickTs = -1;
  tickScore = -1;

  constructor(
    readonly member: number,
    readonly partition: number,
  ) {}
}

const SUBSCRIPTION_MODES = ["member", "partition"] as const;
type SubscriptionMode = (typeof SUBSCRIPTION_MODES)[number];

class PartitionSubs {
  members = 0;
  mode: SubscriptionMode = "member";
  /** Bumped on every mode change, so a switch finishing late sees it was overtaken. */
  generation = 0;
  tierSub: Subscription | null = null;
  scoreSub: Subscription | null = null;
}

export interface MemberHandlers {
  tier(entry: MemberEntry, data: Uint8Array): void;
  score(entry: MemberEntry, data: Uint8Array): void;
}

/** The member id is the subject's last token (live.tier.<p>.<m>, score.<p>.<m>). */
const memberOfSubject = (subject: string): number => Number(subject.slice(subject.lastIndexOf(".") + 1));
/** The same subject with `*` for the member: derived, so proto/names.ts stays the one source. */
const partitionWide = (memberSubject: string): string => `${memberSubject.slice(0, memberSubject.lastIndexOf(".") + 1)}*`;

export class MemberRegistry {
  private readonly members = new Map<number, MemberEntry>();
  private readonly partitionSubs = new Map<number, PartitionSubs>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly partitions: number,
    private readonly interest: InterestAnnouncer,
    private readonly handlers: MemberHandlers,
  ) {}

  get size(): number {
    return this.members.size;
  }

  get(member: number): MemberEntry | undefined {
    return this.members.get(member);
  }

  entries(): IterableIterator<MemberEntry> {
    return this.members.values();
  }

  /** NATS subscriptions held for feeds (per-member and partition-wide). */
  get subscriptions(): number {
    let n = 0;
    for (const e of this.members.values()) n += (e.tierSub ? 1 : 0) + (e.scoreSub ? 1 : 0);
    for (const ps of this.partitionSubs.values()) n += (ps.tierSub ? 1 : 0) + (ps.scoreSub ? 1 : 0);
    return n;
  }

  /**
   * Adds a connection of `member`; the first one subscribes (unless its partition is
   * subscribed partition-wide) and announces interest. Called before the member view is
   * requested on the same NATS connection, so the server has the subscription before the
   * engine answers: no change falls between the view and the live frames.
   */
  attach(ws: FeedSocket): MemberEntry {
    const member = ws.data.member;
    let entry = this.members.get(member);
    if (entry === undefined) {
      entry = new MemberEntry(member, partitionOf(member, this.partitions));
      this.members.set(member, entry);
      let ps = this.partitionSubs.get(entry.partition);
      if (ps === undefined) this.partitionSubs.set(entry.partition, (ps = new PartitionSubs()));
      ps.members++;
      if (ps.mode === "member" && ps.members >= PARTITION_WIDE_AT) this.widen(entry.partition, ps);
      else if (ps.mode === "member") this.subscribeMember(entry);
      this.interest.add(member, entry.partition);
    }
    entry.sockets.push(ws);
    return entry;
  }

  /** Removes a connection; the last one of its member unsubscribes and drops the lease. */
  detach(ws: FeedSocket, entry: MemberEntry): void {
    const i = entry.sockets.indexOf(ws);
    if (i < 0) return;
    entry.sockets[i] = entry.sockets[entry.sockets.length - 1];
    entry.sockets.pop();
    if (entry.sockets.length > 0) return;
    this.unsubscribeMember(entry);
    entry.scorePending = null;
    this.members.delete(entry.member);
    const ps = this.partitionSubs.get(entry.partition)!;
    if (--ps.members === 0) {
      this.unsubscribePartition(ps);
      this.partitionSubs.delete(entry.partition);
    }
    this.interest.drop(entry.member, entry.partition);
  }

  /** Unsubscribes everything (the hub is stopping); the caller drops the leases first. */
  clear(): void {
    for (const entry of this.members.values()) this.unsubscribeMember(entry);
    for (const ps of this.partitionSubs.values()) this.unsubscribePartition(ps);
    this.members.clear();
    this.partitionSubs.clear();
  }

  private subscribeMember(entry: MemberEntry): void {
    entry.tierSub = this.nc.subscribe(liveTierSubject(entry.partition, entry.member), { callback: this.onTier });
    entry.scoreSub = this.nc.subscribe(scoreSubject(entry.partition, entry.member), { callback: this.onScore });
  }

  private unsubscribeMember(entry: MemberEntry): void {
    entry.tierSub?.unsubscribe();
    entry.scoreSub?.unsubscribe();
    entry.tierSub = entry.scoreSub = null;
  }

  private unsubscribePartition(ps: PartitionSubs): void {
    ps.tierSub?.unsubscribe();
    ps.scoreSub?.unsubscribe();
    ps.tierSub = ps.scoreSub = null;
    ps.mode = "member";
    ps.generation++;
  }

  /** Subscribes partition-wide, then (after a flush) drops the partition's per-member subscriptions. */
  private widen(partition: number, ps: PartitionSubs): void {
    ps.mode = "partition";
    const generation = ++ps.generation;
    ps.tierSub = this.nc.subscribe(partitionWide(liveTierSubject(partition, 1)), { callback: this.onTier });
    ps.scoreSub = this.nc.subscribe(partitionWide(scoreSubject(partition, 1)), { callback: this.onScore });
    this.nc.flush().then(
      () => {
        if (ps.generation !== generation || this.partitionSubs.get(partition) !== ps) return; // overtaken
        for (const entry of this.members.values()) if (entry.partition === partition) this.unsubscribeMember(entry);
      },
      () => {}, // closed: nothing left to tidy
    );
  }

  private readonly onTier = (err: Error | null, msg: Msg): void => {
    if (err) return;
    const entry = this.members.get(memberOfSubject(msg.subject));
    if (entry !== undefined) this.handlers.tier(entry, msg.data);
  };

  private readonly onScore = (err: Error | null, msg: Msg): void => {
    if (err) return;
    const entry = this.members.get(memberOfSubject(msg.subject));
    if (entry !== undefined) this.handlers.score(entry, msg.data);
  };
}
