// MemberRegistry: the engine processes that want partitions. Each one puts `member.<id>`
// every heartbeatIntervalMs; a member is live while its key's revision keeps changing, timed
// on this process's own clock exactly as leases are (README.md, "Expiry"). A process that
// stops with a hand-off deletes its key first, so the others stop counting on it at once.
//
// A newcomer counts every member key it sees as live until it has watched it for a TTL, so
// it announces `settled` once its view has run that long; partitions are handed off only to
// settled members (a hand-off to a member that thinks they belong to a dead one would leave
// them without an owner).
//
// Being wrong here costs balance, never safety: the leases decide who may act.

import { encodeMemberValue, MEMBER_KEY_PREFIX, memberKey, parseMemberValue } from "../../proto/ownership-names.ts";
import { type Logger, silentLogger } from "../log.ts";
import type { BucketView } from "./bucket-view.ts";

export interface MemberRegistryOptions {
  view: BucketView;
  id: string;
  ttlMs: number;
  /** An observer waits this long past a member's TTL before counting it dead. */
  takeoverMarginMs: number;
  now?: () => number;
  wallNow?: () => number;
  log?: Logger;
}

/** A dead member's key is deleted once it has been dead this many TTLs (any live member may do it). */
const GC_AFTER_TTLS = 3;

export class MemberRegistry {
  private readonly view: BucketView;
  private readonly now: () => number;
  private readonly wallNow: () => number;
  private readonly log: Logger;
  private readonly startedAt: number;
  private lastBeatAt = -Infinity;
  private announcedSettled = false;
  private beating: Promise<void> | null = null;
  private state: "out" | "in" | "left" = "out";

  constructor(private readonly opts: MemberRegistryOptions) {
    this.view = opts.view;
    this.now = opts.now ?? (() => performance.now());
    this.wallNow = opts.wallNow ?? Date.now;
    this.log = opts.log ?? silentLogger;
    this.startedAt = this.wallNow();
  }

  get heartbeatIntervalMs(): number {
    return Math.floor(this.opts.ttlMs / 3);
  }

  /** Puts our key (the first one makes us a member); its revision, 0 after leave(). */
  async heartbeat(): Promise<number> {
    if (this.state === "left") return 0;
    const key = memberKey(this.opts.id);
    const settled = this.selfSettled();
    const bytes = encodeMemberValue({ id: this.opts.id, ttlMs: this.opts.ttlMs, startedAt: this.startedAt, renewedAt: this.wallNow(), settled });
    const sentAt = this.now();
    const revision = await this.view.kv.put(key, bytes);
    if (this.hasLeft()) return 0; // left while the put was on the wire: leave() deletes after it
    this.view.wrote(key, revision, bytes);
    this.lastBeatAt = sentAt;
    this.announcedSettled ||= settled;
    this.state = "in";
    return revision;
  }

  /** A heartbeat when one is due (or when we just settled); at most one on the wire. */
  heartbeatIfDue(): void {
    if (this.beating != null || this.state === "left") return;
    const justSettled = this.selfSettled() && !this.announcedSettled;
    if (!justSettled && this.now() - this.lastBeatAt < this.heartbeatIntervalMs) return;
    this.beating = this.heartbeat()
      .then(() => {})
      .catch((err) => {
        this.view.disrupted();
        this.log.warn(`heartbeat failed (${(err as Error).message})`);
      })
      .finally(() => (this.beating = null));
  }

  private hasLeft(): boolean {
    return this.state === "left";
  }

  /** Deletes our key: the others rebalance without us at once. */
  async leave(): Promise<void> {
    this.state = "left";
    await this.beating;
    await this.view.kv.delete(memberKey(this.opts.id)).catch((err) => this.log.warn(`leave: key not deleted (${(err as Error).message})`));
  }

  /** Live members' ids, sorted; ourselves while we are a member. */
  live(): string[] {
    const ids: string[] = [];
    for (const o of this.view.withPrefix(MEMBER_KEY_PREFIX)) {
      const id = o.key.slice(MEMBER_KEY_PREFIX.length);
      if (id === this.opts.id || o.deleted) continue;
      const v = parseMemberValue(o.value);
      if (v == null || v.id !== id) continue;
      if (this.view.sinceSeen(o) < v.ttlMs + this.opts.takeoverMarginMs) ids.push(id);
    }
    if (this.state === "in") ids.push(this.opts.id);
    return ids.sort();
  }

  /** The member says its view is settled (MemberValue.settled); we are, for ourselves. */
  isSettled(id: string): boolean {
    if (id === this.opts.id) return true;
    const o = this.view.get(memberKey(id));
    return o != null && !o.deleted && parseMemberValue(o.value)?.settled === true;
  }

  /** Our view has run long enough to have seen every dead member's key go stale. */
  private selfSettled(): boolean {
    return this.now() - this.view.startedAt >= this.opts.ttlMs + this.opts.takeoverMarginMs;
  }

  /** Deletes keys of members dead for a while (compare-and-set: a member that came back keeps its key). */
  async collectDead(): Promise<void> {
    const doomed = [...this.view.withPrefix(MEMBER_KEY_PREFIX)].filter((o) => {
      if (o.deleted || o.key === memberKey(this.opts.id)) return false;
      const ttlMs = parseMemberValue(o.value)?.ttlMs ?? this.opts.ttlMs;
      return this.view.sinceSeen(o) >= GC_AFTER_TTLS * (ttlMs + this.opts.takeoverMarginMs);
    });
    for (const o of doomed) await this.view.kv.delete(o.key, { previousSeq: o.revision }).catch(() => {});
  }
}
