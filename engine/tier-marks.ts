// TierMarks: where each partition's tier changes stand in TIER_EVENTS (and its dead letters in
// ORDERS_DLQ: the same protocol on a second track), kept in a small KV bucket, so that the next
// runner of the partition finds its place there without a search of the stream, and loses
// nothing that was in flight when the last one died.
//
// Why: before it replays, a runner must know the last change TIER_EVENTS holds for its
// partition (outbox.ts, recoverPosition). On nats-server 2.9 the only question for that is
// last_by_subj on `tier.<p>.>`, a wildcard, which the file store answers by walking its
// blocks' subject tables from the end. On the catch-up bench (637 k changes, 64 partitions)
// that took 6–7 ms a partition, one partition after another (the server answers them in
// turn): 0.34–0.56 s of a 2.4 s restart, and half a second of nats-server CPU. It grows with
// the stream and with the partition count.
//
// The protocol, per partition key. A mark records the partition's stored prefix
// (stored-prefix.ts): a change such that it and every change before it are stored, and
// `scanFrom`, a TIER_EVENTS sequence below which no change after it is stored.
//   - A runner that starts reads the mark and checks its change: in TIER_EVENTS, on the
//     partition, at the marked position, in the stream the mark was written for. Then it reads
//     the partition's changes from scanFrom on (usually there are none, which one stream info
//     shows: scanFrom lies past the stream's end): the ones after the prefix are stored
//     already and are not published again; every other change after the prefix is. A change
//     lost in flight before a crash is published then, and a change stored out of order (sent
//     again after later ones) is not published twice. (A closed mark is not read after: a
//     clean stop wrote it with nothing in flight, before its lease went.)
//   - Anything else — no mark, one that does not check out (the stream was purged or
//     recreated, the message aged out) — means the search: the newest stored change, taken as
//     the prefix (which it is unless a change was lost in flight just before a crash).
//   - Before it publishes anything the runner writes its mark "open" with its start; while it
//     runs it writes the mark again each second the prefix moved ("open"); a clean stop (not
//     fenced, every change stored) writes "closed". An open mark only ever says things that
//     stay true (stored changes stay stored), so an old or a late open write is safe, only
//     less up to date; a closed one is written last, by the owner, before its lease goes.

import { DeliverPolicy, type JetStreamClient, type JetStreamManager, type MsgRequest, StorageType } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { openRacing, retryTransient } from "../proto/create-race.ts";
import { BUCKET_TIER_MARKS, dlqSubject, HEADER_TIER_POS, STREAM_ORDERS_DLQ, STREAM_TIER_EVENTS, tierPartitionFilter } from "../proto/names.ts";
import { isAfter, type Position, POSITION_NONE, positionOfHeader, recoverPosition, storedPositionOf } from "./outbox.ts";

/** One stream whose partitions' positions are marked. */
export interface MarkTrack {
  stream: string;
  /** Partition p's key in TIER_MARKS. */
  key(p: number): string;
  /** The subject filter of p's messages. */
  filter(p: number): string;
  /** Whether a stored message's subject is p's. */
  owns(p: number, subject: string): boolean;
}

/** Tier changes: TIER_EVENTS, key "<p>". */
export const TIER_TRACK: MarkTrack = {
  stream: STREAM_TIER_EVENTS,
  key: (p) => String(p),
  filter: tierPartitionFilter,
  owns: (p, subject) => subject.startsWith(`tier.${p}.`),
};

/** Dead letters: ORDERS_DLQ, key "dlq.<p>". */
export const DLQ_TRACK: MarkTrack = {
  stream: STREAM_ORDERS_DLQ,
  key: (p) => `dlq.${p}`,
  filter: dlqSubject,
  owns: (p, subject) => subject === dlqSubject(p),
};

const TRACKS = [TIER_TRACK, DLQ_TRACK] as const;

function trackIndex(track: MarkTrack): number {
  const t = TRACKS.indexOf(track as (typeof TRACKS)[number]);
  if (t < 0) throw new Error(`${track.stream} is not a marked track`);
  return t;
}

export interface Recovered {
  pos: Position;
  /** Stream sequence of that message (0: none). */
  seq: number;
}

/** How a runner found its partition's stored prefix: a mark, or the search. */
export type RecoveryPath = "mark" | "search";

/** Where a starting runner stands in one track's stream. */
export interface TrackStart extends Recovered {
  path: RecoveryPath;
  /** The sequence the stream was read from for messages after the prefix (a mark's scanFrom). */
  scanFrom: number;
  /** Messages after the prefix that are stored already: "<orderSeq>.<k>" → stream seq. */
  storedAfter: ReadonlyMap<string, number>;
  /** The last of those by position (POSITION_NONE: none). */
  storedUpTo: Position;
  /** The partition's stored message with the highest stream seq (the prefix when none is after it). */
  newest: Recovered;
}

interface Mark {
  state: "open" | "closed";
  /** Stream sequence of the prefix's newest message (0: none stored). */
  seq: number;
  /** Its position, "<orderSeq>.<k>". */
  pos: string;
  /** No change after the prefix is stored below this sequence (marks before it had none: open ones are then not read). */
  scanFrom?: number;
  /** When the stream was created: a mark of an earlier stream of that name is not trusted. */
  stream: string;
}

/** How often a running partition's mark follows its stored prefix. */
export const MARK_REFRESH_MS = 1000;

/** Changes read per fetch when a start reads the changes stored after its prefix. */
const SCAN_BATCH = 4096;
const SCAN_EXPIRES_MS = 2000;

/**
 * A mark not stored by then is given up (a closing mark: the next start searches instead),
 * so that a stop never waits long on a server that is gone.
 */
const WRITE_TIMEOUT_MS = 2000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class TierMarks {
  /** False while NATS is away: a mark is then not even tried (a stop does not wait on it). */
  private connected = true;
  /**
   * Per track: the highest sequence this engine has seen stored (the stream's last when it
   * opened, then every PubAck). A message published from now on is stored above it, so a
   * partition with nothing in flight may mark scanFrom just past it: after a crash its next
   * start then sees with one stream info that nothing of it lies after the mark. Indexed as
   * TRACKS is: noteStored runs for every stored message, and a Map was ~1.5 % of a first run.
   */
  private readonly seen = new Float64Array(TRACKS.length);

  private constructor(
    nc: NatsConnection,
    private kv: KV,
    /** Opens (creating if missing) the bucket again: an operator may have deleted it. */
    private readonly reopen: () => Promise<KV>,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    /** Each track's stream's creation time. */
    private readonly created: ReadonlyMap<MarkTrack, string>,
    private readonly warn: (message: string) => void,
  ) {
    void this.watch(nc);
  }

  private async watch(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === "disconnect") this.connected = false;
      else if (s.type === "reconnect") this.connected = true;
    }
  }

  static async open(
    nc: NatsConnection,
    js: JetStreamClient,
    jsm: JetStreamManager,
    replicas = 1,
    /** Told when a mark could not be read (the start then searches). */
    warn: (message: string) => void = () => {},
  ): Promise<TierMarks> {
    // History 1: only the newest mark of a partition matters. File storage: a mark must
    // survive a server restart as TIER_EVENTS does. Reads through the stream leader: a
    // follower's direct get could answer an older mark than the newest.
    const openBucket = () =>
      openRacing(() => new Kvm(js).create(BUCKET_TIER_MARKS, { history: 1, replicas, storage: StorageType.File, allow_direct: false }));
    const kv = await openBucket();
    const infos = await Promise.all(TRACKS.map((t) => retryTransient(() => jsm.streams.info(t.stream))));
    const marks = new TierMarks(nc, kv, openBucket, js, jsm, new Map(TRACKS.map((t, i) => [t, infos[i].created])), warn);
    TRACKS.forEach((t, i) => marks.noteStored(t, infos[i].state.last_seq));
    return marks;
  }

  /** The highest sequence of the track's stream this engine has seen stored. */
  seenSeq(track: MarkTrack): number {
    return this.seen[trackIndex(track)];
  }

  /** Where partition p stands on a track, and how that was found. */
  async recover(p: number, track: MarkTrack): Promise<TrackStart> {
    const marked = await this.fromMark(p, track).catch((err: Error) => {
      this.warn(`partition ${p}: ${track.stream} mark not read (${err.message}); searching the stream`);
      return null;
    });
    return marked ?? searchPosition(this.jsm, p, track);
  }

  /** A message of the track was stored at `seq` (any partition of this engine). */
  noteStored(track: MarkTrack, seq: number): void {
    const t = trackIndex(track);
    if (seq > this.seen[t]) this.seen[t] = seq;
  }

  /** p's runner is about to publish: its mark records its start (awaited before the first publish). */
  async opened(p: number, track: MarkTrack, prefix: Recovered, scanFrom: number): Promise<void> {
    const mark = this.markText(track, "open", prefix, scanFrom);
    try {
      await this.write(track.key(p), mark);
    } catch {
      // Once more into the bucket opened again (an operator may have deleted it); a second
      // failure fails the partition's start: it must not publish while a closed mark may stand.
      this.kv = await this.reopen();
      await this.write(track.key(p), mark);
    }
  }

  /** p's runner is running and its prefix moved: the mark follows (a failed write only leaves it older). */
  async refreshed(p: number, track: MarkTrack, prefix: Recovered, scanFrom: number): Promise<void> {
    await this.write(track.key(p), this.markText(track, "open", prefix, scanFrom));
  }

  /** p's runner stopped with every message stored, the newest being `last`. */
  async closed(p: number, track: MarkTrack, last: Recovered): Promise<void> {
    await this.write(track.key(p), this.markText(track, "closed", last, last.seq + 1));
  }

  private markText(track: MarkTrack, state: Mark["state"], prefix: Recovered, scanFrom: number): string {
    const mark: Mark = { state, seq: prefix.seq, pos: positionText(prefix.pos), scanFrom, stream: this.created.get(track)! };
    return JSON.stringify(mark);
  }

  private async write(key: string, text: string): Promise<void> {
    if (!this.connected) throw new Error("NATS is not connected");
    await this.kv.put(key, encoder.encode(text), { timeout: WRITE_TIMEOUT_MS });
  }

  /** p's mark on the track, if it checks out against the stream, with what is stored after it; else null. */
  private async fromMark(p: number, track: MarkTrack): Promise<TrackStart | null> {
    const entry = await this.kv.get(track.key(p));
    if (!entry || entry.operation !== "PUT") return null;
    const mark = markOf(entry.value);
    if (mark === null || mark.stream !== this.created.get(track)) return null;
    const scanFrom = mark.scanFrom ?? (mark.state === "closed" ? mark.seq + 1 : null);
    if (scanFrom === null || scanFrom < 1) return null;
    let prefix: Recovered;
    if (mark.seq === 0) {
      if (mark.pos !== positionText(POSITION_NONE)) return null;
      prefix = { pos: POSITION_NONE, seq: 0 };
    } else {
      const m = await this.jsm.streams.getMessage(track.stream, { seq: mark.seq });
      if (!m || !track.owns(p, m.subject)) return null;
      const pos = storedPositionOf(m);
      if (pos === null || positionText(pos) !== mark.pos) return null;
      prefix = { pos, seq: m.seq };
    }
    // A closed mark was written at a clean stop, with nothing in flight and before the lease
    // went: nothing can be stored after it, and asking would cost each start a request that
    // nats-server answers by walking the subject tables of the stream's last blocks.
    if (mark.state === "closed") return nothingAfter(prefix, "mark", scanFrom);
    // The common case after a crash: the partition had nothing in flight when its mark was
    // last written, and the mark points past the stream's end then — which a stream info
    // shows without walking any subject table.
    const last = (await this.jsm.streams.info(track.stream)).state.last_seq;
    this.noteStored(track, last);
    if (scanFrom > last) return nothingAfter(prefix, "mark", scanFrom);
    return { ...prefix, path: "mark", scanFrom, ...(await this.storedAfter(p, track, prefix, scanFrom)) };
  }

  /**
   * The changes of p after `prefix` that TIER_EVENTS holds at seq ≥ fromSeq. One request when
   * there are none (a clean stop); otherwise (a crash: about a second of the partition's
   * changes) one ordered consumer reads their headers.
   */
  private async storedAfter(p: number, track: MarkTrack, prefix: Recovered, fromSeq: number): Promise<Pick<TrackStart, "storedAfter" | "storedUpTo" | "newest">> {
    const filter = track.filter(p);
    const storedAfter = new Map<string, number>();
    let storedUpTo: Position = POSITION_NONE;
    let newest = prefix;
    // next_by_subj is in the server's API (2.9) but not in nats.js's MsgRequest type.
    const first = await this.jsm.streams.getMessage(track.stream, { next_by_subj: filter, seq: fromSeq } as unknown as MsgRequest);
    if (!first) return { storedAfter, storedUpTo, newest };
    const consumer = await this.js.consumers.get(track.stream, {
      filter_subjects: filter, // one subject: a list needs nats-server 2.10
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: first.seq,
      headers_only: true,
    });
    try {
      for (let done = false; !done; ) {
        let got = 0;
        for await (const m of await consumer.fetch({ max_messages: SCAN_BATCH, expires: SCAN_EXPIRES_MS })) {
          got++;
          const pos = positionOfHeader(m.headers);
          if (pos === null) throw new Error(`${track.stream} message ${m.seq} has no valid ${HEADER_TIER_POS} header`);
          if (isAfter(pos, prefix.pos)) {
            storedAfter.set(positionText(pos), m.seq);
            if (isAfter(pos, storedUpTo)) storedUpTo = pos;
          }
          if (m.seq > newest.seq) newest = { pos, seq: m.seq };
          if (m.info.pending === 0) {
            done = true;
            break;
          }
        }
        if (got === 0) done = true;
      }
    } finally {
      await consumer.delete().catch(() => {});
    }
    return { storedAfter, storedUpTo, newest };
  }
}

/** Where partition p stands on a track, by a search of the stream (no mark): its newest stored message. */
export async function searchPosition(jsm: JetStreamManager, p: number, track: MarkTrack): Promise<TrackStart> {
  const newest = await recoverPosition(jsm, track.stream, track.filter(p));
  return nothingAfter(newest, "search", newest.seq + 1);
}

/** A start at `prefix` with nothing stored after it. */
function nothingAfter(prefix: Recovered, path: RecoveryPath, scanFrom: number): TrackStart {
  return { ...prefix, path, scanFrom, storedAfter: new Map(), storedUpTo: POSITION_NONE, newest: prefix };
}

/** How many runners found their last tier change each way: "64 mark, 0 search". */
export function recoveryCounts(paths: Iterable<RecoveryPath | null>): string {
  const by = new Map<string, number>();
  for (const path of paths) by.set(path ?? "none", (by.get(path ?? "none") ?? 0) + 1);
  return [...by].map(([path, n]) => `${n} ${path}`).join(", ");
}

export function positionText(pos: Position): string {
  return `${pos[0]}.${pos[1]}`;
}

function markOf(value: Uint8Array): Mark | null {
  try {
    const v = JSON.parse(decoder.decode(value)) as Partial<Mark>;
    const ok =
      (v.state === "open" || v.state === "closed") &&
      Number.isSafeInteger(v.seq) &&
      (v.seq as number) >= 0 &&
      typeof v.pos === "string" &&
      (v.scanFrom === undefined || Number.isSafeInteger(v.scanFrom)) &&
      typeof v.stream === "string";
    return ok ? (v as Mark) : null;
  } catch {
    return null;
  }
}
