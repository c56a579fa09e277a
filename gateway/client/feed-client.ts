// FeedClient: the member app's side of the WebSocket feed, for browsers and Bun. No
// dependencies: the global WebSocket, setTimeout and JSON.
//
// - Reconnects by itself after any close (the gateway's 1001 on restart, 1011, 1013 for a
//   slow reader, a network drop), waiting a full-jitter exponential backoff:
//   random() × min(backoffMsMax, backoffMsMin × 2^attempt); the attempt count starts again
//   once a connection has said hello.
// - Resumes with `since = lastSeq`, where lastSeq is hello.seq and then the seq of each tier
//   frame; a tier frame with seq ≤ lastSeq is dropped (the gateway never sends one; this is
//   belt and braces), so onFrame sees every tier change once and in order.
// - JSON text frames only. Apps that want msgpack open their own WebSocket with the
//   "msgpack" subprotocol and bring a decoder; binary frames are ignored here.
// - The token goes in the query string (browsers cannot set headers on a WebSocket); pass a
//   function to supply a fresh one for each connection.

import type { Frame } from "./frames.ts";

export type FeedStatus = "connecting" | "open" | "closed" | "backoff";

export interface FeedClientOptions {
  /** The feed's URL, e.g. wss://gateway.example.com/v1/feed. */
  url: string;
  /** A member token, or a function giving the token to use for the next connection. */
  token: string | (() => string);
  /** Resume after this tier seq (what a previous session's lastSeq was). */
  since?: number;
  /** [0, 1); injected for tests. Math.random by default. */
  random?: () => number;
  onFrame: (frame: Frame) => void;
  onStatus?: (status: FeedStatus) => void;
  backoffMsMin?: number;
  backoffMsMax?: number;
  /** The WebSocket constructor; the global one by default. */
  WebSocket?: typeof WebSocket;
}

const CLIENT_STATES = ["connecting", "open", "backoff", "closed"] as const;
type ClientState = (typeof CLIENT_STATES)[number];

export class FeedClient {
  /** The seq of the last tier frame (or hello) seen: where the next connection resumes. */
  lastSeq: number | undefined;
  private state: ClientState = "connecting";
  private ws: WebSocket | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private attempt = 0;
  private readonly backoffMsMin: number;
  private readonly backoffMsMax: number;
  private readonly random: () => number;
  private readonly WS: typeof WebSocket;

  constructor(private readonly opts: FeedClientOptions) {
    this.backoffMsMin = opts.backoffMsMin ?? 250;
    this.backoffMsMax = opts.backoffMsMax ?? 30_000;
    if (!(this.backoffMsMin > 0 && this.backoffMsMax >= this.backoffMsMin)) {
      throw new RangeError("FeedClient: need 0 < backoffMsMin ≤ backoffMsMax");
    }
    if (opts.since !== undefined && !(Number.isSafeInteger(opts.since) && opts.since >= 0)) {
      throw new RangeError("FeedClient: since must be a non-negative integer");
    }
    this.random = opts.random ?? Math.random;
    this.WS = opts.WebSocket ?? WebSocket;
    this.lastSeq = opts.since;
    this.connect();
  }

  /** Closes the connection and stops reconnecting. */
  close(): void {
    if (this.state === "closed") return;
    this.setState("closed");
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const ws = this.ws;
    this.ws = null;
    ws?.close(1000, "client closed");
  }

  private connect(): void {
    this.timer = null;
    this.setState("connecting");
    const url = new URL(this.opts.url);
    const token = typeof this.opts.token === "function" ? this.opts.token() : this.opts.token;
    url.searchParams.set("token", token);
    if (this.lastSeq !== undefined) url.searchParams.set("since", String(this.lastSeq));
    else url.searchParams.delete("since");
    let ws: WebSocket;
    try {
      ws = new this.WS(url.toString());
    } catch {
      return this.retry();
    }
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws === ws) this.setState("open");
    };
    ws.onmessage = (ev: MessageEvent) => {
      if (this.ws === ws && typeof ev.data === "string") this.receive(ev.data);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.retry();
    };
    // An error is followed by close; nothing to do twice.
    ws.onerror = () => {};
  }

  private receive(text: string): void {
    let frame: Frame;
    try {
      frame = JSON.parse(text) as Frame;
    } catch {
      return;
    }
    if (typeof frame !== "object" || frame === null) return;
    if (frame.type === "hello") {
      // hello.seq is where this connection starts: our since, or the gateway's reset of it.
      this.lastSeq = frame.seq;
      this.attempt = 0;
    } else if (frame.type === "tier") {
      if (this.lastSeq !== undefined && frame.seq <= this.lastSeq) return;
      this.lastSeq = frame.seq;
    }
    this.opts.onFrame(frame);
  }

  private retry(): void {
    if (this.state === "closed") return;
    this.setState("backoff");
    const ceiling = Math.min(this.backoffMsMax, this.backoffMsMin * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    this.timer = setTimeout(() => this.connect(), Math.floor(this.random() * ceiling));
  }

  private setState(s: ClientState): void {
    if (this.state === s && s !== "connecting") return;
    this.state = s;
    this.opts.onStatus?.(s);
  }
}
