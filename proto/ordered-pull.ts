// OrderedPull: the messages of one filtered subject, in stream order from a start sequence,
// through an ephemeral pull consumer (ack none, memory, R1) — with at most `maxBytes` pulled
// and not yet handed to the caller. Each engine partition reads its ORDERS through one
// (engine/partition-runner.ts); readSubject reads through one too.
//
// Why not nats.js's ordered consumer (`consumer.consume({ max_bytes })`, @nats-io/jetstream
// 3.4): its byte accounting leaks, and the leak stalls a reader that has a backlog.
//   - Given max_bytes, it also sends batch = 100 (max_messages defaults to 100), refills when
//     75 are left, and books every pull's max_bytes as pending. A pull the server ends because
//     its batch is used up ends silently, so the unused rest of its max_bytes is never taken
//     off `pending.bytes`. Under a backlog of small messages that happens within the first
//     second, after which the next pulls get max_bytes = max_bytes − pending.bytes: a few KB
//     (seen: pending.bytes 1 101 131 of 1 114 112, pulls of max_bytes 3–4 KB).
//   - Pulls of a few KB end after one or two messages with "409 Message Size Exceeds
//     MaxBytes". When that status arrives while the iterator's queue is empty — the engine
//     has applied everything — nats.js returns without pulling again ("stall, missed
//     heartbeats will resuscitate"). With no pull open the server sends nothing, not even
//     heartbeats, so nothing moves until the idle-heartbeat monitor misses two (2 × 15 s),
//     resets and pulls. Seen in `loadtest spike`: 37 of 64 partitions applied nothing for
//     ~33 s, then all at once; such a partition's consumer had no pull open on the server
//     (/jsz: num_waiting 0, num_pending > 0); no slow consumer, no consumer reset.
// Here every pull is accounted exactly: one pull is open at a time, so each delivered message
// and each status belongs to it, and it is over when the server says so (408/409 status), its
// bytes are used up exactly, its batch is, or its expiry has passed without a word
// (EXPIRY_GRACE_MS: a server bug). The next pull asks for every byte of the budget not held
// by delivered, unhandled messages, once that is at least half the budget.
//
// Ordering: each message's delivery sequence must follow the last; a gap (a message lost with
// a connection), a vanished consumer (a server restart; 503 / 409 Consumer Deleted), a
// reconnect, or an open pull that hears nothing for two heartbeats recreates the consumer from
// the sequence after the last message received. Messages of a replaced consumer are dropped.

import { AckPolicy, type ConsumerConfig, type ConsumerInfo, DeliverPolicy, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { createInbox, type Msg, type NatsConnection, nanos, type Subscription } from "@nats-io/transport-node";

/** Where resets and refusals are told (the engine's Logger fits). */
export interface PullLogger {
  info(msg: string): void;
  warn(msg: string): void;
}

/** What the caller gets of each message. */
export interface PulledMessage {
  /** Stream sequence. */
  seq: number;
  subject: string;
  /** When JetStream stored it (ns since the epoch). */
  timestampNanos: number;
  /** Messages left on the consumer's filter after this one, as the server counted at delivery. */
  pending: number;
  data: Uint8Array;
}

export interface OrderedPullOptions {
  /** The connection pulls and deliveries go over. */
  nc: NatsConnection;
  /** For creating and deleting the consumer (any connection to the same account). */
  jsm: JetStreamManager;
  /** "$JS.API" unless JetStream is reached under another prefix. */
  apiPrefix?: string;
  stream: string;
  filter: string;
  /** Bytes pulled and not yet handed to the caller, at most (as the server counts a message's size). */
  maxBytes: number;
  log: PullLogger;
  /** For log lines: "partition 7". */
  label: string;
  /** Pull expiry and idle heartbeat; the defaults suit production, tests shorten them. */
  expiresMs?: number;
  heartbeatMs?: number;
}

/** A pull's message limit: high enough that bytes, not the count, end a pull. */
const PULL_BATCH = 1_000_000;
const EXPIRES_MS = 30_000;
/**
 * A pull still open this long after its expiry is over. nats-server before 2.9.16 (Debian's
 * is 2.9.10) ends a pull without its 408 when a message comes for it after its expiry and
 * before the server's own expiry check (fixed in nats-server df282a221): no status, no
 * heartbeat, and without this the partition stood still until two heartbeats went unheard
 * (11 s; seen in the feed benchmark: 16 of 64 partitions at once, when load fell from 50 000
 * to 20 000 orders/s and their first pulls reached their expiry with messages flowing). Taken
 * as over a moment early (the 408 still on its way), the pull is only renewed early: its 408
 * is an ended pull's, and a message it still brings counts against the new pull, which then
 * ends sooner than the server's, never later.
 */
const EXPIRY_GRACE_MS = 250;
const HEARTBEAT_MS = 5_000;
const RESET_BACKOFF_MS = [0, 250, 500, 1000, 2000, 5000] as const;
/** After a pull the server refused for a reason not expected here: wait this long before the next. */
const REFUSED_PULL_WAIT_MS = 1000;
/** Handed-out messages at the front of the queue before it is compacted. */
const COMPACT_AT = 1024;

interface OpenPull {
  reply: string;
  /** Bytes and messages the server may still deliver on it. */
  bytesLeft: number;
  msgsLeft: number;
  maxBytes: number;
  delivered: number;
}

/** Consumer creates tried at start before the error is the caller's. */
const START_ATTEMPTS = 6;

export class OrderedPull implements AsyncIterable<PulledMessage> {
  private readonly inboxPrefix: string;
  private sub: Subscription | null = null;
  private consumerName = "";
  private generation = 0;
  private pullSerial = 0;
  private open: OpenPull | null = null;
  /** Next delivery sequence expected from the current consumer. */
  private nextDseq = 1;
  /** Stream sequence of the last message queued (the consumer is recreated after it). */
  private lastQueuedSeq = 0;
  private queue: PulledMessage[] = [];
  private queueSizes: number[] = [];
  private head = 0;
  /** Bytes of delivered messages not yet handed out. */
  private buffered = 0;
  /** After a pull ended on a message bigger than it: the next pull must be bigger than that. */
  private minPullBytes = 0;
  /** No pull before this (performance.now()): set after an unexpected refusal, so it is not a hot loop. */
  private holdUntil = 0;
  private lastHeard = performance.now();
  private resetting = false;
  private resetAttempts = 0;
  private closed = false;
  private wake: (() => void) | null = null;
  private watchdog: ReturnType<typeof setInterval> | null = null;
  /** Ends the open pull EXPIRY_GRACE_MS after its expiry if the server has not (one at a time). */
  private expiryTimer: ReturnType<typeof setTimeout> | null = null;
  private statusIter: (AsyncIterable<unknown> & { stop?: () => void }) | null = null;
  private readonly expiresMs: number;
  private readonly heartbeatMs: number;
  private readonly namePrefix: string;
  /** Consumers recreated (gaps, lost consumers, reconnects, silent pulls) since the start. */
  resets = 0;
  /** Pulls sent since the start. */
  pulls = 0;
  /** Pulls the server never said were over, taken as over after their expiry (EXPIRY_GRACE_MS). */
  pullsExpiredUnsaid = 0;

  constructor(private readonly o: OrderedPullOptions) {
    this.inboxPrefix = createInbox((o.nc as NatsConnection & { options?: { inboxPrefix?: string } }).options?.inboxPrefix);
    this.namePrefix = `op_${this.inboxPrefix.slice(this.inboxPrefix.lastIndexOf(".") + 1)}`;
    this.expiresMs = o.expiresMs ?? EXPIRES_MS;
    this.heartbeatMs = o.heartbeatMs ?? HEARTBEAT_MS;
  }

  /** Bytes pulled and not handed out: delivered and queued, plus what the open pull may still bring. */
  get heldBytes(): number {
    return this.buffered + (this.open?.bytesLeft ?? 0);
  }

  /** The server-side consumer's name now ("" while it is being recreated). */
  get consumer(): string {
    return this.consumerName;
  }

  /** Creates the consumer at `startSeq` and starts pulling; the info is the new consumer's (num_pending). */
  async start(startSeq: number): Promise<ConsumerInfo> {
    this.lastQueuedSeq = startSeq - 1;
    this.sub = this.o.nc.subscribe(`${this.inboxPrefix}.>`, { callback: (err, msg) => this.onMsg(err, msg) });
    void this.sub.closed.then(() => this.close());
    let info: ConsumerInfo;
    // nats-server 2.9 places a new consumer on any peer of its stream, a dead one included (it
    // stays a peer until an operator removes it): on a cluster that lost a node about a third
    // of creates time out and the next try lands elsewhere. A few tries before giving up.
    for (let attempt = 1; ; attempt++) {
      try {
        info = await this.createConsumer();
        break;
      } catch (err) {
        const transient = /timeout/i.test(String((err as Error)?.message));
        if (!transient || attempt >= START_ATTEMPTS || this.closed || this.o.nc.isClosed()) {
          await this.close();
          throw err;
        }
        this.o.log.warn(`${this.o.label}: ${this.o.stream} consumer not created (${(err as Error).message}); trying again`);
      }
    }
    if (this.closed) return info; // closed (fenced) while the consumer was being created
    this.watchdog = setInterval(() => this.checkHeard(), Math.max(250, this.heartbeatMs / 2));
    (this.watchdog as { unref?: () => void }).unref?.();
    this.watchConnection();
    this.maybePull();
    return info;
  }

  /** Stops at once: nothing more is handed out, queued messages are dropped, the consumer is deleted. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    if (this.watchdog) clearInterval(this.watchdog);
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.statusIter?.stop?.();
    if (!this.o.nc.isClosed()) {
      this.sub?.unsubscribe();
      this.deleteConsumer(this.consumerName);
    }
    this.queue = [];
    this.queueSizes = [];
    this.head = 0;
    this.wakeReader();
    return Promise.resolve();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<PulledMessage> {
    for (;;) {
      while (this.head < this.queue.length) {
        if (this.closed) return;
        const m = this.queue[this.head];
        this.buffered -= this.queueSizes[this.head];
        this.head++;
        if (this.head === this.queue.length) {
          this.queue.length = 0;
          this.queueSizes.length = 0;
          this.head = 0;
        } else if (this.head >= COMPACT_AT && this.head * 2 >= this.queue.length) {
          this.queue = this.queue.slice(this.head);
          this.queueSizes = this.queueSizes.slice(this.head);
          this.head = 0;
        }
        this.maybePull();
        yield m;
      }
      if (this.closed) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private wakeReader(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /** Opens a pull when none is open and enough of the budget is free. */
  private maybePull(): void {
    if (this.open !== null || this.closed || this.resetting || this.consumerName === "") return;
    if (this.holdUntil > 0 && performance.now() < this.holdUntil) return;
    const free = this.o.maxBytes - this.buffered;
    if (free < Math.max(this.o.maxBytes / 2, this.minPullBytes)) return;
    const reply = `${this.inboxPrefix}.${this.generation}.${++this.pullSerial}`;
    this.open = { reply, bytesLeft: free, msgsLeft: PULL_BATCH, maxBytes: free, delivered: 0 };
    this.pulls++;
    this.lastHeard = performance.now();
    const request = { batch: PULL_BATCH, max_bytes: free, expires: nanos(this.expiresMs), idle_heartbeat: nanos(this.heartbeatMs) };
    try {
      this.o.nc.publish(`${this.o.apiPrefix ?? "$JS.API"}.CONSUMER.MSG.NEXT.${this.o.stream}.${this.consumerName}`, JSON.stringify(request), { reply });
    } catch (err) {
      // The connection is closing or closed; a reconnect resets, a close ends the iterator.
      this.open = null;
      this.o.log.warn(`${this.o.label}: pull not sent (${(err as Error).message})`);
      return;
    }
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.expiryTimer = setTimeout(() => this.expiredUnsaid(reply), this.expiresMs + EXPIRY_GRACE_MS);
    (this.expiryTimer as { unref?: () => void }).unref?.();
  }

  /** The pull `reply` is past its expiry: if it is still taken as open, the server ended it without a word. */
  private expiredUnsaid(reply: string): void {
    this.expiryTimer = null;
    if (this.closed || this.open?.reply !== reply) return; // ended as it should have, or replaced
    this.pullsExpiredUnsaid++;
    if (this.pullsExpiredUnsaid % 100 === 1) {
      this.o.log.info(`${this.o.label}: a pull ended at its expiry without the server's 408 (nats-server before 2.9.16); pulling again (${this.pullsExpiredUnsaid} so far)`);
    }
    this.open = null;
    this.maybePull();
  }

  private onMsg(err: Error | null, msg: Msg): void {
    if (this.closed) return;
    if (err) {
      this.o.log.warn(`${this.o.label}: pull subscription error (${err.message})`);
      return this.reset("subscription error");
    }
    const subject = msg.subject;
    if (subject.startsWith(this.inboxPrefix)) return this.onStatus(subject, msg);
    const reply = msg.reply ?? "";
    const meta = parseAckReply(reply);
    if (meta === null || meta.consumer !== this.consumerName) return; // a replaced consumer's
    this.lastHeard = performance.now();
    if (meta.dseq !== this.nextDseq) return this.reset(`delivery ${meta.dseq} where ${this.nextDseq} was due`);
    this.nextDseq++;
    this.lastQueuedSeq = meta.sseq;
    // The server's count of a message's bytes: subject + reply + headers + payload.
    const size = messageSize(msg, subject, reply);
    this.queue.push({ seq: meta.sseq, subject, timestampNanos: meta.ts, pending: meta.pending, data: msg.data });
    this.queueSizes.push(size);
    this.buffered += size;
    const open = this.open;
    if (open !== null) {
      open.delivered++;
      open.msgsLeft--;
      open.bytesLeft -= size;
      // The server ends a pull silently when its batch or its bytes are used up exactly.
      if (open.msgsLeft <= 0 || open.bytesLeft <= 0) this.open = null;
    }
    this.minPullBytes = 0;
    this.wakeReader();
    this.maybePull();
  }

  private onStatus(subject: string, msg: Msg): void {
    const open = this.open;
    if (open === null || subject !== open.reply) return; // an ended pull's
    this.lastHeard = performance.now();
    const code = msg.headers?.code ?? 0;
    if (code === 100) return; // idle heartbeat: the pull is open and there is nothing to send
    const description = (msg.headers?.description ?? "").toLowerCase();
    this.open = null;
    if (code === 503 || description.includes("consumer deleted")) return this.reset(`consumer gone (${code} ${description})`);
    if (code === 409 && description.includes("exceeds maxbytes")) {
      // The next message is bigger than what was left of this pull; bigger than the whole
      // pull when nothing came: ask for more than that next time (it fits in the budget).
      if (open.delivered === 0) this.minPullBytes = Math.min(this.o.maxBytes, open.maxBytes + 1);
    } else if (code !== 408 && code !== 404 && open.delivered === 0) {
      // Not an expiry and nothing came: pulling again at once could be a loop of refusals.
      this.o.log.warn(`${this.o.label}: pull refused (${code} ${description}); pulling again in ${REFUSED_PULL_WAIT_MS} ms`);
      this.holdUntil = performance.now() + REFUSED_PULL_WAIT_MS;
      setTimeout(() => {
        this.holdUntil = 0;
        this.maybePull();
      }, REFUSED_PULL_WAIT_MS);
      return;
    }
    this.maybePull();
  }

  /** An open pull that hears nothing for two heartbeats is gone (its connection or consumer is). */
  private checkHeard(): void {
    if (this.closed || this.resetting || this.open === null) return;
    if (performance.now() - this.lastHeard > 2 * this.heartbeatMs + 1000) this.reset("open pull silent for two heartbeats");
  }

  private watchConnection(): void {
    const it = this.o.nc.status() as AsyncIterable<{ type: string }> & { stop?: () => void };
    this.statusIter = it;
    void (async () => {
      for await (const s of it) {
        if (this.closed) return;
        // Pulls and deliveries in flight may be lost with the old connection.
        if (s.type === "reconnect") this.reset("reconnected");
      }
    })().catch(() => {});
  }

  /** Recreates the consumer after the last message received, and pulls again. */
  private reset(why: string): void {
    if (this.closed || this.resetting) return;
    this.resetting = true;
    this.resets++;
    this.open = null;
    const old = this.consumerName;
    this.consumerName = ""; // deliveries and statuses of the old one are dropped from now
    this.o.log.info(`${this.o.label}: recreating its ${this.o.stream} consumer at seq ${this.lastQueuedSeq + 1} (${why})`);
    this.deleteConsumer(old);
    void (async () => {
      for (;;) {
        const wait = RESET_BACKOFF_MS[Math.min(this.resetAttempts, RESET_BACKOFF_MS.length - 1)];
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        if (this.closed) return;
        try {
          await this.createConsumer();
          this.resetAttempts = 0;
          this.resetting = false;
          this.maybePull();
          return;
        } catch (err) {
          this.resetAttempts++;
          if (this.o.nc.isClosed()) return void this.close();
          this.o.log.warn(`${this.o.label}: ${this.o.stream} consumer not created (${(err as Error).message}); retrying`);
        }
      }
    })();
  }

  private async createConsumer(): Promise<ConsumerInfo> {
    const name = `${this.namePrefix}_${++this.generation}`;
    const config: Partial<ConsumerConfig> = {
      name,
      filter_subject: this.o.filter,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: this.lastQueuedSeq + 1,
      ack_policy: AckPolicy.None,
      max_deliver: 1,
      mem_storage: true,
      num_replicas: 1,
      inactive_threshold: nanos(5 * 60_000),
    };
    const info = await this.o.jsm.consumers.add(this.o.stream, config);
    if (this.closed) {
      this.deleteConsumer(name);
      return info;
    }
    this.consumerName = name;
    this.nextDseq = 1;
    this.lastHeard = performance.now();
    return info;
  }

  private deleteConsumer(name: string): void {
    if (name === "" || this.o.nc.isClosed()) return;
    this.o.jsm.consumers.delete(this.o.stream, name).catch(() => {}); // inactive_threshold removes it otherwise
  }
}

interface AckMeta {
  consumer: string;
  sseq: number;
  dseq: number;
  ts: number;
  pending: number;
}

/**
 * The JetStream metadata in a delivered message's reply subject:
 * $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending> or, from servers with
 * domains, $JS.ACK.<domain>.<account>.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>[.<token>].
 */
export function parseAckReply(reply: string): AckMeta | null {
  const t = reply.split(".");
  if (t[0] !== "$JS" || t[1] !== "ACK") return null;
  const at = t.length === 9 ? 3 : t.length >= 11 ? 5 : -1;
  if (at < 0) return null;
  return { consumer: t[at], sseq: Number(t[at + 2]), dseq: Number(t[at + 3]), ts: Number(t[at + 4]), pending: Number(t[at + 5]) };
}

/** A message's size as the server counts it against a pull's max_bytes. */
function messageSize(msg: Msg, subject: string, reply: string): number {
  // nats-core's MsgImpl.size(): subject + reply + headers and payload as received.
  const sized = msg as Msg & { size?: () => number };
  if (typeof sized.size === "function") return sized.size();
  return subject.length + reply.length + msg.data.length; // headers unknown: undercounts them
}

/** The connection under a JetStream client (nats.js keeps it; its public type does not say so). */
export function connectionOf(js: JetStreamClient): NatsConnection {
  const nc = (js as JetStreamClient & { getConnection?: () => NatsConnection }).getConnection?.();
  if (nc === undefined) throw new Error("this JetStream client does not tell its connection");
  return nc;
}
