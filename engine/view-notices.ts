// ViewNotices: tells gateways which member views of one partition changed, so that their
// member caches hold a view until it changes (proto/view-notice.ts has the wire format).
//
// It sits in front of the partition's ScoreFeed as the state's score sink: every score change
// lands here first, as one float in a typed array (no allocation per order). The runner says
// after each message what it applied; the list goes out once per event-loop turn, so a burst
// of messages costs one NATS message per partition, not one per order or per message.

import type { NatsConnection } from "@nats-io/transport-node";
import { encodeNotice, NOTICE_HEADER_BYTES, noticeSubject } from "../proto/view-notice.ts";
import type { ScoreSink } from "./score-feed.ts";

/**
 * Past this many members in one notice it says "all" instead: a gateway drops the partition's
 * views, which is cheaper for both than 64 KB of ids at a moment when most views churn anyway.
 */
export const NOTICE_MEMBERS_MAX = 8192;

export class ViewNotices implements ScoreSink {
  private members = new Float64Array(256);
  private count = 0;
  private all = false;
  /** Where the next notice starts: the seq the last one ended at. */
  private from: number;
  /** The last seq applied. */
  private to: number;
  private flushScheduled = false;
  private flushedSinceHeartbeat = false;
  private readonly subject: string;
  private stopped = false;
  published = 0;

  constructor(
    private readonly nc: NatsConnection,
    readonly partition: number,
    /** This run's id: a gateway starts a new chain when it changes. */
    readonly run: number,
    /** The seq this run resumed after (a snapshot's, or 0). */
    startSeq: number,
    private readonly inner: ScoreSink,
  ) {
    this.from = this.to = startSeq;
    this.subject = noticeSubject(partition);
  }

  touched(member: number, score: number, delta: number, line: number, ts: number): void {
    const n = this.count;
    // A hot member touched many times in one turn is listed once per run of repeats.
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
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Publishes what changed since the last notice, or an empty notice (a start, a heartbeat). */
  flush(): void {
    this.flushScheduled = false;
    if (this.stopped || this.nc.isClosed()) return;
    const count = this.all ? 0 : this.count;
    // A fresh buffer each time: nats.js keeps a reference to the payload until it is written out.
    const bytes = new Uint8Array(NOTICE_HEADER_BYTES + count * 8);
    encodeNotice(new DataView(bytes.buffer), this.run, this.from, this.to, this.all, this.members, count);
    try {
      this.nc.publish(this.subject, bytes);
    } catch {
      return; // closing: gateways notice the silence
    }
    this.published++;
    this.from = this.to;
    this.count = 0;
    this.all = false;
    this.flushedSinceHeartbeat = true;
  }

  /** Called every NOTICE_HEARTBEAT_MS: an empty notice when nothing went out since the last call. */
  heartbeat(): void {
    if (!this.flushedSinceHeartbeat && !this.flushScheduled) this.flush();
    this.flushedSinceHeartbeat = false;
  }

  /** No more notices from this run (fenced, stopped). */
  stop(): void {
    this.stopped = true;
  }
}
