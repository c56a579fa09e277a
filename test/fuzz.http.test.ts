// Fuzzing the HTTP API over real HTTP (Bun.serve), against a real nats-server and engine:
// random paths under /v1, methods, credentials (broken Authorization values, tokens of odd
// members), Idempotency-Keys, content types, and random or mutated JSON and msgpack bodies
// for POST /v1/orders. Every answer is a 4xx `{error: {code, message}}` — or a success where
// the request was in fact valid and allowed — never a 5xx, never slow; ORDERS grows only on a
// 202, by exactly the messages that batch needed, and nothing published is dead-lettered.
// Then malformed raw HTTP/1.1 over TCP (lying Content-Length, broken chunking, bad request
// lines): no 5xx from the app, no hang, no internal error logged.
// FUZZ_SEED=<n> runs another seed (printed with every failure); FUZZ_DEBUG=<i> prints request i.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { encode as msgpackEncode } from "@msgpack/msgpack";
import { type JetStreamClient, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { Server } from "bun";
import { sign } from "hono/jwt";
import type { Engine } from "../engine/engine.ts";
import type { Scope } from "../gateway/config.ts";
import { EngineClient } from "../gateway/engine-client.ts";
import { buildHttpApp, type HttpDeps } from "../gateway/http/app.ts";
import { GatewayBenefits } from "../gateway/benefits.ts";
import { ORDERS_BODY_BYTES_MAX } from "../gateway/http/routes/orders.ts";
import { MemberCache } from "../gateway/member-cache.ts";
import { GatewayMetrics } from "../gateway/metrics.ts";
import {
  decodeRawItems,
  DEFAULT_LINES,
  encodeOrders,
  ensureStreams,
  type Order,
  partitionOf,
  STREAM_ORDERS,
  STREAM_ORDERS_DLQ,
} from "../proto/index.ts";
import { eventually, startEngine } from "./harness/engine.ts";
import { useNatsServer } from "./harness/nats.ts";
import { intBetween, mulberry32, pick } from "./harness/prng.ts";
import { testGatewayOptions } from "./harness/gateway.ts";

const SEED = Number(process.env.FUZZ_SEED ?? 0xf022) >>> 0;
const REQUESTS = 2000;
const RAW_REQUESTS = 120;
const FUZZ_MS_MAX = 25_000;
const REQUEST_MS_MAX = 5_000;
const P = 64;
const SECRET = "fuzz-http-secret-0123456789";
const KEYS = { read: "fuzz-read-key", ingest: "fuzz-ingest-key", admin: "fuzz-admin-key", claim: "fuzz-claim-key" } as const;
const SCOPES_OF: Record<string, Scope[]> = {
  [KEYS.read]: ["read"],
  [KEYS.ingest]: ["ingest"],
  [KEYS.admin]: ["admin"],
  [KEYS.claim]: ["claim"],
};

/** Who the request claims to be, as the test sees it. */
type Who = { kind: "none" } | { kind: "invalid" } | { kind: "key"; scopes: Scope[] } | { kind: "member"; member: number };

interface FuzzRequest {
  what: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Uint8Array | string | ReadableStream<Uint8Array>;
  who: Who;
  /** An Idempotency-Key the client chose (fresh each time: a reused key drops the batch). */
  clientKey: boolean;
}

const b64url = (s: string) => Buffer.from(s).toString("base64url");

describe("HTTP API under fuzzing", () => {
  const nats = useNatsServer();
  // A nested block: its afterAll runs before the outer one stops nats-server, so the engine
  // drains against a live server.
  describe("against a real engine", () => {
    let nc: NatsConnection;
    let js: JetStreamClient;
    let engine: Engine | undefined;
    let server: Server<undefined> | undefined;
    let benefits: GatewayBenefits | undefined;
    let base = "";
    const internalErrors: string[] = [];

    const options = testGatewayOptions("", SECRET, new Map(Object.entries(SCOPES_OF).map(([k, s]) => [k, new Set(s)])), {
      requestTimeoutMs: 2000,
      name: "fuzz-http",
    });

    beforeAll(async () => {
      nc = await connect({ servers: nats.url });
      await ensureStreams(await jetstreamManager(nc));
      js = jetstream(nc);
      engine = await startEngine(nats.url);
      const metrics = new GatewayMetrics();
      benefits = await GatewayBenefits.start(nc, js, await jetstreamManager(nc));
      const deps: HttpDeps = {
        benefits,
        options: { ...options, natsUrl: nats.url },
        nc,
        js,
        engines: new EngineClient(nc, P, options.requestTimeoutMs),
        cache: new MemberCache(P, options.memberCacheEntriesMax, options.memberCacheTtlMs, options.memberCacheMaxAgeMs, metrics),
        metrics,
        feedStats: () => ({ connections: 0, members: 0 }),
        ready: () => !nc.isClosed(),
        log: { error: (m) => internalErrors.push(m) },
      };
      server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: buildHttpApp(deps).fetch });
      base = `http://127.0.0.1:${server.port}`;
    });

    afterAll(async () => {
      server?.stop(true);
      benefits?.stop();
      await engine?.stop();
      await nc?.close();
    });

    const streamMessages = async (stream: string) => (await (await jetstreamManager(nc)).streams.info(stream)).state.messages;

    test(`${REQUESTS} random and mutated requests: 4xx JSON errors or valid successes, no 5xx, nothing invalid published`, async () => {
      const rnd = mulberry32(SEED);
      const now = Date.now();
      const T = now - 3_600_000;
      const tokens = {
        m42: await sign({ sub: "42", exp: Math.floor(now / 1000) + 3600 }, SECRET, "HS256"),
        m7: await sign({ sub: "7", exp: Math.floor(now / 1000) + 3600 }, SECRET, "HS256"),
        expired: await sign({ sub: "42", exp: Math.floor(now / 1000) - 60 }, SECRET, "HS256"),
        forged: await sign({ sub: "42", exp: Math.floor(now / 1000) + 3600 }, "another-secret", "HS256"),
        noExp: await sign({ sub: "42" }, SECRET, "HS256"),
        subs: await Promise.all(
          // Subjects that name no member. (A signed `sub` is read with Number(): "1e3" and " 42"
          // would name members 1000 and 42, so they are not here.)
          ["-1", "0", "9007199254740992", "1.5", "abc", "", "０４２", "😀", "0x"].map((sub) =>
            sign({ sub, exp: Math.floor(now / 1000) + 3600 }, SECRET, "HS256"),
          ),
        ),
        none: `${b64url('{"alg":"none","typ":"JWT"}')}.${b64url(`{"sub":"42","exp":${Math.floor(now / 1000) + 3600}}`)}.`,
        nullHeader: `${b64url("null")}.${b64url("{}")}.AAAA`,
      };

      // ---- generators --------------------------------------------------------------------

      const asciiChar = () => String.fromCharCode(intBetween(rnd, 0x21, 0x7e));
      const randomAscii = (max: number) => Array.from({ length: intBetween(rnd, 0, max) }, asciiChar).join("");
      const unicodeChars = ["é", "ß", "中", "😀", "\u0000", "\u202e", "１", "٣", "\ufeff", "\ud800", "%", "/", "?", "#", " ", "+", "."];
      const randomUnicode = (max: number) => Array.from({ length: intBetween(rnd, 0, max) }, () => (rnd() < 0.5 ? pick(rnd, unicodeChars) : asciiChar())).join("");
      const encodeSeg = (s: string) => {
        try {
          return encodeURIComponent(s);
        } catch {
          return "%ED%A0%80"; // a lone surrogate, as its (invalid) UTF-8 bytes
        }
      };

      const memberIdSegments = [
        "-1", "0", "1", "42", "7", "1e3", "1E3", "9007199254740991", "9007199254740992", "99999999999999999999", "00042",
        "42.0", " 42", "42 ", "0x2a", "Infinity", "NaN", "null", "%34%32", "%2F", "%", "%zz", "%E0%A4%A", "４２", "😀", "42;x", "42?x=1",
      ];
      const randomPath = (): string => {
        const r = rnd();
        if (r < 0.3) return `/v1/members/${rnd() < 0.7 ? pick(rnd, memberIdSegments) : encodeSeg(randomUnicode(12))}`;
        if (r < 0.45) return "/v1/orders";
        if (r < 0.5) return "/v1/stats";
        if (r < 0.65) {
          return pick(rnd, [
            "/v1", "/v1/", "/v1/orders/", "/v1/orders/1", "/v1/stats/", "/v1/members", "/v1/members/", "/v1/members/42/x", "/v1//members/42",
            "/V1/members/42", "/v1/MEMBERS/42", "/v1/feed", "/v1/claims", "/v1/members/../stats", "/v1/./orders", `/v1/${"a".repeat(4000)}`,
            "/v1/members/%00", "/v1/%", "/v1/members/42%2F43",
          ]);
        }
        const segs = Array.from({ length: intBetween(rnd, 1, 4) }, () => encodeSeg(randomUnicode(10)));
        return `/v1/${segs.join("/")}`;
      };
      const randomQuery = () => (rnd() < 0.8 ? "" : `?${pick(rnd, ["token=x", "a=1&a=2", "%", "member=42", "=", "&&", encodeSeg(randomUnicode(20))])}`);

      const credential = (): { header?: string; who: Who } => {
        const r = rnd();
        const key = pick(rnd, Object.keys(SCOPES_OF));
        if (r < 0.15) return { who: { kind: "none" } };
        if (r < 0.45) return { header: `Bearer ${KEYS.ingest}`, who: { kind: "key", scopes: ["ingest"] } };
        if (r < 0.55) return { header: `Bearer ${key}`, who: { kind: "key", scopes: SCOPES_OF[key] } };
        if (r < 0.6) return { header: `bearer   ${key}`, who: { kind: "key", scopes: SCOPES_OF[key] } };
        if (r < 0.65) return { header: `Bearer ${tokens.m42}`, who: { kind: "member", member: 42 } };
        if (r < 0.68) return { header: `Bearer ${tokens.m7}`, who: { kind: "member", member: 7 } };
        const broken = pick(rnd, [
          "Bearer", "Bearer ", "Bearer  ", "Basic dXNlcjpwYXNz", `Bearer ${key}x`, `Bearer ${key} extra`, `Bearer ${key},${key}`,
          `Token ${key}`, key, `Bearer ${"a".repeat(8000)}`, `Bearer ${tokens.expired}`, `Bearer ${tokens.forged}`,
          `Bearer ${tokens.noExp}`, `Bearer ${pick(rnd, tokens.subs)}`, `Bearer ${tokens.none}`, `Bearer ${tokens.nullHeader}`,
          `Bearer a.b.c`, `Bearer ...`, `Bearer ${tokens.m42.slice(0, -3)}`, `Bearer ${tokens.m42}.x`, `Bearer ${randomAscii(40)}`,
          `Bearer \u00e9\u00ff`, randomAscii(60),
        ]);
        return { header: broken, who: { kind: "invalid" } };
      };

      const validOrder = (i: number): Order => {
        // Members of a few partitions, some ids repeating across requests (the engine dedups those).
        const member = intBetween(rnd, 1, 3000);
        const kind = rnd() < 0.85 ? "paid" : "refund";
        const o: Order = { id: `fz-${SEED}-${i}-${intBetween(rnd, 0, 1e9)}`, member, line: pick(rnd, DEFAULT_LINES), kind, amount: intBetween(rnd, 1, 500_000), ts: T + intBetween(rnd, 0, 3_000_000) };
        if (kind === "refund" && rnd() < 0.5) o.orderTs = o.ts - intBetween(rnd, 0, 1_000_000);
        return o;
      };
      const badValues: Record<string, unknown[]> = {
        member: [-1, 0, "1", "1e3", 9007199254740992, 1.5, null, [], {}, true, 1e300, -0.5],
        id: ["", "x".repeat(65), "é".repeat(33), 123, null, ["a"], "\ud800", "a\udfffb", "😀".repeat(17)],
        line: ["TAOBAO", "", "nope", null, 1, "taobao "],
        kind: ["tick", "PAID", "", null, "refunded", 0],
        amount: [0, -1, 1.5, 10_000_000_001, "100", null, 1e300],
        ts: [-1, now + 600_000, 1.5, "now", 2 ** 53, null],
        orderTs: [-1, "x", 1.5, now + 3_600_000],
        extra: ["x"],
      };
      const mutatedOrder = (i: number): Record<string, unknown> => {
        const o: Record<string, unknown> = { ...validOrder(i) };
        const r = rnd();
        if (r < 0.1) delete o[pick(rnd, ["id", "member", "line", "kind", "amount", "ts"])];
        else if (r < 0.15) o.member = pick(rnd, [1000, 9007199254740991, 1]); // valid edge values
        else if (r < 0.2) o.id = pick(rnd, ["😀", "中文订单", "é".repeat(32), "x".repeat(64)]); // valid ids
        else {
          const field = pick(rnd, Object.keys(badValues));
          o[field === "extra" ? "coupon" : field] = pick(rnd, badValues[field]);
        }
        return o;
      };
      const flipBytes = (b: Uint8Array): Uint8Array => {
        const out = b.slice();
        for (let k = intBetween(rnd, 1, 4); k > 0 && out.length > 0; k--) out[intBetween(rnd, 0, out.length - 1)] = Math.floor(rnd() * 256);
        if (rnd() < 0.3 && out.length > 1) return out.subarray(0, intBetween(rnd, 0, out.length - 1));
        return out;
      };
      const randomJsonValue = (depth: number): unknown => {
        const r = rnd();
        if (depth > 3 || r < 0.3) return pick(rnd, [0, -1, 1.5, 1e308, "", "x", "\ud800", true, false, null, 9007199254740993]);
        if (r < 0.65) return Array.from({ length: intBetween(rnd, 0, 4) }, () => randomJsonValue(depth + 1));
        return Object.fromEntries(Array.from({ length: intBetween(rnd, 0, 4) }, () => [pick(rnd, ["orders", "id", "member", "kind", "__proto__", "constructor", randomAscii(6)]), randomJsonValue(depth + 1)]));
      };

      const jsonTypes = ["application/json", "application/json; charset=utf-8", "APPLICATION/JSON", " application/json ; x=y"];
      const msgpackTypes = ["application/msgpack", "application/x-msgpack", "application/vnd.msgpack"];
      const wrongTypes = ["text/plain", "", "application/jsonx", "application/json, text/plain", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded", randomAscii(20)];

      /** A body for POST /v1/orders, its content type, and how it was made. */
      const ordersBody = (i: number): { body: Uint8Array | string | ReadableStream<Uint8Array>; type: string | null; what: string } => {
        const r = rnd();
        const batch = () => Array.from({ length: intBetween(rnd, 1, 12) }, (_, k) => validOrder(i * 100 + k));
        const withBad = () => {
          const b: Record<string, unknown>[] = batch().map((o) => ({ ...o }));
          b[intBetween(rnd, 0, b.length - 1)] = mutatedOrder(i);
          return b;
        };
        if (r < 0.18) return { body: JSON.stringify(rnd() < 0.5 ? batch() : { orders: batch() }), type: pick(rnd, jsonTypes), what: "valid JSON batch" };
        if (r < 0.28) return { body: encodeOrders(batch()), type: pick(rnd, msgpackTypes), what: "valid msgpack batch" };
        if (r < 0.45) return { body: JSON.stringify(withBad()), type: "application/json", what: "JSON batch with a mutated order" };
        if (r < 0.55) return { body: msgpackEncode(withBad().map((o) => (rnd() < 0.5 ? o : [o.id, o.member, o.line, o.kind, o.amount, o.ts]))), type: "application/msgpack", what: "msgpack batch with a mutated order" };
        if (r < 0.63) return { body: flipBytes(new TextEncoder().encode(JSON.stringify(batch()))), type: "application/json", what: "byte-mutated JSON" };
        if (r < 0.71) return { body: flipBytes(encodeOrders(batch())), type: "application/msgpack", what: "byte-mutated msgpack" };
        if (r < 0.77) return { body: JSON.stringify(randomJsonValue(0)), type: "application/json", what: "random JSON value" };
        if (r < 0.81) return { body: msgpackEncode(randomJsonValue(0)), type: "application/msgpack", what: "random msgpack value" };
        if (r < 0.85) return { body: Uint8Array.from({ length: intBetween(rnd, 0, 300) }, () => Math.floor(rnd() * 256)), type: pick(rnd, [...jsonTypes, ...msgpackTypes]), what: "random bytes" };
        if (r < 0.89) return { body: JSON.stringify(batch()), type: rnd() < 0.2 ? null : pick(rnd, wrongTypes), what: "valid JSON, wrong content type" };
        if (r < 0.92) return { body: "", type: pick(rnd, [...jsonTypes, ...msgpackTypes]), what: "empty body" };
        if (r < 0.94) return { body: `${"[".repeat(50_000)}${"]".repeat(50_000)}`, type: "application/json", what: "deeply nested JSON" };
        if (r < 0.95) return { body: new Uint8Array(100_000).fill(0x91), type: "application/msgpack", what: "deeply nested msgpack" };
        if (r < 0.96) return { body: new Uint8Array([0xdd, 0x0f, 0xff, 0xff, 0xff]), type: "application/msgpack", what: "msgpack array claiming 2^28 items" };
        if (r < 0.97) return { body: JSON.stringify(Array.from({ length: 10_001 }, (_, k) => ({ ...validOrder(k), id: `big-${k}` }))), type: "application/json", what: "10 001 orders" };
        if (r < 0.98) return { body: new Uint8Array(ORDERS_BODY_BYTES_MAX + 1).fill(0x20), type: "application/json", what: "4 MiB + 1 byte" };
        if (r < 0.99) {
          // Chunked (no Content-Length): cut off by the reader once past the limit.
          let sent = 0;
          const chunk = new Uint8Array(256 * 1024).fill(0x20);
          const stream = new ReadableStream<Uint8Array>({
            pull(c) {
              if (sent > ORDERS_BODY_BYTES_MAX + chunk.length) return c.close();
              sent += chunk.length;
              c.enqueue(chunk);
            },
          });
          return { body: stream, type: "application/json", what: "chunked body past 4 MiB" };
        }
        return { body: JSON.stringify([{ kind: "tick", ts: T }]), type: "application/json", what: "a tick" };
      };

      const methods = ["GET", "GET", "POST", "POST", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "PURGE"];
      const makeRequest = (i: number): FuzzRequest => {
        const path = rnd() < 0.45 ? "/v1/orders" : randomPath();
        let method = pick(rnd, methods);
        if (path === "/v1/orders" && rnd() < 0.8) method = "POST";
        // Most order batches carry an ingest credential, so their bodies get past authentication.
        const { header, who } =
          method === "POST" && path === "/v1/orders" && rnd() < 0.7
            ? { header: `Bearer ${pick(rnd, [KEYS.ingest, KEYS.admin])}`, who: { kind: "key", scopes: ["ingest", "admin"] } as Who }
            : (method === "GET" || method === "HEAD") && /^\/v1\/(members|stats)/.test(path) && rnd() < 0.6
              ? pick(rnd, [
                  { header: `Bearer ${KEYS.read}`, who: { kind: "key", scopes: ["read"] } as Who },
                  { header: `Bearer ${tokens.m42}`, who: { kind: "member", member: 42 } as Who },
                ])
              : credential();
        const headers: Record<string, string> = {};
        if (header !== undefined) headers.authorization = header;
        let clientKey = false;
        if (rnd() < 0.3) {
          const k = pick(rnd, ["fresh", "fresh", "", " ", "a b", "x".repeat(129), "\u00e9t\u00e9", "k\tv"]);
          clientKey = k === "fresh";
          headers["idempotency-key"] = clientKey ? crypto.randomUUID() : k;
        }
        if (rnd() < 0.1) headers[pick(rnd, ["x-forwarded-for", "accept", "accept-encoding", "cookie", "x-" + randomAscii(8).replace(/[^a-z0-9-]/gi, "a")])] = randomAscii(100);
        let body: FuzzRequest["body"];
        let what = `${method} ${path}`;
        if (method !== "GET" && method !== "HEAD") {
          if (path === "/v1/orders" || rnd() < 0.3) {
            const b = ordersBody(i);
            body = b.body;
            if (b.type !== null) headers["content-type"] = b.type;
            what += ` (${b.what}, ${b.type ?? "no content type"})`;
          }
        }
        return { what: `${what}, auth ${header === undefined ? "none" : JSON.stringify(header.slice(0, 60))}`, method, path: path + randomQuery(), headers, body, who, clientKey };
      };

      // ---- what a valid answer looks like ----------------------------------------------------

      const allowed = (who: Who, scope: Scope, member?: number): boolean =>
        (who.kind === "key" && (who.scopes.includes(scope) || who.scopes.includes("admin"))) ||
        (who.kind === "member" && scope === "read" && member !== undefined && who.member === member);

      /** The orders of a body the gateway accepted, decoded by the test itself. */
      const ordersOf = (req: FuzzRequest): { member: number }[] => {
        const bytes = typeof req.body === "string" ? new TextEncoder().encode(req.body) : (req.body as Uint8Array);
        if (/json/i.test(req.headers["content-type"] ?? "")) {
          const root = JSON.parse(new TextDecoder().decode(bytes)) as { member: number }[] | { orders: { member: number }[] };
          return Array.isArray(root) ? root : root.orders;
        }
        return decodeRawItems(bytes) as { member: number }[];
      };

      let ordersBefore = await streamMessages(STREAM_ORDERS);
      let accepted = 0;
      let acceptedOrders = 0;
      const statuses = new Map<number, number>();
      const deadline = performance.now() + FUZZ_MS_MAX;
      let sent = 0;
      for (let i = 0; i < REQUESTS && performance.now() < deadline; i++) {
        const req = makeRequest(i);
        const fail = (why: string): never => {
          throw new Error(`seed ${SEED}, request #${i}: ${req.what}: ${why}`);
        };
        const start = performance.now();
        if (process.env.FUZZ_DEBUG === String(i)) console.log(req);
        let res: Response;
        try {
          res = await fetch(base + req.path, {
            method: req.method,
            headers: req.headers,
            body: req.body,
            signal: AbortSignal.timeout(REQUEST_MS_MAX),
            ...(req.body instanceof ReadableStream ? { duplex: "half" } : {}),
          } as RequestInit);
        } catch (err) {
          // The client refusing to send it (a header value fetch will not encode) is no finding.
          if (err instanceof TypeError && !/timed? ?out|abort|connection|socket/i.test(err.message)) continue;
          return fail(`no answer: ${(err as Error).name}: ${(err as Error).message}`);
        }
        const text = await res.text();
        sent++;
        const ms = performance.now() - start;
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (ms > REQUEST_MS_MAX) fail(`took ${ms.toFixed(0)} ms`);
        if (res.status >= 500) fail(`status ${res.status}: ${text.slice(0, 300)}`);
        const pathname = new URL(base + req.path).pathname;

        if (res.status >= 400) {
          if (req.method !== "HEAD") {
            if (!(res.headers.get("content-type") ?? "").startsWith("application/json")) fail(`${res.status} without a JSON content type (${res.headers.get("content-type")}): ${text.slice(0, 200)}`);
            let body: { error?: { code?: unknown; message?: unknown } };
            try {
              body = JSON.parse(text);
            } catch {
              return fail(`error body is not JSON: ${text.slice(0, 200)}`);
            }
            if (typeof body.error?.code !== "string" || body.error.code === "" || typeof body.error.message !== "string") {
              fail(`error body is not {error: {code, message}}: ${text.slice(0, 200)}`);
            }
            if (res.status === 401 && body.error!.code !== "unauthorized") fail(`401 with code ${String(body.error!.code)}`);
          }
          if (res.status === 401 && req.who.kind !== "none" && req.who.kind !== "invalid") fail("401 for a valid credential");
          if (res.status === 405 && !res.headers.get("allow")) fail("405 without Allow");
        } else if (res.status >= 200 && res.status < 300) {
          const json = req.method === "HEAD" ? null : (JSON.parse(text) as Record<string, unknown>);
          const member = /^\/v1\/members\/([^/]+)$/.exec(pathname);
          if (pathname === "/v1/orders" && req.method === "POST") {
            if (res.status !== 202) fail(`status ${res.status} for an order batch`);
            if (!allowed(req.who, "ingest")) fail("orders accepted without the ingest scope");
            const orders = ordersOf(req);
            if (json?.accepted !== orders.length) fail(`accepted ${String(json?.accepted)} of ${orders.length}`);
            accepted++;
            acceptedOrders += orders.length;
          } else if (member && (req.method === "GET" || req.method === "HEAD")) {
            const id = Number(decodeURIComponent(member[1]));
            if (!/^[1-9][0-9]{0,15}$/.test(decodeURIComponent(member[1])) || !Number.isSafeInteger(id)) fail("a member view for an id that is not one");
            if (!allowed(req.who, "read", id)) fail("a member view without the right");
            if (json !== null && json.member !== id) fail(`view of member ${String(json.member)} for ${id}`);
          } else if (pathname === "/v1/stats" && (req.method === "GET" || req.method === "HEAD")) {
            if (!allowed(req.who, "read")) fail("stats without the read scope");
            if (json !== null && typeof json.membersPerTier !== "object") fail("stats without membersPerTier");
          } else {
            fail(`success ${res.status} where none was expected`);
          }
        } else {
          fail(`unexpected status ${res.status}`);
        }

        // ORDERS grows only on a 202, by one message per partition of the batch (≤ 256 orders each).
        if (req.method === "POST" || pathname === "/v1/orders") {
          const ordersNow = await streamMessages(STREAM_ORDERS);
          const want = res.status === 202 ? new Set(ordersOf(req).map((o) => partitionOf(o.member, P))).size : 0;
          if (ordersNow - ordersBefore !== want) fail(`ORDERS grew by ${ordersNow - ordersBefore}, expected ${want} (status ${res.status})`);
          ordersBefore = ordersNow;
        }
      }
      console.log(`seed ${SEED}: ${sent} requests, ${accepted} batches (${acceptedOrders} orders) accepted; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`);
      expect(sent).toBeGreaterThan(REQUESTS * 0.8);
      expect(accepted).toBeGreaterThan(50);
      expect(statuses.get(400) ?? 0).toBeGreaterThan(200);
      expect(internalErrors).toEqual([]);

      // Everything accepted is valid to the engine: applied, nothing dead-lettered.
      const total = await streamMessages(STREAM_ORDERS);
      await eventually(() => engine!.counters.messages >= total, `the engine applied all ${total} ORDERS messages`, 10_000);
      const deadLettered = Object.entries(engine!.counters.deadLettersByCode).filter(([, n]) => n > 0);
      if (deadLettered.length > 0) throw new Error(`seed ${SEED}: accepted orders were dead-lettered: ${JSON.stringify(deadLettered)}`);
      expect(await streamMessages(STREAM_ORDERS_DLQ)).toBe(0);
      expect(engine!.counters.eventsApplied + engine!.counters.duplicates).toBe(acceptedOrders);

      // And the app still answers a plain valid request.
      const ok = await fetch(`${base}/v1/members/42`, { headers: { authorization: `Bearer ${KEYS.read}` } });
      expect(ok.status).toBe(200);
    }, 60_000);

    test(`${RAW_REQUESTS} malformed raw HTTP/1.1 requests: no 5xx, no hang, the server still serves`, async () => {
      const rnd = mulberry32(SEED ^ 0x51ed);
      const port = server!.port!;
      const auth = `Authorization: Bearer ${KEYS.ingest}\r\n`;
      const valid = JSON.stringify([{ id: "raw-1", member: 5, line: "taobao", kind: "paid", amount: 100, ts: Date.now() - 1000 }]);
      const templates: ((r: () => number) => string | Uint8Array)[] = [
        () => "GET /v1/members/42 HTTP/1.1\r\nHost: x\r\n\r\n",
        () => `BREW /v1/orders HTTP/1.1\r\nHost: x\r\n${auth}\r\n`,
        () => "GET /v1/members/42 HTTP/1.0\r\n\r\n",
        () => "GET  /v1/members/42  HTTP/1.1\r\nHost: x\r\n\r\n",
        () => "GET /v1/members/\u00ff\u00fe HTTP/1.1\r\nHost: x\r\n\r\n",
        () => "GET v1/members/42 HTTP/1.1\r\nHost: x\r\n\r\n",
        () => "GET http://evil/v1/stats HTTP/1.1\r\nHost: x\r\n\r\n",
        () => "GET /v1/stats HTTP/9.9\r\nHost: x\r\n\r\n",
        () => "\r\n\r\n\r\n",
        () => "GET /v1/stats HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \u00e9\u00e8\r\n\r\n",
        () => `GET /v1/stats HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEYS.read}\u0000\r\n\r\n`,
        () => `GET /v1/stats HTTP/1.1\r\nHost: x\r\nX-Long: ${"a".repeat(20_000)}\r\n\r\n`,
        () => `GET /v1/stats HTTP/1.1\r\nHost: x\r\nBad Header Name: 1\r\n\r\n`,
        () => `GET /v1/stats HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n`,
        () => `POST /v1/orders HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: 5\r\n\r\n${valid}`,
        () => `POST /v1/orders HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: -1\r\n\r\n${valid}`,
        () => `POST /v1/orders HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: 99999999999999999999\r\n\r\n${valid}`,
        () => `POST /v1/orders HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n[]]`,
        () => `POST /v1/orders HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n[]\r\n0\r\n\r\n`,
        () => `POST /v1/orders HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n2\r\n[]\r\n0\r\n\r\n`,
        () => `POST /v1/orders HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${"1\r\n \r\n".repeat(100)}0\r\n\r\n`,
        () => `POST /v1/orders HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: 4194305\r\n\r\n`,
        (r) => {
          const b = new TextEncoder().encode(`POST /v1/orders HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: ${valid.length}\r\n\r\n${valid}`);
          for (let k = 0; k < 3; k++) b[Math.floor(r() * b.length)] = Math.floor(r() * 256);
          return b;
        },
        (r) => Uint8Array.from({ length: Math.floor(r() * 200) }, () => Math.floor(r() * 256)),
        () => "GET /v1/members/42 HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/stats HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\n",
      ];
      const ordersAtStart = await streamMessages(STREAM_ORDERS);
      const deadline = performance.now() + 8_000;
      let done = 0;
      for (let i = 0; i < RAW_REQUESTS && performance.now() < deadline; i++) {
        const t = i < templates.length ? i : Math.floor(rnd() * templates.length);
        const payload = templates[t](rnd);
        const errorsBefore = internalErrors.length;
        const answer = await rawExchange(port, payload, 1_500);
        done++;
        if (process.env.FUZZ_DEBUG && internalErrors.length > errorsBefore) console.log(`raw #${i} template ${t}: ${JSON.stringify(answer.slice(0, 200))}`);
        const statuses = [...answer.matchAll(/HTTP\/1\.[01] (\d{3})/g)].map((m) => Number(m[1]));
        // 505 is Bun's own answer to an HTTP version it does not speak, before any app code.
        if (statuses.some((s) => s >= 500 && s !== 505)) throw new Error(`seed ${SEED}, raw #${i} (template ${t}): a 5xx: ${answer.slice(0, 300)}`);
      }
      expect(done).toBeGreaterThan(30);
      // At most the well-formed valid order went in (once per send of a template that carries it whole).
      const grown = (await streamMessages(STREAM_ORDERS)) - ordersAtStart;
      expect(grown).toBeLessThanOrEqual(done);
      const ok = await fetch(`${base}/v1/members/42`, { headers: { authorization: `Bearer ${KEYS.read}` } });
      expect(ok.status).toBe(200);
      expect(internalErrors).toEqual([]);
    }, 30_000);
  });
});

/** Writes `payload` on a fresh TCP connection; what came back within `waitMs` (or until closed). */
async function rawExchange(port: number, payload: string | Uint8Array, waitMs: number): Promise<string> {
  const chunks: Buffer[] = [];
  let closed!: () => void;
  let quiet: ReturnType<typeof setTimeout> | undefined;
  const ended = new Promise<void>((resolve) => (closed = resolve));
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data(_s, d) {
        chunks.push(Buffer.from(d));
        // A kept-alive connection stays open: an answer is complete once the server goes quiet.
        clearTimeout(quiet);
        quiet = setTimeout(closed, 100);
      },
      close() {
        closed();
      },
      error() {
        closed();
      },
    },
  });
  socket.write(typeof payload === "string" ? Buffer.from(payload, "latin1") : payload);
  await Promise.race([ended, Bun.sleep(waitMs)]);
  clearTimeout(quiet);
  socket.end();
  return Buffer.concat(chunks).toString("latin1");
}
