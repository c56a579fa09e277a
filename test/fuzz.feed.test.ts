// Fuzzing the WebSocket feed over raw TCP, against a real nats-server, engine and Bun.serve
// with the hub: random upgrade requests (tokens, query strings, `since`, subprotocols, broken
// handshakes) are refused with a JSON error or upgraded properly; random client frames on
// upgraded connections (text, binary, oversized, fragmented, control, malformed, split at
// random points) never crash the gateway, never reach another member's connection, and leave
// no connection state behind; a healthy connection is served throughout and afterwards.
// FUZZ_SEED=<n> runs another seed (printed with every failure).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { decode as msgpackDecode } from "@msgpack/msgpack";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { Server } from "bun";
import { sign } from "hono/jwt";
import type { Engine } from "../engine/engine.ts";
import type { Logger } from "../engine/log.ts";
import type { Frame } from "../gateway/client/frames.ts";
import { GatewayBenefits } from "../gateway/benefits.ts";
import { EngineClient } from "../gateway/engine-client.ts";
import { FeedHub, type FeedSocketData } from "../gateway/feed/hub.ts";
import { GatewayMetrics } from "../gateway/metrics.ts";
import type { Order } from "../proto/index.ts";
import { type Client, client, eventually, publishOrders, startEngine } from "./harness/engine.ts";
import { useNatsServer } from "./harness/nats.ts";
import { intBetween, mulberry32, pick } from "./harness/prng.ts";
import { testGatewayOptions } from "./harness/gateway.ts";

const SEED = Number(process.env.FUZZ_SEED ?? 0xfeed) >>> 0;
const SECRET = "fuzz-feed-secret-0123456789";
const API_KEY = "fuzz-feed-read-key";
const P = 64;
const UPGRADES = 800;
const CONNECTIONS = 300;
const PARALLEL = 8;
const PHASE_MS_MAX = 12_000;
const ANSWER_MS_MAX = 4_000;
const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const T = Date.now() - 60_000;
/** The member whose healthy connection watches everything; no fuzzed connection is its. */
const OBSERVER = 424_242;
const FUZZ_MEMBERS = [1001, 1002, 1003, 1004];

const token = (member: number | string, expInSec = 3600, secret = SECRET) =>
  sign({ sub: String(member), exp: Math.floor(Date.now() / 1000) + expInSec }, secret, "HS256");

const paid = (id: string, member: number, points: number): Order => ({ id, member, line: "taobao", kind: "paid", amount: points * 100, ts: T });

// ------------------------------------------------------------------ a raw WebSocket client

interface ServerFrame {
  fin: boolean;
  opcode: number;
  payload: Buffer;
}

/** One TCP connection: an HTTP request out, the response head and then server frames in. */
class RawConn {
  private buf = Buffer.alloc(0);
  status = 0;
  head = "";
  headers = new Map<string, string>();
  body = Buffer.alloc(0);
  readonly frames: ServerFrame[] = [];
  closedByPeer = false;
  private changed: (() => void) | null = null;
  private socket!: Awaited<ReturnType<typeof Bun.connect>>;

  static async open(port: number): Promise<RawConn> {
    const c = new RawConn();
    c.socket = await Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        data: (_s, d) => c.onData(Buffer.from(d)),
        close: () => c.onClose(),
        error: () => c.onClose(),
      },
    });
    return c;
  }

  write(bytes: string | Uint8Array): void {
    if (!this.closedByPeer) this.socket.write(typeof bytes === "string" ? Buffer.from(bytes, "latin1") : bytes);
  }

  end(): void {
    this.socket.end();
  }

  private onClose(): void {
    this.closedByPeer = true;
    this.wake();
  }

  private wake(): void {
    const w = this.changed;
    this.changed = null;
    w?.();
  }

  /** Resolves when `check` holds, or after `ms` (then returns false). */
  async until(check: () => boolean, ms: number): Promise<boolean> {
    const deadline = performance.now() + ms;
    while (!check()) {
      const left = deadline - performance.now();
      if (left <= 0) return false;
      await Promise.race([new Promise<void>((r) => (this.changed = r)), Bun.sleep(Math.min(left, 50))]);
    }
    return true;
  }

  /** The response is complete: a 101, or a head plus Content-Length bytes, or the peer closed. */
  answered(): boolean {
    if (this.status === 101) return true;
    if (this.status === 0) return this.closedByPeer;
    const len = Number(this.headers.get("content-length") ?? "NaN");
    return this.closedByPeer || (Number.isFinite(len) && this.body.length >= len);
  }

  dataFrames(): ServerFrame[] {
    return this.frames.filter((f) => f.opcode === 1 || f.opcode === 2);
  }

  closeFrame(): ServerFrame | undefined {
    return this.frames.find((f) => f.opcode === 8);
  }

  private onData(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
    if (this.status === 0) {
      const end = this.buf.indexOf("\r\n\r\n");
      if (end < 0) return this.wake();
      this.head = this.buf.subarray(0, end).toString("latin1");
      const lines = this.head.split("\r\n");
      this.status = Number(/^HTTP\/1\.1 (\d{3})/.exec(lines[0])?.[1] ?? -1);
      for (const l of lines.slice(1)) {
        const i = l.indexOf(":");
        if (i > 0) this.headers.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
      }
      this.buf = this.buf.subarray(end + 4);
    }
    if (this.status !== 101) {
      this.body = Buffer.concat([this.body, this.buf]);
      this.buf = Buffer.alloc(0);
      return this.wake();
    }
    // Server frames: never masked.
    for (;;) {
      if (this.buf.length < 2) break;
      let len = this.buf[1] & 0x7f;
      let at = 2;
      if (len === 126) {
        if (this.buf.length < 4) break;
        len = this.buf.readUInt16BE(2);
        at = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) break;
        len = Number(this.buf.readBigUInt64BE(2));
        at = 10;
      }
      if (this.buf.length < at + len) break;
      this.frames.push({ fin: (this.buf[0] & 0x80) !== 0, opcode: this.buf[0] & 0x0f, payload: Buffer.from(this.buf.subarray(at, at + len)) });
      this.buf = this.buf.subarray(at + len);
    }
    this.wake();
  }
}

interface FrameOptions {
  fin?: boolean;
  mask?: boolean;
  rsv?: number;
  /** Declared payload length, when it should lie. */
  declared?: number;
}

/** A client frame (masked unless told otherwise). */
function wsFrame(opcode: number, payload: Uint8Array, o: FrameOptions = {}): Uint8Array {
  const fin = o.fin ?? true;
  const mask = o.mask ?? true;
  const len = o.declared ?? payload.length;
  const head: number[] = [(fin ? 0x80 : 0) | ((o.rsv ?? 0) << 4) | opcode];
  const m = mask ? 0x80 : 0;
  if (len < 126) head.push(m | len);
  else if (len < 65536) head.push(m | 126, len >> 8, len & 0xff);
  else {
    head.push(m | 127);
    const big = BigInt(len);
    for (let s = 56n; s >= 0n; s -= 8n) head.push(Number((big >> s) & 0xffn));
  }
  const key = [0x12, 0x34, 0x56, 0x78];
  if (mask) head.push(...key);
  const out = new Uint8Array(head.length + payload.length);
  out.set(head, 0);
  for (let i = 0; i < payload.length; i++) out[head.length + i] = mask ? payload[i] ^ key[i & 3] : payload[i];
  return out;
}

const acceptOf = (key: string) => createHash("sha1").update(key + WS_GUID).digest("base64");

function decodeFrame(f: ServerFrame): Frame {
  return (f.opcode === 1 ? JSON.parse(f.payload.toString("utf8")) : msgpackDecode(f.payload)) as Frame;
}

// ------------------------------------------------------------------ the suite

describe("WebSocket feed under fuzzing", () => {
  const nats = useNatsServer();
  // A nested block: its afterAll runs before the outer one stops nats-server, so the gateway
  // and the engine drain against a live server.
  describe("against a real engine and gateway", () => {
    let c: Client;
    let engine: Engine;
    let hub: FeedHub;
    let server: Server<FeedSocketData>;
    let gnc: NatsConnection;
    const logged: string[] = [];
    let observer: { ws: WebSocket; frames: Frame[]; closed: boolean };

    const log: Logger = {
      info() {},
      warn: (m) => logged.push(`warn ${m}`),
      error: (m) => logged.push(`error ${m}`),
      child: () => log,
    };

    beforeAll(async () => {
      c = await client(nats.url);
      engine = await startEngine(nats.url, { policy: "immediate" });
      const options = testGatewayOptions(nats.url, SECRET, new Map([[API_KEY, new Set(["read" as const])]]), {
        requestTimeoutMs: 3000,
        name: "fuzz-feed",
      });
      gnc = await connect({ servers: nats.url, name: options.name });
      hub = new FeedHub({
        options,
        nc: gnc,
        js: jetstream(gnc),
        jsm: await jetstreamManager(gnc),
        engines: new EngineClient(gnc, P, options.requestTimeoutMs),
        benefits: await GatewayBenefits.start(gnc, jetstream(gnc), await jetstreamManager(gnc)),
        metrics: new GatewayMetrics(),
        log,
      });
      await hub.start();
      server = Bun.serve<FeedSocketData>({
        port: 0,
        hostname: "127.0.0.1",
        fetch(req, srv) {
          if (new URL(req.url).pathname === "/v1/feed") return hub.upgrade(req, srv);
          return Response.json({ error: { code: "not_found", message: "no such route" } }, { status: 404 });
        },
        websocket: hub.websocket,
      });

      // The healthy connection every fuzzed one must leave alone.
      const ws = new WebSocket(`ws://127.0.0.1:${server.port}/v1/feed?token=${await token(OBSERVER)}`);
      observer = { ws, frames: [], closed: false };
      ws.onmessage = (ev) => observer.frames.push(JSON.parse(ev.data as string) as Frame);
      ws.onclose = () => (observer.closed = true);
      await eventually(() => observer.frames.length >= 1, "the observer's hello");
    });

    afterAll(async () => {
      observer?.ws.close();
      server?.stop(false);
      await hub?.stop();
      server?.stop(true);
      await gnc?.drain().catch(() => {});
      await engine?.stop();
      await c?.close();
    });

    /** Runs `job(i)` for i < count, `PARALLEL` at a time, until `PHASE_MS_MAX`; returns how many ran. */
    async function fanOut(count: number, job: (i: number) => Promise<void>): Promise<number> {
      const deadline = performance.now() + PHASE_MS_MAX;
      let next = 0;
      let done = 0;
      const worker = async () => {
        while (next < count && performance.now() < deadline) {
          await job(next++);
          done++;
        }
      };
      await Promise.all(Array.from({ length: PARALLEL }, worker));
      return done;
    }

    test(`${UPGRADES} random upgrade requests: a JSON refusal or a proper upgrade with the member's hello`, async () => {
      const rnd = mulberry32(SEED);
      const port = server.port!;
      const member = () => pick(rnd, FUZZ_MEMBERS);
      const tokens = {
        good: await Promise.all(FUZZ_MEMBERS.map((m) => token(m))),
        expired: await token(1001, -60),
        forged: await token(1001, 3600, "another-secret"),
        // Subjects that name no member. (A signed `sub` is read with Number(): "1e3" and " 42"
        // would name members 1000 and 42, so they are not here.)
        odd: await Promise.all(["-1", "0", "1.5", "9007199254740992", "abc", "", "0x"].map((s) => token(s))),
      };
      const goodKey = () => Buffer.from(Uint8Array.from({ length: 16 }, () => Math.floor(rnd() * 256))).toString("base64");
      const outcomes = new Map<string, number>();

      const ran = await fanOut(UPGRADES, async (i) => {
        // --- the credential (query token and/or Authorization header) and what it amounts to
        type Cred = { kind: "member"; member: number } | { kind: "key" } | { kind: "bad" };
        let q: string[] = [];
        let authHeader: string | null = null;
        let cred: Cred = { kind: "bad" };
        const m = member();
        const goodToken = tokens.good[FUZZ_MEMBERS.indexOf(m)];
        const r = rnd();
        if (r < 0.45) {
          q.push(`token=${goodToken}`);
          cred = { kind: "member", member: m };
        } else if (r < 0.55) {
          authHeader = `Bearer ${goodToken}`;
          cred = { kind: "member", member: m };
        } else if (r < 0.6) {
          q.push(`token=${API_KEY}`);
          cred = { kind: "key" };
        } else if (r < 0.63) {
          authHeader = `Basic Zm9vOmJhcg==`; // not a Bearer header: the query token decides
          q.push(`token=${goodToken}`);
          cred = { kind: "member", member: m };
        } else if (r < 0.66) {
          authHeader = `Bearer ${pick(rnd, ["x", tokens.expired, API_KEY + "x"])}`; // a Bearer header wins over the query
          q.push(`token=${goodToken}`);
          cred = { kind: "bad" };
        } else {
          const bad = pick(rnd, ["", "token", "token=", `token=${tokens.expired}`, `token=${tokens.forged}`, `token=${pick(rnd, tokens.odd)}`, "token=a.b.c", `token=${goodToken.slice(0, -2)}`, `token=%zz`, `toke=${goodToken}`]);
          if (bad !== "") q.push(bad);
        }
        // --- since, judged the way the gateway reads the query string
        const s = rnd();
        if (s < 0.3) q.push(`since=${pick(rnd, ["0", "1", "5", "999999999", "9007199254740991", "%31"])}`);
        else if (s < 0.5) q.push(`since=${pick(rnd, ["-1", "1.5", "", "abc", "01", "1e3", "9007199254740992", "99999999999999999", "+1", "0x1", "%EF%BC%91", "%zz"])}`);
        if (rnd() < 0.2) q.push(pick(rnd, ["x=1", "&&", "=", "%", "since", "a=%zz", `${"p".repeat(2000)}=1`]));
        if (rnd() < 0.2) q = q.reverse();
        const rawSince = new URLSearchParams(q.join("&")).get("since");
        const sinceOk = rawSince === null || (/^(0|[1-9]\d{0,15})$/.test(rawSince) && Number.isSafeInteger(Number(rawSince)));
        // --- the handshake
        const key = rnd() < 0.85 ? goodKey() : pick(rnd, ["", "abc", "!".repeat(24), "AAAA", "dGhlIHNhbXBsZSBub25jZQ"]);
        const keyOk = key.length === 24 && /^[A-Za-z0-9+/]{22}==$/.test(key);
        const upgrade = rnd() < 0.9 ? pick(rnd, ["websocket", "WebSocket", "websocket"]) : pick(rnd, [null, "h2c", ""]);
        const version = rnd() < 0.92 ? "13" : pick(rnd, [null, "8", "abc", "13, 8"]);
        const protocols = rnd() < 0.5 ? null : pick(rnd, ["msgpack", "json", "json, msgpack", "msgpack,json", "x, y", "", " msgpack ", "MSGPACK", "msgpack;q=1", "a".repeat(500), "\u00e9"]);
        const headers = [
          `GET /v1/feed${q.length > 0 ? "?" + q.join("&") : ""} HTTP/1.1`,
          "Host: 127.0.0.1",
          ...(upgrade !== null ? [`Upgrade: ${upgrade}`] : []),
          `Connection: ${pick(rnd, ["Upgrade", "keep-alive, Upgrade", "upgrade"])}`,
          ...(key !== "" ? [`Sec-WebSocket-Key: ${key}`] : []),
          ...(version !== null ? [`Sec-WebSocket-Version: ${version}`] : []),
          ...(protocols !== null ? [`Sec-WebSocket-Protocol: ${protocols}`] : []),
          ...(authHeader !== null ? [`Authorization: ${authHeader}`] : []),
          ...(rnd() < 0.1 ? [`X-Junk: ${"\u00ff".repeat(intBetween(rnd, 1, 100))}`] : []),
        ];
        const what = `seed ${SEED}, upgrade #${i}: ${headers.join(" | ").slice(0, 400)}`;

        const conn = await RawConn.open(port);
        try {
          conn.write(headers.join("\r\n") + "\r\n\r\n");
          if (!(await conn.until(() => conn.answered(), ANSWER_MS_MAX))) throw new Error(`${what}: no answer within ${ANSWER_MS_MAX} ms`);
          const isUpgrade = upgrade !== null && upgrade.toLowerCase() === "websocket";
          outcomes.set(String(conn.status), (outcomes.get(String(conn.status)) ?? 0) + 1);
          if (conn.status >= 500 || conn.status < 100) throw new Error(`${what}: status ${conn.status}: ${conn.head}`);
          if (isUpgrade && version !== "13" && conn.headers.has("sec-websocket-version")) {
            // Bun refuses a WebSocket version it does not speak itself, before any gateway code runs.
            if (conn.status !== 426) throw new Error(`${what}: ${conn.status} for version ${version}`);
            return;
          }
          const expected =
            cred.kind === "bad" ? 401 : cred.kind === "key" ? 403 : !sinceOk ? 400 : isUpgrade && keyOk && version === "13" ? 101 : 426;
          if (conn.status !== expected) throw new Error(`${what}: status ${conn.status}, expected ${expected}: ${conn.head} ${conn.body.toString()}`);
          if (expected !== 101) {
            if (!(conn.headers.get("content-type") ?? "").startsWith("application/json")) throw new Error(`${what}: refusal without JSON: ${conn.head}`);
            const body = JSON.parse(conn.body.toString("utf8")) as { error?: { code?: unknown; message?: unknown } };
            const code = { 401: "unauthorized", 403: "forbidden", 400: "bad_since", 426: "upgrade_required" }[expected];
            if (body.error?.code !== code || typeof body.error.message !== "string") throw new Error(`${what}: body ${conn.body.toString()}`);
            return;
          }
          // A proper upgrade: the accept key, the chosen subprotocol, and the member's own hello.
          if (conn.headers.get("sec-websocket-accept") !== acceptOf(key)) throw new Error(`${what}: wrong Sec-WebSocket-Accept`);
          const offered = (protocols ?? "").split(",").map((x) => x.trim());
          const chosen = offered.includes("msgpack") ? "msgpack" : offered.includes("json") ? "json" : undefined;
          if (conn.headers.get("sec-websocket-protocol") !== chosen) throw new Error(`${what}: subprotocol ${conn.headers.get("sec-websocket-protocol")}, expected ${chosen}`);
          if (!(await conn.until(() => conn.dataFrames().length >= 1 || conn.closedByPeer, ANSWER_MS_MAX))) throw new Error(`${what}: no hello`);
          const first = conn.dataFrames()[0];
          if (first === undefined) throw new Error(`${what}: closed before a hello: ${JSON.stringify(conn.closeFrame()?.payload.toString())}`);
          if (first.opcode !== (chosen === "msgpack" ? 2 : 1)) throw new Error(`${what}: hello as opcode ${first.opcode}`);
          const hello = decodeFrame(first);
          if (hello.type !== "hello" || hello.member !== (cred as { member: number }).member) throw new Error(`${what}: first frame ${JSON.stringify(hello)}`);
          conn.write(wsFrame(8, new Uint8Array([0x03, 0xe8])));
          await conn.until(() => conn.closedByPeer, 1000);
        } finally {
          conn.end();
        }
      });
      console.log(`seed ${SEED}: ${ran} upgrade requests; statuses ${JSON.stringify(Object.fromEntries([...outcomes].sort()))}`);
      expect(ran).toBeGreaterThan(UPGRADES / 2);
      expect(outcomes.get("101") ?? 0).toBeGreaterThan(20);
      expect(outcomes.get("401") ?? 0).toBeGreaterThan(20);
      await eventually(() => hub.stats().connections === 1, "only the observer connected");
    }, 30_000);

    test(`random client frames on ${CONNECTIONS} upgraded connections: nothing crashes, nothing reaches another member`, async () => {
      const rnd = mulberry32(SEED ^ 0xc0ffee);
      const port = server.port!;
      const tokens = await Promise.all(FUZZ_MEMBERS.map((m) => token(m)));
      const observerFramesBefore = observer.frames.length;
      const closeCodes = new Map<number, number>();
      let tierFramesSeen = 0;
      let pongsChecked = 0;
      const text = (s: string) => new TextEncoder().encode(s);
      const randomBytes = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(rnd() * 256));
      const size = () => (rnd() < 0.75 ? intBetween(rnd, 0, 1024) : intBetween(rnd, 1025, 70_000));

      /** One random thing a client may send, as the bytes to write. */
      const action = (m: number): { bytes: Uint8Array; what: string } => {
        const r = rnd();
        const n = size();
        if (r < 0.12) return { bytes: wsFrame(1, text(JSON.stringify({ type: pick(rnd, ["subscribe", "hello", "tier", "claim"]), member: pick(rnd, [OBSERVER, m + 1, -1]), since: 0 }))), what: "a JSON request for another member" };
        if (r < 0.22) return { bytes: wsFrame(1, text("x".repeat(n))), what: `text ${n}` };
        if (r < 0.3) return { bytes: wsFrame(2, randomBytes(n)), what: `binary ${n}` };
        if (r < 0.36) return { bytes: wsFrame(1, randomBytes(intBetween(rnd, 1, 64))), what: "text, maybe not UTF-8" };
        if (r < 0.46) {
          // A fragmented message, sometimes past 1 KiB in total, sometimes interleaved with a ping.
          const parts = intBetween(rnd, 2, 5);
          const op = pick(rnd, [1, 2]);
          const chunks: Uint8Array[] = [];
          for (let k = 0; k < parts; k++) {
            const payload = op === 1 ? text("y".repeat(intBetween(rnd, 0, 600))) : randomBytes(intBetween(rnd, 0, 600));
            chunks.push(wsFrame(k === 0 ? op : 0, payload, { fin: k === parts - 1 }));
            if (rnd() < 0.2) chunks.push(wsFrame(9, text("mid")));
          }
          return { bytes: Buffer.concat(chunks), what: `fragmented ${op === 1 ? "text" : "binary"} in ${parts}` };
        }
        if (r < 0.5) return { bytes: wsFrame(0, randomBytes(10)), what: "a continuation with no message" };
        if (r < 0.53) return { bytes: Buffer.concat([wsFrame(1, text("a"), { fin: false }), wsFrame(1, text("b"))]), what: "a new message inside a fragmented one" };
        if (r < 0.6) return { bytes: wsFrame(9, randomBytes(intBetween(rnd, 0, 125))), what: "ping" };
        if (r < 0.62) return { bytes: wsFrame(9, randomBytes(126)), what: "ping over 125 bytes" };
        if (r < 0.65) return { bytes: wsFrame(9, randomBytes(4), { fin: false }), what: "fragmented ping" };
        if (r < 0.68) return { bytes: wsFrame(10, randomBytes(intBetween(rnd, 0, 125))), what: "unsolicited pong" };
        if (r < 0.72) {
          const code = pick(rnd, [1000, 1001, 999, 1004, 1005, 1006, 1015, 2999, 3000, 4999, 5000, 65535]);
          const payload = rnd() < 0.2 ? new Uint8Array([0x03]) : Buffer.concat([Buffer.from([code >> 8, code & 0xff]), rnd() < 0.3 ? Buffer.from([0xff, 0xfe]) : Buffer.from("bye")]);
          return { bytes: wsFrame(8, payload), what: `close ${payload.length === 1 ? "(1 byte)" : code}` };
        }
        if (r < 0.76) return { bytes: wsFrame(1, text("{}"), { mask: false }), what: "an unmasked frame" };
        if (r < 0.8) return { bytes: wsFrame(1, text("{}"), { rsv: pick(rnd, [1, 2, 4, 7]) }), what: "RSV bits" };
        if (r < 0.84) return { bytes: wsFrame(pick(rnd, [3, 4, 5, 6, 7, 11, 12, 13, 14, 15]), randomBytes(8)), what: "a reserved opcode" };
        if (r < 0.88) return { bytes: wsFrame(2, randomBytes(16), { declared: pick(rnd, [2 ** 40, 2 ** 53 - 1, 1_000_000, 65_536]) }), what: "a length far beyond the payload" };
        if (r < 0.92) return { bytes: randomBytes(intBetween(rnd, 1, 200)), what: "garbage bytes" };
        return { bytes: wsFrame(1, text(JSON.stringify({ type: "ping" }))), what: "a tiny JSON message" };
      };

      const ran = await fanOut(CONNECTIONS, async (i) => {
        const k = i % FUZZ_MEMBERS.length;
        const m = FUZZ_MEMBERS[k];
        const msgpack = rnd() < 0.3;
        const conn = await RawConn.open(port);
        const whatSent: string[] = [];
        const fail = (why: string): never => {
          throw new Error(`seed ${SEED}, connection #${i} (member ${m}), after ${whatSent.join(", ")}: ${why}`);
        };
        try {
          const key = Buffer.from(randomBytes(16)).toString("base64");
          conn.write(
            `GET /v1/feed?token=${tokens[k]} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
              `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${msgpack ? "Sec-WebSocket-Protocol: msgpack\r\n" : ""}\r\n`,
          );
          if (!(await conn.until(() => conn.dataFrames().length >= 1 || conn.closedByPeer, ANSWER_MS_MAX))) fail("no hello");
          if (conn.status !== 101) fail(`status ${conn.status}`);
          // Orders for this member now and then: its tier frames go out while it is being fuzzed.
          if (rnd() < 0.3) void publishOrders(c.js, [paid(`fz-${SEED}-${i}`, m, pick(rnd, [250, 600, 3000]))]);
          const actions = intBetween(rnd, 1, 5);
          for (let a = 0; a < actions && !conn.closedByPeer; a++) {
            const { bytes, what } = action(m);
            whatSent.push(what);
            const pongsBefore = conn.frames.filter((f) => f.opcode === 10).length;
            // Written in pieces at random split points: the server's frame parser sees every cut.
            let at = 0;
            while (at < bytes.length && !conn.closedByPeer) {
              const piece = rnd() < 0.5 ? bytes.length - at : intBetween(rnd, 1, bytes.length - at);
              conn.write(bytes.subarray(at, at + piece));
              at += piece;
              if (at < bytes.length && rnd() < 0.3) await Bun.sleep(intBetween(rnd, 1, 5));
            }
            await conn.until(() => conn.closedByPeer, 40);
            // A valid ping on a connection that stayed open is answered with its payload.
            if (what === "ping" && whatSent.length === 1 && !conn.closedByPeer) {
              if (await conn.until(() => conn.frames.filter((f) => f.opcode === 10).length > pongsBefore, 1000)) pongsChecked++;
              else fail("no pong for a ping");
            }
          }
          // Whatever the socket still allows: a clean close, then the server must end it.
          conn.write(wsFrame(8, new Uint8Array([0x03, 0xe8])));
          if (!(await conn.until(() => conn.closedByPeer, 2000))) {
            // Garbage can declare a frame longer than what followed it: the server then reads
            // our close as that frame's payload and waits for the rest — correct framing, and
            // the idle timeout (or our hang-up below) ends it. Anything else must have closed.
            if (!whatSent.some((w) => w.startsWith("garbage"))) fail("the server kept the connection after a close");
          }
          for (const f of conn.dataFrames()) {
            const frame = decodeFrame(f);
            if (!("member" in frame) || frame.member !== m) fail(`a frame for someone else: ${JSON.stringify(frame)}`);
            if (frame.type === "tier") tierFramesSeen++;
          }
          const close = conn.closeFrame();
          const code = close && close.payload.length >= 2 ? close.payload.readUInt16BE(0) : 1005;
          closeCodes.set(code, (closeCodes.get(code) ?? 0) + 1);
          if (code === 1011) fail(`closed with 1011 (${close!.payload.subarray(2).toString()})`);
        } finally {
          conn.end();
        }
      });
      console.log(`seed ${SEED}: ${ran} fuzzed connections; close codes ${JSON.stringify(Object.fromEntries([...closeCodes].sort()))}; ${tierFramesSeen} tier frames; ${pongsChecked} pongs`);
      expect(ran).toBeGreaterThan(CONNECTIONS / 2);
      expect(closeCodes.get(1009) ?? 0).toBeGreaterThan(0); // the 1 KiB limit was hit
      expect(closeCodes.size).toBeGreaterThan(2);

      // No connection state is left behind, and the observer saw nothing but its own hello.
      await eventually(() => hub.stats().connections === 1 && hub.stats().members === 1, "only the observer left", 5_000);
      expect(observer.closed).toBe(false);
      expect(observer.frames.slice(observerFramesBefore)).toEqual([]);
      expect(observer.frames.every((f) => "member" in f && f.member === OBSERVER)).toBe(true);
      expect(logged.filter((l) => l.startsWith("error"))).toEqual([]);
    }, 40_000);

    test("afterwards the gateway still serves: the observer gets its tier change, a new connection its hello", async () => {
      await publishOrders(c.js, [paid(`obs-${SEED}`, OBSERVER, 700)]);
      await eventually(() => observer.frames.some((f) => f.type === "tier"), "the observer's tier frame", 5_000);
      expect(observer.frames.find((f) => f.type === "tier")).toMatchObject({ member: OBSERVER, from: "bronze", to: "gold" });
      const conn = await RawConn.open(server.port!);
      const key = Buffer.from("fuzz-feed-final!").toString("base64");
      conn.write(`GET /v1/feed?token=${await token(FUZZ_MEMBERS[0])} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
      expect(await conn.until(() => conn.dataFrames().length >= 1, ANSWER_MS_MAX)).toBe(true);
      expect(decodeFrame(conn.dataFrames()[0])).toMatchObject({ type: "hello", member: FUZZ_MEMBERS[0] });
      conn.end();
      expect(observer.frames.every((f) => "member" in f && f.member === OBSERVER)).toBe(true);
    }, 15_000);
  });
});
