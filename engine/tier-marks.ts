// TierMarks: where each partition's tier changes stand in TIER_EVENTS, kept in a small KV
// bucket, so that the next runner of the partition finds its place there without a search of
// the stream.
//
// Why: before it replays, a runner must know the last change TIER_EVENTS holds for its
// partition (outbox.ts, recoverPosition). On nats-server 2.9 the only question for that is
// last_by_subj on `tier.<p>.>`, a wildcard, which the file store answers by walking its
// blocks' subject tables from the end. On the catch-up bench (637 k changes, 64 partitions)
// that took 6–7 ms a partition, one partition after another (the server answers them in
// turn): 0.34–0.56 s of a 2.4 s restart, and half a second of nats-server CPU. It grows with
// the stream and with the partition count.
//
// The protocol, per partition key:
//   - A runner that starts reads the mark. A "closed" mark is trusted once its message checks
//     out (it is in TIER_EVENTS, on the partition, at the marked position).
//   - An "open" mark (the runner did not stop cleanly: a crash, a lost lease) is a lower bound:
//     its change is stored, and `checkedTo` says no change of the partition lies in
//     (seq, checkedTo]. The runner checks the marked message, then asks next_by_subj from
//     checkedTo + 1 — which looks only at the stream after it — until nothing follows
//     (at most FOLLOW_MAX steps).
//   - Anything else — no mark, one that does not check out (the stream was purged or
//     recreated, the message aged out), too much after it — means the search, as before.
//   - Before it publishes anything, the runner writes the mark "open": from then on nobody
//     trusts an old closed mark, whatever happens to this runner. While it runs, its open mark
//     is brought up to date every MARK_INTERVAL_MS.
//   - A runner that stops cleanly (not fenced, every change stored) writes "closed" with its
//     newest stored change, before its lease is released.
// `checkedTo` holds because TIER_EVENTS numbers messages in the order it stores them: when a
// partition has nothing in flight, each of its changes is at or below the highest sequence
// this engine has been acknowledged (or the stream's last when the engine started), and each
// later one will be above it.

import type { JetStreamClient, JetStreamManager, MsgRequest, StoredMsg } from "@nats-io/jetstream";
import { StorageType } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { openRacing } from "../proto/create-race.ts";
import { BUCKET_TIER_MARKS, STREAM_TIER_EVENTS, tierPartitionFilter } from "../proto/names.ts";
import type { Logger } from "./log.ts";
import { type Position, POSITION_NONE, recoverPosition, storedPositionOf } from "./outbox.ts";

export interface Recovered {
  pos: Position;
  /** TIER_EVENTS sequence of that change (0: none). */
  seq: number;
}

/** How a runner found its partition's last stored change: a closed mark, an open one followed, or the search. */
export type RecoveryPath = "mark" | "follow" | "search";

interface Mark {
  state: "open" | "closed";
  /** TIER_EVENTS sequence of the newest stored change (0: none stored). */
  seq: number;
  /** Its position, "<orderSeq>.<k>". */
  pos: string;
  /** No change of the partition lies in (seq, checkedTo] (open marks). */
  checkedTo: number;
  /** When TIER_EVENTS was created: a mark of an earlier stream of that name is not trusted. */
  stream: string;
}

/** What a running partition says about its tier changes, for its open mark. */
export interface MarkSource {
  /** The newest stored change. */
  last(): Recovered;
  /** True when none of its changes is waiting to be stored. */
  idle(): boolean;
}

const MARK_INTERVAL_MS = 1000;
/**
 * A mark not stored by then is given up (a closing mark: the next start follows or searches
 * instead), so that a stop never waits long on a server that is gone.
 */
const WRITE_TIMEOUT_MS = 2000;
/** Changes after an open mark looked up one by one at most; beyond, one search is cheaper. */
const FOLLOW_MAX = 64;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class TierMarks {
  /** The highest TIER_EVENTS sequence this engine has been acknowledged (or saw at its start). */
  private maxSeq = 0;
  private readonly running = new Map<number, { source: MarkSource; written: string }>();
  /** Per partition, its writes one after another, so its marks are stored in the order written. */
  private readonly writes = new Map<number, Promise<void>>();
  private readonly timer: ReturnType<typeof setInterval>;
  /** False while NATS is away: a mark is then not even tried (a stop does not wait on it). */
  private connected = true;

  private constructor(
    nc: NatsConnection,
    private kv: KV,
    /** Opens (creating if missing) the bucket again: an operator may have deleted it. */
    private readonly reopen: () => Promise<KV>,
    private readonly jsm: JetStreamManager,
    /** TIER_EVENTS's creation time. */
    private readonly stream: string,
    private readonly log: Logger,
  ) {
    this.timer = setInterval(() => this.refresh(), MARK_INTERVAL_MS);
    this.timer.unref();
    void this.watch(nc);
  }

  private async watch(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === "disconnect") this.connected = false;
      else if (s.type === "reconnect") this.connected = true;
    }
  }

  static async open(nc: NatsConnection, js: JetStreamClient, jsm: JetStreamManager, log: Logger, replicas = 1): Promise<TierMarks> {
    // History 1: only the newest mark of a partition matters. File storage: a mark must
    // survive a server restart as TIER_EVENTS does. Reads through the stream leader: a
    // follower's direct get could answer an old closed mark after a newer open one.
    const openBucket = () =>
      openRacing(() => new Kvm(js).create(BUCKET_TIER_MARKS, { history: 1, replicas, storage: StorageType.File, allow_direct: false }));
    const kv = await openBucket();
    const info = await jsm.streams.info(STREAM_TIER_EVENTS);
    const marks = new TierMarks(nc, kv, openBucket, jsm, info.created, log);
    // Everything stored so far is at or below the stream's last sequence: a partition that
    // publishes nothing here (a restart that only replays) can still mark its checkedTo there.
    marks.maxSeq = info.state.last_seq;
    return marks;
  }

  /** A tier change was stored as `seq` (hot path). */
  stored(seq: number): void {
    if (seq > this.maxSeq) this.maxSeq = seq;
  }

  /** The last change TIER_EVENTS holds for partition p, and how it was found. */
  async recover(p: number): Promise<Recovered & { path: RecoveryPath }> {
    const marked = await this.fromMark(p).catch(() => null);
    if (marked !== null) return marked;
    return { ...(await recoverPosition(this.jsm, STREAM_TIER_EVENTS, tierPartitionFilter(p))), path: "search" };
  }

  /** p's runner is about to publish: its mark turns open (awaited before the first publish) and is kept up to date. */
  async opened(p: number, from: Recovered, source: MarkSource): Promise<void> {
    const mark = this.markText("open", from, from.seq);
    try {
      await this.write(p, mark);
    } catch {
      // Once more into the bucket opened again (an operator may have deleted it); a second
      // failure fails the partition's start: it must not publish while a closed mark may stand.
      this.kv = await this.reopen();
      await this.write(p, mark);
    }
    this.running.set(p, { source, written: mark });
  }

  /** p's runner stopped with every change stored, the newest being `last`. */
  async closed(p: number, last: Recovered): Promise<void> {
    this.running.delete(p);
    await this.write(p, this.markText("closed", last, last.seq));
  }

  /** p's runner is gone without a clean stop (fenced): its mark stays as last written, open. */
  dropped(p: number): void {
    this.running.delete(p);
  }

  close(): void {
    clearInterval(this.timer);
    this.running.clear();
  }

  /** Brings every running partition's open mark up to date. */
  private refresh(): void {
    for (const [p, r] of this.running) {
      const last = r.source.last();
      // Read together with idle(), in one synchronous stretch: see the file's comment.
      const checkedTo = r.source.idle() ? Math.max(this.maxSeq, last.seq) : last.seq;
      const mark = this.markText("open", last, checkedTo);
      if (mark === r.written) continue;
      r.written = mark;
      void this.write(p, mark).catch((err: Error) => this.log.warn(`partition ${p}: tier mark not written (${err.message})`));
    }
  }

  private markText(state: Mark["state"], last: Recovered, checkedTo: number): string {
    const mark: Mark = { state, seq: last.seq, pos: positionText(last.pos), checkedTo, stream: this.stream };
    return JSON.stringify(mark);
  }

  private write(p: number, text: string): Promise<void> {
    const done = (this.writes.get(p) ?? Promise.resolve()).then(async () => {
      if (!this.connected) throw new Error("NATS is not connected");
      await this.kv.put(String(p), encoder.encode(text), { timeout: WRITE_TIMEOUT_MS });
    });
    const settled = done.catch(() => {});
    this.writes.set(p, settled);
    void settled.then(() => {
      if (this.writes.get(p) === settled) this.writes.delete(p);
    });
    return done;
  }

  /** From p's mark: trusted if closed, followed if open; null when it does not check out. */
  private async fromMark(p: number): Promise<(Recovered & { path: RecoveryPath }) | null> {
    const entry = await this.kv.get(String(p));
    if (!entry || entry.operation !== "PUT") return null;
    const mark = markOf(entry.value);
    if (mark === null || mark.stream !== this.stream) return null;
    let last: Recovered | null = { pos: POSITION_NONE, seq: 0 };
    if (mark.seq > 0) {
      const m = await this.jsm.streams.getMessage(STREAM_TIER_EVENTS, { seq: mark.seq });
      if (!m || !m.subject.startsWith(`tier.${p}.`)) return null;
      last = recoveredOf(m);
    }
    if (last === null || positionText(last.pos) !== mark.pos) return null;
    if (mark.state === "closed") return { ...last, path: "mark" };
    // next_by_subj is in the server's API (2.9) but not in nats.js's MsgRequest type.
    let from = Math.max(mark.checkedTo, mark.seq) + 1;
    for (let steps = 0; steps <= FOLLOW_MAX; steps++) {
      const next = await this.jsm.streams.getMessage(STREAM_TIER_EVENTS, { next_by_subj: tierPartitionFilter(p), seq: from } as unknown as MsgRequest);
      if (!next) return { ...last, path: "follow" };
      last = recoveredOf(next);
      if (last === null) return null;
      from = last.seq + 1;
    }
    return null;
  }
}

function recoveredOf(m: StoredMsg): Recovered | null {
  const pos = storedPositionOf(m);
  return pos === null ? null : { pos, seq: m.seq };
}

function positionText(pos: Position): string {
  return `${pos[0]}.${pos[1]}`;
}

function markOf(value: Uint8Array): Mark | null {
  try {
    const v = JSON.parse(decoder.decode(value)) as Partial<Mark>;
    const ok =
      (v.state === "open" || v.state === "closed") &&
      Number.isSafeInteger(v.seq) &&
      (v.seq as number) >= 0 &&
      Number.isSafeInteger(v.checkedTo) &&
      typeof v.pos === "string" &&
      typeof v.stream === "string";
    return ok ? (v as Mark) : null;
  } catch {
    return null;
  }
}
