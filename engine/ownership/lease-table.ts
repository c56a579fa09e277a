// LeaseTable: the partitions this process holds, as leases in the KV bucket TIERSTREAM_LEASES.
//
//   acquire   compare-and-set on the revision this process last saw (create when missing)
//   renew     compare-and-set on our own last revision, every renewIntervalMs
//   release   compare-and-set to {owner: null} — free for the next holder at once
//   expiry    judged by contenders: the revision has not changed for ttl + takeoverMargin
//             on the contender's own monotonic clock (README.md, "Expiry")
//
// Fencing: holds(p) is true only until renewSentAt + ttl − holderMargin on this process's
// monotonic clock, where renewSentAt is when the last successful write was SENT. A contender
// starts its wait no earlier than that write was stored, and waits longer than the TTL, so
// holds(p) turns false before anyone else may take p — with no help from any timer: a
// process frozen past its TTL reads false the instant it resumes. The loss is then reported
// once, through onLost, on a microtask.

import { JetStreamApiCodes } from "@nats-io/jetstream";
import { encodeLeaseValue, type LeaseValue, leaseKey, parseLeaseValue } from "../../proto/ownership-names.ts";
import { type Logger, silentLogger } from "../log.ts";
import type { BucketView, Observed } from "./bucket-view.ts";

export const LEASE_TTL_MS_DEFAULT = 5_000;

export type LostReason = "expired" | "taken";

/** Who held a lease before we took it: the engine can resume in place when that was us. */
export interface PreviousHolder {
  owner: string | null;
  epoch: number;
}

export type AcquireResult =
  | { ok: true; epoch: number; previous: PreviousHolder | null }
  /** held: someone else's live lease; conflict: our view was old (it is fresh now); error: no answer. */
  | { ok: false; reason: "held" | "conflict" | "error" | "busy"; holder?: string | null };

/** What this process can tell about a lease without asking NATS. */
export type LeaseJudgement = "missing" | "free" | "mine" | "stale" | "held";

export interface LeaseTableOptions {
  /** The bucket as this process sees it (shared with the member registry). */
  view: BucketView;
  /** This process's engine id (one per incarnation). */
  owner: string;
  partitions: number;
  ttlMs?: number;
  /** Default ttl / 3: two more tries before the holder's deadline when one fails. */
  renewIntervalMs?: number;
  /** The holder stops this long before its TTL (clock-rate drift, a write already on the wire). Default ttl / 5. */
  holderMarginMs?: number;
  /** A contender waits this long past the holder's TTL. Default ttl / 5. */
  takeoverMarginMs?: number;
  /** Timeout of one KV request. Default the renew interval, at most 2 s. */
  requestTimeoutMs?: number;
  /** Period of the one timer that renews and checks deadlines. Default ttl / 10. */
  tickMs?: number;
  /** Monotonic milliseconds. */
  now?: () => number;
  /** Wall-clock milliseconds, only for renewedAt (informational). */
  wallNow?: () => number;
  onLost?: (partition: number, reason: LostReason) => void;
  log?: Logger;
}

interface Held {
  readonly partition: number;
  readonly epoch: number;
  readonly value: LeaseValue;
  revision: number;
  /** Monotonic time the last successful write (acquire or renew) was sent. */
  sentAt: number;
  /** The renew on the wire, if any: release waits for it. */
  inFlight: Promise<void> | null;
}

export class LeaseTable {
  readonly owner: string;
  readonly partitions: number;
  readonly ttlMs: number;
  readonly renewIntervalMs: number;
  readonly holderMarginMs: number;
  readonly takeoverMarginMs: number;
  private readonly requestTimeoutMs: number;
  private readonly tickMs: number;
  private readonly view: BucketView;
  private readonly now: () => number;
  private readonly wallNow: () => number;
  private readonly log: Logger;
  private readonly onLost: (partition: number, reason: LostReason) => void;
  /** Parsed values, once per observed revision (balance rounds read every lease often). */
  private readonly parsed = new WeakMap<Observed, LeaseValue | null>();
  /** Monotonic deadline of each held lease, 0 when not held: holds() reads only this. */
  private readonly deadlines: Float64Array;
  private readonly leases = new Map<number, Held>();
  private readonly acquiring = new Set<number>();
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(opts: LeaseTableOptions) {
    this.owner = opts.owner;
    this.partitions = opts.partitions;
    this.ttlMs = opts.ttlMs ?? LEASE_TTL_MS_DEFAULT;
    this.renewIntervalMs = opts.renewIntervalMs ?? Math.floor(this.ttlMs / 3);
    this.holderMarginMs = opts.holderMarginMs ?? Math.floor(this.ttlMs / 5);
    this.takeoverMarginMs = opts.takeoverMarginMs ?? Math.floor(this.ttlMs / 5);
    this.requestTimeoutMs = opts.requestTimeoutMs ?? Math.min(this.renewIntervalMs, 2_000);
    this.tickMs = opts.tickMs ?? Math.max(10, Math.floor(this.ttlMs / 10));
    this.view = opts.view;
    this.now = opts.now ?? (() => performance.now());
    this.wallNow = opts.wallNow ?? Date.now;
    this.log = opts.log ?? silentLogger;
    this.onLost = opts.onLost ?? (() => {});
    if (!Number.isInteger(this.partitions) || this.partitions < 1) throw new RangeError(`partitions must be ≥ 1, got ${this.partitions}`);
    if (!(this.ttlMs > 0)) throw new RangeError(`ttlMs must be > 0, got ${this.ttlMs}`);
    // The holder must get a renewal through before its own deadline, or it loses every lease.
    if (!(this.renewIntervalMs > 0 && this.renewIntervalMs < this.ttlMs - this.holderMarginMs)) {
      throw new RangeError(`renewIntervalMs (${this.renewIntervalMs}) must be > 0 and < ttlMs − holderMarginMs (${this.ttlMs - this.holderMarginMs})`);
    }
    if (!(this.holderMarginMs >= 0 && this.takeoverMarginMs >= 0)) throw new RangeError("margins must be ≥ 0");
    this.deadlines = new Float64Array(this.partitions);
  }

  /** Starts the one timer: renewals and deadline checks. */
  start(): void {
    this.timer ??= setInterval(() => this.tick(), this.tickMs);
  }

  /**
   * Stops renewing and stops holding, without a word to anyone: the leases stay in the
   * bucket and expire, as if this process had died. A planned hand-off releases each
   * partition first (release()).
   */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const p of this.leases.keys()) this.deadlines[p] = 0;
    this.leases.clear();
  }

  /**
   * True while this process may apply and publish for p. Cheap and synchronous: one array
   * read and one clock read. Once false it stays false until the next acquire.
   */
  holds(p: number): boolean {
    const deadline = this.deadlines[p];
    if (deadline === 0) return false;
    if (this.now() < deadline) return true;
    this.lose(p, "expired");
    return false;
  }

  /** The epoch (fencing token) of a held lease; 0 when not held. */
  epochOf(p: number): number {
    return this.holds(p) ? this.leases.get(p)!.epoch : 0;
  }

  /** Partitions held now, ascending. */
  held(): number[] {
    return [...this.leases.keys()].filter((p) => this.holds(p)).sort((a, b) => a - b);
  }

  /** What the view says of p's lease (no I/O). */
  judge(p: number): LeaseJudgement {
    const o = this.view.get(leaseKey(p));
    if (o == null || o.deleted) return "missing";
    const v = this.valueOf(o);
    if (v != null && v.owner === null) return "free";
    if (v != null && v.owner === this.owner) return "mine";
    return this.isStale(o, v) ? "stale" : "held";
  }

  /**
   * How long p has been there for the taking (missing, free or stale) as seen here, in ms;
   * -1 while someone (we included) holds it.
   */
  acquirableForMs(p: number): number {
    const o = this.view.get(leaseKey(p));
    if (o == null) return Math.max(0, this.now() - this.view.startedAt);
    if (o.deleted) return this.view.sinceSeen(o);
    const v = this.valueOf(o);
    if (v != null && v.owner === null) return this.view.sinceSeen(o);
    if (v != null && v.owner === this.owner) return -1;
    const staleForMs = this.view.sinceSeen(o) - ((v?.ttlMs ?? this.ttlMs) + this.takeoverMarginMs);
    return staleForMs >= 0 ? staleForMs : -1;
  }

  /**
   * Takes p if it is missing, free, ours from before, or stale. At most one caller wins:
   * every path is a compare-and-set on the revision the view holds.
   */
  async tryAcquire(p: number): Promise<AcquireResult> {
    this.checkPartition(p);
    if (this.holds(p)) {
      const epoch = this.leases.get(p)!.epoch;
      return { ok: true, epoch, previous: { owner: this.owner, epoch } }; // held already
    }
    if (this.acquiring.has(p)) return { ok: false, reason: "busy" };
    const key = leaseKey(p);
    const o = this.view.get(key);
    const judgement = this.judge(p);
    const before = o == null || o.deleted ? null : this.valueOf(o);
    if (judgement === "held") return { ok: false, reason: "held", holder: before?.owner };
    this.acquiring.add(p);
    try {
      const value: LeaseValue = { owner: this.owner, epoch: (before?.epoch ?? 0) + 1, ttlMs: this.ttlMs, renewedAt: this.wallNow() };
      const bytes = encodeLeaseValue(value);
      const sentAt = this.now();
      const revision =
        judgement === "missing" ? await this.view.kv.create(key, bytes) : await this.view.kv.update(key, bytes, o!.revision, this.requestTimeoutMs);
      this.view.wrote(key, revision, bytes);
      const deadline = sentAt + this.ttlMs - this.holderMarginMs;
      // The answer took longer than the lease lasts: we own p in the bucket but may not act
      // on it; the next try takes it at once ("mine").
      if (this.now() >= deadline) return { ok: false, reason: "error" };
      this.leases.set(p, { partition: p, epoch: value.epoch, value, revision, sentAt, inFlight: null });
      this.deadlines[p] = deadline;
      return { ok: true, epoch: value.epoch, previous: before && { owner: before.owner, epoch: before.epoch } };
    } catch (err) {
      if (isWrongLastSequence(err)) {
        await this.view.refresh(key).catch(() => {});
        return { ok: false, reason: "conflict" };
      }
      this.view.disrupted();
      this.log.warn(`lease ${p}: acquire failed (${(err as Error).message})`);
      return { ok: false, reason: "error" };
    } finally {
      this.acquiring.delete(p);
    }
  }

  /**
   * Planned hand-off: stops holding p at once, then marks the lease free so the next holder
   * need not wait for it to expire. Never reports a loss.
   */
  async release(p: number): Promise<void> {
    const h = this.leases.get(p);
    if (h == null) return;
    this.leases.delete(p);
    this.deadlines[p] = 0;
    await h.inFlight; // its revision is the one to replace
    const key = leaseKey(p);
    const bytes = encodeLeaseValue({ owner: null, epoch: h.epoch, ttlMs: this.ttlMs, renewedAt: this.wallNow() });
    try {
      this.view.wrote(key, await this.view.kv.update(key, bytes, h.revision, this.requestTimeoutMs), bytes);
    } catch (err) {
      // Taken already, or no answer: either way the lease ends by itself at its TTL.
      this.log.warn(`lease ${p}: release not stored (${(err as Error).message}); it expires instead`);
    }
  }

  /** One round of the timer: deadlines, then renewals of the leases that are due. */
  tick(): void {
    this.view.tick(this.ttlMs / 2);
    const now = this.now();
    for (const h of [...this.leases.values()]) {
      if (!this.holds(h.partition)) continue;
      if (h.inFlight == null && now - h.sentAt >= this.renewIntervalMs) h.inFlight = this.renew(h);
    }
  }

  private async renew(h: Held): Promise<void> {
    const p = h.partition;
    const key = leaseKey(p);
    const bytes = encodeLeaseValue({ ...h.value, renewedAt: this.wallNow() });
    const sentAt = this.now();
    try {
      h.revision = await this.view.kv.update(key, bytes, h.revision, this.requestTimeoutMs);
      this.view.wrote(key, h.revision, bytes);
      // A lease already past its deadline stays lost, renewed or not: loss is final.
      if (this.leases.get(p) === h && this.holds(p)) {
        h.sentAt = sentAt;
        this.deadlines[p] = sentAt + this.ttlMs - this.holderMarginMs;
      }
    } catch (err) {
      if (isWrongLastSequence(err)) {
        await this.afterConflict(h);
      } else {
        this.view.disrupted();
        this.log.warn(`lease ${p}: renewal failed (${(err as Error).message}); retrying until ${Math.round(this.deadlines[p] - this.now())} ms from now`);
      }
    } finally {
      h.inFlight = null;
    }
  }

  /**
   * The lease moved on without us knowing. If the bucket still holds our owner and epoch,
   * the move was our own renewal whose answer was lost: take its revision and renew again.
   * Anything else means someone took p.
   */
  private async afterConflict(h: Held): Promise<void> {
    const o: Observed | undefined = await this.view.refresh(leaseKey(h.partition)).catch(() => undefined);
    const v = o == null || o.deleted ? null : parseLeaseValue(o.value);
    if (o != null && v != null && v.owner === this.owner && v.epoch === h.epoch) {
      h.revision = o.revision;
      return;
    }
    if (this.leases.get(h.partition) === h) this.lose(h.partition, "taken");
  }

  /** The lease value of an observed revision; null for a junk value (it goes stale like any). */
  valueOf(o: Observed): LeaseValue | null {
    let v = this.parsed.get(o);
    if (v === undefined) {
      v = parseLeaseValue(o.value);
      this.parsed.set(o, v);
    }
    return v;
  }

  private isStale(o: Observed, v: LeaseValue | null): boolean {
    const ttlMs = v?.ttlMs ?? this.ttlMs;
    return this.view.sinceSeen(o) >= ttlMs + this.takeoverMarginMs;
  }

  private lose(p: number, reason: LostReason): void {
    if (!this.leases.delete(p)) return;
    this.deadlines[p] = 0;
    this.log.warn(`lease ${p}: lost (${reason}); stop applying and publishing it`);
    queueMicrotask(() => this.onLost(p, reason));
  }

  private checkPartition(p: number): void {
    if (!Number.isInteger(p) || p < 0 || p >= this.partitions) throw new RangeError(`partition ${p} is not in 0 … ${this.partitions - 1}`);
  }
}

function isWrongLastSequence(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return (
    code === JetStreamApiCodes.StreamWrongLastSequence ||
    code === JetStreamApiCodes.StreamWrongLastSequenceUnknown ||
    /wrong last sequence/i.test(String((err as Error)?.message))
  );
}
