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
//     out (it is in TIER_EVENTS, on the partition, at the marked position, and the stream is
//     the one the mark was written for).
//   - Anything else — no mark, an "open" one, one that does not check out (the stream was
//     purged or recreated, the message aged out) — means the search, as before.
//   - Before it publishes anything, the runner writes the mark "open": from then on nobody
//     trusts an old closed mark, whatever happens to this runner.
//   - A runner that stops cleanly (not fenced, every change stored) writes "closed" with its
//     newest stored change, before its lease is released. Every change before it is stored
//     then too: the outbox has nothing in flight.
// An open mark is never trusted, and that is deliberate. After a NATS disconnect, a change in
// flight can be lost while later ones, which nats.js held in its buffer, are stored. Until the
// lost one is sent again (AckedPublisher resends on reconnect; before, only when its ack timed
// out after 5 s), the stream has a gap before its newest change of the partition. A crash in
// that window loses the change whichever way the newest is found (the search has the same
// hazard; see the README). So an open mark's "newest stored" is not a safe place to start.

import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { StorageType } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { openRacing } from "../proto/create-race.ts";
import { BUCKET_TIER_MARKS, STREAM_TIER_EVENTS, tierPartitionFilter } from "../proto/names.ts";
import { type Position, POSITION_NONE, recoverPosition, storedPositionOf } from "./outbox.ts";

export interface Recovered {
  pos: Position;
  /** TIER_EVENTS sequence of that change (0: none). */
  seq: number;
}

/** How a runner found its partition's last stored change: a closed mark, or the search. */
export type RecoveryPath = "mark" | "search";

interface Mark {
  state: "open" | "closed";
  /** TIER_EVENTS sequence of the newest stored change (0: none stored). */
  seq: number;
  /** Its position, "<orderSeq>.<k>". */
  pos: string;
  /** When TIER_EVENTS was created: a mark of an earlier stream of that name is not trusted. */
  stream: string;
}

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

  private constructor(
    nc: NatsConnection,
    private kv: KV,
    /** Opens (creating if missing) the bucket again: an operator may have deleted it. */
    private readonly reopen: () => Promise<KV>,
    private readonly jsm: JetStreamManager,
    /** TIER_EVENTS's creation time. */
    private readonly stream: string,
  ) {
    void this.watch(nc);
  }

  private async watch(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === "disconnect") this.connected = false;
      else if (s.type === "reconnect") this.connected = true;
    }
  }

  static async open(nc: NatsConnection, js: JetStreamClient, jsm: JetStreamManager, replicas = 1): Promise<TierMarks> {
    // History 1: only the newest mark of a partition matters. File storage: a mark must
    // survive a server restart as TIER_EVENTS does. Reads through the stream leader: a
    // follower's direct get could answer an old closed mark after a newer open one.
    const openBucket = () =>
      openRacing(() => new Kvm(js).create(BUCKET_TIER_MARKS, { history: 1, replicas, storage: StorageType.File, allow_direct: false }));
    const kv = await openBucket();
    const info = await jsm.streams.info(STREAM_TIER_EVENTS);
    return new TierMarks(nc, kv, openBucket, jsm, info.created);
  }

  /** The last change TIER_EVENTS holds for partition p, and how it was found. */
  async recover(p: number): Promise<Recovered & { path: RecoveryPath }> {
    const marked = await this.fromMark(p).catch(() => null);
    return marked ?? searchTierPosition(this.jsm, p);
  }

  /** p's runner is about to publish: its mark turns open (awaited before the first publish). */
  async opened(p: number, from: Recovered): Promise<void> {
    const mark = this.markText("open", from);
    try {
      await this.write(p, mark);
    } catch {
      // Once more into the bucket opened again (an operator may have deleted it); a second
      // failure fails the partition's start: it must not publish while a closed mark may stand.
      this.kv = await this.reopen();
      await this.write(p, mark);
    }
  }

  /** p's runner stopped with every change stored, the newest being `last`. */
  async closed(p: number, last: Recovered): Promise<void> {
    await this.write(p, this.markText("closed", last));
  }

  private markText(state: Mark["state"], last: Recovered): string {
    const mark: Mark = { state, seq: last.seq, pos: positionText(last.pos), stream: this.stream };
    return JSON.stringify(mark);
  }

  // A partition's two writes never overlap: "open" is awaited in its runner's start, "closed"
  // in its stop, and a partition is started again only after its stop.
  private async write(p: number, text: string): Promise<void> {
    if (!this.connected) throw new Error("NATS is not connected");
    await this.kv.put(String(p), encoder.encode(text), { timeout: WRITE_TIMEOUT_MS });
  }

  /** p's closed mark, if it checks out against TIER_EVENTS; else null. */
  private async fromMark(p: number): Promise<(Recovered & { path: RecoveryPath }) | null> {
    const entry = await this.kv.get(String(p));
    if (!entry || entry.operation !== "PUT") return null;
    const mark = markOf(entry.value);
    if (mark === null || mark.state !== "closed" || mark.stream !== this.stream) return null;
    if (mark.seq === 0) return mark.pos === positionText(POSITION_NONE) ? { pos: POSITION_NONE, seq: 0, path: "mark" } : null;
    const m = await this.jsm.streams.getMessage(STREAM_TIER_EVENTS, { seq: mark.seq });
    if (!m || !m.subject.startsWith(`tier.${p}.`)) return null;
    const pos = storedPositionOf(m);
    return pos !== null && positionText(pos) === mark.pos ? { pos, seq: m.seq, path: "mark" } : null;
  }
}

/** The last change TIER_EVENTS holds for partition p, by a search of the stream (no mark). */
export async function searchTierPosition(jsm: JetStreamManager, p: number): Promise<Recovered & { path: RecoveryPath }> {
  return { ...(await recoverPosition(jsm, STREAM_TIER_EVENTS, tierPartitionFilter(p))), path: "search" };
}

/** How many runners found their last tier change each way: "64 mark, 0 search". */
export function recoveryCounts(paths: Iterable<RecoveryPath | null>): string {
  const by = new Map<string, number>();
  for (const path of paths) by.set(path ?? "none", (by.get(path ?? "none") ?? 0) + 1);
  return [...by].map(([path, n]) => `${n} ${path}`).join(", ");
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
      typeof v.pos === "string" &&
      typeof v.stream === "string";
    return ok ? (v as Mark) : null;
  } catch {
    return null;
  }
}
