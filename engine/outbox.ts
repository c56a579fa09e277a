// Outbox: one partition's ordered JetStream publishes (tier changes, dead letters).
//
// Publishes are pipelined in order on one connection, so JetStream stores them in order.
// Each carries a Nats-Msg-Id derived from its position in the ORDERS log, so a retry or a
// re-publish after a crash is harmless within the stream's duplicate window; beyond it,
// `recoverPosition` tells the runner which positions the stream already holds. A failed
// publish is retried with backoff until it succeeds or the outbox stops; while anything is
// unacknowledged the partition's consumption waits once `inFlightMax` is reached.
// Retries keep that order: failed jobs wait in one queue, in push order, with one backoff
// timer for the outbox, and jobs pushed meanwhile queue behind them. (Per-job timers let a
// later change, backed off less, be stored before an earlier one; the runner's recovery
// reads the LAST stored position as "everything before is stored", so that order matters.)

import type { JetStreamManager, StoredMsg } from "@nats-io/jetstream";
import type { MsgHdrs } from "@nats-io/transport-node";
import { HEADER_MSG_ID, HEADER_TIER_POS } from "../proto/names.ts";
import { wireHeaders } from "../proto/wire-headers.ts";
import type { AckedPublisher } from "./acked-publisher.ts";
import type { Logger } from "./log.ts";

export interface OutboxJob {
  subject: string;
  data: Uint8Array;
  msgId: string;
  /** "<orderSeq>.<k>": the job's place in the log, written as a header for recovery. */
  pos: string;
  headers?: Record<string, string>;
  /** Called with the stream sequence once stored. */
  onStored?: (seq: number) => void;
}

const RETRY_BACKOFF_MS = [50, 100, 250, 500, 1000, 2000, 5000] as const;

export class Outbox {
  private inFlight = 0;
  /** Jobs pushed, and jobs stored (or given up at stop), since the start. */
  private pushedCount = 0;
  private doneCount = 0;
  private waiters: (() => void)[] = [];
  private stopped = false;
  publishRetries = 0;
  /** Jobs to send again (and jobs pushed since the first of them failed), in push order. */
  private retryQueue: { job: OutboxJob; n: number }[] = [];
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  /** Consecutive retry rounds without a success: the index into RETRY_BACKOFF_MS. */
  private retryRound = 0;

  constructor(
    private readonly publisher: AckedPublisher,
    private readonly log: Logger,
    readonly inFlightMax: number,
    /**
     * Fencing: false once this process may no longer write the partition (its lease is gone).
     * Checked before every send, so nothing goes out after the lease was lost.
     */
    private readonly mayPublish: () => boolean = () => true,
  ) {}

  /** Jobs dropped because the partition was fenced. */
  fencedJobs = 0;

  get pending(): number {
    return this.inFlight;
  }

  get full(): boolean {
    return this.inFlight >= this.inFlightMax;
  }

  push(job: OutboxJob): void {
    this.inFlight++;
    const n = ++this.pushedCount;
    if (this.retryTimer !== null) this.retryQueue.push({ job, n }); // behind the jobs waiting to go again
    else this.publish(job, n);
  }

  /** Resolves when nothing is in flight. */
  async drained(): Promise<void> {
    while (this.inFlight > 0 && !this.stopped) await this.changed();
  }

  /** Resolves once as many jobs are done as had been pushed when it was called. */
  async flushed(): Promise<void> {
    const target = this.pushedCount;
    while (this.doneCount < target && !this.stopped) await this.changed();
  }

  /** Resolves when there is room for more (or at once). */
  async room(): Promise<void> {
    while (this.full && !this.stopped) await this.changed();
  }

  private changed(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    for (let i = this.retryQueue.length; i > 0; i--) this.done(); // given up
    this.retryQueue = [];
    this.release();
  }

  private publish(job: OutboxJob, n: number): void {
    if (this.stopped || !this.mayPublish()) {
      this.fencedJobs++;
      return this.done();
    }
    const entries: [string, string][] = [
      [HEADER_MSG_ID, job.msgId],
      [HEADER_TIER_POS, job.pos],
    ];
    if (job.headers) entries.push(...Object.entries(job.headers));
    const h = wireHeaders(entries);
    this.publisher.send(
      job.subject,
      job.data,
      h,
      (seq) => {
        this.retryRound = 0;
        job.onStored?.(seq);
        this.done();
      },
      (err) => {
        if (this.stopped) return this.done();
        this.publishRetries++;
        // In push order among the other failed jobs (failures of one round arrive in order).
        let at = this.retryQueue.length;
        while (at > 0 && this.retryQueue[at - 1].n > n) at--;
        this.retryQueue.splice(at, 0, { job, n });
        if (this.retryTimer !== null) return;
        const round = this.retryRound++;
        const waitMs = RETRY_BACKOFF_MS[Math.min(round, RETRY_BACKOFF_MS.length - 1)];
        if (round === 0 || round % 10 === 0) {
          this.log.warn(`publish to ${job.subject} failed (${err.message}); retrying in ${waitMs} ms`);
        }
        this.retryTimer = setTimeout(() => this.retryNow(), waitMs);
      },
    );
  }

  /** Sends every waiting job again, in push order, pipelined. */
  private retryNow(): void {
    this.retryTimer = null;
    const jobs = this.retryQueue;
    this.retryQueue = [];
    for (const { job, n } of jobs) this.publish(job, n);
  }

  private done(): void {
    this.inFlight--;
    this.doneCount++;
    this.release();
  }

  private release(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const resolve of w) resolve();
  }
}

/** Position of a job, comparable: [orderSeq, k]. */
export type Position = readonly [orderSeq: number, k: number];
export const POSITION_NONE: Position = [0, -1];

export const isAfter = (a: Position, b: Position): boolean => a[0] > b[0] || (a[0] === b[0] && a[1] > b[1]);

/** The position a message's Tierstream-Pos header gives, or null when it has no valid one. */
export function positionOfHeader(h: MsgHdrs | undefined): Position | null {
  const [a, b] = (h?.get(HEADER_TIER_POS) ?? "").split(".").map(Number);
  return Number.isInteger(a) && Number.isInteger(b) ? [a, b] : null;
}

/** The position a stored message's header gives, or null when it has no valid one. */
export function storedPositionOf(m: StoredMsg): Position | null {
  return positionOfHeader(m.header);
}

/** The position and stream sequence of the last message on `filter`, from its header. */
export async function recoverPosition(
  jsm: JetStreamManager,
  stream: string,
  filter: string,
): Promise<{ pos: Position; seq: number }> {
  const m = await jsm.streams.getMessage(stream, { last_by_subj: filter });
  if (!m) return { pos: POSITION_NONE, seq: 0 };
  const pos = storedPositionOf(m);
  if (pos === null) throw new Error(`${stream} message ${m.seq} on ${m.subject} has no valid ${HEADER_TIER_POS} header`);
  return { pos, seq: m.seq };
}
