// View notices: tells gateways which member views changed, so that their member caches hold a
// view until it changes (proto/view-notice.ts has the wire format).
//
// ViewNotices, one per partition run, sits in front of the partition's ScoreFeed as the state's
// score sink: every score change lands here first, as one float in a typed array (no
// allocation per order). NoticeBatcher, one per engine, sends what its partitions gathered at
// most every NOTICE_BATCH_MS, all partitions in one NATS message: notices cost the gateways a
// message per batch, not one per partition per turn (measured: one per partition per turn
// added 3–6 k messages/s into each gateway under the feed bench's load, and its p99 grew).

import type { NatsConnection } from "@nats-io/transport-node";
import { NOTICE_BATCH_MS, NOTICE_HEAD_FLOATS, NOTICE_SUBJECT, writeNotice } from "../proto/view-notice.ts";
import type { ScoreSink } from "./score-feed.ts";

/**
 * Past this many members in one notice it says "all" instead: a gateway drops the partition's
 * views, which is cheaper for both than a long list at a moment when most views churn anyway.
 */
export const NOTICE_MEMBERS_MAX = 4096;
// Float64Array writes in the platform's byte order and the wire is little-endian, as is every
// platform Bun runs on; a big-endian one would send garbage, so it stops here instead.
if (new Uint8Array(Float64Array.of(1).buffer)[7] !== 0x3f) throw new Error("view notices need a little-endian platform");

/** A message holds notices up to about this many floats (nats-server's default max_payload is 1 MiB). */
const MESSAGE_FLOATS_MAX = 64 * 1024;

export class ViewNotices implements ScoreSink {
  private members = new Float64Array(64);
  private count = 0;
  private all = false;
  /** Where the next notice starts: the seq the last one ended at. */
  private from: number;
  /** The last seq applied. */
  private to: number;
  /** Waiting in the batcher's next message. */
  queued = false;

  constructor(
    private readonly batcher: NoticeBatcher,
    readonly partition: number,
    /** This run's id: a gateway starts a new chain when it changes. */
    readonly run: number,
    /** The seq this run resumed after (a snapshot's, or 0). */
    startSeq: number,
    private readonly inner: ScoreSink,
  ) {
    this.from = this.to = startSeq;
  }

  touched(member: number, score: number, delta: number, line: number, ts: number): void {
    const n = this.count;
    // A hot member touched many times in a row is listed once per run of repeats.
    if (!this.all && (n === 0 || this.members[n - 1] !== member)) {
      if (n === NOTICE_MEMBERS_MAX) {
        this.all = true;
        this.count = 0;
      } else {
        if (n === this.members.length) {
          const grown = new Float64Array(n * 2);
          grown.set(this.members);
          this.members = grown;
        }
        this.members[n] = member;
        this.count = n + 1;
      }
    }
    this.inner.touched(member, score, delta, line, ts);
  }

  /**
   * The runner applied the message at `seq`. `all`: every view of the partition may have
   * changed (a month start, or a message applied while replaying, when no member is listed).
   */
  applied(seq: number, all: boolean): void {
    this.to = seq;
    if (all) {
      this.all = true;
      this.count = 0;
    }
    this.batcher.queue(this);
  }

  /** Floats this partition's notice takes now. */
  get floats(): number {
    return NOTICE_HEAD_FLOATS + (this.all ? 0 : this.count);
  }

  /** Writes the notice of what changed since the last one (possibly nothing) and starts the next. */
  write(out: Float64Array, at: number): number {
    const next = writeNotice(out, at, this.partition, this.run, this.from, this.to, this.all, this.members, this.all ? 0 : this.count);
    this.from = this.to;
    this.count = 0;
    this.all = false;
    return next;
  }
}

export class NoticeBatcher {
  private readonly queued: ViewNotices[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly runs = new Set<ViewNotices>();
  messagesPublished = 0;

  constructor(private readonly nc: NatsConnection) {}

  /** A run whose notices this engine sends (and includes in every heartbeat) from now on; its first goes out with the next batch. */
  add(notices: ViewNotices): void {
    this.runs.add(notices);
    this.queue(notices);
  }

  /** Sends what the run has pending now and nothing after (fenced, stopped, handed off). */
  remove(notices: ViewNotices): void {
    if (!this.runs.delete(notices)) return;
    if (notices.queued) {
      this.queued.splice(this.queued.indexOf(notices), 1);
      this.send([notices]);
    }
  }

  queue(notices: ViewNotices): void {
    if (notices.queued || !this.runs.has(notices)) return;
    notices.queued = true;
    this.queued.push(notices);
    this.timer ??= setTimeout(() => this.flush(), NOTICE_BATCH_MS);
  }

  /** Sends every queued notice now. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.queued.splice(0);
    this.send(batch);
  }

  /** Every run's notice, empty where nothing changed: gateways hear each partition at least this often. */
  heartbeat(): void {
    for (const n of this.runs) this.queue(n);
    this.flush();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.queued.length = 0;
    this.runs.clear();
  }

  private send(batch: ViewNotices[]): void {
    let start = 0;
    while (start < batch.length) {
      // As many notices as fit one message (at least one: a notice is at most NOTICE_MEMBERS_MAX long).
      let floats = 1;
      let end = start;
      while (end < batch.length && (end === start || floats + batch[end].floats <= MESSAGE_FLOATS_MAX)) floats += batch[end++].floats;
      // A fresh buffer each time: nats.js keeps a reference to the payload until it is written out.
      const out = new Float64Array(floats);
      out[0] = end - start;
      let at = 1;
      for (let k = start; k < end; k++) {
        batch[k].queued = false;
        at = batch[k].write(out, at);
      }
      console.assert(at === floats, "every float of the message written");
      this.publish(new Uint8Array(out.buffer));
      start = end;
    }
  }

  private publish(bytes: Uint8Array): void {
    if (this.nc.isClosed()) return; // closing: gateways notice the silence
    try {
      this.nc.publish(NOTICE_SUBJECT, bytes);
      this.messagesPublished++;
    } catch {
      // draining: the same
    }
  }
}
