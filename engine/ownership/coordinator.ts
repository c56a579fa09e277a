// Coordinator: ties the lease table, the member registry and the balancer together for one
// engine process started with `--partitions auto`.
//
// Every tick (and soon after any change in the bucket) it computes the balanced target from
// the live members, acquires the partitions of its target that are free, missing or stale,
// and hands off the ones it serves beyond its target. The engine does the work through three
// handlers; the coordinator guarantees one call in flight per partition at a time:
//
//   acquire(p, info)  the lease is held; load p (snapshot, replay) and start it. The lease is
//                     renewed meanwhile. Rejecting releases the lease (retried later).
//   release(p)        planned hand-off: stop consuming, drain publishes, snapshot. The lease
//                     is released when this settles — by then p must be fully stopped.
//   lost(p, reason)   the lease is gone (expired: a pause, renewals failing; taken): stop
//                     applying and publishing p NOW. Synchronous. May come while acquire or
//                     release of p is still running; those then settle as usual.

import type { JetStreamClient } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { hostname } from "node:os";
import { ENGINE_ID_PATTERN, LEASE_KEY_PREFIX, leaseKey, parseMemberValue } from "../../proto/ownership-names.ts";
import { type Logger, silentLogger } from "../log.ts";
import { assign } from "./balancer.ts";
import { openLeaseBucket } from "./bucket.ts";
import { BucketView, type Observed } from "./bucket-view.ts";
import { LEASE_TTL_MS_DEFAULT, LeaseTable, type LostReason, type PreviousHolder } from "./lease-table.ts";
import { MemberRegistry } from "./members.ts";

export interface AcquireInfo {
  /** The lease's epoch: grows with every new holder (a fencing token for logs and headers). */
  epoch: number;
  previous: PreviousHolder | null;
  /**
   * Nobody else held p since this process last did (the previous holder is us, at our last
   * epoch): state kept in memory since the loss is still exact, and p may resume from it.
   */
  resumable: boolean;
}

export interface OwnershipHandlers {
  acquire(partition: number, info: AcquireInfo): Promise<void>;
  release(partition: number): Promise<void>;
  lost(partition: number, reason: LostReason): void;
}

export interface CoordinatorOptions {
  js: JetStreamClient;
  partitions: number;
  handlers: OwnershipHandlers;
  /** This process's engine id; default `<host>-<pid>-<random>` (a restart is a new member). */
  id?: string;
  /** An opened lease bucket; default opens (or creates) TIERSTREAM_LEASES. */
  kv?: KV;
  bucket?: string;
  replicas?: number;
  ttlMs?: number;
  holderMarginMs?: number;
  takeoverMarginMs?: number;
  /** Balancing period. Default ttl / 10. */
  tickMs?: number;
  /** After joining, wait this long before acquiring, so that processes started together see each other. Default ttl / 3. */
  joinSettleMs?: number;
  /**
   * A partition there for the taking this long (as seen here) is taken even outside our
   * target: when members briefly disagree on who is live, nobody may think it theirs.
   * Default ttl. The balance hands it on later.
   */
  orphanAfterMs?: number;
  /** Partitions acquiring or loading at once. */
  acquireConcurrencyMax?: number;
  /** Partitions handing off at once. */
  releaseConcurrencyMax?: number;
  now?: () => number;
  wallNow?: () => number;
  log?: Logger;
}

/** What the coordinator is doing with each partition. */
export const Phase = { idle: 0, acquiring: 1, loading: 2, serving: 3, releasing: 4 } as const;
export type Phase = (typeof Phase)[keyof typeof Phase];

const ACQUIRE_CONCURRENCY_MAX_DEFAULT = 16;
const RELEASE_CONCURRENCY_MAX_DEFAULT = 16;

export class Coordinator {
  readonly id: string;
  readonly partitions: number;
  readonly table: LeaseTable;
  private readonly members: MemberRegistry;
  private readonly handlers: OwnershipHandlers;
  private readonly phases: Uint8Array;
  /** Set when the lease was lost while an acquire or release handler of p was running. */
  private readonly lostWhileBusy: Uint8Array;
  /** Our last epoch of each partition: a re-acquire that finds it untouched is resumable. */
  private readonly lastEpoch: Float64Array;
  /** Monotonic time before which p is not tried again (after a failed load). */
  private readonly retryAt: Float64Array;
  private readonly busy = new Set<Promise<void>>();
  private acquiresInFlight = 0;
  private releasesInFlight = 0;
  private state: "new" | "running" | "stopping" | "stopped" = "new";
  private timer: ReturnType<typeof setInterval> | null = null;
  private balanceQueued = false;
  private balanceFrom = Infinity;
  private readonly settleMs: number;
  private readonly orphanAfterMs: number;
  private lastCollectAt = 0;
  private cachedMembers = "";
  private cachedTarget: Int32Array = new Int32Array(0);
  private readonly now: () => number;
  private readonly log: Logger;

  private constructor(
    private readonly view: BucketView,
    private readonly opts: CoordinatorOptions,
    id: string,
  ) {
    this.id = id;
    this.partitions = opts.partitions;
    this.handlers = opts.handlers;
    this.now = opts.now ?? (() => performance.now());
    this.log = opts.log ?? silentLogger;
    const ttlMs = opts.ttlMs ?? LEASE_TTL_MS_DEFAULT;
    this.table = new LeaseTable({
      view,
      owner: id,
      partitions: opts.partitions,
      ttlMs,
      holderMarginMs: opts.holderMarginMs,
      takeoverMarginMs: opts.takeoverMarginMs,
      now: this.now,
      wallNow: opts.wallNow,
      log: this.log,
      onLost: (p, reason) => this.onLost(p, reason),
    });
    this.members = new MemberRegistry({ view, id, ttlMs, takeoverMarginMs: this.table.takeoverMarginMs, now: this.now, wallNow: opts.wallNow, log: this.log });
    this.phases = new Uint8Array(opts.partitions);
    this.lostWhileBusy = new Uint8Array(opts.partitions);
    this.lastEpoch = new Float64Array(opts.partitions);
    this.retryAt = new Float64Array(opts.partitions);
    this.settleMs = opts.joinSettleMs ?? Math.floor(ttlMs / 3);
    this.orphanAfterMs = opts.orphanAfterMs ?? ttlMs;
  }

  /** Joins: opens the bucket, heartbeats, and starts taking its share. */
  static async start(opts: CoordinatorOptions): Promise<Coordinator> {
    const id = opts.id ?? defaultEngineId();
    if (!ENGINE_ID_PATTERN.test(id)) throw new RangeError(`engine id ${JSON.stringify(id)} must match ${ENGINE_ID_PATTERN}`);
    const log = opts.log ?? silentLogger;
    const kv = opts.kv ?? (await openLeaseBucket(opts.js, { replicas: opts.replicas, bucket: opts.bucket }));
    const view = new BucketView(kv, opts.now ?? (() => performance.now()), log);
    const c = new Coordinator(view, opts, id);
    await view.start();
    try {
      // Once the watch has delivered our own first heartbeat, it has delivered everything
      // stored before it: the first balance sees every member and lease there is. Not for
      // longer than a TTL: a view still filling in is only slow, never unsafe.
      const revision = await c.members.heartbeat();
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([view.whenWatched(revision), new Promise<void>((resolve) => (timer = setTimeout(resolve, c.table.ttlMs)))]);
      clearTimeout(timer);
    } catch (err) {
      await view.stop();
      throw err;
    }
    c.state = "running";
    c.table.start();
    c.balanceFrom = c.now() + c.settleMs;
    view.onChange((now, before) => {
      if (c.changesBalance(now, before)) c.scheduleBalance();
    });
    c.timer = setInterval(() => c.balance(), opts.tickMs ?? Math.max(10, Math.floor(c.table.ttlMs / 10)));
    log.info(`engine ${id} joined: ${opts.partitions} partitions, lease ttl ${c.table.ttlMs} ms`);
    return c;
  }

  /** True while this process may apply and publish for p (see LeaseTable.holds). */
  holds(p: number): boolean {
    return this.table.holds(p);
  }

  /**
   * The fence of one acquisition of p (pass it to the partition's runner): true while this
   * process holds p at that epoch; once false, false for good — a runner of an earlier
   * acquisition never writes again, even after p came back to this process.
   */
  fence(p: number, epoch: number): () => boolean {
    let open = true;
    return () => open && (open = this.table.epochOf(p) === epoch);
  }

  phase(p: number): Phase {
    return this.phases[p] as Phase;
  }

  /** Partitions whose acquire handler has finished and whose lease is held, ascending. */
  serving(): number[] {
    const out: number[] = [];
    for (let p = 0; p < this.partitions; p++) if (this.phases[p] === Phase.serving && this.table.holds(p)) out.push(p);
    return out;
  }

  /** Live members as this process sees them, sorted. */
  liveMembers(): string[] {
    return this.members.live();
  }

  /** Each partition's holder as this process sees it (null: free, missing or stale). */
  owners(): (string | null)[] {
    const out: (string | null)[] = [];
    for (let p = 0; p < this.partitions; p++) {
      const judged = this.table.judge(p);
      const o = this.view.get(leaseKey(p));
      out.push((judged === "held" || judged === "mine") && o ? (this.table.valueOf(o)?.owner ?? null) : null);
    }
    return out;
  }

  /**
   * handoff: leave the membership, then release every partition after its release handler
   * settles — the others take them at once. Without: stop renewing and walk away; the leases
   * expire after their TTL, as if this process had died.
   */
  async stop(opts: { handoff: boolean }): Promise<void> {
    if (this.state === "stopping" || this.state === "stopped") return;
    this.state = "stopping";
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (opts.handoff) {
      await this.members.leave();
      // Acquires in flight finish (and are handed off below); releases in flight finish.
      while (this.busy.size > 0) await Promise.allSettled([...this.busy]);
      const serving = [];
      for (let p = 0; p < this.partitions; p++) if (this.phases[p] === Phase.serving) serving.push(p);
      await Promise.allSettled(serving.map((p) => this.handOff(p)));
    }
    this.table.stop();
    await this.view.stop();
    this.state = "stopped";
    this.log.info(`engine ${this.id} left${opts.handoff ? " after handing off its partitions" : " without a hand-off"}`);
  }

  /**
   * Worth a balance round at once: a lease freed or changing hands, a member joining,
   * leaving or settling. Plain renewals are not (hundreds a second with many partitions);
   * the periodic round notices what goes stale.
   */
  private changesBalance(now: Observed, before: Observed | undefined): boolean {
    if (now.deleted || before == null || before.deleted) return true;
    if (now.key.startsWith(LEASE_KEY_PREFIX)) {
      const [a, b] = [this.table.valueOf(now), this.table.valueOf(before)];
      return a?.owner == null || a.owner !== b?.owner;
    }
    return parseMemberValue(now.value)?.settled !== parseMemberValue(before.value)?.settled;
  }

  private scheduleBalance(): void {
    if (this.balanceQueued || this.state !== "running") return;
    this.balanceQueued = true;
    setTimeout(() => {
      this.balanceQueued = false;
      this.balance();
    }, 0);
  }

  /** One round: what to acquire, what to hand off. */
  private balance(): void {
    if (this.state !== "running") return;
    this.view.checkWatch(this.table.ttlMs);
    this.members.heartbeatIfDue();
    // Back from a pause (a stall, SIGSTOP), every lease and member would look stale: the
    // view counts ages afresh (BucketView.sinceSeen), so nobody is judged dead for our stall.
    this.view.tick(this.table.ttlMs / 2);
    const now = this.now();
    if (now - this.lastCollectAt >= this.table.ttlMs) {
      this.lastCollectAt = now;
      void this.members.collectDead();
    }
    if (now < this.balanceFrom) return;
    const live = this.members.live();
    const me = live.indexOf(this.id);
    if (me < 0) return; // not a member yet, or our heartbeats fail
    const target = this.targetFor(live);
    const acquiresMax = this.opts.acquireConcurrencyMax ?? ACQUIRE_CONCURRENCY_MAX_DEFAULT;
    const releasesMax = this.opts.releaseConcurrencyMax ?? RELEASE_CONCURRENCY_MAX_DEFAULT;
    for (let p = 0; p < this.partitions; p++) {
      const phase = this.phases[p];
      if (phase === Phase.idle) {
        if (now < this.retryAt[p] || this.acquiresInFlight >= acquiresMax) continue;
        const ours = target[p] === me;
        if (ours ? this.table.judge(p) !== "held" : this.table.acquirableForMs(p) >= this.orphanAfterMs) this.track(this.acquire(p));
      } else if (phase === Phase.serving && target[p] !== me) {
        // Its target owner is live (it is in `live`); hand p over once it is settled.
        if (this.releasesInFlight >= releasesMax || !this.members.isSettled(live[target[p]])) continue;
        this.track(this.handOff(p));
      }
    }
  }

  private targetFor(live: string[]): Int32Array {
    const key = live.join("\n");
    if (key !== this.cachedMembers) {
      this.cachedMembers = key;
      this.cachedTarget = assign(live, this.partitions);
    }
    return this.cachedTarget;
  }

  private track(work: Promise<void>): void {
    this.busy.add(work);
    void work.finally(() => {
      this.busy.delete(work);
      this.scheduleBalance();
    });
  }

  private async acquire(p: number): Promise<void> {
    this.phases[p] = Phase.acquiring;
    this.lostWhileBusy[p] = 0;
    this.acquiresInFlight++;
    try {
      const r = await this.table.tryAcquire(p);
      if (!r.ok) {
        if (r.reason === "error") this.retryAt[p] = this.now() + this.table.renewIntervalMs;
        this.phases[p] = Phase.idle;
        return;
      }
      if (this.state !== "running") {
        await this.table.release(p); // stopping: not worth loading only to hand it off
        this.phases[p] = Phase.idle;
        return;
      }
      const resumable = r.previous != null && r.previous.owner === this.id && r.previous.epoch === this.lastEpoch[p];
      this.lastEpoch[p] = r.epoch;
      this.phases[p] = Phase.loading;
      try {
        await this.handlers.acquire(p, { epoch: r.epoch, previous: r.previous, resumable });
      } catch (err) {
        this.log.warn(`partition ${p}: not started (${(err as Error).message}); releasing its lease, retrying in ${this.table.ttlMs} ms`);
        this.retryAt[p] = this.now() + this.table.ttlMs;
        await this.table.release(p);
        this.phases[p] = Phase.idle;
        return;
      }
      this.phases[p] = this.lostWhileBusy[p] === 0 && this.table.holds(p) ? Phase.serving : Phase.idle;
    } finally {
      this.acquiresInFlight--;
    }
  }

  private async handOff(p: number): Promise<void> {
    this.phases[p] = Phase.releasing;
    this.lostWhileBusy[p] = 0;
    this.releasesInFlight++;
    try {
      await this.handlers.release(p);
    } catch (err) {
      // The handler's contract: settled means stopped, so the lease may go.
      this.log.warn(`partition ${p}: release handler failed (${(err as Error).message}); releasing the lease anyway`);
    } finally {
      await this.table.release(p);
      this.phases[p] = Phase.idle;
      this.releasesInFlight--;
    }
  }

  private onLost(p: number, reason: LostReason): void {
    const phase = this.phases[p];
    if (phase === Phase.serving) this.phases[p] = Phase.idle;
    else if (phase !== Phase.idle) this.lostWhileBusy[p] = 1; // its acquire/release flow settles it
    this.handlers.lost(p, reason);
    this.scheduleBalance();
  }
}

/** `<host>-<pid>-<random>`, cut to the id pattern. */
export function defaultEngineId(): string {
  const host = hostname().replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 32) || "engine";
  const random = Math.floor(Math.random() * 0x1_0000_0000).toString(36);
  return `${host}-${process.pid}-${random}`;
}
