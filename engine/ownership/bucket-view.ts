// BucketView: what this process has seen of the lease bucket — the newest revision of each
// key and WHEN this process first saw that revision, on its own monotonic clock.
//
// That "first seen" time is what expiry is judged by (README.md, "Expiry"): a lease whose
// revision has not changed for its TTL plus a margin, as timed here, belongs to a holder
// that has stopped renewing. Seeing a revision late only makes a contender wait longer, so
// every source may feed the view: the watch (pushed, in stream order), our own writes' acks,
// and reads after a failed compare-and-set.
//
// What this process saw is only as good as its own connection to the bucket: after its writes
// failed (NATS unreachable, a stream leader election) or after it was paused, every key looks
// unchanged although the others may have renewed all along. So ages are counted from the
// last such disruption at the earliest (sinceSeen): a process never judges others dead
// because it was itself cut off; it waits a full TTL of good health first.
//
// A watch can go quiet without an error (a consumer lost on a node that died). Every write
// of ours is a probe: its revision must come back through the watch; when it has not after
// staleAfterMs, the watch is rebuilt (checkWatch).

import type { QueuedIterator } from "@nats-io/nats-core";
import type { KV, KvWatchEntry } from "@nats-io/kv";
import type { Logger } from "../log.ts";

export interface Observed {
  readonly key: string;
  /** The key's revision (its message's stream sequence). */
  readonly revision: number;
  /** A delete or purge marker. */
  readonly deleted: boolean;
  readonly value: Uint8Array;
  /** Monotonic ms at which this process first saw this revision. */
  readonly seenAt: number;
}

const watchRestartDelayMs = 250;

export class BucketView {
  private readonly entries = new Map<string, Observed>();
  private readonly listeners: ((now: Observed, before: Observed | undefined) => void)[] = [];
  private watcher: QueuedIterator<KvWatchEntry> | null = null;
  private state: "stopped" | "starting" | "watching" = "stopped";
  private wanted = false;
  /** Highest revision the watch has delivered. */
  private watchedUpTo = 0;
  /** Oldest of our writes not yet seen through the watch: the probe. */
  private probe: { revision: number; at: number } | null = null;
  private waiters: { revision: number; resolve: () => void }[] = [];
  /** Monotonic time the view started: a key it has never seen has been missing at least since. */
  startedAt = Infinity;
  /** Last time our writes failed or we were paused (monotonic). */
  private disruptedAt = -Infinity;
  private lastTickAt = -Infinity;

  constructor(
    readonly kv: KV,
    private readonly now: () => number,
    private readonly log: Logger,
  ) {}

  /** Starts the watch; resolves once it is consuming (the bucket's current values follow). */
  async start(): Promise<void> {
    this.wanted = true;
    this.startedAt = this.now();
    try {
      await this.openWatch();
    } catch (err) {
      this.wanted = false;
      throw err;
    }
  }

  async stop(): Promise<void> {
    this.wanted = false;
    this.state = "stopped";
    this.watcher?.stop();
    this.watcher = null;
  }

  get(key: string): Observed | undefined {
    return this.entries.get(key);
  }

  /** How long the key's revision has been unchanged, as far as this process can vouch for it. */
  sinceSeen(o: Observed): number {
    return this.now() - Math.max(o.seenAt, this.disruptedAt);
  }

  /** Our writes failed or we stalled: what we saw may be old, and age counts afresh from now. */
  disrupted(): void {
    this.disruptedAt = this.now();
  }

  /** Called by every periodic timer: a gap longer than maxGapMs means we were paused. */
  tick(maxGapMs: number): void {
    const now = this.now();
    if (now - this.lastTickAt > maxGapMs && this.lastTickAt !== -Infinity) this.disruptedAt = now;
    this.lastTickAt = now;
  }

  /** Every key (deleted ones too) whose name starts with prefix. */
  *withPrefix(prefix: string): IterableIterator<Observed> {
    for (const [key, o] of this.entries) if (key.startsWith(prefix)) yield o;
  }

  /** Called after every new revision the view learns of, with the one it replaces. */
  onChange(listener: (now: Observed, before: Observed | undefined) => void): void {
    this.listeners.push(listener);
  }

  /** Records a revision of key; an older one than the view holds is ignored. */
  observe(key: string, revision: number, deleted: boolean, value: Uint8Array): Observed {
    const known = this.entries.get(key);
    if (known && known.revision >= revision) return known;
    const seen: Observed = { key, revision, deleted, value, seenAt: this.now() };
    this.entries.set(key, seen);
    for (const listener of this.listeners) listener(seen, known);
    return seen;
  }

  /** A write of ours was stored with this revision: observe it, and expect it from the watch. */
  wrote(key: string, revision: number, value: Uint8Array, deleted = false): Observed {
    if (revision > this.watchedUpTo && this.probe == null) this.probe = { revision, at: this.now() };
    return this.observe(key, revision, deleted, value);
  }

  /** Reads key from the stream leader (after a failed compare-and-set: our view was old). */
  async refresh(key: string): Promise<Observed | undefined> {
    const e = await this.kv.get(key);
    if (e == null) return this.entries.get(key);
    return this.observe(key, e.revision, e.operation !== "PUT", e.value);
  }

  /**
   * Resolves once the watch has delivered `revision` — and so, the stream being ordered,
   * everything stored before it. After our first heartbeat this means: the view is complete.
   */
  whenWatched(revision: number): Promise<void> {
    if (this.watchedUpTo >= revision) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ revision, resolve }));
  }

  /** Rebuilds the watch when a write of ours has not come back through it within staleAfterMs. */
  checkWatch(staleAfterMs: number): void {
    if (this.probe == null || this.state === "starting" || !this.wanted) return;
    if (this.watchedUpTo >= this.probe.revision) {
      this.probe = null;
      return;
    }
    if (this.now() - this.probe.at < staleAfterMs) return;
    this.log.warn(`lease watch delivered nothing past revision ${this.watchedUpTo} for ${staleAfterMs} ms; rebuilding it`);
    this.probe = null;
    this.disrupted();
    this.watcher?.stop();
    this.watcher = null;
    void this.openWatch().catch(() => {});
  }

  private async openWatch(): Promise<void> {
    if (this.state === "starting") return;
    this.state = "starting";
    try {
      const watcher = await this.kv.watch({ key: ">" });
      if (!this.wanted) {
        watcher.stop();
        return;
      }
      this.watcher = watcher;
      this.state = "watching";
      void this.consume(watcher);
    } catch (err) {
      this.state = "stopped";
      this.log.warn(`lease watch not started (${(err as Error).message})`);
      this.retryLater();
      throw err;
    }
  }

  private async consume(watcher: QueuedIterator<KvWatchEntry>): Promise<void> {
    try {
      for await (const e of watcher) {
        if (e.revision > this.watchedUpTo) this.watchedUpTo = e.revision;
        this.observe(e.key, e.revision, e.operation !== "PUT", e.value);
        if (this.waiters.length > 0) this.wakeWaiters();
      }
    } catch (err) {
      this.log.warn(`lease watch failed (${(err as Error).message})`);
    }
    // Ended without stop(): the connection closed or the consumer went away.
    if (this.watcher === watcher) {
      this.disrupted();
      this.watcher = null;
      this.state = "stopped";
      this.retryLater();
    }
  }

  private wakeWaiters(): void {
    const due = this.waiters.filter((w) => w.revision <= this.watchedUpTo);
    this.waiters = this.waiters.filter((w) => w.revision > this.watchedUpTo);
    for (const w of due) w.resolve();
  }

  private retryLater(): void {
    if (!this.wanted) return;
    setTimeout(() => {
      if (this.wanted && this.state === "stopped") void this.openWatch().catch(() => {});
    }, watchRestartDelayMs);
  }
}
