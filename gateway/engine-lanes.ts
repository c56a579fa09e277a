// EngineLanes: which engine serves which partition, and the batching of member reads,
// eligibility checks and claims into one message per engine per event-loop turn
// (engine/request-lane.ts has the why and the wire format).
//
// The directory is a hint, never trusted for correctness: an item sent to an engine that no
// longer serves its partition comes back 503, and so does every item of a lane message that
// fails; the caller then asks the partition's own endpoint, which the queue group routes to
// whoever serves it now. Engines announce every change (LANE_CHANGED_SUBJECT), and the whole
// directory is re-read every refreshMs, so a missed announcement heals.

import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { isLaneEntry, LANE_CHANGED_SUBJECT, LANE_DIRECTORY_SUBJECT, LANE_ITEMS_MAX, type LaneEntry } from "../proto/lane.ts";
import type { ReplyError, ReplyInbox } from "../proto/reply-inbox.ts";

export type LaneAnswer = [status: number, answer: unknown];

interface Item {
  op: string;
  partition: number;
  body: unknown;
  resolve: (a: LaneAnswer) => void;
}

const REFRESH_MS_DEFAULT = 2000;
const DIRECTORY_WAIT_MS = 250;
const decoder = new TextDecoder();

export class EngineLanes {
  /** Partition → the lane subject of the engine last known to serve it. */
  private readonly laneOf: (string | undefined)[];
  /** Lane subject → the partitions it announced. */
  private readonly announced = new Map<string, readonly number[]>();
  private readonly queued = new Map<string, Item[]>();
  private flushScheduled = false;
  private sub: Subscription | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;
  private closed = false;
  /** Lane messages sent (for tests and metrics: batching shows as items ≫ messages). */
  messagesSent = 0;
  itemsSent = 0;
  /**
   * Requests asked again at a partition's endpoint because its lane did not answer them: an
   * item answered 503, or a partition's members in a batch its engine did not answer (one per
   * partition). EngineClient counts them.
   */
  fallbacks = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly partitions: number,
    private readonly inbox: ReplyInbox,
    private readonly refreshMs = REFRESH_MS_DEFAULT,
  ) {
    this.laneOf = new Array<string | undefined>(partitions).fill(undefined);
  }

  start(): void {
    this.sub = this.nc.subscribe(LANE_CHANGED_SUBJECT, {
      callback: (err, msg) => {
        if (err) return;
        const entry = parseEntry(msg.data);
        if (entry) this.apply(entry);
      },
    });
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.refreshMs);
    this.timer.unref();
  }

  close(): void {
    this.closed = true;
    this.sub?.unsubscribe();
    if (this.timer) clearInterval(this.timer);
  }

  /** Partitions some engine is known to serve. */
  get known(): number {
    return this.laneOf.reduce((n, l) => n + (l === undefined ? 0 : 1), 0);
  }

  /** The lane of the engine last known to serve p (undefined: none known). */
  laneFor(partition: number): string | undefined {
    return this.closed ? undefined : this.laneOf[partition];
  }

  /** The answer through p's engine's lane, or null when no engine is known to serve p. */
  ask(partition: number, op: string, body: unknown): Promise<LaneAnswer> | null {
    const lane = this.laneFor(partition);
    return lane === undefined ? null : this.askOn(lane, op, partition, body);
  }

  /** The answer through `lane` (an item for any of its partitions, or a batch op's partition -1). */
  askOn(lane: string, op: string, partition: number, body: unknown): Promise<LaneAnswer> {
    return new Promise((resolve) => {
      let q = this.queued.get(lane);
      if (!q) this.queued.set(lane, (q = []));
      q.push({ op, partition, body, resolve });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        // Everything asked in this turn of the event loop (every HTTP request Bun parsed
        // from the sockets that were readable) goes out together.
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    for (const [lane, items] of this.queued) {
      for (let i = 0; i < items.length; i += LANE_ITEMS_MAX) this.send(lane, items.slice(i, i + LANE_ITEMS_MAX));
    }
    this.queued.clear();
  }

  private send(lane: string, items: Item[]): void {
    this.messagesSent++;
    this.itemsSent += items.length;
    const payload = JSON.stringify(items.map((it) => [it.op, it.partition, it.body]));
    let left = items.length;
    const answered = new Uint8Array(items.length);
    this.inbox.sendMany(
      lane,
      payload,
      undefined,
      (msg) => {
        let answers: unknown;
        try {
          answers = JSON.parse(decoder.decode(msg.data));
        } catch {
          answers = null;
        }
        if (!Array.isArray(answers)) answers = [[-1, 503, { error: { code: "lane_answer", message: "the engine's lane answer is not a list" } }]];
        for (const a of answers as unknown[]) {
          const [i, status, answer] = Array.isArray(a) ? (a as [number, number, unknown]) : [-1, 503, null];
          if (i === -1 || !(i >= 0 && i < items.length) || typeof status !== "number") {
            // Not an answer to any one item: every item still waiting is asked again elsewhere.
            for (let k = 0; k < items.length; k++) if (answered[k] === 0) items[k].resolve([503, { error: { code: "lane_answer", message: "the engine could not answer the lane message" } }]);
            return true;
          }
          if (answered[i] === 1) continue;
          answered[i] = 1;
          left--;
          items[i].resolve([status, answer]);
        }
        return left === 0;
      },
      (err: ReplyError) => {
        // Nobody listens on the lane any more (the engine is gone): forget it now.
        if (err.code === "no_responders") this.apply({ engine: "", lane, partitions: [] });
        for (let k = 0; k < items.length; k++) if (answered[k] === 0) items[k].resolve([503, { error: { code: "lane_failed", message: err.message } }]);
      },
    );
  }

  /** Replaces what `entry.lane` serves. */
  private apply(entry: LaneEntry): void {
    const before = this.announced.get(entry.lane);
    if (before) for (const p of before) if (this.laneOf[p] === entry.lane) this.laneOf[p] = undefined;
    const mine = entry.partitions.filter((p) => p < this.partitions);
    if (mine.length === 0) this.announced.delete(entry.lane);
    else this.announced.set(entry.lane, mine);
    for (const p of mine) this.laneOf[p] = entry.lane;
  }

  private async refresh(): Promise<void> {
    if (this.closed || this.nc.isClosed()) return;
    const live = new Set<string>();
    try {
      const answers = await this.nc.requestMany(LANE_DIRECTORY_SUBJECT, "", { strategy: "timer", maxWait: DIRECTORY_WAIT_MS });
      for await (const msg of answers) {
        const entry = parseEntry(msg.data);
        // Applied as it arrives: an announcement that follows it is then applied after it.
        if (entry && !this.closed) {
          live.add(entry.lane);
          this.apply(entry);
        }
      }
    } catch {
      // no engine answered (none running yet), or NATS is reconnecting: try again next time
    }
    if (this.closed) return;
    for (const lane of [...this.announced.keys()]) if (!live.has(lane)) this.apply({ engine: "", lane, partitions: [] });
  }
}

function parseEntry(data: Uint8Array): LaneEntry | null {
  try {
    const v: unknown = JSON.parse(decoder.decode(data));
    return isLaneEntry(v) ? v : null;
  } catch {
    return null;
  }
}
