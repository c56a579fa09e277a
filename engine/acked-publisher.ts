// AckedPublisher: JetStream publishes without a request per message.
//
// nats.js's js.publish() makes a request per message — a promise, an inbox mapping and a
// timer each — which caps one process at a few tens of thousands of publishes a second.
// Here every publish carries a reply subject under one inbox this publisher subscribes to
// once; the PubAck that JetStream sends there is matched to its job by the last token.
// One coarse sweep (not a timer per message) fails jobs whose ack is overdue; the caller
// retries them with the same Nats-Msg-Id, so a late or lost ack never stores a job twice.

import { createInbox, type MsgHdrs, type NatsConnection, type Subscription } from "@nats-io/transport-node";

interface Pending {
  sentAtMs: number;
  onStored: (seq: number) => void;
  onFailed: (err: Error) => void;
}

const SWEEP_INTERVAL_MS = 250;
const decoder = new TextDecoder();

export class AckedPublisher {
  private readonly prefix = createInbox();
  private readonly sub: Subscription;
  private readonly pending = new Map<number, Pending>();
  private readonly sweeper: ReturnType<typeof setInterval>;
  private nextId = 1;
  private roomWaiters: (() => void)[] = [];

  constructor(
    private readonly nc: NatsConnection,
    /**
     * Publishes in flight across every partition of the engine. PubAcks queue in the
     * server for this connection; too many and it is cut off as a slow consumer.
     */
    readonly inFlightMax = 16_384,
    private readonly ackTimeoutMs = 5000,
    private readonly now: () => number = Date.now,
  ) {
    this.sub = nc.subscribe(`${this.prefix}.*`, {
      callback: (err, msg) => {
        if (err) return;
        this.onReply(msg.subject, msg.data, msg.headers);
      },
    });
    this.sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
  }

  get inFlight(): number {
    return this.pending.size;
  }

  get full(): boolean {
    return this.pending.size >= this.inFlightMax;
  }

  /** Resolves when fewer than inFlightMax publishes are in flight. */
  room(): Promise<void> {
    if (!this.full) return Promise.resolve();
    return new Promise((resolve) => this.roomWaiters.push(resolve));
  }

  private settled(): void {
    if (this.roomWaiters.length > 0 && !this.full) for (const w of this.roomWaiters.splice(0)) w();
  }

  send(subject: string, data: Uint8Array, headers: MsgHdrs, onStored: (seq: number) => void, onFailed: (err: Error) => void): void {
    const id = this.nextId++;
    this.pending.set(id, { sentAtMs: this.now(), onStored, onFailed });
    try {
      this.nc.publish(subject, data, { reply: `${this.prefix}.${id}`, headers });
    } catch (err) {
      this.pending.delete(id);
      this.settled();
      onFailed(err as Error); // connection closed or draining
    }
  }

  /** Fails every job still waiting (the caller is stopping). */
  close(): void {
    clearInterval(this.sweeper);
    this.sub.unsubscribe();
    const jobs = [...this.pending.values()];
    this.pending.clear();
    this.settled();
    for (const j of jobs) j.onFailed(new Error("publisher closed"));
  }

  private onReply(subject: string, data: Uint8Array, headers: MsgHdrs | undefined): void {
    const id = Number(subject.slice(this.prefix.length + 1));
    const job = this.pending.get(id);
    if (!job) return; // acked after its sweep: the retry will get a duplicate ack
    this.pending.delete(id);
    this.settled();
    if (headers?.hasError) {
      job.onFailed(new Error(headers.code === 503 ? "no responders: no stream takes this subject" : `status ${headers.code} ${headers.description}`));
      return;
    }
    // {"stream":"TIER_EVENTS","seq":42} or {"stream":…,"seq":42,"duplicate":true}; errors carry "error".
    const text = decoder.decode(data);
    const at = text.indexOf('"seq":');
    if (at < 0 || text.includes('"error"')) {
      job.onFailed(new Error(`JetStream refused the publish: ${text}`));
      return;
    }
    job.onStored(Number.parseInt(text.slice(at + 6), 10));
  }

  private sweep(): void {
    const overdue = this.now() - this.ackTimeoutMs;
    // Insertion order is send order: stop at the first job still within its time.
    for (const [id, job] of this.pending) {
      if (job.sentAtMs > overdue) break;
      this.pending.delete(id);
      this.settled();
      job.onFailed(new Error(`no ack within ${this.ackTimeoutMs} ms`));
    }
  }
}
