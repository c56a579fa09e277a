// PartitionRunner: one owned partition — consumes orders.<p> from ORDERS in sequence order,
// applies each message to the partition's state, and publishes what it produced (tier changes
// to TIER_EVENTS, bad input to ORDERS_DLQ) through the partition's Outbox.
//
// State is rebuilt from the log: the runner replays orders.<p> from the start; tier changes
// and dead letters at or before the last position their streams already hold are not
// published again, so a restart never doubles them.

import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  dlqSubject,
  HEADER_DLQ_DETAIL,
  HEADER_DLQ_ITEM,
  HEADER_DLQ_REASON,
  HEADER_DLQ_SOURCE_SEQ,
  liveTierSubject,
  ordersSubject,
  STREAM_ORDERS,
  tierSubject,
} from "../proto/names.ts";
import { connectionOf, OrderedPull } from "../proto/ordered-pull.ts";
import { OrderReader } from "../proto/reader.ts";
import { applyMessage, type Change, type DeadLetter } from "./apply-message.ts";
import type { AckedPublisher } from "./acked-publisher.ts";
import type { Config } from "./config.ts";
import type { EngineCounters } from "./counters.ts";
import type { Logger } from "./log.ts";
import { LiveTiers } from "./live-tiers.ts";
import { Outbox } from "./outbox.ts";
import { ScoreFeed } from "./score-feed.ts";
import { PartitionState } from "./state/partition-state.ts";
import { configHash, encodeSnapshot } from "./snapshot/format.ts";
import type { SnapshotStorage } from "./snapshot/snapshot-store.ts";
import { PrefixMark } from "./prefix-mark.ts";
import { DLQ_TRACK, type RecoveryPath, TIER_TRACK, type TierMarks } from "./tier-marks.ts";
import { tierChangeFields } from "./tier-change-json.ts";
import type { TimeSlice } from "./time-slice.ts";
import { type NoticeBatcher, ViewNotices } from "./view-notices.ts";

/**
 * Bytes of ORDERS messages that the partitions sharing one connection may have pulled and not
 * yet applied. nats-server cuts a connection off as a slow consumer past 64 MiB pending (its
 * default max_pending) — a stall until the pulls notice — so stay at half that; the engine
 * opens as many consuming connections as its partitions' pulls need. Each partition keeps to
 * its share through its own OrderedPull (proto/ordered-pull.ts), which accounts every pull exactly.
 */
export const CONSUME_BUFFER_BYTES_PER_CONNECTION = 32 * 1024 * 1024;
const CONSUME_BYTES_MIN = 64 * 1024;

/**
 * Bytes per pull for each of `partitions` partitions: an even share of the budget, but never
 * less than the largest message the server accepts — a message bigger than a pull's
 * max_bytes is never delivered, and its partition would stall on it.
 */
export function pullBytesFor(partitions: number, maxPayloadBytes: number): number {
  return Math.max(CONSUME_BYTES_MIN, maxPayloadBytes + 64 * 1024, Math.floor(CONSUME_BUFFER_BYTES_PER_CONNECTION / Math.max(1, partitions)));
}
const encoder = new TextEncoder();

export interface RunnerDeps {
  /** Shared by every runner of the engine: when to give the event loop a turn. */
  slice: TimeSlice;
  /** Where snapshots go; none when absent. */
  snapshots?: SnapshotStorage;
  now?: () => number;
  /** Draws each run's notice id (proto/view-notice.ts): a uniform number in [0, 1). */
  random?: () => number;
  /** Sends the engine's view notices (which member views changed). */
  notices: NoticeBatcher;
  /** Bytes this partition may have pulled and not yet applied (pullBytesFor). */
  pullBytes: number;
  /** JetStream on the connection this runner consumes on (shared by a group of partitions). */
  consumeJs: JetStreamClient;
  nc: NatsConnection;
  publisher: AckedPublisher;
  jsm: JetStreamManager;
  config: Config;
  counters: EngineCounters;
  log: Logger;
  /** False once this process no longer holds the partition's lease (fencing; always true without leases). */
  mayPublish?: () => boolean;
  /** Where stored tier changes are marked, so a restart finds its place at once; none: it searches TIER_EVENTS. */
  marks?: TierMarks;
  /** LiveTiers' lease floor (live-tiers.ts); tests shorten it. */
  liveTierLeaseMinMs?: number;
}

/** A lookup of the last stored tier change slower than this is logged. */
const RECOVER_SLOW_MS = 100;

export class PartitionRunner {
  state: PartitionState;
  readonly scoreFeed: ScoreFeed;
  /** Which stored tier changes go out live: those of watched members (after a grace). */
  readonly liveTiers: LiveTiers;
  /** Which member views changed, for the gateways' caches; from start() on. */
  notices: ViewNotices | null = null;
  /** ORDERS sequence of the last snapshot written (or loaded). */
  snapshotSeq = 0;
  private snapshotWanted = false;
  private snapshotWrite: Promise<unknown> = Promise.resolve();
  /** Snapshot writes started and not finished (a slow disk shows here, not in consumption). */
  snapshotWritesPending = 0;
  /** How long consumption waited for publishes to drain before the last snapshot, and the copy took. */
  lastSnapshotPauseMs = 0;
  lastSnapshotBytes = 0;
  private readonly reader: OrderReader;
  private readonly outbox: Outbox;
  /** Last ORDERS sequence applied. */
  lastSeq = 0;
  /** Highest TIER_EVENTS sequence stored for this partition. */
  tierSeq = 0;
  caughtUp = false;
  /** Where this run stands on TIER_EVENTS and on ORDERS_DLQ: what not to publish again, and the marks; from start() on. */
  private tierMark: PrefixMark | null = null;
  private dlqMark: PrefixMark | null = null;
  /** How start found the last stored tier change: from its mark, or by a search of TIER_EVENTS. */
  get tierRecoveredBy(): RecoveryPath | null {
    return this.tierMark?.recoveredBy ?? null;
  }
  private messages: OrderedPull | null = null;
  private loopDone: Promise<void> = Promise.resolve();
  private caughtUpWaiters: (() => void)[] = [];
  private fenced = false;

  constructor(
    readonly partition: number,
    private readonly deps: RunnerDeps,
  ) {
    this.state = new PartitionState(deps.config, partition);
    this.scoreFeed = new ScoreFeed(deps.nc, partition, deps.config.lineNames);
    this.liveTiers = new LiveTiers(deps.now ?? Date.now, deps.liveTierLeaseMinMs);
    this.reader = new OrderReader(deps.config.lineNames);
    this.outbox = new Outbox(deps.publisher, deps.log, deps.config.tierPublishInFlightMax, deps.mayPublish);
  }

  async start(): Promise<void> {
    const { jsm } = this.deps;
    const p = this.partition;
    if (this.deps.snapshots) {
      const snap = await this.deps.snapshots.loadNewest(p, { configHash: configHash(this.deps.config) });
      if (snap) {
        this.state = PartitionState.fromParts(this.deps.config, p, snap.parts);
        this.lastSeq = this.snapshotSeq = snap.meta.lastSeq;
        this.deps.log.info(`partition ${p}: snapshot at orders seq ${snap.meta.lastSeq} (${snap.meta.memberCount} members) from ${snap.path}`);
      }
    }
    const run = Math.floor((this.deps.random ?? Math.random)() * 2 ** 32);
    this.notices = new ViewNotices(this.deps.notices, p, run, this.lastSeq, this.scoreFeed);
    // Its first notice goes out with the next batch: gateways drop what the last run vouched for.
    this.deps.notices.add(this.notices);
    const recoverStart = performance.now();
    // Each written before anything is published: the mark says where this run starts.
    const tier = await PrefixMark.start(p, TIER_TRACK, this.deps.marks, jsm);
    this.tierMark = tier;
    const recoverMs = performance.now() - recoverStart;
    // Said when it is worth an operator's eye (a slow lookup); the engine's start-up line
    // counts how its partitions found theirs.
    if (recoverMs > RECOVER_SLOW_MS) {
      this.deps.log.info(`partition ${p}: last tier change at TIER_EVENTS seq ${tier.newestSeq} (${tier.recoveredBy}, ${recoverMs.toFixed(1)} ms)`);
    }
    this.tierSeq = tier.newestSeq;
    this.dlqMark = await PrefixMark.start(p, DLQ_TRACK, this.deps.marks, jsm);
    // Not nats.js's ordered consumer: its consume({max_bytes}) loses track of its pulls under
    // a backlog and then stops pulling for ~30 s (see proto/ordered-pull.ts).
    const messages = new OrderedPull({
      nc: connectionOf(this.deps.consumeJs),
      jsm,
      apiPrefix: this.deps.consumeJs.apiPrefix,
      stream: STREAM_ORDERS,
      filter: ordersSubject(p),
      maxBytes: this.deps.pullBytes,
      log: this.deps.log,
      label: `partition ${p}`,
    });
    this.messages = messages;
    if (this.fenced) return void (await messages.close());
    const info = await messages.start(this.lastSeq + 1);
    if (info.num_pending === 0) this.markCaughtUp();
    this.loopDone = this.loop(messages);
  }

  /** Resolves once the partition has applied everything that was in the log when it started. */
  whenCaughtUp(): Promise<void> {
    if (this.caughtUp) return Promise.resolve();
    return new Promise((resolve) => this.caughtUpWaiters.push(resolve));
  }

  /** Resolves when every change produced before the call is stored. */
  published(): Promise<void> {
    return this.outbox.flushed();
  }

  /**
   * The lease is gone: stop at once — no more applying, nothing more published (what the
   * outbox holds is dropped; the new owner publishes it from its own replay). No snapshot.
   */
  fence(): void {
    this.fenced = true;
    // What it applied may have changed cached views: say so (harmless to anyone's state), then no more.
    if (this.notices) this.deps.notices.remove(this.notices);
    this.outbox.stop();
    void this.messages?.close().catch(() => {});
  }

  async stop(): Promise<void> {
    await this.messages?.close();
    await this.loopDone;
    if (this.notices) this.deps.notices.remove(this.notices);
    await this.outbox.drained();
    this.outbox.stop();
    if (this.deps.snapshots && this.caughtUp && !this.fenced && this.outbox.pending === 0) this.snapshotNow(0);
    await this.snapshotWrite;
    await this.closeMarks();
  }

  /** Called each second while the partition runs: its marks follow its stored prefixes. */
  refreshMark(): void {
    if (this.fenced || this.deps.mayPublish?.() === false) return;
    this.tierMark?.refresh();
    this.dlqMark?.refresh();
  }

  /** After a clean stop (still the owner, everything stored): the marks say so, and the next start reads nothing after them. */
  private async closeMarks(): Promise<void> {
    const { mayPublish, log } = this.deps;
    const marks = [this.tierMark, this.dlqMark].filter((m) => m !== null);
    const clean = !this.fenced && mayPublish?.() !== false && this.outbox.pending === 0 && this.outbox.fencedJobs === 0;
    for (const mark of marks) {
      if (!clean) await mark.idle();
      else await mark.close().catch((err: Error) => log.warn(`partition ${this.partition}: mark not closed (${err.message}); the next start reads from its last open mark`));
    }
  }

  /**
   * Asks for a snapshot: at once when nothing is waiting to be published, otherwise by the
   * consume loop after its next message, once the outbox has drained.
   */
  requestSnapshot(): void {
    if (!this.deps.snapshots || !this.caughtUp || this.lastSeq === this.snapshotSeq) return;
    if (this.outbox.pending === 0) this.snapshotNow(0);
    else this.snapshotWanted = true;
  }

  /** Copies the state into a snapshot now (synchronously) and writes it in the background. */
  private snapshotNow(waitedMs: number): void {
    const store = this.deps.snapshots;
    if (!store || this.lastSeq === this.snapshotSeq) return;
    const copyStart = performance.now();
    const seq = this.lastSeq;
    const bytes = encodeSnapshot(
      {
        partition: this.partition,
        partitions: this.deps.config.partitions,
        configHash: configHash(this.deps.config),
        lastSeq: seq,
        clock: this.state.clock,
        memberCount: this.state.memberCount,
        freeCells: this.state.cells.exportParts().freeCells,
        createdAtMs: (this.deps.now ?? Date.now)(),
      },
      this.state.exportParts(),
    );
    this.lastSnapshotPauseMs = waitedMs + (performance.now() - copyStart);
    this.lastSnapshotBytes = bytes.length;
    this.snapshotWanted = false;
    this.snapshotSeq = seq;
    this.snapshotWritesPending++;
    this.snapshotWrite = this.snapshotWrite
      .then(() => store.write(this.partition, seq, bytes))
      .finally(() => this.snapshotWritesPending--)
      .catch((err: Error) => {
        this.snapshotSeq = 0; // try again next time
        this.deps.log.warn(`partition ${this.partition}: snapshot at seq ${seq} not written (${err.message})`);
      });
  }

  private async loop(messages: OrderedPull): Promise<void> {
    const { counters, log } = this.deps;
    for await (const m of messages) {
      // Before the work: a loop woken by new messages waits for its turn like the others.
      await this.deps.slice.yieldIfSpent();
      if (this.fenced || this.deps.mayPublish?.() === false) break; // fenced: not one more message
      if (m.seq <= this.lastSeq) continue; // a redelivery: applied already
      const storedMs = Math.floor(m.timestampNanos / 1e6);
      const monthBefore = this.state.clockMonth;
      // A message before the last stored tier change has all its changes stored: no causes needed.
      const r = applyMessage(this.state, this.reader, m.data, storedMs, m.seq >= this.tierMark!.startPos[0]);
      this.lastSeq = m.seq;
      // While replaying no member is listed (nothing is answered yet); a month start changes every view.
      this.notices!.applied(m.seq, !this.caughtUp || this.state.clockMonth !== monthBefore);
      counters.messages++;
      counters.eventsApplied += r.applied;
      counters.duplicates += r.duplicates;
      for (const d of r.deadLetters) this.deadLetter(m.seq, d);
      for (let k = 0; k < r.changes.length; k++) this.tierChange(m.seq, k, r.changes[k]);
      if (m.pending === 0) this.markCaughtUp();
      if (this.outbox.full) await this.outbox.room();
      if (this.deps.publisher.full) await this.deps.publisher.room();
      if (this.snapshotWanted) {
        // A snapshot holds only state whose changes are stored: wait for them (the pause).
        const waitStart = performance.now();
        await this.outbox.drained();
        if (this.outbox.pending === 0) this.snapshotNow(performance.now() - waitStart);
      }
    }
    await messages.close(); // a fenced loop stops pulling too
    log.info(`partition ${this.partition} stopped at orders seq ${this.lastSeq}`);
  }

  private tierChange(orderSeq: number, k: number, c: Change): void {
    this.deps.counters.tierChanges++;
    const tierMark = this.tierMark!;
    const entry = tierMark.take(orderSeq, k);
    if (entry === null) return; // stored before this run
    const p = this.partition;
    const member = String(c.member); // once: for the subjects and the JSON
    const fields = tierChangeFields(c, member);
    this.outbox.push({
      subject: tierSubject(p, member),
      data: encoder.encode(`{${fields}}`),
      msgId: `t.${p}.${orderSeq}.${k}`,
      pos: `${orderSeq}.${k}`,
      onStored: (seq) => {
        tierMark.stored(entry, seq);
        if (seq > this.tierSeq) this.tierSeq = seq;
        // Live feeds of watched members get it now, with its seq; a replay from TIER_EVENTS fills any gap.
        if (!this.liveTiers.wants(c.member)) return;
        this.deps.counters.liveTierChanges++;
        this.deps.nc.publish(liveTierSubject(p, member), `{"type":"tier",${fields},"seq":${seq}}`);
      },
    });
  }

  private deadLetter(orderSeq: number, d: DeadLetter): void {
    const { counters } = this.deps;
    counters.deadLetters++;
    counters.deadLettersByCode[d.code]++;
    const k = d.item + 1; // the whole message (item −1) is position 0
    const dlqMark = this.dlqMark!;
    const entry = dlqMark.take(orderSeq, k);
    if (entry === null) return; // stored before this run
    const p = this.partition;
    this.outbox.push({
      subject: dlqSubject(p),
      data: d.bytes.slice(),
      msgId: `d.${p}.${orderSeq}.${k}`,
      pos: `${orderSeq}.${k}`,
      onStored: (seq) => dlqMark.stored(entry, seq),
      headers: {
        [HEADER_DLQ_REASON]: d.code,
        [HEADER_DLQ_DETAIL]: d.item < 0 ? "whole message" : `item ${d.item}`,
        [HEADER_DLQ_SOURCE_SEQ]: String(orderSeq),
        [HEADER_DLQ_ITEM]: String(d.item),
      },
    });
  }

  private markCaughtUp(): void {
    if (this.caughtUp) return;
    this.caughtUp = true;
    // Score ticks are for live changes only, not for a replay of history.
    this.state.scoreSink = this.notices ?? this.scoreFeed;
    for (const w of this.caughtUpWaiters.splice(0)) w();
  }
}
