// ReplyInbox: NATS requests and acked publishes without nats.js's per-request machinery.
//
// nc.request() and js.publish() make an inbox mapping, a promise and a timer per message;
// at tens of thousands a second that is most of a process's CPU (measured with a trivial
// responder at 64 in flight: 73 k → 142 k requests/s). Here every message carries a reply
// subject under one inbox subscribed to once; replies are matched by their last token, and
// one coarse sweep fails what is overdue. Shared by the engine (PubAcks) and the gateway
// (engine requests), which may not import each other, so it lives beside the wire formats.

import { createInbox, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from "@nats-io/transport-node";

export class ReplyError extends Error {
  override readonly name = "ReplyError";
  constructor(
    readonly code: "no_responders" | "timeout" | "closed",
    message: string,
  ) {
    super(message);
  }
}

interface Waiting {
  sentAtMs: number;
  /** The message, kept for resendAll (only with keepForResend). */
  resend: { subject: string; data: string | Uint8Array; headers: MsgHdrs | undefined } | null;
  /** With `many` (sendMany): returns true once the last reply has come. */
  onReply: (msg: Msg) => boolean | void;
  onFail: (err: ReplyError) => void;
  many: boolean;
}

export interface ReplyInboxOptions {
  sweepIntervalMs?: number;
  now?: () => number;
  /** Called each time a message stops waiting (replied, failed or swept). */
  onSettled?: () => void;
  /**
   * Handle replies for at most this long in one go; the rest wait for the next turn of the
   * event loop, in order. nats.js hands over a whole socket read at once: at 200 000 orders/s
   * an engine's read of PubAcks (and the live publishes each one triggers) ran 50–120 ms in
   * one synchronous stretch, and every pull, apply and request waited behind it.
   */
  sliceMs?: number;
  /** Keep each message while it waits, so that resendAll can send it again (JetStream publishes). */
  keepForResend?: boolean;
}

export class ReplyInbox {
  private readonly prefix = createInbox();
  private readonly sub: Subscription;
  private readonly waiting = new Map<number, Waiting>();
  private readonly sweeper: ReturnType<typeof setInterval>;
  private readonly now: () => number;
  private readonly onSettled: () => void;
  private nextId = 1;
  private readonly sliceMs: number;
  private readonly keepForResend: boolean;
  /** Replies held over to a later turn (sliceMs), oldest first; `backlogHead` is the next. */
  private backlog: Msg[] = [];
  private backlogHead = 0;
  private sliceStartedAt = -1;

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs: number,
    opts: ReplyInboxOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.onSettled = opts.onSettled ?? (() => {});
    this.sliceMs = opts.sliceMs ?? Number.POSITIVE_INFINITY;
    this.keepForResend = opts.keepForResend ?? false;
    this.sub = nc.subscribe(`${this.prefix}.*`, {
      callback: (err, msg) => {
        if (err) return;
        if (this.sliceMs === Number.POSITIVE_INFINITY) return this.handle(msg);
        if (this.backlog.length === 0 && this.inSlice()) return this.handle(msg);
        if (this.backlog.length === 0) setImmediate(() => this.drain());
        this.backlog.push(msg);
      },
    });
    this.sweeper = setInterval(() => this.sweep(), opts.sweepIntervalMs ?? 100);
    this.sweeper.unref(); // a sweep never keeps the process alive on its own
  }

  private handle(msg: Msg): void {
    const id = Number(msg.subject.slice(this.prefix.length + 1));
    const w = this.waiting.get(id);
    if (!w) return; // replied after its timeout: the caller has moved on
    if (msg.headers?.hasError && msg.headers.code === 503 && msg.data.length === 0) {
      this.take(id);
      w.onFail(new ReplyError("no_responders", "no responders"));
    } else if (!w.many) {
      this.take(id);
      w.onReply(msg);
    } else if (w.onReply(msg) === true) {
      this.take(id);
    }
  }

  /** True while this turn's slice lasts; the first call of a turn starts it. */
  private inSlice(): boolean {
    const now = performance.now();
    if (this.sliceStartedAt < 0) {
      this.sliceStartedAt = now;
      queueMicrotask(() => (this.sliceStartedAt = -1)); // the turn's synchronous stretch is over
    }
    return now - this.sliceStartedAt < this.sliceMs;
  }

  /** Handles held-over replies in order for one slice; the rest go on next turn. */
  private drain(): void {
    const started = performance.now();
    while (this.backlogHead < this.backlog.length) {
      this.handle(this.backlog[this.backlogHead++]);
      if (performance.now() - started >= this.sliceMs) break;
    }
    if (this.backlogHead < this.backlog.length) {
      setImmediate(() => this.drain());
      return;
    }
    this.backlog = [];
    this.backlogHead = 0;
  }

  /** Replies held over to a later turn (sliceMs). */
  get heldOver(): number {
    return this.backlog.length - this.backlogHead;
  }

  /** Messages waiting for their reply. */
  get size(): number {
    return this.waiting.size;
  }

  send(subject: string, data: string | Uint8Array, headers: MsgHdrs | undefined, onReply: (msg: Msg) => void, onFail: (err: ReplyError) => void): void {
    this.sendWaiting(subject, data, headers, onReply, onFail, false);
  }

  /**
   * A message answered by several replies: it waits until onReply returns true (or its time
   * runs out, counted from the send: then onFail, and later replies are dropped).
   */
  sendMany(subject: string, data: string | Uint8Array, headers: MsgHdrs | undefined, onReply: (msg: Msg) => boolean, onFail: (err: ReplyError) => void): void {
    this.sendWaiting(subject, data, headers, onReply, onFail, true);
  }

  private sendWaiting(subject: string, data: string | Uint8Array, headers: MsgHdrs | undefined, onReply: Waiting["onReply"], onFail: Waiting["onFail"], many: boolean): void {
    const id = this.nextId++;
    this.waiting.set(id, { sentAtMs: this.now(), resend: this.keepForResend ? { subject, data, headers } : null, onReply, onFail, many });
    this.publish(subject, data, headers, id);
  }

  private publish(subject: string, data: string | Uint8Array, headers: MsgHdrs | undefined, id: number): void {
    try {
      this.nc.publish(subject, data, { reply: `${this.prefix}.${id}`, headers });
    } catch (err) {
      const w = this.take(id);
      w?.onFail(new ReplyError("closed", (err as Error).message)); // connection closed or draining
    }
  }

  /**
   * Sends every kept message still waiting once more, oldest first, under its own reply
   * subject: the first reply settles it, a later one is dropped. For publishes the server
   * deduplicates (Nats-Msg-Id) — after a reconnect, one lost in flight goes again at once, not
   * when its wait runs out. Returns how many were sent.
   */
  resendAll(): number {
    let n = 0;
    for (const [id, w] of this.waiting) {
      if (w.resend === null) continue;
      try {
        this.nc.publish(w.resend.subject, w.resend.data, { reply: `${this.prefix}.${id}`, headers: w.resend.headers });
        n++;
      } catch {
        return n; // closed or draining: the sweep fails what is left
      }
    }
    return n;
  }

  /** A promise of the reply, for request/reply callers. */
  request(subject: string, data: string | Uint8Array): Promise<Msg> {
    return new Promise((resolve, reject) => this.send(subject, data, undefined, resolve, reject));
  }

  /** Fails everything still waiting. */
  close(): void {
    clearInterval(this.sweeper);
    this.backlog = [];
    this.backlogHead = 0;
    this.sub.unsubscribe();
    const all = [...this.waiting.values()];
    this.waiting.clear();
    this.onSettled();
    for (const w of all) w.onFail(new ReplyError("closed", "closed"));
  }

  private take(id: number): Waiting | undefined {
    const w = this.waiting.get(id);
    if (w) {
      this.waiting.delete(id);
      this.onSettled();
    }
    return w;
  }

  private sweep(): void {
    const overdue = this.now() - this.timeoutMs;
    // Insertion order is send order: stop at the first message still within its time.
    for (const [id, w] of this.waiting) {
      if (w.sentAtMs > overdue) break;
      this.take(id);
      w.onFail(new ReplyError("timeout", `no reply within ${this.timeoutMs} ms`));
    }
  }
}
